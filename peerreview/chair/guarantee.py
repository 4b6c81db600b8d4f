"""Guaranteed agreement with humans: a calibrated threshold on the chair's margin.

Trust or Escalate (Jung et al. 2024): on a calibration set (the exam gold), the
candidate thresholds on the confidence, here the verdict's ``|margin|``, are tried
from high to low. Fixed-sequence testing: a threshold passes when the one-sided
Clopper-Pearson upper bound, at level ``delta``, on the disagreement rate of the
calibration verdicts at or above it is at most ``1 - target``; testing stops at the
first failure, and the lowest threshold that passed is chosen. The sequence starts at
the first threshold that covers enough verdicts to pass with no error at all (fewer
could never pass, and would stop every sequence at once); that start depends on the
margins only, not on the labels, so the guarantee holds. Then, with
probability at least ``1 - delta``, the verdicts at or above the threshold agree
with humans at least ``target`` of the time (for verdicts exchangeable with the
calibration set). Verdicts below it are marked ``needs_review``; in a cascade
(:mod:`peerreview.review.escalate`), a pair below it is first asked of the next
reviewer, against the threshold :func:`exam_guarantee` chooses on the exam.

A verdict agrees when its sign is the gold's; a tie (margin 0) does not agree.
Gold weights (``label-export``'s 1/π) are not used: the bound counts labels. Verdicts
of one item are not independent (Trust or Escalate's have one per item): the counts
are divided by Kish's design effect from the errors' intra-item correlation, an
estimate, so with several pairs an item the guarantee is approximate; with one pair
an item it is Trust or Escalate's exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import Verdicts, gather_evidence
from peerreview.errors import InputError
from peerreview.records.counting import Counting
from peerreview.records.gold import Gold
from peerreview.records.table import (
    BoolArray,
    FloatArray,
    IntArray,
    JudgmentTable,
    find_keys,
    pair_key,
)

STEPS = 20  # candidate thresholds: the margins that cover 5%, 10%, ... of the exam
# A margin this close to the threshold (relatively) reaches it: the same weighted sum
# added in another order (a cascade's, reviewer by reviewer) differs in the last bits.
TOLERANCE = 1e-9


def reaches(strength: FloatArray | float, threshold: float) -> BoolArray:
    """Whether each ``|margin|`` is at or above the threshold (within :data:`TOLERANCE`)."""
    return np.asarray(np.asarray(strength) >= threshold - TOLERANCE * max(abs(threshold), 1.0))


@dataclass(slots=True)
class Guarantee:
    """The calibrated threshold and what it covers.

    ``threshold`` is None when no threshold passed: every verdict needs review.
    """

    target: float
    delta: float
    threshold: float | None
    calibration_pairs: int  # exam gold pairs with a verdict
    calibration_covered: int  # of them, at or above the threshold
    calibration_agreement: float | None  # agreement of the covered ones
    upper_bound: float | None  # Clopper-Pearson bound on their disagreement
    verdicts: int  # verdicts of the ranking
    covered: int  # of them, at or above the threshold
    needs_review: int  # of them, below it

    @property
    def coverage(self) -> float:
        """Share of the ranking's verdicts at or above the threshold."""
        return self.covered / self.verdicts if self.verdicts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": self.coverage}

    def describe(self) -> str:
        """One sentence for the console."""
        if self.threshold is None:
            return (f"guaranteed agreement: no margin threshold reaches {self.target} at "
                    f"delta {self.delta} on {self.calibration_pairs} exam pairs; every "
                    "verdict needs review")
        return (f"guaranteed agreement >= {self.target} (delta {self.delta}): verdicts with "
                f"|margin| >= {self.threshold:.4g} are trusted, coverage {self.coverage:.0%} "
                f"({self.needs_review} of {self.verdicts} need review)")


def clopper_pearson_upper(errors: int | np.ndarray[Any, Any], n: int | np.ndarray[Any, Any],
                          delta: float) -> FloatArray:
    """The one-sided (1 - delta) Clopper-Pearson upper bound on a binomial rate
    from ``errors`` out of ``n``: the (1 - delta) quantile of Beta(errors + 1, n - errors);
    1 where errors == n."""
    from scipy.stats import beta  # slow to import; only needed with a target

    k = np.asarray(errors, np.float64)
    m = np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = beta.ppf(1.0 - delta, k + 1.0, np.maximum(m - k, 1e-300))
    return np.asarray(np.where(k >= m, 1.0, bound), np.float64)


def design_effects(agrees: BoolArray, groups: IntArray, order: IntArray,
                   last: IntArray) -> FloatArray:
    """Kish's design effect 1 + (m - 1) rho of each candidate's covered verdicts: rho
    the intra-item correlation of the errors (one-way ANOVA over all calibration
    verdicts, clipped to [0, 1]), m the size-weighted mean verdicts per item covered.
    Verdicts of one item err together (one hard article misleads every pair of it),
    so they count as fewer independent ones."""
    x = (~agrees).astype(np.float64)
    _, g = np.unique(groups, return_inverse=True)
    sizes = np.bincount(g).astype(np.float64)
    n, k = float(x.size), sizes.size
    if k < 2 or n <= k:
        return np.ones(last.size)
    means = np.bincount(g, x) / sizes
    msb = float((sizes * (means - x.mean()) ** 2).sum()) / (k - 1)
    msw = float(((x - means[g]) ** 2).sum()) / (n - k)
    m0 = (n - float((sizes ** 2).sum()) / n) / (k - 1)
    denom = msb + (m0 - 1) * msw
    rho = min(max((msb - msw) / denom, 0.0), 1.0) if denom > 0 else 0.0
    out = np.empty(last.size)
    for j, end in enumerate(last):
        covered = np.bincount(g[order[:end + 1]]).astype(np.float64)
        out[j] = 1.0 + (float((covered ** 2).sum() / covered.sum()) - 1.0) * rho
    return out


def choose_threshold(confidence: FloatArray, agrees: BoolArray, target: float,
                     delta: float, steps: int | None = STEPS,
                     groups: IntArray | None = None) -> tuple[float | None, int, int,
                                                               float | None]:
    """Fixed-sequence testing over the distinct confidences, high to low.

    Each failure ends the sequence, so a fine grid (every distinct margin of
    thousands) stops at the first unlucky verdict: the candidates are the margins
    that cover 1/steps, 2/steps, ... of the calibration verdicts (with their ties).
    The grid depends on the margins only, not on the labels.

    Args:
        confidence: per calibration verdict, e.g. ``|margin|``.
        agrees: per calibration verdict, whether it agrees with gold.
        target: the agreement to guarantee.
        delta: the allowed probability of missing it.
        steps: candidates on a grid of this many coverages; None: every distinct value.
        groups: per calibration verdict, its item; the counts are then divided by the
            design effect (:func:`design_effects`). None: every verdict independent.

    Returns:
        (threshold or None, calibration verdicts covered, of them disagreeing, the
        bound on their disagreement).
    """
    order = np.argsort(-confidence, kind="stable")
    c = confidence[order]
    wrong = np.cumsum(~agrees[order])
    # the last index of each distinct value: a threshold covers every tie with it
    last = np.nonzero(np.append(c[1:] != c[:-1], True))[0] if c.size else np.zeros(0, int)
    if steps is not None and c.size:  # a fixed grid: each step covers 1/steps more
        wanted = np.ceil(c.size * np.arange(1, steps + 1) / steps).astype(np.int64) - 1
        last = np.unique(last[np.searchsorted(last, wanted)])
    deff = np.ones(last.size) if groups is None else design_effects(agrees, groups, order,
                                                                     last)
    # a threshold over fewer than n_min (effective) verdicts cannot pass even with no error
    n_min = int(np.ceil(np.log(delta) / np.log(target)))
    enough = (last + 1) / deff >= n_min
    last, deff = last[enough], deff[enough]
    n = last + 1
    bound = clopper_pearson_upper(wrong[last] / deff, n / deff, delta)
    passed = bound <= 1.0 - target
    if not passed.size or not passed[0]:
        return None, 0, 0, None
    first_fail = int(np.argmin(passed)) if not passed.all() else passed.size
    k = first_fail - 1  # the last that passed before the first failure
    return float(c[last[k]]), int(n[k]), int(wrong[last[k]]), float(bound[k])


def calibrate(verdicts: Verdicts, table: JudgmentTable, exam_gold: Gold | None,
              target: float, delta: float) -> tuple[Guarantee, BoolArray]:
    """Choose the margin threshold on the exam gold and mark the verdicts below it.

    Args:
        verdicts: the chair's verdicts (those on exam items are the calibration set).
        table: the table the verdicts index.
        exam_gold: the calibration labels.
        target: agreement to guarantee, in (0, 1).
        delta: probability of missing it, in (0, 1).

    Returns:
        The guarantee, and per verdict whether it needs review.

    Raises:
        InputError: no exam gold, bad target or delta, or no exam pair has a verdict.
    """
    if not 0.0 < target < 1.0:
        raise InputError(f"--target-agreement must be between 0 and 1, got {target}")
    if not 0.0 < delta < 1.0:
        raise InputError(f"--delta must be between 0 and 1, got {delta}")
    if exam_gold is None:
        raise InputError("--target-agreement calibrates on the exam: it needs --exam-gold FILE")
    g_item, g_a, g_b, g_sign = exam_gold.indexed(table)
    n_models = len(table.models)
    found, index = find_keys(pair_key(verdicts.item, verdicts.a, verdicts.b, n_models),
                             pair_key(g_item, g_a, g_b, n_models))
    found &= g_item >= 0
    if not found.any():
        raise InputError("--target-agreement: no exam gold pair has a verdict to calibrate "
                         "on (with --exclude-exam-items the exam items are not ranked)")
    margin = verdicts.margin[index[found]]
    agrees = np.sign(margin) == g_sign[found]
    threshold, covered, wrong, bound = choose_threshold(
        np.abs(margin), agrees, target, delta, groups=verdicts.item[index[found]])
    strength = np.abs(verdicts.margin)
    needs = np.ones(len(verdicts), np.bool_) if threshold is None else \
        ~reaches(strength, threshold)
    return Guarantee(
        target, delta, threshold, int(found.sum()), covered,
        (covered - wrong) / covered if covered else None, bound,
        len(verdicts), int((~needs).sum()), int(needs.sum())), needs


def exam_guarantee(exam: JudgmentTable, weights: FloatArray, exam_gold: Gold | None,
                   target: float, delta: float, *, by_mean: bool) -> Guarantee:
    """The threshold a cascade escalates below: :func:`calibrate` on the qualified
    reviewers' (``weights`` > 0) verdicts of the exam gold pairs, as the plain chair
    forms them (every vote once, raw weighted mean scores), so that it is on the scale
    of a cascade's margin over the reviewers asked so far.

    Args:
        exam: judgments that hold the exam's (other items' are left out by the gold).
        weights: the exam's weights, per reviewer of ``exam``.
        exam_gold: the calibration labels.
        target: agreement to guarantee.
        delta: probability of missing it.
        by_mean: verdicts as the mean chair forms them (score differences).

    Raises:
        InputError: as :func:`calibrate`.
    """
    evidence = gather_evidence(exam, weights, by_mean=by_mean, counting=Counting(strength=1))
    guarantee, _ = calibrate(evidence.verdicts, evidence.table, exam_gold, target, delta)
    return guarantee
