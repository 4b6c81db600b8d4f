"""Escalation: with a target agreement, the cascade asks a pair of the next reviewer
until its margin so far clears the threshold calibrated on the exam.

The chair's margin of a pair (:mod:`peerreview.chair.base`) is the sum over reviewers of
``w_r`` times r's votes (the mean chair's: the difference of the weighted mean scores),
``w_r`` the exam weights normalized over the qualified. Over the reviewers asked so far
it is on the same scale, so one threshold serves: the one
:func:`peerreview.chair.guarantee.exam_guarantee` chooses on the qualified reviewers'
exam verdicts (Trust or Escalate's fixed-sequence testing). A pair stops once it is
decided as the cascade decides it (:func:`peerreview.review.schedule.decided`) and
``|margin| >= threshold``; a pair still below it after the last reviewer needs review
(by humans: ``label-select --from-abstained``). Where no threshold passed, every pair
goes down the whole cascade.

The margin here counts every vote once and scores as given: what the threshold was
calibrated on, whatever the chair's counting (strength, ``--soft``) or normalizing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peerreview.chair.guarantee import Guarantee, exam_guarantee, reaches
from peerreview.records.gold import Gold
from peerreview.records.table import BoolArray, JudgmentTable, pair_key

log = logging.getLogger("peerreview")


@dataclass(slots=True)
class Escalation:
    """The threshold a cascade escalates below, and the pairs it escalated.

    ``threshold`` None: no threshold passed on the exam; no pair clears it.
    """

    weights: dict[str, float]  # reviewer -> exam weight (0 or absent: not qualified)
    threshold: float | None
    by_mean: bool = False  # pointwise margins as the mean chair forms them
    guarantee: Guarantee | None = None  # the exam calibration that chose the threshold
    exam_gold: Gold | None = None  # what it was calibrated on
    # (item, a, b) of the pairs asked of a further reviewer because of the threshold
    escalated: set[tuple[str, str, str]] = field(default_factory=set)

    def clears(self, margin: float | None) -> bool:
        """Whether a margin so far is trusted (None: not yet formed)."""
        return self.threshold is not None and margin is not None and \
            bool(reaches(abs(margin), self.threshold))

    def facts(self) -> dict[str, Any]:
        """What ``run.json`` records of it."""
        g = self.guarantee
        return {"target_agreement": g.target if g else None, "delta": g.delta if g else None,
                "threshold": self.threshold,
                "calibration_pairs": g.calibration_pairs if g else None,
                "escalated": len(self.escalated)}

    def describe(self) -> str:
        """One sentence for the console, after the review."""
        if self.threshold is None:
            return (f"escalation: no margin threshold passed on the exam, so every pair went "
                    f"down the whole cascade ({len(self.escalated)} asked of more reviewers "
                    "than the cascade alone would)")
        return (f"escalation: {len(self.escalated)} pair(s) asked of more reviewers until "
                f"|margin| >= {self.threshold:.4g} (calibrated on the exam)")


def escalation_for(exam: JudgmentTable, weights: dict[str, float], exam_gold: Gold | None,
                   target: float, delta: float, *, by_mean: bool,
                   baseline: str | None = None) -> Escalation:
    """The escalation of a cascade, calibrated on the exam; says so in a log line where
    no threshold passed.

    Args:
        exam: judgments holding the exam's (all qualified reviewers on the gold pairs).
        weights: reviewer -> exam weight.
        exam_gold: the calibration labels.
        target: agreement to guarantee.
        delta: probability of missing it.
        by_mean: the chair ranks by mean scores.
        baseline: only pairs with this model are reviewed (so only they calibrate).

    Raises:
        InputError: no exam gold, a bad target or delta, or no exam pair judged.
    """
    if baseline is not None and baseline in exam.models:
        b = exam.models.index(baseline)
        p = exam.pairwise
        exam = exam.subset((p.a == b) | (p.b == b), np.ones(len(exam.scores), np.bool_))
    w = np.array([weights.get(r, 0.0) for r in exam.reviewers])
    guarantee = exam_guarantee(exam, w, exam_gold, target, delta, by_mean=by_mean)
    if guarantee.threshold is None:
        log.warning(f"{guarantee.describe()}: every pair goes down the whole cascade")
    return Escalation(dict(weights), guarantee.threshold, by_mean, guarantee, exam_gold)


class ItemMargins:
    """One item's pointwise margins over the reviewers asked so far: the difference of
    weighted mean scores (the mean chair's, normalized by the weights present), or for a
    chair of votes the weighted sum of the signs of the score differences."""

    def __init__(self, escalation: Escalation) -> None:
        self.escalation = escalation
        self.total: dict[str, float] = {}  # model -> sum of w_r s_r
        self.weight: dict[str, float] = {}  # model -> sum of w_r over those that scored
        self.votes: dict[tuple[str, str], float] = {}  # pair -> sum of w_r sign

    def add(self, reviewer: str, got: dict[str, float | None]) -> None:
        """A reviewer's scores (None or NaN: unreadable, no score)."""
        w = self.escalation.weights.get(reviewer, 0.0)
        known = {m: s for m, s in got.items() if s is not None and s == s}
        for m, s in known.items():
            self.total[m] = self.total.get(m, 0.0) + w * s
            self.weight[m] = self.weight.get(m, 0.0) + w
        for a in known:
            for b in known:
                if a < b:
                    sign = float(np.sign(known[a] - known[b]))
                    self.votes[a, b] = self.votes.get((a, b), 0.0) + w * sign

    def margin(self, a: str, b: str) -> float | None:
        """The margin of {a, b} so far (None: a model has no score yet)."""
        if not self.escalation.by_mean:
            return self.votes.get((a, b))
        if self.weight.get(a, 0.0) <= 0 or self.weight.get(b, 0.0) <= 0:
            return None
        return self.total[a] / self.weight[a] - self.total[b] / self.weight[b]


def exam_rows(table: JudgmentTable, gold: Gold | None) -> tuple[BoolArray, BoolArray]:
    """The pairwise and pointwise rows of ``table`` that a live run's exam asks of every
    candidate (the gold pairs in both orders, or the scores of their submissions): an
    escalating cascade on a recording keeps them, as a live run's outputs hold them, so
    the ranking's verdicts on the exam, which calibrate its threshold, are the panel's."""
    item_ix = {t: i for i, t in enumerate(table.items)}
    model_ix = {m: i for i, m in enumerate(table.models)}
    n = len(table.models)
    known = [(item_ix[t], model_ix[a], model_ix[b]) for t, a, b in (gold.pairs if gold else {})
             if t in item_ix and a in model_ix and b in model_ix]
    ix = np.array(known, np.int64).reshape(-1, 3)
    p, s = table.pairwise, table.scores
    pairs = np.isin(pair_key(p.item, p.a, p.b, n), pair_key(ix[:, 0], ix[:, 1], ix[:, 2], n))
    cells = np.concatenate([ix[:, 0] * n + ix[:, 1], ix[:, 0] * n + ix[:, 2]])
    return pairs, np.isin(s.item * n + s.model, cells)
