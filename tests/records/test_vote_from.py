"""One vote seen from a: the record's ``vote_from`` and the table's columns agree."""

from __future__ import annotations

import numpy as np
import pytest

from peerreview.records.exchange import PairwiseJudgment
from peerreview.records.table import build_table, seen_from_a, vote_from, votes_toward_first

# (first, second, winner) -> the vote seen from "A", worked out by hand.
CASES = [
    ("A", "B", "first", 1), ("A", "B", "second", -1), ("B", "A", "first", -1),
    ("B", "A", "second", 1), ("A", "B", "tie", 0), ("B", "A", "tie", 0),
    ("A", "B", None, 0), ("B", "A", None, 0),
]


@pytest.mark.parametrize(("first", "second", "winner", "expected"), CASES)
def test_vote_from_a_by_hand(first: str, second: str, winner: str | None,
                             expected: int) -> None:
    j = PairwiseJudgment("t", "r", first, second, winner)  # type: ignore[arg-type]
    assert vote_from(j, "A") == expected
    assert vote_from(j, "B") == -expected


def test_the_table_votes_as_vote_from_and_the_turn_undoes_itself() -> None:
    judgments = [PairwiseJudgment(f"t{k}", "r", f, s, w)  # type: ignore[arg-type]
                 for k, (f, s, w, _) in enumerate(CASES)]
    table = build_table(judgments)
    v = table.pairwise
    by_item = {table.items[i]: int(x) for i, x in zip(v.item, v.vote, strict=True)}
    # Every pair is {A, B}: a is A, so the column is the vote seen from A.
    assert by_item == {f"t{k}": expected for k, (*_, expected) in enumerate(CASES)}
    toward = votes_toward_first(v)
    first_won = {table.items[i]: int(x) for i, x in zip(v.item, toward, strict=True)}
    assert first_won == {"t0": 1, "t1": -1, "t2": 1, "t3": -1, "t4": 0, "t5": 0, "t6": 0,
                         "t7": 0}
    assert np.array_equal(seen_from_a(toward, v.a_first), v.vote)
    soft = np.array([0.8, -0.4])  # 2 p - 1 toward the first shown
    assert seen_from_a(soft, np.array([1, 0])).tolist() == [0.8, 0.4]
