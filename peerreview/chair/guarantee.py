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
calibration set). Verdicts below it are marked ``needs_review``.

A verdict agrees when its sign is the gold's; a tie (margin 0) does not agree.
Gold weights (``label-export``'s 1/π) are not used: the bound counts labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import Verdicts
from peerreview.errors import InputError
from peerreview.records.gold import Gold
from peerreview.records.table import BoolArray, FloatArray, JudgmentTable, find_keys, pair_key


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


def choose_threshold(confidence: FloatArray, agrees: BoolArray, target: float,
                     delta: float) -> tuple[float | None, int, int]:
    """Fixed-sequence testing over the distinct confidences, high to low.

    Args:
        confidence: per calibration verdict, e.g. ``|margin|``.
        agrees: per calibration verdict, whether it agrees with gold.
        target: the agreement to guarantee.
        delta: the allowed probability of missing it.

    Returns:
        (threshold or None, calibration verdicts covered, of them disagreeing).
    """
    order = np.argsort(-confidence, kind="stable")
    c = confidence[order]
    wrong = np.cumsum(~agrees[order])
    # the last index of each distinct value: a threshold covers every tie with it
    last = np.nonzero(np.append(c[1:] != c[:-1], True))[0] if c.size else np.zeros(0, int)
    n = last + 1
    # a threshold over fewer than n_min verdicts cannot pass even with no error
    n_min = int(np.ceil(np.log(delta) / np.log(target)))
    last = last[n >= n_min]
    n = last + 1
    bound = clopper_pearson_upper(wrong[last], n, delta)
    passed = bound <= 1.0 - target
    if not passed.size or not passed[0]:
        return None, 0, 0
    first_fail = int(np.argmin(passed)) if not passed.all() else passed.size
    k = first_fail - 1  # the last that passed before the first failure
    return float(c[last[k]]), int(n[k]), int(wrong[last[k]])


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
    threshold, covered, wrong = choose_threshold(np.abs(margin), agrees, target, delta)
    strength = np.abs(verdicts.margin)
    needs = np.ones(len(verdicts), np.bool_) if threshold is None else strength < threshold
    bound = None if threshold is None else float(clopper_pearson_upper(wrong, covered, delta))
    return Guarantee(
        target, delta, threshold, int(found.sum()), covered,
        (covered - wrong) / covered if covered else None, bound,
        len(verdicts), int((~needs).sum()), int(needs.sum())), needs
