"""Judgments as columns of numbers, so that a million of them fit in numpy.

Models, items and reviewers are numbered; models are numbered in string order,
so that for an unordered pair ``a < b`` means the same by index and by name (the
contract's verdicts are keyed that way).

A *vote* on the unordered pair {a, b} is seen from a: +1 prefers a, -1 prefers b,
0 is a tie or an abstention (METHOD.md). Each pairwise judgment is one vote; a
pointwise reviewer casts one vote per pair of models it scored on an item, the
sign of the score difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peerreview.records import Judgment, PairwiseJudgment

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NO_ORDER = -1  # a_first for votes derived from pointwise scores


@dataclass(slots=True)
class Votes:
    """One row per vote on an unordered pair (a < b)."""

    item: IntArray
    reviewer: IntArray
    a: IntArray
    b: IntArray
    vote: IntArray  # +1 a better, -1 b better, 0 tie or abstention
    abstain: BoolArray
    a_first: IntArray  # 1 a shown first, 0 b shown first, NO_ORDER from scores

    def __len__(self) -> int:
        return int(self.item.size)

    def take(self, mask: BoolArray | IntArray) -> Votes:
        """The rows selected by a boolean mask or an index array."""
        return Votes(self.item[mask], self.reviewer[mask], self.a[mask], self.b[mask],
                     self.vote[mask], self.abstain[mask], self.a_first[mask])

    @staticmethod
    def concat(parts: list[Votes]) -> Votes:
        """Rows of several tables, in order."""
        return Votes(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in Votes.__slots__))


@dataclass(slots=True)
class Scores:
    """One row per pointwise judgment; ``score`` is NaN for an abstention."""

    item: IntArray
    reviewer: IntArray
    model: IntArray
    score: FloatArray
    low: FloatArray
    high: FloatArray

    def __len__(self) -> int:
        return int(self.item.size)

    def take(self, mask: BoolArray | IntArray) -> Scores:
        """The rows selected by a boolean mask or an index array."""
        return Scores(self.item[mask], self.reviewer[mask], self.model[mask],
                      self.score[mask], self.low[mask], self.high[mask])


@dataclass(slots=True)
class JudgmentTable:
    """All judgments of a run, numbered: pairwise ones as votes, pointwise ones as scores."""

    items: list[str]
    models: list[str]
    reviewers: list[str]
    pairwise: Votes
    scores: Scores

    @property
    def kind(self) -> str:
        """``pairwise``, ``pointwise`` or ``mixed``."""
        if len(self.pairwise) and len(self.scores):
            return "mixed"
        return "pairwise" if len(self.pairwise) else "pointwise"

    def votes(self) -> Votes:
        """Every vote: the pairwise judgments and those the scores induce."""
        return Votes.concat([self.pairwise, score_votes(self.scores)])

    def subset(self, pairwise: BoolArray, scores: BoolArray) -> JudgmentTable:
        """The same table with only the selected pairwise and pointwise rows."""
        return JudgmentTable(self.items, self.models, self.reviewers,
                             self.pairwise.take(pairwise), self.scores.take(scores))

    def judged_models_only(self) -> JudgmentTable:
        """The same table without the models no judgment names (e.g. the exam's own
        submissions once exam items are left out), their indices renumbered."""
        used = np.zeros(len(self.models), dtype=bool)
        for column in (self.pairwise.a, self.pairwise.b, self.scores.model):
            used[column] = True
        if used.all():
            return self
        new = np.cumsum(used) - 1  # monotone, so a < b still holds
        p, s = self.pairwise, self.scores
        return JudgmentTable(
            self.items, [m for m, u in zip(self.models, used, strict=True) if u], self.reviewers,
            Votes(p.item, p.reviewer, new[p.a], new[p.b], p.vote, p.abstain, p.a_first),
            Scores(s.item, s.reviewer, new[s.model], s.score, s.low, s.high))

    def for_reviewers(self, keep: BoolArray) -> JudgmentTable:
        """The same table with only the judgments of reviewers where ``keep`` is true."""
        return JudgmentTable(self.items, self.models, self.reviewers,
                             self.pairwise.take(keep[self.pairwise.reviewer]),
                             self.scores.take(keep[self.scores.reviewer]))

    def for_items(self, keep: BoolArray) -> JudgmentTable:
        """The same table with only the judgments of items where ``keep`` is true."""
        return JudgmentTable(self.items, self.models, self.reviewers,
                             self.pairwise.take(keep[self.pairwise.item]),
                             self.scores.take(keep[self.scores.item]))


def _index(names: set[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(sorted(names))}


def build_table(judgments: list[Judgment]) -> JudgmentTable:
    """Number the judgments' items, models and reviewers and lay them out as columns."""
    items: set[str] = set()
    models: set[str] = set()
    reviewers: set[str] = set()
    pairwise: list[PairwiseJudgment] = []
    pointwise = []
    for j in judgments:
        items.add(j.item)
        reviewers.add(j.reviewer)
        if isinstance(j, PairwiseJudgment):
            models.add(j.first)
            models.add(j.second)
            pairwise.append(j)
        else:
            models.add(j.model)
            pointwise.append(j)
    item_ix, model_ix, reviewer_ix = _index(items), _index(models), _index(reviewers)

    n = len(pairwise)
    first = np.fromiter((model_ix[j.first] for j in pairwise), np.int64, n)
    second = np.fromiter((model_ix[j.second] for j in pairwise), np.int64, n)
    code = {"first": 1, "second": -1, "tie": 0, None: 0}
    winner = np.fromiter((code[j.winner] for j in pairwise), np.int64, n)
    a_first = (first < second).astype(np.int64)
    votes = Votes(
        item=np.fromiter((item_ix[j.item] for j in pairwise), np.int64, n),
        reviewer=np.fromiter((reviewer_ix[j.reviewer] for j in pairwise), np.int64, n),
        a=np.minimum(first, second),
        b=np.maximum(first, second),
        vote=np.where(a_first == 1, winner, -winner),
        abstain=np.fromiter((j.winner is None for j in pairwise), np.bool_, n),
        a_first=a_first,
    )
    m = len(pointwise)
    scores = Scores(
        item=np.fromiter((item_ix[j.item] for j in pointwise), np.int64, m),
        reviewer=np.fromiter((reviewer_ix[j.reviewer] for j in pointwise), np.int64, m),
        model=np.fromiter((model_ix[j.model] for j in pointwise), np.int64, m),
        score=np.fromiter((np.nan if j.score is None else j.score for j in pointwise),
                          np.float64, m),
        low=np.fromiter((j.scale[0] for j in pointwise), np.float64, m),
        high=np.fromiter((j.scale[1] for j in pointwise), np.float64, m),
    )
    return JudgmentTable(list(item_ix), list(model_ix), list(reviewer_ix), votes, scores)


def score_votes(scores: Scores) -> Votes:
    """The votes a pointwise reviewer casts: for every pair of models it scored on an
    item, the sign of the score difference (0 and an abstention if either is missing).
    """
    if not len(scores):
        return _no_votes()
    order = np.lexsort((scores.model, scores.reviewer, scores.item))
    s = scores.take(order)
    group = np.flatnonzero(np.diff(s.item) | np.diff(s.reviewer)) + 1
    starts = np.concatenate([[0], group])
    ends = np.concatenate([group, [len(s)]])
    sizes = ends - starts
    lower: list[IntArray] = []  # row of the pair's model a (rows are sorted by model)
    upper: list[IntArray] = []  # row of its model b
    pairs_of: dict[int, tuple[IntArray, IntArray]] = {}  # group size -> its row pairs
    for start, size in zip(starts.tolist(), sizes.tolist(), strict=True):
        if size < 2:
            continue
        if size not in pairs_of:
            i, j = np.triu_indices(size, 1)
            pairs_of[size] = (i.astype(np.int64), j.astype(np.int64))
        i, j = pairs_of[size]
        lower.append(start + i)
        upper.append(start + j)
    if not lower:
        return _no_votes()
    ia, ib = np.concatenate(lower), np.concatenate(upper)
    diff = s.score[ia] - s.score[ib]
    missing = np.isnan(diff)
    vote = np.where(missing, 0, np.sign(np.nan_to_num(diff))).astype(np.int64)
    return Votes(s.item[ia], s.reviewer[ia], s.model[ia], s.model[ib], vote, missing,
                 np.full(ia.size, NO_ORDER, np.int64))


def _no_votes() -> Votes:
    empty = np.zeros(0, np.int64)
    return Votes(empty, empty, empty, empty, empty, np.zeros(0, np.bool_), empty)


def pair_key(item: IntArray, a: IntArray, b: IntArray, n_models: int) -> IntArray:
    """One integer per (item, a, b), for grouping and look-ups."""
    return (item * n_models + a) * n_models + b


def find_keys(table: IntArray, keys: IntArray) -> tuple[BoolArray, IntArray]:
    """For each of ``keys``: whether it is in ``table`` (unique keys, any order), and
    its index there (meaningful only where found)."""
    if not table.size:
        return np.zeros(keys.size, np.bool_), np.zeros(keys.size, np.int64)
    order = np.argsort(table)
    pos = np.minimum(np.searchsorted(table[order], keys), table.size - 1)
    index = order[pos]
    return table[index] == keys, index
