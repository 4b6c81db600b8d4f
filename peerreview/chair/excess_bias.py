"""The exam's measure of each reviewer's excess length and position bias (``--calibrate-bias``).

On the exam pairs reviewer r voted on and humans decided, two logistic fits on the
same rows (each of r's votes one row):

    P(r prefers a)     = sigmoid(b_r * x + pi_r * p)
    P(humans prefer a) = sigmoid(h_r * x)

with x the normalized length difference ``(len_a - len_b) / (len_a + len_b)`` and p
+1 when a was shown first, -1 when b was, 0 without an order. r's excess taste for
length is ``beta_r = b_r - h_r`` (how much more it prefers the longer answer than the
humans do on the same pairs), its excess taste for the first shown ``pi_r`` (the
humans saw no order). A tie counts half a win each way; the project's small L2 prior
keeps the fits finite.

At aggregation each of r's votes loses the pull that excess gives it at a toss-up,
``2 sigmoid(beta_r x + pi_r p) - 1`` (in vote units, as
:func:`peerreview.chair.base.debiased_votes` removes a position share).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peerreview.chair.base import Evidence
from peerreview.chair.style import (
    fit_with_covariates,
    normalized_differences,
    submission_features,
    with_offset,
)
from peerreview.errors import InputError
from peerreview.records.exchange import Submission
from peerreview.records.gold import Gold
from peerreview.records.table import FloatArray, JudgmentTable, Votes, find_keys, pair_key


@dataclass(slots=True)
class ExcessBias:
    """One reviewer's bias beyond the humans', in log-odds, from its exam votes."""

    reviewer: str
    length: float  # per unit of normalized length difference (0 without submissions)
    position: float  # toward the answer shown first
    votes: int  # exam votes it was estimated from (0: no estimate, no correction)

    def to_dict(self) -> dict[str, object]:
        return {"reviewer": self.reviewer, "length": self.length, "position": self.position,
                "exam_votes": self.votes}


def _position(votes: Votes) -> FloatArray:
    return np.where(votes.a_first < 0, 0.0, np.where(votes.a_first == 1, 1.0, -1.0))


def _lengths(votes: Votes, features: FloatArray | None) -> FloatArray:
    if features is None:
        return np.zeros(len(votes))
    x, _ = normalized_differences(features, votes.item, votes.a, votes.b, ("length",))
    return x[:, 0]


def exam_bias(table: JudgmentTable, exam_gold: Gold, features: FloatArray | None,
              reg: float = 0.1) -> list[ExcessBias]:
    """Every reviewer's excess length and position bias on the exam.

    Args:
        table: all judgments.
        exam_gold: the exam's human labels.
        features: (items x models x 4) style counts, or None (position only).
        reg: the L2 prior on (kappa, beta, pi).
    """
    votes = table.votes()
    n_models = len(table.models)
    g_item, g_a, g_b, g_sign = exam_gold.indexed(table)
    known = g_item >= 0
    found, index = find_keys(pair_key(g_item[known], g_a[known], g_b[known], n_models),
                             pair_key(votes.item, votes.a, votes.b, n_models))
    sign = np.where(found, g_sign[known][index] if known.any() else 0, 0).astype(np.float64)
    usable = found & ~votes.abstain & (sign != 0)
    x, p = _lengths(votes, features), _position(votes)
    share = (1.0 + np.clip(votes.vote.astype(np.float64), -1, 1)) / 2.0
    out = []
    for r, name in enumerate(table.reviewers):
        mine = usable & (votes.reviewer == r)
        if not mine.any():
            out.append(ExcessBias(name, 0.0, 0.0, 0))
            continue
        zero = np.zeros(int(mine.sum()), np.int64)  # one "model": only the covariates count
        _, own = fit_with_covariates(zero, zero, np.column_stack([x[mine], p[mine]]),
                                     share[mine], 1 - share[mine], 1, reg)
        human = (1.0 + sign[mine]) / 2.0
        _, theirs = fit_with_covariates(zero, zero, x[mine][:, None], human, 1 - human, 1,
                                        reg)
        length = float(own[0] - theirs[0]) if features is not None else 0.0
        out.append(ExcessBias(name, length, float(own[1]), int(mine.sum())))
    return out


def bias_offsets(votes: Votes, bias: list[ExcessBias], reviewers: list[str],
                 features: FloatArray | None) -> FloatArray:
    """Each vote's pull toward a from its reviewer's excess bias (to subtract)."""
    by_name = {b.reviewer: b for b in bias}
    length = np.array([by_name[r].length if r in by_name else 0.0 for r in reviewers])
    position = np.array([by_name[r].position if r in by_name else 0.0 for r in reviewers])
    if not len(votes):
        return np.zeros(0)
    logit = length[votes.reviewer] * _lengths(votes, features) + \
        position[votes.reviewer] * _position(votes)
    offset: FloatArray = np.tanh(0.5 * logit)
    return offset


def calibrated(evidence: Evidence, exam_table: JudgmentTable, exam_gold: Gold | None,
               submissions: list[Submission], by_mean: bool,
               notes: list[str]) -> tuple[Evidence, list[ExcessBias]]:
    """``--calibrate-bias``: the evidence with each vote less its reviewer's excess
    bias, measured on the exam (length needs the submissions; without, position only).

    Raises:
        InputError: no exam gold, or a mean chair (it decides from scores, not votes).
    """
    if exam_gold is None:
        raise InputError("--calibrate-bias measures each reviewer's bias against the "
                         "humans on the exam: it needs --exam-gold FILE", field="--exam-gold")
    if by_mean:
        raise InputError("--calibrate-bias corrects votes, and the mean chair decides from "
                         "scores: use --method vote or bradley-terry", field="--method")
    exam_features = submission_features(exam_table, submissions) if submissions else None
    if exam_features is None:
        notes.append("--calibrate-bias without --submissions: position bias only (lengths "
                     "need the submissions' texts)")
    bias = exam_bias(exam_table, exam_gold, exam_features)
    features = submission_features(evidence.table, submissions) if submissions else None
    offset = bias_offsets(evidence.votes, bias, evidence.table.reviewers, features)
    return with_offset(evidence, offset), bias
