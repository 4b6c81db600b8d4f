"""What would flip the ranking: the fewest items and judgments whose removal reverses
the top spot or an adjacent pair, and preference cycles at the item level.

For a pair (leader L, other O) the gap is ``score(L) - score(O)``. Items are ordered
by their influence on the gap (the gap's fall when the item alone is left out; for
chairs that are slow to refit, the item's own score difference), judgments by how
much they push the gap up (pairwise: the votes of the verdicts cheapest to turn
first). The smallest number removed in that order that makes the gap negative is
found by bisection, each step a refit of the chair, so every count reported was
verified. Greedy: an upper bound on the true minimum, which is NP-hard in general.
"""

from __future__ import annotations

from itertools import combinations, pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from peerreview.chair.base import (
    Chair,
    Evidence,
    mean_item_scores,
    score_verdicts,
    verdict_outcomes,
    vote_verdicts,
)
from peerreview.chair.panel_value import panel_value
from peerreview.records.table import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    from peerreview.chair.bootstrap import LeaderboardRow
    from peerreview.exam.grade import ExamResult
    from peerreview.records.gold import Gold

CHEAP = ("vote", "mean")  # chairs refitted once per item for the exact influence
MAX_CYCLES = 20


def gap(chair: Chair, evidence: Evidence, leader: int, other: int,
        item_weights: FloatArray | None = None) -> float:
    """score(leader) - score(other); NaN scores count as -inf's absence: 0 gap."""
    s = chair.scores(evidence, item_weights)
    g = float(s[leader] - s[other])
    return g if np.isfinite(g) else 0.0


def _smallest(order: IntArray, flipped: Any) -> int | None:
    """The smallest k such that removing ``order[:k]`` flips: k doubles until it flips,
    then bisection (each probe a refit); None if no k does. Removing everything leaves
    no gap at all, so the probes stop short of it."""
    size = int(order.size)
    lo, hi = 0, 1
    while hi < size and not flipped(hi):
        lo, hi = hi, min(2 * hi, size)
    if hi >= size and not (size and flipped(size)):
        # the last doubling overshot: the removals that flip may lie just before it
        return _linear(lo, size, flipped)
    # lo does not flip, hi does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if flipped(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _linear(lo: int, hi: int, flipped: Any, probes: int = 64) -> int | None:
    """The first k in (lo, hi) that flips, probing at most ``probes`` evenly spaced k
    and then bisecting below the first that does."""
    step = max((hi - lo) // probes, 1)
    below = lo
    for k in range(lo + 1, hi, step):
        if flipped(k):
            while k - below > 1:
                mid = (below + k) // 2
                below, k = (below, mid) if flipped(mid) else (mid, k)
            return k
        below = k
    return None


def item_order(chair: Chair, evidence: Evidence, leader: int, other: int) -> IntArray:
    """Items that judged either model, those that hold the leader up most first."""
    n = evidence.n_items
    if chair.name in CHEAP:
        base = gap(chair, evidence, leader, other)
        influence = np.empty(n)
        w = np.ones(n)
        for t in range(n):
            w[t] = 0.0
            influence[t] = base - gap(chair, evidence, leader, other, w)
            w[t] = 1.0
    else:  # one refit per item is too slow: the item's own score difference
        s = evidence.item_scores
        influence = np.nan_to_num(s[:, leader], nan=0.5) - np.nan_to_num(s[:, other], nan=0.5)
    # every item, not only those above the mean: an item's influence is its gap
    # against the mean gap, which falls as the strongest are removed
    s = evidence.item_scores
    judged = ~np.isnan(s[:, leader]) | ~np.isnan(s[:, other])
    order = np.argsort(-influence, kind="stable")
    return order[judged[order]].astype(np.int64)


def flip_items(chair: Chair, evidence: Evidence, leader: int, other: int) -> IntArray | None:
    """The items whose removal reverses leader and other (verified), or None."""
    order = item_order(chair, evidence, leader, other)

    def flipped(k: int) -> bool:
        w = np.ones(evidence.n_items)
        w[order[:k]] = 0.0
        return gap(chair, evidence, leader, other, w) < 0
    k = _smallest(order, flipped)
    return None if k is None else order[:k]


def without(evidence: Evidence, chair: Chair, keep: BoolArray) -> Evidence:
    """The evidence with only the kept judgments (votes, or scores for mean chairs)."""
    table, n_items, n_models = evidence.table, evidence.n_items, evidence.n_models
    if chair.by_mean:
        scores = table.scores.take(keep)
        item_scores = mean_item_scores(scores, evidence.weights, n_items, n_models,
                                       normalize=bool(getattr(chair, "normalize", False)))
        return Evidence(table, evidence.weights, evidence.votes, evidence.value,
                        score_verdicts(item_scores), item_scores, evidence.count)
    votes, value = evidence.votes.take(keep), evidence.value[keep]
    count = None if evidence.count is None else evidence.count[keep]
    verdicts = vote_verdicts(votes, value, evidence.weights, n_models, count)
    won, played = verdict_outcomes(verdicts, n_items, n_models)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_scores = np.where(played > 0, won / np.where(played > 0, played, 1), np.nan)
    return Evidence(table, evidence.weights, votes, value, verdicts, item_scores, count)


def _vote_order(evidence: Evidence, leader: int, other: int) -> IntArray:
    """Votes that hold the leader up, those of the verdicts cheapest to turn first."""
    v = evidence.votes
    push = evidence.value * evidence.row_weights() * ~v.abstain
    side = np.zeros(len(v))  # +1: a vote for a helps the leader's gap
    side += np.where(v.a == leader, 1.0, 0.0) - np.where(v.b == leader, 1.0, 0.0)
    side += np.where(v.b == other, 1.0, 0.0) - np.where(v.a == other, 1.0, 0.0)
    support = push * np.sign(side)
    key = (v.item * evidence.n_models + v.a) * evidence.n_models + v.b
    ranked: list[tuple[int, list[int]]] = []
    for k in np.unique(key[support > 0]):
        rows = np.nonzero(key == k)[0]
        held = float(support[rows].sum())  # the verdict's margin toward the leader
        mine = rows[support[rows] > 0]
        mine = mine[np.argsort(-support[mine], kind="stable")]
        cost = int(np.searchsorted(np.cumsum(support[mine]), held, side="left")) + 1
        ranked.append((min(cost, mine.size), mine.tolist()))
    ranked.sort(key=lambda c: c[0])
    return np.array([r for _, rows in ranked for r in rows], np.int64)


def _score_order(chair: Chair, evidence: Evidence, leader: int, other: int) -> IntArray:
    """Scores that hold the leader up: the leader's on items where it does better than
    its mean, the other's where it does worse (removing them moves each mean toward
    the other); the heavier reviewer's first within an item."""
    s = evidence.table.scores
    ok = ~np.isnan(s.score) & (evidence.weights[s.reviewer] > 0)
    mean = chair.scores(evidence)
    cell = evidence.item_scores[s.item, s.model]
    sign = np.where(s.model == leader, 1.0, np.where(s.model == other, -1.0, 0.0))
    lift = np.nan_to_num(sign * (cell - mean[s.model]))
    support = np.where(ok, lift + 1e-9 * evidence.weights[s.reviewer], 0.0) * (lift > 0)
    order = np.argsort(-support, kind="stable")
    return order[support[order] > 0].astype(np.int64)


def flip_judgments(chair: Chair, evidence: Evidence, leader: int, other: int) -> int | None:
    """The fewest judgments (greedy, verified) whose removal reverses the pair."""
    if chair.by_mean:
        order, size = _score_order(chair, evidence, leader, other), len(evidence.table.scores)
    else:
        order, size = _vote_order(evidence, leader, other), len(evidence.votes)

    def flipped(k: int) -> bool:
        keep = np.ones(size, np.bool_)
        keep[order[:k]] = False
        return gap(chair, without(evidence, chair, keep), leader, other) < 0
    return _smallest(order, flipped)


def cycles(evidence: Evidence) -> list[dict[str, Any]]:
    """Three-model cycles of the item-level head-to-head: a beats b, b beats c and c
    beats a, each on more items than it loses (at most 20)."""
    v = evidence.verdicts
    m = evidence.n_models
    wins = np.zeros((m, m))
    np.add.at(wins, (v.a[v.margin > 0], v.b[v.margin > 0]), 1)
    np.add.at(wins, (v.b[v.margin < 0], v.a[v.margin < 0]), 1)
    beats = wins > wins.T
    names = evidence.table.models
    found: list[dict[str, Any]] = []
    for a, b, c in combinations(range(m), 3):
        for x, y, z in ((a, b, c), (a, c, b)):
            if beats[x, y] and beats[y, z] and beats[z, x]:
                found.append({"cycle": [names[x], names[y], names[z]],
                              "items_won": [int(wins[x, y]), int(wins[y, z]), int(wins[z, x])],
                              "items_lost": [int(wins[y, x]), int(wins[z, y]), int(wins[x, z])]})
                if len(found) >= MAX_CYCLES:
                    return found
    return found


def _flip(chair: Chair, evidence: Evidence, leader: int, other: int) -> dict[str, Any]:
    items = flip_items(chair, evidence, leader, other)
    names = evidence.table.items
    return {"leader": evidence.table.models[leader], "other": evidence.table.models[other],
            "gap": gap(chair, evidence, leader, other),
            "items": None if items is None else int(items.size),
            "item_share": None if items is None else items.size / max(evidence.n_items, 1),
            "removed_items": None if items is None else [names[t] for t in items[:20]],
            "judgments": flip_judgments(chair, evidence, leader, other)}


def audit_ranking(chair: Chair, evidence: Evidence, board: list[LeaderboardRow],
                  exam: list[ExamResult], exam_gold: Gold | None) -> dict[str, Any]:
    """audit.json: for the top spot and every adjacent pair, the fewest items and
    judgments whose removal flips it; the cycles; warnings; the panel's worth.

    Args:
        chair: the chair that ranked.
        evidence: what it ranked from.
        board: its leaderboard, best first.
        exam: the exam's results (weights).
        exam_gold: the exam's labels (None: the panel is graded by the latent model).
    """
    index = {name: k for k, name in enumerate(evidence.table.models)}
    ranked = [index[row.model] for row in board if np.isfinite(row.score)]
    adjacent = [_flip(chair, evidence, a, b) for a, b in pairwise(ranked)]
    top = None
    warnings: list[str] = []
    if len(ranked) > 1:  # the top spot falls to whichever challenger costs least
        challengers = [adjacent[0]] + [_flip(chair, evidence, ranked[0], o)
                                       for o in ranked[2:4]]
        possible = [c for c in challengers if c["items"] is not None]
        top = min(possible, key=lambda c: c["items"]) if possible else challengers[0]
        if top["items"] is not None and top["item_share"] < 0.01:
            warnings.append(f"the top spot of {top['leader']!r} rests on {top['items']} of "
                            f"{evidence.n_items} items (under 1%): removing them puts "
                            f"{top['other']!r} ahead")
    del exam  # the evidence carries the exam's weights
    panel = panel_value(evidence.table, evidence.weights, exam_gold, by_mean=chair.by_mean)
    return {"method": chair.name, "items": evidence.n_items, "top": top,
            "adjacent": adjacent, "cycles": cycles(evidence), "warnings": warnings,
            "panel": panel.to_dict()}
