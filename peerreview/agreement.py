"""Agreement of the chair with human gold (the PRE paper's headline numbers).

- pairwise accuracy: mean over decided gold pairs of 1 if the verdict's margin has
  the gold's sign, 0.5 if the margin is 0 or there is no verdict, 0 otherwise;
- mean per-item Spearman between the chair's item scores and gold item scores
  (where the gold gives item scores);
- system-level Kendall tau-b and Spearman between the chair's model scores and the
  gold's win rates.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import Evidence
from peerreview.records.gold import Gold
from peerreview.records.table import FloatArray, find_keys, pair_key


@dataclass(slots=True)
class Agreement:
    """How close a ranking is to the humans."""

    pairwise_accuracy: float
    pairs: int
    pairs_without_verdict: int
    kendall_tau: float | None
    spearman: float | None
    models: int
    item_spearman: float | None
    items_correlated: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairwise_accuracy(evidence: Evidence, gold: Gold) -> tuple[float, int, int]:
    """(accuracy, decided gold pairs, gold pairs without a verdict)."""
    table = evidence.table
    g_item, g_a, g_b, g_sign = gold.indexed(table)
    n_models = len(table.models)
    v = evidence.verdicts
    found, index = find_keys(pair_key(v.item, v.a, v.b, n_models),
                             pair_key(g_item, g_a, g_b, n_models))
    found &= g_item >= 0  # gold on an item nobody judged has no verdict
    m = np.zeros(g_item.size)
    m[found] = v.margin[index[found]]
    points = np.where(m == 0, 0.5, (np.sign(m) == g_sign).astype(np.float64))
    return float(points.mean()), int(g_item.size), int((~found).sum())


def _correlate(x: FloatArray, y: FloatArray) -> tuple[float | None, float | None]:
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None
    from scipy.stats import kendalltau, spearmanr  # slow to import; only needed with gold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = float(kendalltau(x, y).statistic)
        rho = float(spearmanr(x, y).statistic)
    return (tau if np.isfinite(tau) else None), (rho if np.isfinite(rho) else None)


def measure_agreement(evidence: Evidence, model_scores: FloatArray, gold: Gold) -> Agreement:
    """Compare a chair's verdicts, item scores and model scores with gold."""
    accuracy, pairs, missing = pairwise_accuracy(evidence, gold)
    models = evidence.table.models
    gold_rates = gold.win_rates()
    both = [i for i, m in enumerate(models) if m in gold_rates and np.isfinite(model_scores[i])]
    tau, rho = _correlate(model_scores[both], np.array([gold_rates[models[i]] for i in both]))

    item_ix = {t: i for i, t in enumerate(evidence.table.items)}
    model_ix = {m: i for i, m in enumerate(models)}
    rhos: list[float] = []
    for item, gold_scores in gold.item_scores.items():
        if item not in item_ix:
            continue
        row = evidence.item_scores[item_ix[item]]
        names = [m for m in gold_scores if np.isfinite(row[model_ix[m]])]
        if len(names) < 2:
            continue
        _, r = _correlate(np.array([row[model_ix[m]] for m in names]),
                          np.array([gold_scores[m] for m in names]))
        if r is not None:
            rhos.append(r)
    return Agreement(accuracy, pairs, missing, tau, rho, len(both),
                     float(np.mean(rhos)) if rhos else None, len(rhos))
