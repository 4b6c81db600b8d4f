"""Bradley-Terry against Wikipedia's worked example.

A-B 2:3, A-D 1:4, B-C 5:3, C-D 1:3 give strengths A .640, B 1.043, C .660,
D 2.270 (geometric mean 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import BradleyTerryChair, fit_bradley_terry, gather_evidence
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import pw

EXPECTED = [0.640, 1.043, 0.660, 2.270]
GAMES = [("A", "B", 2, 3), ("A", "D", 1, 4), ("B", "C", 5, 3), ("C", "D", 1, 3)]


def test_published_example() -> None:
    idx = {m: i for i, m in enumerate("ABCD")}
    a = np.array([idx[g[0]] for g in GAMES])
    b = np.array([idx[g[1]] for g in GAMES])
    theta = fit_bradley_terry(a, b, np.array([g[2] for g in GAMES], float),
                              np.array([g[3] for g in GAMES], float), 4, reg=0.0)
    assert np.exp(theta) == pytest.approx(EXPECTED, abs=1e-3)


def test_chair_on_judgments_reproduces_example() -> None:
    rows = []
    n = 0
    for x, y, wx, wy in GAMES:
        for _ in range(wx):
            rows.append(pw(f"g{n}", "r", x, y, "first"))
            n += 1
        for _ in range(wy):
            rows.append(pw(f"g{n}", "r", x, y, "second"))
            n += 1
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    ev = gather_evidence(table, np.array([1.0]), by_mean=False)
    assert BradleyTerryChair(reg=0.0).scores(ev) == pytest.approx(EXPECTED, abs=1e-3)


def test_ties_count_half_and_regularization_keeps_undefeated_finite() -> None:
    rows = [pw("t1", "r", "A", "B", "first"), pw("t2", "r", "A", "B", "tie")]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    ev = gather_evidence(table, np.array([1.0]), by_mean=False)
    s = BradleyTerryChair(reg=0.0).scores(ev)
    # A won 1.5 of 2: P(A beats B) = sA/(sA+sB) = 0.75
    assert s[0] / (s[0] + s[1]) == pytest.approx(0.75, abs=1e-4)
    only_wins = build_table([parse_judgment(rows[0], Path("x"), 1)])
    s = BradleyTerryChair(reg=0.1).scores(gather_evidence(only_wins, np.array([1.0]),
                                                          by_mean=False))
    assert np.all(np.isfinite(s)) and s[0] > s[1]
