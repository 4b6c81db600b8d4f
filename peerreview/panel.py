"""The review stage of a live run: the qualified reviewers judge the submissions under
the configured schedule (the rules are those of :mod:`peerreview.schedule`).

Every job is one question's worth of asking and returns the judgments it got; a
job cut short by the budget returns what it has. A job is a function that starts
the asking when called, so that jobs never started (an interrupted run) leave
nothing behind.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from functools import partial

from peerreview.calls import BudgetSpent
from peerreview.records import Item, Judgment, PairwiseJudgment, PointwiseJudgment, Submission
from peerreview.review import Asker, Question
from peerreview.schedule import Schedule, decided, one_order_first, open_pairs

Job = Callable[[], Awaitable[list[Judgment]]]


def _by_item(items: dict[str, Item], submissions: list[Submission]) -> list[tuple[Item,
                                                                            list[Submission]]]:
    grouped: dict[str, list[Submission]] = {}
    for s in submissions:
        grouped.setdefault(s.item, []).append(s)
    return [(items[t], sorted(grouped[t], key=lambda s: s.model)) for t in sorted(grouped)]


async def _one(asker: Asker, reviewer: str, question: Question) -> list[Judgment]:
    try:
        return [await asker.judge(reviewer, question)]
    except BudgetSpent:
        return []


def _sign(j: Judgment, a: str) -> int:
    """The judgment's vote on its pair in the frame where ``a`` is first in name order."""
    assert isinstance(j, PairwiseJudgment)
    if j.winner in (None, "tie"):
        return 0
    return 1 if (j.winner == "first") == (j.first == a) else -1


async def _cascade_pair(asker: Asker, order: list[str], item: Item, x: Submission,
                        y: Submission) -> list[Judgment]:
    """Down the cascade, both orders a reviewer, until the votes decide the pair."""
    got: list[Judgment] = []
    votes: list[int] = []
    for reviewer in order:
        try:
            pair = await asyncio.gather(asker.judge(reviewer, Question(item, x, y)),
                                        asker.judge(reviewer, Question(item, y, x)))
        except BudgetSpent:
            break
        got += pair
        votes += [_sign(j, x.model) for j in pair]
        if decided(votes, 2):
            break
    return got


async def _cascade_scores(asker: Asker, order: list[str], item: Item,
                          subs: list[Submission]) -> list[Judgment]:
    """Pointwise: each reviewer scores the models still in an undecided pair."""
    got: list[Judgment] = []
    votes: dict[tuple[str, str], list[int]] = {
        (a.model, b.model): [] for a, b in itertools.combinations(subs, 2)}
    pending = subs
    for reviewer in order:
        try:
            scored = await asyncio.gather(*(asker.judge(reviewer, Question(item, s))
                                            for s in pending))
        except BudgetSpent:
            break
        got += scored
        score = {j.model: j.score for j in scored if isinstance(j, PointwiseJudgment)}
        for (a, b), said in votes.items():
            if a in score and b in score:
                sa, sb = score[a], score[b]
                said.append(0 if sa is None or sb is None or sa == sb else
                            1 if sa > sb else -1)
        open_models = {m for pair, said in votes.items() if not decided(said, 1) for m in pair}
        pending = [s for s in subs if s.model in open_models]
        if not pending:
            break
    return got


def review_jobs(asker: Asker, schedule: Schedule, reviewers: list[str],
                items: dict[str, Item], submissions: list[Submission], *, pairwise: bool,
                seed: int, pairs: set[tuple[str, str]] | None = None) -> list[Job]:
    """The review stage's jobs. ``reviewers`` are the qualified ones, most accurate first
    (the cascade's order); ``pairs`` limits an item to some unordered model pairs."""
    jobs: list[Job] = []
    for item, subs in _by_item(items, submissions):
        wanted = pairs
        if not pairwise:
            if schedule in (Schedule.CASCADE, Schedule.ADAPTIVE):
                jobs.append(partial(_cascade_scores, asker, reviewers, item, subs))
            else:
                jobs += [partial(_one, asker, r, Question(item, s)) for s in subs
                         for r in reviewers]
            continue
        for x, y in itertools.combinations(subs, 2):
            if wanted is not None and (x.model, y.model) not in wanted:
                continue
            if schedule in (Schedule.CASCADE, Schedule.ADAPTIVE):
                jobs.append(partial(_cascade_pair, asker, reviewers, item, x, y))
            elif schedule is Schedule.ONE_ORDER:
                for r in reviewers:
                    first = one_order_first(item.item, x.model, y.model, r, seed)
                    q = Question(item, x, y) if first else Question(item, y, x)
                    jobs.append(partial(_one, asker, r, q))
            else:  # reviewers interleaved, so every model's concurrency is used at once
                jobs += [partial(_one, asker, r, Question(item, a, b))
                         for a, b in ((x, y), (y, x)) for r in reviewers]
    return jobs


def full_calls(reviewers: int, items: dict[str, Item], submissions: list[Submission],
               pairwise: bool) -> int:
    """Review calls of the full schedule (without re-asks)."""
    total = 0
    for _, subs in _by_item(items, submissions):
        n = len(subs)
        total += reviewers * (n * (n - 1) if pairwise else n)
    return total


def unsettled_pairs(judgments: list[Judgment]) -> set[tuple[str, str]]:
    """Model pairs whose win-rate intervals still overlap (see the recorded adaptive)."""
    from peerreview.votes import build_table

    table = build_table(judgments)
    return {(table.models[a], table.models[b]) for a, b in open_pairs(table)}

