"""PRD's peer rank (Li, Patel and Du 2023): reviewers that are also evaluatees weigh
as much as their own standing, iterated to a fixed point.

Each round, a reviewer that is also an evaluatee gets its exam weight times its
model's current win rate; a reviewer that is not gets its exam weight times the
mean win rate (neutral). The weighted vote then gives new win rates. The result
is the fixed point's win rates.
"""

from __future__ import annotations

import logging

import numpy as np

from peerreview.chair.base import Chair, Evidence, Verdicts, verdict_outcomes
from peerreview.chair.counts import group
from peerreview.chair.vote import win_rates
from peerreview.records.table import FloatArray, IntArray, pair_key

log = logging.getLogger(__name__)


def reviewer_models(reviewers: list[str], models: list[str]) -> IntArray:
    """The model index each reviewer also is (by name, or by the name before a ':'),
    -1 for a reviewer that is no evaluatee."""
    index = {m: i for i, m in enumerate(models)}
    return np.array([index.get(r, index.get(r.split(":")[0], -1)) for r in reviewers],
                    np.int64)


class PeerRankChair(Chair):
    """Win rates under reviewer weights taken from the reviewers' own standing.

    Args:
        max_iter: the most rounds.
        tol: stop when no win rate moves more than this.
    """

    name = "peer-rank"

    def __init__(self, max_iter: int = 200, tol: float = 1e-9) -> None:
        self.max_iter, self.tol = max_iter, tol
        self.converged = True

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        own = reviewer_models(evidence.table.reviewers, evidence.table.models)
        pairs, row, counted = evidence.cached("peer-rank", lambda: _grouped(evidence))
        base = evidence.weights
        standing = np.ones(evidence.n_models)
        self.converged = False
        for _ in range(self.max_iter):
            judged = ~np.isnan(standing)
            neutral = float(np.mean(standing[judged])) if judged.any() else 1.0
            factor = np.where(own >= 0, standing[np.maximum(own, 0)], neutral)
            weights = base * np.nan_to_num(factor, nan=neutral)
            if weights.sum() <= 0:
                weights = base
            weights = weights / weights.sum()
            # the weighted vote of this round (as vote_verdicts sums it, vote by vote),
            # on the (item, pair) grouping made once
            margin = np.bincount(row, weights[evidence.votes.reviewer] * counted,
                                 minlength=pairs.item.size).astype(np.float64)
            verdicts = Verdicts(pairs.item, pairs.a, pairs.b, margin)
            won, played = verdict_outcomes(verdicts, evidence.n_items, evidence.n_models)
            new = win_rates(won, played, item_weights)
            if np.nanmax(np.abs(new - standing)) < self.tol:
                standing = new
                self.converged = True
                break
            standing = new
        if not self.converged:
            log.warning("peer rank did not converge in %d rounds", self.max_iter)
        return standing


def _grouped(evidence: Evidence) -> tuple[Verdicts, IntArray, FloatArray]:
    """Each vote's (item, pair) among the distinct ones (their margins left 0) and
    what it counts before its reviewer's weight: the grouping every round reuses."""
    v, n_models = evidence.votes, evidence.n_models
    keys, row = group(pair_key(v.item, v.a, v.b, n_models),
                      evidence.n_items * n_models * n_models)
    item, rest = np.divmod(keys, n_models * n_models)
    a, b = np.divmod(rest, n_models)
    counted = evidence.value if evidence.count is None else evidence.value * evidence.count
    return Verdicts(item, a, b, np.zeros(keys.size)), row, counted
