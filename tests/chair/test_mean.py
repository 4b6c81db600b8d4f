"""The mean chair: weighted mean of scores, normalized by the weights present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import MeanChair, gather_evidence
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import pt


def table():
    rows = [pt("t1", "r1", "A", 4), pt("t1", "r1", "B", 2),
            pt("t1", "r2", "A", 2), pt("t1", "r2", "B", None), pt("t1", "r2", "C", 5),
            pt("t2", "r1", "A", 1), pt("t2", "r1", "C", 3)]
    return build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])


def test_item_scores_and_margins_by_hand() -> None:
    t = table()
    ev = gather_evidence(t, np.array([0.75, 0.25]), by_mean=True)
    # S(t1,A) = (.75*4 + .25*2) / 1 = 3.5; S(t1,B) = .75*2/.75 = 2 (r2 abstained); S(t1,C) = 5
    assert ev.item_scores[0] == pytest.approx([3.5, 2.0, 5.0])
    # t2: only r1: A 1, C 3, B unscored
    assert ev.item_scores[1][[0, 2]] == pytest.approx([1.0, 3.0])
    assert np.isnan(ev.item_scores[1][1])
    got = {(int(i), int(a), int(b)): float(m) for i, a, b, m in
           zip(ev.verdicts.item, ev.verdicts.a, ev.verdicts.b, ev.verdicts.margin, strict=True)}
    assert got == pytest.approx({(0, 0, 1): 1.5, (0, 0, 2): -1.5, (0, 1, 2): -3.0,
                                 (1, 0, 2): -2.0})
    # ranking: mean item score over the items a model has
    assert MeanChair().scores(ev) == pytest.approx([(3.5 + 1) / 2, 2.0, (5 + 3) / 2])


def test_z_normalization_removes_a_reviewers_offset() -> None:
    rows = [pt(f"t{i}", r, m, s + (2 if r == "r2" else 0), (1, 10))
            for i in range(3) for r in ("r1", "r2") for m, s in (("A", 3), ("B", 1))]
    t = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    ev = gather_evidence(t, np.array([0.5, 0.5]), by_mean=True, normalize=True)
    # after z-scoring both reviewers say A = +1, B = -1
    assert ev.item_scores == pytest.approx(np.array([[1.0, -1.0]] * 3))
