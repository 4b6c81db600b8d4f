"""Review schedules: which judgments to ask for, so that fewer calls reach the same
verdicts.

On recorded judgments a schedule keeps only the judgments it would have asked for,
so its cost and fidelity can be measured on any logged run; a live run asks only
those (see :mod:`peerreview.review.stage`). The cascade and the adaptive schedule are
written once, over an :class:`Asking` that a recording or a live run provides.

- ``full``: every qualified reviewer, every pair, both orders (PRE).
- ``cascade``: reviewers in order of exam accuracy; the first judges a pair (in
  both orders where the design has them); the pair goes down the cascade only
  while the votes so far are inconsistent or too weak: it stops once their sum is
  as decisive as one reviewer agreeing with itself. With a target agreement it also
  goes on while its margin so far is below the threshold calibrated on the exam
  (:mod:`peerreview.review.escalate`).
- ``one-order``: each pair asked in one seeded random order per reviewer; the
  chair removes each reviewer's first-position bias (a noisy Bradley-Terry term).
- ``adaptive``: for the system ranking. Items come in a seeded random order, in
  batches; on each new item only the pairs whose models' intervals still overlap
  are asked, through the cascade; it stops when the bootstrap rank intervals of
  adjacent models separate, or at the budget.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol

import numpy as np

from peerreview.chair.bootstrap import LeaderboardRow
from peerreview.errors import BudgetSpent, InputError
from peerreview.options import Schedule as Schedule
from peerreview.records.table import BoolArray, JudgmentTable, pair_key
from peerreview.review.escalate import Escalation, ItemMargins


def decided(votes: Sequence[int], per_answer: int) -> bool:
    """Whether the votes so far settle a pair: their sum is at least as large as one
    reviewer's votes all agreeing (``per_answer``: 2 with both orders, else 1)."""
    return abs(sum(votes)) >= per_answer


def one_order_first(item: str, a: str, b: str, reviewer: str, seed: int) -> bool:
    """Whether ``a`` is shown first: a seeded coin per item, pair and reviewer, the same
    on every run and machine (so a resumed run asks the same questions)."""
    digest = hashlib.sha256(f"{seed}\x1f{item}\x1f{a}\x1f{b}\x1f{reviewer}".encode()).digest()
    return digest[0] % 2 == 0


def separated(board: Sequence[LeaderboardRow]) -> bool:
    """Whether every two models adjacent in a bootstrapped ranking have rank intervals
    that do not overlap: the ranking is settled."""
    return all(x.rank_high is not None and y.rank_low is not None and x.rank_high < y.rank_low
               for x, y in itertools.pairwise(board))


def cascade_order(reviewers: list[str], scores: list[float | None]) -> list[str]:
    """Reviewers from the most to the least accurate on the exam.

    Raises:
        InputError: no reviewer has an exam score to order by.
    """
    ranked = [(s, r) for r, s in zip(reviewers, scores, strict=True) if s is not None]
    if not ranked:
        raise InputError("the cascade orders reviewers by exam accuracy, and none has one: "
                         "give exam gold (--exam-gold, or exam: gold: in the config)")
    return [r for _, r in sorted(ranked, key=lambda x: (-x[0], x[1]))]


def select(table: JudgmentTable, schedule: Schedule, order: list[int], *, seed: int = 0,
           budget: int | None = None,
           settled: Callable[[JudgmentTable], bool] | None = None,
           escalation: Escalation | None = None,
           given: tuple[BoolArray, BoolArray] | None = None) -> JudgmentTable:
    """The judgments of qualified reviewers (``order``: their indices, most accurate
    first) that ``schedule`` would have asked for.

    Args:
        settled: for ``adaptive``, whether the ranking from the judgments so far is
            settled (its adjacent rank intervals separate).
        escalation: for ``cascade`` and ``adaptive``, the threshold a pair's margin
            must clear before it leaves the cascade (it records the pairs escalated).
        given: pairwise and pointwise rows of ``table`` kept besides (the exam's).

    Raises:
        InputError: the budget is too small to judge anything.
    """
    qualified = np.isin(np.arange(len(table.reviewers)), order)
    if given is not None:  # the rows of the qualified, as for_reviewers keeps them
        given = (given[0][qualified[table.pairwise.reviewer]],
                 given[1][qualified[table.scores.reviewer]])
    table = table.for_reviewers(qualified)
    if budget is not None and budget < 1:
        raise InputError(f"a budget of {budget} calls judges nothing", field="budget")
    if schedule is Schedule.FULL:
        return _within_budget(table, budget, seed)
    if schedule is Schedule.ONE_ORDER:
        return _within_budget(_one_order(table, seed), budget, seed)
    recording = Recorded(table, [table.reviewers[r] for r in order], budget)
    if schedule is Schedule.CASCADE:
        _drive(_sequentially(cascade_jobs(recording, recording.order, recording.pairs_of,
                                          recording.models_of, escalation=escalation), 0))
    else:
        _drive(adaptive(recording, recording.order, recording.pairs_of, recording.models_of,
                        seed=seed, run=_sequentially, so_far=recording.so_far,
                        settled=settled or (lambda _: False),
                        exhausted=recording.exhausted, escalation=escalation))
    if given is None:
        return table.subset(recording.keep_p, recording.keep_s)
    return table.subset(recording.keep_p | given[0], recording.keep_s | given[1])


def _within_budget(table: JudgmentTable, budget: int | None, seed: int) -> JudgmentTable:
    """At most ``budget`` judgments: whole items, taken in a seeded random order."""
    total = len(table.pairwise) + len(table.scores)
    if budget is None or budget >= total:
        return table
    rng = np.random.default_rng(seed)
    per_item = np.bincount(table.pairwise.item, minlength=len(table.items)) + \
        np.bincount(table.scores.item, minlength=len(table.items))
    order = rng.permutation(len(table.items))
    keep = np.zeros(len(table.items), dtype=bool)
    spent = 0
    for t in order:
        if spent + per_item[t] > budget:
            break
        keep[t] = True
        spent += per_item[t]
    if not keep.any():
        raise InputError(f"a budget of {budget} calls does not cover one item "
                         f"({per_item[order[0]]} judgments)", field="budget")
    return table.for_items(keep)


def _one_order(table: JudgmentTable, seed: int) -> JudgmentTable:
    p = table.pairwise
    a_first = np.array([one_order_first(table.items[t], table.models[a], table.models[b],
                                        table.reviewers[r], seed)
                        for t, a, b, r in zip(p.item.tolist(), p.a.tolist(), p.b.tolist(),
                                              p.reviewer.tolist(), strict=True)], dtype=bool)
    key = pair_key(p.item, p.a, p.b, len(table.models)) * len(table.reviewers) + p.reviewer
    uniq, counts = np.unique(key, return_counts=True)
    both = np.isin(key, uniq[counts > 1])
    keep = ~both | (a_first == (p.a_first == 1))  # where both orders exist, the coin's
    return table.subset(keep, np.ones(len(table.scores), dtype=bool))


# --- The cascade and the adaptive schedule, written once. A schedule asks through an
# ``Asking``: a recording answers from what reviewers said (and marks it used), a
# live run asks the models (peerreview.review.stage). Names throughout; a < b by name.

Job = Callable[[], Awaitable[object]]
Pair = tuple[str, str]


class Asking(Protocol):
    """Where a schedule's judgments come from."""

    def per_answer(self, item: str, a: str, b: str) -> int:
        """How many votes one reviewer gives on a pair (2 with both orders, else 1)."""
        ...

    async def pair(self, reviewer: str, item: str, a: str, b: str) -> list[int] | None:
        """The reviewer's votes on {a, b} seen from a (one per order it is asked in),
        or None where it gives none.

        Raises:
            BudgetSpent: asking would overspend the budget.
        """
        ...

    async def scores(self, reviewer: str, item: str,
                     models: list[str]) -> dict[str, float | None] | None:
        """The reviewer's scores of these models' submissions (None: unreadable), or
        None where it gives none.

        Raises:
            BudgetSpent: asking would overspend the budget.
        """
        ...


async def cascade_pair(ask: Asking, order: list[str], item: str, a: str, b: str,
                       escalation: Escalation | None = None) -> None:
    """Down the cascade, one reviewer at a time, until the votes decide the pair (and
    with an ``escalation``, their weighted sum clears its threshold)."""
    said: list[int] = []
    margin, held = 0.0, False  # held: decided, but kept for its margin
    per_answer = ask.per_answer(item, a, b)
    for reviewer in order:
        try:
            votes = await ask.pair(reviewer, item, a, b)
        except BudgetSpent:
            return
        if votes is None:
            continue
        said += votes
        if escalation is None:
            if decided(said, per_answer):
                return
            continue
        if held:
            escalation.escalated.add((item, a, b))
        margin += escalation.weights.get(reviewer, 0.0) * sum(votes)
        held = decided(said, per_answer)
        if held and escalation.clears(margin):
            return


async def cascade_scores(ask: Asking, order: list[str], item: str, models: list[str],
                         pairs: set[Pair] | None = None,
                         escalation: Escalation | None = None) -> None:
    """Pointwise: each reviewer in turn scores the models of the pairs still undecided
    (all pairs of ``models``, or those of them in ``pairs``); with an ``escalation``,
    a decided pair stays until its margin so far clears the threshold."""
    pending = {(a, b) for a, b in itertools.combinations(sorted(models), 2)
               if pairs is None or (a, b) in pairs}
    said: dict[Pair, list[int]] = {p: [] for p in pending}
    margins = ItemMargins(escalation) if escalation is not None else None
    held: set[Pair] = set()  # decided, but kept for their margin
    for reviewer in order:
        if not pending:
            return
        try:
            got = await ask.scores(reviewer, item, sorted({m for p in pending for m in p}))
        except BudgetSpent:
            return
        if got is None:
            continue
        if margins is not None:
            margins.add(reviewer, got)
        for a, b in sorted(pending):
            if a in got and b in got:
                sa, sb = got[a], got[b]
                missing = sa is None or sb is None or sa != sa or sb != sb
                said[a, b].append(0 if missing or sa == sb else 1 if sa > sb else -1)  # type: ignore[operator]
                if margins is None:
                    if decided(said[a, b], 1):
                        pending.discard((a, b))
                    continue
                if (a, b) in held:
                    margins.escalation.escalated.add((item, a, b))
                if decided(said[a, b], 1):
                    held.add((a, b))
                    if margins.escalation.clears(margins.margin(a, b)):
                        pending.discard((a, b))
                else:
                    held.discard((a, b))


def cascade_jobs(ask: Asking, order: list[str], pairs_of: dict[str, list[Pair]],
                 models_of: dict[str, list[str]], pairs: set[Pair] | None = None, *,
                 escalation: Escalation | None = None) -> list[Job]:
    """The cascade's jobs: one per pair asked pairwise (``pairs_of``: item -> pairs),
    one per item scored pointwise (``models_of``: item -> models); ``pairs`` limits
    both to some pairs of models; ``escalation``: see :func:`cascade_pair`."""
    jobs: list[Job] = [partial(cascade_pair, ask, order, item, a, b, escalation)
                       for item in sorted(pairs_of) for a, b in pairs_of[item]
                       if pairs is None or (a, b) in pairs]
    jobs += [partial(cascade_scores, ask, order, item, models_of[item], pairs, escalation)
             for item in sorted(models_of)]
    return jobs


async def adaptive(ask: Asking, order: list[str], pairs_of: dict[str, list[Pair]],
                   models_of: dict[str, list[str]], *, seed: int,
                   run: Callable[[list[Job], int], Awaitable[object]],
                   so_far: Callable[[], JudgmentTable | None],
                   settled: Callable[[JudgmentTable], bool],
                   exhausted: Callable[[], bool],
                   escalation: Escalation | None = None) -> None:
    """Items in a seeded random order, in batches of 5%; on each batch only the pairs
    still unsettled are asked, through the cascade; stop when the ranking is settled,
    every pair is, or the budget is spent. ``run`` runs a batch's jobs (the k-th)."""
    items = sorted(set(pairs_of) | set(models_of))
    queue = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]
    size = max(1, len(queue) // 20)
    unsettled: set[Pair] | None = None  # None: every pair is still open
    for k, start in enumerate(range(0, len(queue), size)):
        if exhausted():
            return
        batch = set(queue[start:start + size])
        await run(cascade_jobs(ask, order, {t: p for t, p in pairs_of.items() if t in batch},
                               {t: m for t, m in models_of.items() if t in batch},
                               unsettled, escalation=escalation), k)
        table = so_far()
        if table is None:
            continue
        unsettled = open_pairs(table)
        if settled(table) or not unsettled:
            return


async def _sequentially(jobs: list[Job], _: int) -> None:
    for job in jobs:
        await job()


def _drive(work: Awaitable[object]) -> None:
    """Run a schedule over a recording: it never waits, so no event loop is needed
    (and ``rank`` works inside one, as in a notebook)."""
    step = work.__await__()
    try:
        next(step)
    except StopIteration:
        return
    raise RuntimeError("a schedule over a recording waited")


class Recorded:
    """A recording as an :class:`Asking`: each answer is the reviewer's recorded
    judgments, marked used; the budget counts judgments (a score once, however many
    pairs it decides). Scores on several scales are given on [0, 1], as the mean
    chair puts them (an escalation's margins are then the chair's)."""

    def __init__(self, table: JudgmentTable, order: list[str], budget: int | None) -> None:
        self.table, self.order, self.budget = table, order, budget
        self.spent = 0
        p, s = table.pairwise, table.scores
        self.keep_p = np.zeros(len(p), dtype=bool)
        self.keep_s = np.zeros(len(s), dtype=bool)
        items, models, reviewers = table.items, table.models, table.reviewers
        self._rows: dict[tuple[str, str, str, str], list[int]] = {}  # (item, a, b, r)
        per: dict[tuple[str, str, str], int] = {}
        for row, (t, a, b, r) in enumerate(zip(p.item.tolist(), p.a.tolist(), p.b.tolist(),
                                               p.reviewer.tolist(), strict=True)):
            key = (items[t], models[a], models[b], reviewers[r])
            self._rows.setdefault(key, []).append(row)
            per[key[:3]] = max(per.get(key[:3], 0), len(self._rows[key]))
        self._per_answer = per
        self._scores: dict[tuple[str, str], dict[str, int]] = {}  # (item, r) -> model -> row
        known = ~np.isnan(s.score)
        self._unit = bool(known.any()) and bool(np.ptp(s.low[known]) > 0 or
                                                np.ptp(s.high[known]) > 0)
        for row, (t, m, r) in enumerate(zip(s.item.tolist(), s.model.tolist(),
                                            s.reviewer.tolist(), strict=True)):
            self._scores.setdefault((items[t], reviewers[r]), {})[models[m]] = row
        pairs_of: dict[str, set[Pair]] = {}
        for t, a, b, _ in self._rows:
            pairs_of.setdefault(t, set()).add((a, b))
        self.pairs_of = {t: sorted(ps) for t, ps in pairs_of.items()}
        models_of: dict[str, set[str]] = {}
        for (t, _), scored in self._scores.items():
            models_of.setdefault(t, set()).update(scored)
        self.models_of = {t: sorted(ms) for t, ms in models_of.items()}

    def per_answer(self, item: str, a: str, b: str) -> int:
        return self._per_answer.get((item, a, b), 1)

    def _pay(self, cost: int) -> None:
        if self.budget is not None and self.spent + cost > self.budget:
            raise BudgetSpent(f"the budget of {self.budget} judgments is spent")
        self.spent += cost

    async def pair(self, reviewer: str, item: str, a: str, b: str) -> list[int] | None:
        rows = self._rows.get((item, a, b, reviewer))
        if not rows:
            return None
        self._pay(sum(not self.keep_p[row] for row in rows))
        self.keep_p[rows] = True
        return [int(self.table.pairwise.vote[row]) for row in rows]

    async def scores(self, reviewer: str, item: str,
                     models: list[str]) -> dict[str, float | None] | None:
        mine = self._scores.get((item, reviewer), {})
        rows = {m: mine[m] for m in models if m in mine}
        if not rows:
            return None
        self._pay(sum(not self.keep_s[row] for row in rows.values()))
        self.keep_s[list(rows.values())] = True
        s = self.table.scores
        return {m: float((s.score[row] - s.low[row]) / (s.high[row] - s.low[row])
                         if self._unit else s.score[row]) for m, row in rows.items()}

    def so_far(self) -> JudgmentTable | None:
        if not (self.keep_p.any() or self.keep_s.any()):
            return None
        return self.table.subset(self.keep_p, self.keep_s)

    def exhausted(self) -> bool:
        return self.budget is not None and self.spent >= self.budget


def open_pairs(table: JudgmentTable) -> set[Pair]:
    """Pairs of models (by name) whose win-rate intervals (normal approximation over
    their verdicts so far) overlap: the ones more judgments can still reorder."""
    votes = table.votes()
    n = len(table.models)
    won = np.bincount(votes.a, (votes.vote > 0) + 0.5 * (votes.vote == 0), minlength=n) + \
        np.bincount(votes.b, (votes.vote < 0) + 0.5 * (votes.vote == 0), minlength=n)
    played = np.bincount(votes.a, minlength=n) + np.bincount(votes.b, minlength=n)
    rate = won / np.maximum(played, 1)
    half = 1.96 * np.sqrt(rate * (1 - rate) / np.maximum(played, 1)) + 1e-9
    names = table.models
    return {(names[a], names[b]) for a in range(n) for b in range(a + 1, n)
            if played[a] == 0 or played[b] == 0 or
            abs(rate[a] - rate[b]) <= half[a] + half[b]}
