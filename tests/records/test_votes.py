"""Votes as columns: key look-ups and the votes pointwise scores induce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table, find_keys
from tests.conftest import pt


def test_find_keys_in_unsorted_table() -> None:
    found, index = find_keys(np.array([30, 10, 20]), np.array([20, 25, 30, 5, 99]))
    assert found.tolist() == [True, False, True, False, False]
    assert index[found].tolist() == [2, 0]


def test_find_keys_in_empty_table() -> None:
    found, _ = find_keys(np.zeros(0, np.int64), np.array([1, 2]))
    assert found.tolist() == [False, False]


def test_scores_vote_by_their_order_and_missing_abstains() -> None:
    rows = [pt("t1", "r", "A", 4), pt("t1", "r", "B", 2), pt("t1", "r", "C", None),
            pt("t1", "r", "D", 4)]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    v = table.votes()
    got = {(int(a), int(b)): (int(s), bool(x)) for a, b, s, x in
           zip(v.a, v.b, v.vote, v.abstain, strict=True)}
    assert got == {(0, 1): (1, False), (0, 2): (0, True), (0, 3): (0, False),
                   (1, 2): (0, True), (1, 3): (-1, False), (2, 3): (0, True)}


def test_vote_worth_by_hand() -> None:
    """Seen from a (A, first by name): a strong A>>B counts N times; a soft vote is
    2 p_first - 1 toward the one shown first; no p_first, or an abstention, stays hard."""
    from peerreview.records.counting import Counting, vote_worth
    from peerreview.records.exchange import PairwiseJudgment

    table = build_table([
        PairwiseJudgment("t1", "r", "A", "B", "first", strength=2, p_first=0.9),  # A shown 1st
        PairwiseJudgment("t1", "r", "B", "A", "first", p_first=0.75),  # B shown first, wins
        PairwiseJudgment("t2", "r", "B", "A", "second"),  # no p_first: A wins, +1
        PairwiseJudgment("t3", "r", "A", "B", None, p_first=0.9)])  # an abstention: 0
    v = table.pairwise
    hard = vote_worth(v)
    assert hard.value.tolist() == [1.0, -1.0, 1.0, 0.0]
    assert hard.count.tolist() == [3.0, 1.0, 1.0, 1.0]  # arena-hard's default weight 3
    soft = vote_worth(v, Counting(strength=1, soft=True))
    assert soft.value.tolist() == pytest.approx([0.8, -0.5, 1.0, 0.0])
    assert soft.count.tolist() == [1.0, 1.0, 1.0, 1.0]
