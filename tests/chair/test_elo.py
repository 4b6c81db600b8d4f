"""Elo: a hand-computed game, and independence from the order of the file."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import EloChair, gather_evidence
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE, pw


def evidence(rows):
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    return gather_evidence(table, np.full(len(table.reviewers), 1 / len(table.reviewers)),
                           by_mean=False)


def test_one_game_by_hand() -> None:
    # equal ratings: expected 0.5, so the winner gains k * 0.5 = 2 and the loser loses 2
    s = EloChair(k=4.0).scores(evidence([pw("t1", "r", "A", "B", "first")]))
    assert s == pytest.approx([1002.0, 998.0])


def test_two_games_in_both_orders_by_hand() -> None:
    # A beats B, then B beats A (or the reverse); each order is computed by hand and the
    # chair averages over random orders, which with 100 orders are both well represented.
    e = 1 / (1 + 10 ** (-4 / 400))  # expectation of the leader after one game
    a_then_b = 1002 - 4 * e  # A won first (+2), then lost as the favourite
    b_then_a = 998 + 4 * e
    s = EloChair(k=4.0, orders=2000).scores(
        evidence([pw("t1", "r", "A", "B", "first"), pw("t2", "r", "A", "B", "second")]))
    assert s[0] == pytest.approx((a_then_b + b_then_a) / 2, abs=0.05)
    assert s.sum() == pytest.approx(2000.0)


def test_file_order_does_not_matter() -> None:
    rows = list(VOTE_EXAMPLE)
    before = EloChair().scores(evidence(rows))
    random.Random(1).shuffle(rows)
    assert EloChair().scores(evidence(rows)) == pytest.approx(before, abs=1e-9)
