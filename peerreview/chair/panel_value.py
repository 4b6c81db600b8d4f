"""How many reviewers the panel is worth.

Each qualified reviewer's *errors* on the exam: per gold pair, 1 minus its graded
credit (1 agrees, 0.5 a tie or abstention, 0 disagrees; both orders averaged). Two
reviewers that err on the same pairs add little to each other. With rho the mean
correlation of the reviewers' error vectors (over the pairs both graded), the
effective number of independent reviewers is Kish's design effect,
``n / (1 + (n - 1) rho)``: n when the errors are uncorrelated, 1 when they are the
same. Without gold the errors are counted against the latent model's answer
(Dawid-Skene's most probable winner of each pair).

A reviewer's marginal value is the panel's exam accuracy minus the accuracy of the
panel without it (the others' weights renormalized): what it adds for what it costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import gather_evidence
from peerreview.exam.latent import dawid_skene
from peerreview.records.gold import Gold
from peerreview.records.table import FloatArray, IntArray, JudgmentTable, find_keys, pair_key


@dataclass(slots=True)
class PanelValue:
    """The panel's worth: effective reviewers, and each reviewer's marginal value."""

    reviewers: list[str]  # the qualified ones, as graded
    effective_reviewers: float | None  # None: fewer than two reviewers share a pair
    mean_error_correlation: float | None
    against: str  # "exam gold" or "latent model"
    pairs: int  # questions graded
    panel_accuracy: float | None
    without: dict[str, float | None]  # reviewer -> the panel's exam accuracy without it

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["marginal_value"] = {r: (None if a is None or self.panel_accuracy is None
                                     else self.panel_accuracy - a)
                                 for r, a in self.without.items()}
        return out


def effective_number(errors: FloatArray) -> tuple[float | None, float | None]:
    """Kish's effective number of independent reviewers from their error vectors.

    Args:
        errors: (reviewers x questions), NaN where a reviewer did not answer.

    Returns:
        (effective number, mean pairwise correlation), None where fewer than two
        reviewers have a correlation (a reviewer whose errors never vary has none).
    """
    n = errors.shape[0]
    rhos: list[float] = []
    for i in range(n):
        for j in range(i + 1, n):
            both = ~np.isnan(errors[i]) & ~np.isnan(errors[j])
            x, y = errors[i, both], errors[j, both]
            if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
                continue
            rhos.append(float(np.corrcoef(x, y)[0, 1]))
    if not rhos:
        return None, None
    rho = float(np.mean(rhos))
    # negative correlation would make more reviewers than there are: at most n
    return n / (1.0 + (n - 1) * max(rho, 0.0)), rho


def error_matrix(table: JudgmentTable, reviewers: list[int], keys: IntArray,
                 sign: IntArray) -> FloatArray:
    """(reviewers x questions) errors: 1 - mean graded credit of each reviewer's votes
    on each question (pair key, decided ``sign``); NaN where it has no vote."""
    votes = table.votes()
    n_models = len(table.models)
    found, index = find_keys(keys, pair_key(votes.item, votes.a, votes.b, n_models))
    out = np.full((len(reviewers), keys.size), np.nan)
    for row, r in enumerate(reviewers):
        mine = found & (votes.reviewer == r)
        q = index[mine]
        credit = np.where(votes.vote[mine] == 0, 0.5,
                          (np.sign(votes.vote[mine]) == sign[q]).astype(np.float64))
        total = np.bincount(q, credit, minlength=keys.size)
        count = np.bincount(q, minlength=keys.size)
        out[row] = np.where(count > 0, 1.0 - total / np.maximum(count, 1), np.nan)
    return out


def _questions(table: JudgmentTable, exam_gold: Gold | None) -> tuple[IntArray, IntArray, str]:
    """Sorted pair keys and their signs: the exam gold's, or the latent model's."""
    n_models = len(table.models)
    if exam_gold is not None:
        g_item, g_a, g_b, g_sign = exam_gold.indexed(table)
        ok = g_item >= 0
        keys = pair_key(g_item[ok], g_a[ok], g_b[ok], n_models)
        order = np.argsort(keys)
        return keys[order], g_sign[ok][order], "exam gold"
    fit = dawid_skene(table.votes(), len(table.reviewers), n_models)
    decided = fit.posterior != 0.5
    return (fit.keys[decided], np.where(fit.posterior[decided] > 0.5, 1, -1).astype(np.int64),
            "latent model")


def panel_value(table: JudgmentTable, weights: FloatArray, exam_gold: Gold | None,
                by_mean: bool = False) -> PanelValue:
    """The effective number of the qualified reviewers and each one's marginal value.

    Args:
        table: every judgment (the exam's too).
        weights: per reviewer of ``table``; > 0 for the qualified.
        exam_gold: the exam's labels; None: grade against the latent model.
        by_mean: verdicts from mean scores (the ``mean`` chair) rather than votes.
    """
    qualified = [r for r in range(len(table.reviewers)) if weights[r] > 0]
    keys, sign, against = _questions(table, exam_gold)
    errors = error_matrix(table, qualified, keys, sign)
    n_eff, rho = effective_number(errors)

    def accuracy(w: FloatArray) -> float | None:
        if keys.size == 0 or w.sum() <= 0:
            return None
        ev = gather_evidence(table, w / w.sum(), by_mean=by_mean)
        v = ev.verdicts
        found, index = find_keys(pair_key(v.item, v.a, v.b, len(table.models)), keys)
        m = np.where(found, v.margin[index] if v.margin.size else 0.0, 0.0)
        return float(np.where(m == 0, 0.5, (np.sign(m) == sign).astype(np.float64)).mean())

    without: dict[str, float | None] = {}
    for r in qualified:
        w = weights.copy()
        w[r] = 0.0
        without[table.reviewers[r]] = accuracy(w)
    return PanelValue([table.reviewers[r] for r in qualified], n_eff, rho, against,
                      int(keys.size), accuracy(weights.copy()), without)
