"""What every chair method sees, the item-level verdicts, and the method interface.

The chair first turns the qualified reviewers' weighted judgments into a *verdict*
for every item and every unordered pair judged on it (a margin: > 0 a better, < 0 b
better, 0 a tie), then ranks the models. Verdicts follow PRE: a weighted vote over
both orders, or for the ``mean`` method the difference of weighted mean item scores.
What each vote counts (a strong verdict N times, a soft one by its probability) comes
from :func:`peerreview.records.counting.vote_worth`, gathered once into :class:`Evidence`, so
that every chair counts the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from peerreview.records.counting import Counting, vote_worth
from peerreview.records.table import (
    FloatArray,
    IntArray,
    JudgmentTable,
    Scores,
    Votes,
    pair_key,
    seen_from_a,
)

T = TypeVar("T")


@dataclass(slots=True)
class Verdicts:
    """The chair's decision per (item, a, b), a < b."""

    item: IntArray
    a: IntArray
    b: IntArray
    margin: FloatArray

    def __len__(self) -> int:
        return int(self.item.size)


def debiased_votes(votes: Votes, first_share: FloatArray,
                   value: FloatArray | None = None) -> FloatArray:
    """Votes with each reviewer's first-position bias removed: a decided vote shown in
    one order counts 2 (won - q_r) for the first shown, where won is 1 or 0 (a soft
    vote: the reviewer's probability that the first is better) and q_r is the share of
    wins r gives the first shown when neither is better. Unbiased (q = 1/2): +-1 as
    before; a reviewer that always picks the first shown (q = 1): no evidence.

    Args:
        votes: the votes.
        first_share: q_r per reviewer.
        value: each vote's value for a before debiasing (default the vote, +-1 or 0).
    """
    value = votes.vote.astype(np.float64) if value is None else value.copy()
    ordered = (votes.a_first >= 0) & (value != 0) & ~votes.abstain
    a_first = votes.a_first[ordered]
    first_won = (1.0 + seen_from_a(value[ordered], a_first)) / 2.0  # the turn undoes itself
    toward_first = 2.0 * (first_won - first_share[votes.reviewer[ordered]])
    value[ordered] = seen_from_a(toward_first, a_first)
    return value


def vote_verdicts(votes: Votes, value: FloatArray, weights: FloatArray,
                  n_models: int, count: FloatArray | None = None) -> Verdicts:
    """margin(t, a, b) = sum over reviewers of w_r times the sum of r's votes on {a, b}
    at t (both orders), each vote counting ``value``, ``count`` times (default once).
    A pair whose every vote was an abstention has margin 0."""
    if not len(votes):
        empty = np.zeros(0, np.int64)
        return Verdicts(empty, empty, empty, np.zeros(0, np.float64))
    keys = pair_key(votes.item, votes.a, votes.b, n_models)
    uniq, inverse = np.unique(keys, return_inverse=True)
    counted = value if count is None else value * count
    margin = np.bincount(inverse, weights[votes.reviewer] * counted,
                         minlength=uniq.size).astype(np.float64)
    item, rest = np.divmod(uniq, n_models * n_models)
    a, b = np.divmod(rest, n_models)
    return Verdicts(item, a, b, margin)


def mean_item_scores(scores: Scores, weights: FloatArray, n_items: int, n_models: int,
                     *, normalize: bool = False) -> FloatArray:
    """S(t, m): the weighted mean of the qualified reviewers' scores, normalized by
    the weights present (an abstention is not a score). NaN where nobody scored.

    With ``normalize`` each reviewer's scores are z-scored first. Reviewers on
    different scales are mapped to [0, 1] by their scale so they can be averaged.
    """
    ok = ~np.isnan(scores.score) & (weights[scores.reviewer] > 0)
    s = scores.take(ok)
    value = s.score.copy()
    if normalize:
        for r in np.unique(s.reviewer):
            mine = s.reviewer == r
            sd = value[mine].std()
            value[mine] = (value[mine] - value[mine].mean()) / (sd if sd > 0 else 1.0)
    elif s.low.size and (np.ptp(s.low) > 0 or np.ptp(s.high) > 0):
        value = (value - s.low) / (s.high - s.low)
    w = weights[s.reviewer]
    cell = s.item * n_models + s.model
    num = np.bincount(cell, w * value, minlength=n_items * n_models)
    den = np.bincount(cell, w, minlength=n_items * n_models)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out.reshape(n_items, n_models)


def score_verdicts(item_scores: FloatArray) -> Verdicts:
    """Verdicts for every pair of models that both have an item score."""
    n_models = item_scores.shape[1]
    ia, ib = np.triu_indices(n_models, 1)
    diff = item_scores[:, ia] - item_scores[:, ib]
    t, p = np.nonzero(~np.isnan(diff))
    return Verdicts(t.astype(np.int64), ia[p].astype(np.int64), ib[p].astype(np.int64),
                    diff[t, p])


def verdict_outcomes(verdicts: Verdicts, n_items: int, n_models: int) -> tuple[FloatArray,
                                                                              FloatArray]:
    """Per (item, model): points won in the item's verdicts (1 a win, 0.5 a tie) and
    verdicts taken part in, as two (items x models) arrays."""
    sign = np.sign(verdicts.margin)
    points_a = (sign + 1) / 2
    size = n_items * n_models
    won = np.bincount(verdicts.item * n_models + verdicts.a, points_a, minlength=size) + \
        np.bincount(verdicts.item * n_models + verdicts.b, 1 - points_a, minlength=size)
    played = np.bincount(verdicts.item * n_models + verdicts.a, minlength=size) + \
        np.bincount(verdicts.item * n_models + verdicts.b, minlength=size)
    return (won.reshape(n_items, n_models).astype(np.float64),
            played.reshape(n_items, n_models).astype(np.float64))


@dataclass(slots=True)
class Evidence:
    """What every chair works from, gathered once (arena-rank's ``PairDataset``): the
    qualified reviewers' judgments and weights, each vote's value (soft, and
    position-debiased where the schedule asks it) and count, and the verdicts."""

    table: JudgmentTable
    weights: FloatArray  # per reviewer, sums to 1 over the qualified, 0 elsewhere
    votes: Votes
    value: FloatArray  # per vote: what it counts for a (+1, -1, 0, soft or debiased)
    verdicts: Verdicts
    item_scores: FloatArray  # (items x models); NaN where the model has no verdict
    count: FloatArray | None = None  # per vote: times it counts (strength); None: once
    # What the chairs aggregate once and reuse on every resample (see :meth:`cached`);
    # not an init field, so ``dataclasses.replace`` starts a new evidence afresh.
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

    def cached(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, computed once per evidence and kept under ``key``: the counts a
        chair fits (per item and pair, per pair) are aggregated from the votes once,
        then every bootstrap resample reweights them."""
        if key not in self._cache:
            self._cache[key] = make()
        value: T = self._cache[key]
        return value

    def outcomes(self) -> tuple[FloatArray, FloatArray]:
        """:func:`verdict_outcomes` of the verdicts (points won, verdicts played per
        item and model), computed once."""
        return self.cached("outcomes", lambda: verdict_outcomes(self.verdicts, self.n_items,
                                                                self.n_models))

    @property
    def n_items(self) -> int:
        return len(self.table.items)

    @property
    def n_models(self) -> int:
        return len(self.table.models)

    def row_weights(self, item_weights: FloatArray | None = None) -> FloatArray:
        """Each vote's weight, scaled so that the mean qualified reviewer weighs 1,
        times the times it counts (a strong verdict's strength) and its item's weight
        (bootstrap counts)."""
        qualified = max(int(np.count_nonzero(self.weights)), 1)
        w = self.weights[self.votes.reviewer] * qualified
        if self.count is not None:
            w = w * self.count
        if item_weights is not None:
            w = w * item_weights[self.votes.item]
        return w


def gather_evidence(table: JudgmentTable, weights: FloatArray, *, by_mean: bool,
                    normalize: bool = False, first_share: FloatArray | None = None,
                    counting: Counting | None = None) -> Evidence:
    """Restrict the table to reviewers with weight > 0 and decide every item pair
    (with ``first_share``, from position-debiased votes; ``counting`` says what a
    strong and a soft verdict count, default :class:`~peerreview.records.counting.Counting`)."""
    keep = weights > 0
    table = table.for_reviewers(keep)
    votes = table.votes()
    n_items, n_models = len(table.items), len(table.models)
    worth = vote_worth(votes, counting)
    value = worth.value if first_share is None else debiased_votes(votes, first_share,
                                                                   worth.value)
    counted = worth.count if (worth.count != 1.0).any() else None  # PRE's: once each
    if by_mean:
        item_scores = mean_item_scores(table.scores, weights, n_items, n_models,
                                       normalize=normalize)
        verdicts = score_verdicts(item_scores)
    else:
        verdicts = vote_verdicts(votes, value, weights, n_models, counted)
        won, played = verdict_outcomes(verdicts, n_items, n_models)
        with np.errstate(invalid="ignore", divide="ignore"):
            item_scores = np.where(played > 0, won / np.where(played > 0, played, 1), np.nan)
    return Evidence(table, weights, votes, value, verdicts, item_scores, counted)


def reviewer_evidence(table: JudgmentTable, reviewer: int, *, by_mean: bool,
                      normalize: bool = False, counting: Counting | None = None) -> Evidence:
    """The evidence of one reviewer alone (its weight 1, every other 0): what the
    chair decides from that reviewer's judgments only."""
    alone = np.zeros(len(table.reviewers))
    alone[reviewer] = 1.0
    return gather_evidence(table, alone, by_mean=by_mean, normalize=normalize,
                           counting=counting)


class Chair(ABC):
    """A ranking method: evidence in, one score per model out (higher is better)."""

    name: ClassVar[str]
    by_mean: ClassVar[bool] = False  # verdicts from mean scores rather than votes

    @abstractmethod
    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        """Score every model of ``evidence.table.models``; NaN for a model without data.

        Args:
            evidence: the qualified judgments, weights and verdicts.
            item_weights: a weight per item (bootstrap counts); None means all 1.
        """

    def scores_many(self, evidence: Evidence, item_weights: FloatArray) -> FloatArray:
        """(rows x models): :meth:`scores` for every row of ``item_weights`` (a
        bootstrap's resamples); a chair may fit them all at once."""
        out = np.empty((item_weights.shape[0], evidence.n_models))
        for i, row in enumerate(item_weights):
            out[i] = self.scores(evidence, row)
        return out
