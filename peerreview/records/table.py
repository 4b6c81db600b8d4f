"""Judgments as columns of numbers, so that a million of them fit in numpy.

Models, items and reviewers are numbered; models are numbered in string order,
so that for an unordered pair ``a < b`` means the same by index and by name (the
contract's verdicts are keyed that way).

A *vote* on the unordered pair {a, b} is seen from a: +1 prefers a, -1 prefers b,
0 is a tie or an abstention (METHOD.md). Each pairwise judgment is one vote; a
pointwise reviewer casts one vote per pair of models it scored on an item, the
sign of the score difference. What a vote counts in the chair beyond that (a strong
verdict N times, a soft verdict by its probability) is decided once, here, by
:func:`vote_worth`.

The optional numbers of a pairwise judgment (:data:`peerreview.records.fields.TABLE_EXTRAS`)
are columns of :class:`Votes` by the same names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from peerreview.records.exchange import Judgment, PairwiseJudgment, PointwiseJudgment
from peerreview.records.fields import TABLE_EXTRAS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjectArray = npt.NDArray[np.object_]

NO_ORDER = -1  # a_first for votes derived from pointwise scores


def vote_from(judgment: PairwiseJudgment, a: str) -> int:
    """The judgment's vote on its pair seen from ``a`` (one of its two models): +1 a
    won, -1 the other did, 0 a tie or an abstention. :func:`seen_from_a` does the same
    on columns."""
    if judgment.winner in (None, "tie"):
        return 0
    return 1 if (judgment.winner == "first") == (judgment.first == a) else -1


def seen_from_a(toward_first: npt.NDArray[Any], a_first: IntArray) -> npt.NDArray[Any]:
    """What was said toward the submission shown first (+1 it won, a probability's
    2 p - 1), seen from a: as said where a was shown first, negated where b was. The
    turn is its own inverse: given values seen from a, it gives them toward the one
    shown first (see :func:`votes_toward_first`)."""
    return np.where(a_first == 1, toward_first, -toward_first)


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
    confidence: FloatArray  # the probability the reviewer put on its verdict; NaN: none
    strength: FloatArray  # 2: a strong verdict (arena-hard's >>); 1: plain
    p_first: FloatArray  # the reviewer's P(the one shown first is better); NaN: none
    raw: ObjectArray  # the reviewer's answer (str) or None

    def __len__(self) -> int:
        return int(self.item.size)

    def take(self, mask: BoolArray | IntArray) -> Votes:
        """The rows selected by a boolean mask or an index array."""
        return Votes(*(getattr(self, f)[mask] for f in Votes.__slots__))

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
    raw: ObjectArray  # the reviewer's answer (str) or None

    def __len__(self) -> int:
        return int(self.item.size)

    def take(self, mask: BoolArray | IntArray) -> Scores:
        """The rows selected by a boolean mask or an index array."""
        return Scores(*(getattr(self, f)[mask] for f in Scores.__slots__))


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
        """Every vote: the pairwise judgments and those the scores induce (the
        pairwise columns themselves, not a copy, when there are no scores: read them,
        never write them)."""
        if not len(self.scores):
            return self.pairwise
        if not len(self.pairwise):
            return score_votes(self.scores)
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
            replace(p, a=new[p.a], b=new[p.b]), replace(s, model=new[s.model]))

    def for_reviewers(self, keep: BoolArray) -> JudgmentTable:
        """The same table with only the judgments of reviewers where ``keep`` is true
        (the table itself when that keeps every judgment)."""
        if keep[self.pairwise.reviewer].all() and keep[self.scores.reviewer].all():
            return self
        return JudgmentTable(self.items, self.models, self.reviewers,
                             self.pairwise.take(keep[self.pairwise.reviewer]),
                             self.scores.take(keep[self.scores.reviewer]))

    def for_items(self, keep: BoolArray) -> JudgmentTable:
        """The same table with only the judgments of items where ``keep`` is true."""
        return JudgmentTable(self.items, self.models, self.reviewers,
                             self.pairwise.take(keep[self.pairwise.item]),
                             self.scores.take(keep[self.scores.item]))


class _Numbering:
    """Names numbered as they come, then renumbered in string order (as every reader
    numbers them), without a list of the values: a million judgments' names become
    one array of codes each."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes(self, values: Iterable[str], count: int) -> IntArray:
        index = self.index
        return np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64,
                           count)

    def names(self) -> tuple[list[str], IntArray]:
        """The names in string order, and each first-seen code's place among them."""
        seen = list(self.index)
        order = sorted(range(len(seen)), key=seen.__getitem__)
        place = np.empty(len(seen), np.int64)
        place[order] = np.arange(len(seen))
        return [seen[i] for i in order], place


_WINNER_CODE = {"first": 1, "second": -1, "tie": 0, None: 2}  # 2: an abstention


@dataclass(slots=True)
class TableParts:
    """A table's columns with names already numbered (in string order): what every
    reader hands :func:`assemble_table`."""

    items: list[str]
    models: list[str]
    reviewers: list[str]
    p_item: IntArray  # pairwise rows
    p_reviewer: IntArray
    first: IntArray  # the model shown first
    second: IntArray
    winner_code: IntArray  # 1 first, -1 second, 0 tie, 2 abstention
    extras: dict[str, FloatArray]  # each of TABLE_EXTRAS, its ``missing`` value for none
    p_raw: ObjectArray
    s_item: IntArray  # pointwise rows
    s_reviewer: IntArray
    model: IntArray
    score: FloatArray  # NaN: an abstention
    low: FloatArray
    high: FloatArray
    s_raw: ObjectArray


def assemble_table(t: TableParts) -> JudgmentTable:
    """Lay numbered columns out as votes on unordered pairs (a < b) and scores."""
    abstain = t.winner_code == 2
    winner = np.where(abstain, 0, t.winner_code)
    a_first = (t.first < t.second).astype(np.int64)
    votes = Votes(item=t.p_item, reviewer=t.p_reviewer, a=np.minimum(t.first, t.second),
                  b=np.maximum(t.first, t.second), vote=seen_from_a(winner, a_first),
                  abstain=abstain, a_first=a_first, raw=t.p_raw,
                  **{extra.name: t.extras[extra.name] for extra in TABLE_EXTRAS})
    scores = Scores(item=t.s_item, reviewer=t.s_reviewer, model=t.model, score=t.score,
                    low=t.low, high=t.high, raw=t.s_raw)
    return JudgmentTable(t.items, t.models, t.reviewers, votes, scores)


def _floats(values: Iterable[float | None], count: int,
            missing: float = np.nan) -> FloatArray:
    """Numbers with None as ``missing``."""
    return np.fromiter((missing if x is None else x for x in values), np.float64, count)


def _objects(values: list[str | None]) -> ObjectArray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def build_table(judgments: Sequence[Judgment]) -> JudgmentTable:
    """The table of judgment records: items, models and reviewers numbered in string
    order, laid out as columns (:func:`assemble_table`), a column at a time."""
    p = [j for j in judgments if isinstance(j, PairwiseJudgment)]
    s = [j for j in judgments if isinstance(j, PointwiseJudgment)]
    n, m = len(p), len(s)
    items, reviewers, models = _Numbering(), _Numbering(), _Numbering()
    p_item, s_item = items.codes((j.item for j in p), n), items.codes((j.item for j in s), m)
    p_reviewer = reviewers.codes((j.reviewer for j in p), n)
    s_reviewer = reviewers.codes((j.reviewer for j in s), m)
    first, second = models.codes((j.first for j in p), n), models.codes((j.second for j in p), n)
    model = models.codes((j.model for j in s), m)
    item_names, item_place = items.names()
    reviewer_names, reviewer_place = reviewers.names()
    model_names, model_place = models.names()
    return assemble_table(TableParts(
        items=item_names, models=model_names, reviewers=reviewer_names,
        p_item=item_place[p_item], p_reviewer=reviewer_place[p_reviewer],
        first=model_place[first], second=model_place[second],
        winner_code=np.fromiter((_WINNER_CODE[j.winner] for j in p), np.int64, n),
        extras={extra.name: _floats((getattr(j, extra.name) for j in p), n, extra.missing)
                for extra in TABLE_EXTRAS},
        p_raw=_objects([j.raw for j in p]), s_item=item_place[s_item],
        s_reviewer=reviewer_place[s_reviewer], model=model_place[model],
        score=_floats((j.score for j in s), m),
        low=np.fromiter((j.scale[0] for j in s), np.float64, m),
        high=np.fromiter((j.scale[1] for j in s), np.float64, m),
        s_raw=_objects([j.raw for j in s])))


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
    return Votes(item=s.item[ia], reviewer=s.reviewer[ia], a=s.model[ia], b=s.model[ib],
                 vote=vote, abstain=missing, a_first=np.full(ia.size, NO_ORDER, np.int64),
                 raw=np.full(ia.size, None, dtype=object), **_no_extras(ia.size))


def _no_extras(n: int) -> dict[str, FloatArray]:
    """The optional columns of ``n`` votes that carry none (scores' votes)."""
    return {extra.name: np.full(n, extra.missing) for extra in TABLE_EXTRAS}


def _no_votes() -> Votes:
    empty = np.zeros(0, np.int64)
    return Votes(item=empty, reviewer=empty, a=empty, b=empty, vote=empty,
                 abstain=np.zeros(0, np.bool_), a_first=empty, raw=np.empty(0, dtype=object),
                 **_no_extras(0))


def votes_toward_first(votes: Votes) -> IntArray:
    """Each vote seen from the submission shown first (+1 it won, -1 it lost, 0 a tie
    or an abstention); meaningless where the order is unknown (``a_first`` NO_ORDER)."""
    toward: IntArray = seen_from_a(votes.vote, votes.a_first)
    return toward


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
