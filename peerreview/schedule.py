"""Review schedules: which judgments to ask for, so that fewer calls reach the same
verdicts.

On recorded judgments a schedule keeps only the judgments it would have asked for,
so its cost and fidelity can be measured on any logged run; a live run asks only
those (see :mod:`peerreview.pipeline`). The decisions are the same functions.

- ``full``: every qualified reviewer, every pair, both orders (PRE).
- ``cascade``: reviewers in order of exam accuracy; the first judges a pair (in
  both orders where the design has them); the pair goes down the cascade only
  while the votes so far are inconsistent or too weak: it stops once their sum is
  as decisive as one reviewer agreeing with itself.
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
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from peerreview.chair.bootstrap import LeaderboardRow
from peerreview.errors import InputError
from peerreview.options import Schedule as Schedule
from peerreview.votes import BoolArray, JudgmentTable, pair_key


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
           settled: Callable[[JudgmentTable], bool] | None = None) -> JudgmentTable:
    """The judgments of qualified reviewers (``order``: their indices, most accurate
    first) that ``schedule`` would have asked for.

    Args:
        settled: for ``adaptive``, whether the ranking from the judgments so far is
            settled (its adjacent rank intervals separate).

    Raises:
        InputError: the budget is too small to judge anything.
    """
    qualified = np.isin(np.arange(len(table.reviewers)), order)
    table = table.for_reviewers(qualified)
    if budget is not None and budget < 1:
        raise InputError(f"a budget of {budget} calls judges nothing", field="budget")
    if schedule is Schedule.FULL:
        return _within_budget(table, budget, seed)
    if schedule is Schedule.ONE_ORDER:
        return _within_budget(_one_order(table, seed), budget, seed)
    items = np.arange(len(table.items))
    if schedule is Schedule.CASCADE:
        return _cascade(table, order, items, budget)
    return _adaptive(table, order, seed, budget, settled)


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


def _cascade(table: JudgmentTable, order: list[int], items: npt.NDArray[np.int64],
             budget: int | None, pairs: set[tuple[int, int, int]] | None = None,
             spent: int = 0) -> JudgmentTable:
    """The cascade over the given items (and, if given, only these (item, a, b) pairs)."""
    keep_p, keep_s = _cascade_masks(table, order, items, budget, pairs, spent)
    return table.subset(keep_p, keep_s)


def _cascade_masks(table: JudgmentTable, order: list[int], items: npt.NDArray[np.int64],
                   budget: int | None, pairs: set[tuple[int, int, int]] | None,
                   spent: int) -> tuple[BoolArray, BoolArray]:
    votes = table.votes()
    n_pw = len(table.pairwise)
    rank_of = {r: k for k, r in enumerate(order)}
    wanted = np.isin(votes.item, items)
    # Group each question's votes by reviewer, in cascade order.
    by_question: dict[tuple[int, int, int], dict[int, list[int]]] = {}
    for row in np.flatnonzero(wanted).tolist():
        q = (int(votes.item[row]), int(votes.a[row]), int(votes.b[row]))
        if pairs is not None and q not in pairs:
            continue
        by_question.setdefault(q, {}).setdefault(int(votes.reviewer[row]), []).append(row)
    keep_p = np.zeros(n_pw, dtype=bool)
    score_used: set[tuple[int, int, int]] = set()  # (reviewer, item, model)
    s = table.scores
    score_row = {(int(r), int(t), int(m)): i for i, (r, t, m) in
                 enumerate(zip(s.reviewer.tolist(), s.item.tolist(), s.model.tolist(),
                               strict=True))}
    for q in sorted(by_question):
        answers = by_question[q]
        per_answer = max(len(rows) for rows in answers.values())
        said: list[int] = []
        for r in sorted(answers, key=lambda r: rank_of[r]):
            cost = 0
            for row in answers[r]:
                if row < n_pw:
                    cost += not keep_p[row]
                else:  # a vote from two scores: each score is asked once
                    cost += sum((r, q[0], m) not in score_used for m in q[1:])
            if budget is not None and spent + cost > budget:
                break
            spent += cost
            for row in answers[r]:
                if row < n_pw:
                    keep_p[row] = True
                else:
                    score_used.update({(r, q[0], q[1]), (r, q[0], q[2])})
            said += [int(votes.vote[row]) for row in answers[r]]
            if decided(said, per_answer):
                break
    keep_s = np.zeros(len(s), dtype=bool)
    keep_s[[score_row[k] for k in score_used if k in score_row]] = True
    return keep_p, keep_s


def _adaptive(table: JudgmentTable, order: list[int], seed: int, budget: int | None,
              settled: Callable[[JudgmentTable], bool] | None) -> JudgmentTable:
    """Batches of items through the cascade, asking only unsettled pairs, until the
    ranking is settled or the budget is spent."""
    rng = np.random.default_rng(seed)
    queue = rng.permutation(len(table.items))
    batch = max(1, len(queue) // 20)
    keep_p = np.zeros(len(table.pairwise), dtype=bool)
    keep_s = np.zeros(len(table.scores), dtype=bool)
    unsettled: set[tuple[int, int]] | None = None  # None: every pair is still open
    for start in range(0, len(queue), batch):
        items = queue[start:start + batch]
        spent = int(keep_p.sum() + keep_s.sum())
        if budget is not None and spent >= budget:
            break
        pairs = None if unsettled is None else {
            (int(t), a, b) for t in items for a, b in unsettled}
        p, s = _cascade_masks(table, order, items, budget, pairs, spent)
        keep_p |= p
        keep_s |= s
        so_far = table.subset(keep_p, keep_s)
        if settled is not None and len(so_far.pairwise) + len(so_far.scores):
            unsettled = open_pairs(so_far)
            if settled(so_far) or not unsettled:
                break
    return table.subset(keep_p, keep_s)


def open_pairs(table: JudgmentTable) -> set[tuple[int, int]]:
    """Pairs of models whose win-rate intervals (normal approximation over their
    verdicts so far) overlap: the ones more judgments can still reorder."""
    votes = table.votes()
    n = len(table.models)
    won = np.bincount(votes.a, (votes.vote > 0) + 0.5 * (votes.vote == 0), minlength=n) + \
        np.bincount(votes.b, (votes.vote < 0) + 0.5 * (votes.vote == 0), minlength=n)
    played = np.bincount(votes.a, minlength=n) + np.bincount(votes.b, minlength=n)
    rate = won / np.maximum(played, 1)
    half = 1.96 * np.sqrt(rate * (1 - rate) / np.maximum(played, 1)) + 1e-9
    return {(a, b) for a in range(n) for b in range(a + 1, n)
            if played[a] == 0 or played[b] == 0 or
            abs(rate[a] - rate[b]) <= half[a] + half[b]}
