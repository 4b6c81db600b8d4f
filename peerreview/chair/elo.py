"""Elo ratings, averaged over seeded random orders of the judgments.

Elo depends on the order of the games; replaying the weighted judgments in many
random orders and averaging makes the result independent of file order.
"""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray, IntArray

MAX_UPDATES = 2_000_000  # cap on games replayed in all orders together (pure-Python loop)


class EloChair(Chair):
    """Mean Elo rating over ``orders`` random replays.

    Args:
        k: the update step for a judgment of weight 1.
        orders: how many random orders to average (fewer when the data are large).
        seed: the seed of the orders.
        initial: the starting rating.
    """

    name = "elo"

    def __init__(self, k: float = 4.0, orders: int = 100, seed: int = 0,
                 initial: float = 1000.0) -> None:
        self.k, self.orders, self.seed, self.initial = k, orders, seed, initial

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        v = evidence.votes
        w = evidence.row_weights(item_weights)
        # a canonical order first, so that the seeded replays do not depend on file order
        # (sorted once; a resample keeps the games of the items it drew, in that order)
        canonical = evidence.cached("elo-order", lambda: _canonical(evidence))
        keep = canonical[w[canonical] > 0]
        a, b = v.a[keep], v.b[keep]
        outcome = (evidence.value[keep] + 1) / 2.0  # 1 a won, 0.5 tie, 0 b won (or debiased)
        step = self.k * w[keep]
        n = int(a.size)
        judged = np.zeros(evidence.n_models, np.bool_)
        judged[a], judged[b] = True, True
        if n == 0:
            return np.full(evidence.n_models, np.nan)
        orders = max(1, min(self.orders, MAX_UPDATES // n))
        rng = np.random.default_rng(self.seed)
        total = np.zeros(evidence.n_models)
        for _ in range(orders):
            perm = rng.permutation(n)
            total += _replay(a[perm].tolist(), b[perm].tolist(), outcome[perm].tolist(),
                             step[perm].tolist(), evidence.n_models, self.initial)
        return np.where(judged, total / orders, np.nan)


def _canonical(evidence: Evidence) -> IntArray:
    """The judgments that are no abstention, by item, reviewer, pair and order."""
    v = evidence.votes
    keep = np.flatnonzero(~v.abstain)
    order: IntArray = keep[np.lexsort((v.a_first[keep], v.b[keep], v.a[keep],
                                       v.reviewer[keep], v.item[keep]))]
    return order


def _replay(a: list[int], b: list[int], outcome: list[float], step: list[float],
            n_models: int, initial: float) -> FloatArray:
    rating = [initial] * n_models
    for i, j, s, k in zip(a, b, outcome, step, strict=True):
        expected = 1.0 / (1.0 + 10.0 ** ((rating[j] - rating[i]) / 400.0))
        delta = k * (s - expected)
        rating[i] += delta
        rating[j] -= delta
    return np.asarray(rating)
