"""The leaderboard, with intervals from a bootstrap over items.

Items are resampled with replacement (the reviewers' weights stay fixed), the
chair's scores recomputed, and the 2.5 and 97.5 percentiles of each model's score
and rank reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray


@dataclass(slots=True)
class LeaderboardRow:
    """One model's place; interval fields are None without a bootstrap."""

    model: str
    rank: int
    score: float
    ci_low: float | None = None
    ci_high: float | None = None
    rank_low: int | None = None
    rank_high: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ranks(scores: FloatArray) -> FloatArray:
    """Rank 1 is the best; equal scores share the better rank; NaN ranks last.

    Works on the last axis: a model's rank is 1 + the number of models scoring higher,
    found by sorting each row (O(M log M) time and O(M) memory per row).
    """
    filled = np.where(np.isnan(scores), -np.inf, scores)
    rows = filled.reshape(-1, filled.shape[-1])
    result = np.empty(rows.shape)
    for i, row in enumerate(rows):
        at_most = np.searchsorted(np.sort(row), row, side="right")  # models scoring <= row
        result[i] = 1 + row.size - at_most
    shaped: FloatArray = result.reshape(filled.shape)
    return shaped


def leaderboard(chair: Chair, evidence: Evidence, *, n_boot: int = 0,
                seed: int = 0) -> list[LeaderboardRow]:
    """Score, rank and (with ``n_boot`` > 0) bootstrap the models, best first."""
    scores = chair.scores(evidence)
    rank = ranks(scores)
    order = np.argsort(rank, kind="stable")
    rows = {m: LeaderboardRow(evidence.table.models[m], int(rank[m]), float(scores[m]))
            for m in range(evidence.n_models)}
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        n_items = evidence.n_items
        samples = np.empty((n_boot, evidence.n_models))
        for i in range(n_boot):
            counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items)).astype(float)
            samples[i] = chair.scores(evidence, counts)
        sample_ranks = ranks(samples)
        with np.errstate(all="ignore"):
            low, high = np.nanpercentile(samples, [2.5, 97.5], axis=0)
        r_low, r_high = np.percentile(sample_ranks, [2.5, 97.5], axis=0)
        for m, row in rows.items():
            row.ci_low, row.ci_high = _finite(low[m]), _finite(high[m])
            row.rank_low, row.rank_high = int(np.floor(r_low[m])), int(np.ceil(r_high[m]))
    return [rows[int(m)] for m in order]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
