"""Bias diagnostics and matrices of the report, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from peerreview.exam.grade import cohen_kappa
from peerreview.records.exchange import PairwiseJudgment
from peerreview.records.table import build_table
from peerreview.report.diagnostics import biases, kappa_matrix


def j(item: str, reviewer: str, first: str, second: str, winner: str) -> PairwiseJudgment:
    return PairwiseJudgment(item, reviewer, first, second, winner)  # type: ignore[arg-type]


def test_position_self_preference_and_length() -> None:
    table = build_table([
        # "r" always picks the first shown; A is its own model.
        j("t1", "A", "A", "B", "first"), j("t1", "A", "B", "A", "first"),
        j("t2", "A", "A", "B", "first"), j("t2", "A", "B", "A", "second"),
        # "o" always picks B.
        j("t1", "o", "A", "B", "second"), j("t1", "o", "B", "A", "first"),
        j("t2", "o", "A", "B", "second"), j("t2", "o", "B", "A", "first"),
    ])
    lengths = {("t1", "A"): 10, ("t1", "B"): 50, ("t2", "A"): 10, ("t2", "B"): 50}
    by = {b.reviewer: b for b in biases(table, lengths, {"A": 0.5, "o": 1.0})}
    # A: 3 of 4 verdicts to the first shown; own model A won 3 of 4 by itself, 0 of 4 by o.
    assert by["A"].first_wins == 0.75 and by["A"].flips == 0.5
    assert by["A"].self_preference == pytest.approx(0.75)
    assert by["A"].longer_wins == 0.25  # B is longer and won 1 of 4
    assert by["o"].first_wins == 0.5 and by["o"].longer_wins == 1.0
    assert by["o"].self_preference is None  # "o" is not an evaluatee


def test_cohen_kappa_by_hand() -> None:
    # 10 items: agree on 8 (5 x 0, 3 x 1), disagree on 2. p_o = .8;
    # rater x: 6 zeros, 4 ones; rater y: 6 zeros, 4 ones -> p_e = .36 + .16 = .52
    x = np.array([0] * 5 + [1] * 3 + [0, 1])
    y = np.array([0] * 5 + [1] * 3 + [1, 0])
    assert cohen_kappa(x, y) == pytest.approx((0.8 - 0.52) / (1 - 0.52))


def test_kappa_matrix_pairs_the_same_questions() -> None:
    rows = []
    for t in range(6):
        rows += [j(f"t{t}", "r1", "A", "B", "first"), j(f"t{t}", "r2", "A", "B", "first"),
                 j(f"t{t}", "r3", "A", "B", "first" if t % 2 else "second")]
    k = kappa_matrix(build_table(rows))
    assert k[0, 1] == 1.0 and k[0, 0] == 1.0
    assert k[0, 2] == 0.0  # r1 never varies: agreement is what chance gives
