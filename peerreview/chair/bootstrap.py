"""The leaderboard, with intervals from a bootstrap over items.

Items are resampled with replacement (the reviewers' weights stay fixed): a resample
is a multinomial count per item, applied as item weights to the counts the chair
aggregated once (no judgment is re-read or re-sorted). The chair's scores are
recomputed on every resample.

A score's 95% interval is the expanded bias-corrected and accelerated (BCa)
percentile interval: Efron's BCa (1987) takes the percentiles of the resampled
scores moved by the share of resamples below the point estimate (the bias correction
z0) and by the skewness of the items' influence, estimated by a grouped jackknife
(the acceleration a); its normal quantile 1.96 is expanded to sqrt(n / (n - 1))
t_{n-1} for n items (Hesterberg 2015), since a bootstrap of n items sees a variance
(n - 1) / n too small and a t-like spread. The plain 2.5 and 97.5 percentiles fall
short for few items and for models near the top or bottom of the scale
(``benchmarks/coverage.py``). A model's rank interval is the 2.5 and 97.5
percentiles of its resampled ranks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtrit

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray

LEVEL = 0.95
JACKKNIFE_GROUPS = 100  # at most this many item groups left out to estimate the acceleration


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


def resample_counts(n_items: int, n_boot: int, seed: int) -> FloatArray:
    """(n_boot x n_items): how many times each resample drew each item (the same
    draws, from the same seed, as every earlier version of the leaderboard)."""
    rng = np.random.default_rng(seed)
    if n_items == 0:
        return np.zeros((n_boot, 0))
    counts: FloatArray = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items),
                                         size=n_boot).astype(np.float64)
    return counts


def bootstrap_samples(chair: Chair, evidence: Evidence, counts: FloatArray) -> FloatArray:
    """(resamples x models): the chair's scores with the items weighted by each row
    of ``counts``."""
    return chair.scores_many(evidence, counts)


def acceleration(chair: Chair, evidence: Evidence, point: FloatArray) -> FloatArray:
    """BCa's acceleration per model: the skewness of the items' influence on the
    score over 6, from a jackknife leaving out one group of items at a time (items in
    up to :data:`JACKKNIFE_GROUPS` groups: third moments of a sum add up, so groups
    estimate it as single items do, in a bounded number of fits)."""
    n_items = evidence.n_items
    groups = min(n_items, JACKKNIFE_GROUPS)
    if groups < 3:
        return np.zeros(evidence.n_models)
    member = np.arange(n_items) % groups
    left_out = np.empty((groups, evidence.n_models))
    for g in range(groups):
        left_out[g] = chair.scores(evidence, (member != g).astype(np.float64))
    with np.errstate(all="ignore"):
        influence = np.nanmean(left_out, axis=0)[None, :] - left_out
        num = np.nansum(influence ** 3, axis=0)
        den = 6.0 * np.nansum(influence ** 2, axis=0) ** 1.5
        a = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    accel: FloatArray = np.where(np.isfinite(a) & np.isfinite(point), a, 0.0)
    return accel


def intervals(chair: Chair, evidence: Evidence, point: FloatArray, samples: FloatArray,
              method: str = "bca", level: float = LEVEL) -> tuple[FloatArray, FloatArray]:
    """Each model's ``level`` interval from the resampled scores: ``bca`` (the
    leaderboard's, see the module) or ``percentile``; NaN where no resample scored the
    model."""
    tail = (1.0 - level) / 2.0
    n_models = samples.shape[1]
    if method == "percentile":
        with np.errstate(all="ignore"):
            low, high = np.nanpercentile(samples, [100 * tail, 100 * (1 - tail)], axis=0)
        return np.asarray(low), np.asarray(high)
    accel = acceleration(chair, evidence, point)
    n = max(evidence.n_items, 2)
    z_end = float(np.sqrt(n / (n - 1)) * stdtrit(n - 1, 1.0 - tail))  # 1.96, expanded
    low, high = np.full(n_models, np.nan), np.full(n_models, np.nan)
    for m in range(n_models):
        s = samples[:, m]
        s = s[np.isfinite(s)]
        if not s.size or not np.isfinite(point[m]):
            continue
        # z0: the resamples' median bias, ties counted half (a score often resampled
        # exactly, as a win rate of few items, is not pushed to one side)
        below = (np.count_nonzero(s < point[m]) + 0.5 * np.count_nonzero(s == point[m]))
        share = min(max(below / s.size, 0.5 / s.size), 1.0 - 0.5 / s.size)
        z0 = float(ndtri(share))
        ends = []
        for z in (-z_end, z_end):
            shifted = z0 + (z0 + z) / (1.0 - accel[m] * (z0 + z))
            ends.append(100.0 * float(ndtr(shifted)))
        low[m], high[m] = np.percentile(s, ends)
    return low, high


def leaderboard(chair: Chair, evidence: Evidence, *, n_boot: int = 0,
                seed: int = 0) -> list[LeaderboardRow]:
    """Score, rank and (with ``n_boot`` > 0) bootstrap the models, best first."""
    scores = chair.scores(evidence)
    rank = ranks(scores)
    order = np.argsort(rank, kind="stable")
    rows = {m: LeaderboardRow(evidence.table.models[m], int(rank[m]), float(scores[m]))
            for m in range(evidence.n_models)}
    if n_boot > 0:
        samples = bootstrap_samples(chair, evidence,
                                    resample_counts(evidence.n_items, n_boot, seed))
        sample_ranks = ranks(samples)
        low, high = intervals(chair, evidence, scores, samples)
        r_low, r_high = np.percentile(sample_ranks, [2.5, 97.5], axis=0)
        for m, row in rows.items():
            row.ci_low, row.ci_high = _finite(low[m]), _finite(high[m])
            row.rank_low, row.rank_high = int(np.floor(r_low[m])), int(np.ceil(r_high[m]))
    return [rows[int(m)] for m in order]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
