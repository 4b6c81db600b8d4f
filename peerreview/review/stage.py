"""The review stage of a live run: the qualified reviewers judge the submissions under
the configured schedule. ``full`` and ``one-order`` are jobs of one question each;
the cascade and the adaptive schedule are :mod:`peerreview.review.schedule`'s, asking the
models through :class:`Live`.

A job is a function that starts the asking when called, so that jobs never started
(an interrupted run) leave nothing behind; a job cut short by the budget returns
what it has.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from peerreview.errors import BudgetSpent, InputError
from peerreview.records.exchange import (
    Item,
    Judgment,
    PairwiseJudgment,
    PointwiseJudgment,
    Submission,
)
from peerreview.records.gold import Gold
from peerreview.records.table import vote_from
from peerreview.review.asker import Asker, Question
from peerreview.review.schedule import Pair, Schedule, one_order_first


def by_item(items: dict[str, Item], submissions: list[Submission]
            ) -> list[tuple[Item, list[Submission]]]:
    """Each item with its submissions, in name order."""
    grouped: dict[str, list[Submission]] = {}
    for s in submissions:
        grouped.setdefault(s.item, []).append(s)
    return [(items[t], sorted(grouped[t], key=lambda s: s.model)) for t in sorted(grouped)]


async def _one(asker: Asker, reviewer: str, question: Question) -> Judgment | None:
    try:
        return await asker.judge(reviewer, question)
    except BudgetSpent:
        return None


def pairs_of(subs: list[Submission], baseline: str | None) -> list[tuple[Submission,
                                                                           Submission]]:
    """An item's pairs of submissions, in name order: all, or those with the baseline."""
    return [(x, y) for x, y in itertools.combinations(subs, 2)
            if baseline is None or baseline in (x.model, y.model)]


class ReviewJobs(Sequence[Callable[[], Awaitable[Judgment | None]]]):
    """The jobs of the ``full`` and ``one-order`` schedules, one question each, made
    when a worker takes one: a million-call review holds its items' pairs, not an
    object per call.

    In order: per item (by name) and per submission (pointwise) or pair (pairwise),
    the reviewers in turn; ``full`` asks a pair in both orders, the reviewers
    interleaved within each, so every model's concurrency is used at once.
    """

    def __init__(self, asker: Asker, schedule: Schedule, reviewers: list[str],
                 items: dict[str, Item], submissions: list[Submission], *, pairwise: bool,
                 seed: int, baseline: str | None = None) -> None:
        self.asker, self.reviewers, self.seed = asker, reviewers, seed
        self.pairwise = pairwise
        self.both = pairwise and schedule is not Schedule.ONE_ORDER
        # Per item its units: submissions scored, or pairs judged.
        self.units: list[tuple[Item, list[Submission] | list[tuple[Submission, Submission]]]] = [
            (item, pairs_of(subs, baseline) if pairwise else subs)
            for item, subs in by_item(items, submissions)]
        self.per_unit = len(reviewers) * (2 if self.both else 1)
        self.starts = list(itertools.accumulate(
            (len(u) * self.per_unit for _, u in self.units), initial=0))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, i: int) -> Callable[[], Awaitable[Judgment | None]]:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        block = bisect.bisect_right(self.starts, i) - 1
        item, units = self.units[block]
        unit, k = divmod(i - self.starts[block], self.per_unit)
        order, r = divmod(k, len(self.reviewers))
        reviewer = self.reviewers[r]
        if not self.pairwise:
            sub = units[unit]
            assert isinstance(sub, Submission)
            return partial(_one, self.asker, reviewer, Question(item, sub))
        pair = units[unit]
        assert isinstance(pair, tuple)
        x, y = pair
        if self.both:
            first = order == 0
        else:
            first = one_order_first(item.item, x.model, y.model, reviewer, self.seed)
        return partial(_one, self.asker, reviewer,
                       Question(item, x, y) if first else Question(item, y, x))


class Live:
    """Live models as the schedules' :class:`~peerreview.review.schedule.Asking`: a pair is
    asked in both orders, a score of each submission; what they said is kept."""

    def __init__(self, asker: Asker, items: dict[str, Item], submissions: list[Submission],
                 pairwise: bool, baseline: str | None = None) -> None:
        self.asker, self.items = asker, items
        self.subs = {(s.item, s.model): s for s in submissions}
        grouped = by_item(items, submissions)
        self.pairs_of: dict[str, list[Pair]] = {
            item.item: [(x.model, y.model) for x, y in pairs_of(subs, baseline)]
            for item, subs in grouped} if pairwise else {}
        self.models_of: dict[str, list[str]] = {} if pairwise else {
            item.item: [s.model for s in subs] for item, subs in grouped}
        self.got: list[Judgment] = []

    def per_answer(self, item: str, a: str, b: str) -> int:
        return 2

    async def pair(self, reviewer: str, item: str, a: str, b: str) -> list[int] | None:
        x, y, it = self.subs[item, a], self.subs[item, b], self.items[item]
        both = await asyncio.gather(self.asker.judge(reviewer, Question(it, x, y)),
                                    self.asker.judge(reviewer, Question(it, y, x)))
        self.got += both
        return [vote_from(j, a) for j in both if isinstance(j, PairwiseJudgment)]

    async def scores(self, reviewer: str, item: str,
                     models: list[str]) -> dict[str, float | None] | None:
        it = self.items[item]
        scored = await asyncio.gather(*(self.asker.judge(reviewer,
                                                         Question(it, self.subs[item, m]))
                                        for m in models))
        self.got += scored
        return {j.model: j.score for j in scored if isinstance(j, PointwiseJudgment)}

    def judgments(self) -> list[Judgment]:
        """What was said, in an order that does not depend on timing."""
        return sorted(self.got, key=_order)


def _order(j: Judgment) -> tuple[str, ...]:
    if isinstance(j, PairwiseJudgment):
        return (j.item, min(j.first, j.second), max(j.first, j.second), j.reviewer, j.first)
    return (j.item, j.model, j.model, j.reviewer, "")


def full_calls(reviewers: int, items: dict[str, Item], submissions: list[Submission],
               pairwise: bool) -> int:
    """Review calls of the full schedule (without re-asks)."""
    total = 0
    for _, subs in by_item(items, submissions):
        n = len(subs)
        total += reviewers * (n * (n - 1) if pairwise else n)
    return total


def exam_questions(gold: Gold, items: dict[str, Item], submissions: list[Submission],
                   pairwise: bool, missing: set[str] | frozenset[str] = frozenset()
                   ) -> list[Question]:
    """The exam: the gold pairs (both orders) or the submissions the gold is about.
    Pairs naming a ``missing`` model (its submissions failed) are left out."""
    known = {(s.item, s.model): s for s in submissions}
    wanted = sorted(k for k in gold.pairs
                    if not (missing & {k[1], k[2]} and k not in _both(known, k)))
    for item_id, a, b in wanted:
        if item_id not in items:
            raise InputError(f"exam gold is about item {item_id!r}, which is not among the "
                             "exam items", gold.path, field="item")
        for model in (a, b):
            if (item_id, model) not in known:
                raise InputError(f"exam gold pairs {a!r} and {b!r} on item {item_id!r}, but "
                                 f"there is no submission of {model!r} for it", gold.path,
                                 field="item")
    if pairwise:
        return [Question(items[t], known[t, x], known[t, y])
                for t, a, b in wanted for x, y in ((a, b), (b, a))]
    scored = sorted({(t, m) for t, a, b in wanted for m in (a, b)})
    return [Question(items[t], known[t, m]) for t, m in scored]


def _both(known: dict[tuple[str, str], Submission],
          pair: tuple[str, str, str]) -> set[tuple[str, str, str]]:
    """``{pair}`` if both its submissions exist, else nothing."""
    t, a, b = pair
    return {pair} if (t, a) in known and (t, b) in known else set()
