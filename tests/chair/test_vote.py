"""The vote chair on a worked example computed by hand (see conftest.VOTE_EXAMPLE).

Uniform weights 0.5 each:
  t1 {A,B}: r1 votes +1 +1, r2 votes -1 0      -> margin 0.5*2 + 0.5*(-1) = 0.5  (A)
  t1 {A,C}: r1 abstains (0), r2 prefers C (-1) -> margin -0.5                  (C)
  t1 {B,C}: r1 tie                              -> margin 0                     (tie)
  t2 {A,B}: r2 prefers B                        -> margin -0.5                  (B)
Win rates over verdicts (tie = half): A 1/3, B 1.5/3, C 1.5/2.
"""

from __future__ import annotations

import numpy as np
import pytest

from peerreview.chair import VoteChair, gather_evidence
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE


def example_table():
    from pathlib import Path

    return build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(VOTE_EXAMPLE)])


def test_margins_match_hand_computation() -> None:
    table = example_table()
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)
    got = {(table.items[t], table.models[a], table.models[b]): m for t, a, b, m in
           zip(ev.verdicts.item, ev.verdicts.a, ev.verdicts.b, ev.verdicts.margin, strict=True)}
    assert got == pytest.approx({("t1", "A", "B"): 0.5, ("t1", "A", "C"): -0.5,
                                 ("t1", "B", "C"): 0.0, ("t2", "A", "B"): -0.5})


def test_win_rates_match_hand_computation() -> None:
    table = example_table()
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)
    assert VoteChair().scores(ev) == pytest.approx([1 / 3, 0.5, 0.75])


def test_a_dropped_reviewer_does_not_vote() -> None:
    table = example_table()
    ev = gather_evidence(table, np.array([1.0, 0.0]), by_mean=False)
    # only r1: t1 {A,B} A twice, {A,C} abstained (margin 0), {B,C} tie; t2 unjudged
    assert len(ev.verdicts) == 3
    assert VoteChair().scores(ev) == pytest.approx([(1 + 0.5) / 2, 0.5 / 2, 1.0 / 2])
