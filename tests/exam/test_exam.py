"""The qualification exam: grades, accuracy, selection and weights, by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from peerreview.exam.grade import NoQualifiedReviewer, Weighting, raw_weight, run_exam
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import gold_from_judgments
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE, pt, pw, write_jsonl


def table(rows):
    return build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])


def test_pairwise_grades_each_order_and_half_for_ties(tmp_path: Path) -> None:
    # gold: A better than B on t1, and C better than A on t1
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pw("t1", "h", "A", "B", "first"), pw("t1", "h", "A", "C", "second")]))
    res = {r.reviewer: r for r in run_exam(table(VOTE_EXAMPLE), gold, threshold=0.6)}
    # r1: {A,B} +1 +1 (1, 1); {A,C} abstention (0.5) -> 2.5 / 3
    # r2: {A,B} -1, tie (0, 0.5); {A,C} C (1)           -> 1.5 / 3
    assert res["r1"].exam_accuracy == pytest.approx(2.5 / 3)
    assert res["r2"].exam_accuracy == pytest.approx(0.5)
    assert res["r1"].exam_votes == 3 and res["r1"].exam_items == 1
    assert res["r1"].qualified and not res["r2"].qualified
    assert res["r1"].weight == 1.0 and res["r2"].weight == 0.0
    assert res["r1"].abstentions == 1 and res["r1"].judgments == 4


def test_pointwise_graded_through_score_order(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pt("t1", "h", "A", 5), pt("t1", "h", "B", 1)]))
    rows = [pt("t1", "r1", "A", 4), pt("t1", "r1", "B", 2),     # right: 1
            pt("t1", "r2", "A", 3), pt("t1", "r2", "B", 3),     # equal: 0.5
            pt("t1", "r3", "A", 2), pt("t1", "r3", "B", None),  # abstention: 0.5
            pt("t1", "r4", "A", 1), pt("t1", "r4", "B", 2)]     # wrong: 0
    res = {r.reviewer: r.exam_accuracy for r in run_exam(table(rows), gold, threshold=0.0)}
    assert res == {"r1": 1.0, "r2": 0.5, "r3": 0.5, "r4": 0.0}


@pytest.mark.parametrize(("weighting", "exponent", "expected"), [
    (Weighting.UNIFORM, 1.0, 1.0),
    (Weighting.LINEAR, 1.0, 0.8),
    (Weighting.LOG_ODDS, 1.0, math.log(4.0)),
    (Weighting.EXP, 2.0, math.exp(1.6)),
    (Weighting.POLY, 2.0, 0.64),
])
def test_weight_formulas(weighting: Weighting, exponent: float, expected: float) -> None:
    assert raw_weight(0.8, weighting, exponent) == pytest.approx(expected)


def test_log_odds_is_zero_at_or_below_half_and_finite_at_one() -> None:
    assert raw_weight(0.5, Weighting.LOG_ODDS) == 0.0
    assert raw_weight(0.3, Weighting.LOG_ODDS) == 0.0
    assert math.isfinite(raw_weight(1.0, Weighting.LOG_ODDS))


def test_weights_normalized_over_qualified(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pt("t1", "h", "A", 5), pt("t1", "h", "B", 1), pt("t2", "h", "A", 5),
        pt("t2", "h", "B", 1)]))
    rows = [pt(t, "r1", m, s) for t in ("t1", "t2") for m, s in (("A", 5), ("B", 1))]
    rows += [pt("t1", "r2", "A", 5), pt("t1", "r2", "B", 1),
             pt("t2", "r2", "A", 1), pt("t2", "r2", "B", 5)]  # r2: 0.5
    rows += [pt("t1", "r3", "A", 5), pt("t1", "r3", "B", 1),
             pt("t2", "r3", "A", 3), pt("t2", "r3", "B", 3)]  # r3: 0.75
    res = {r.reviewer: r.weight for r in run_exam(table(rows), gold, threshold=0.6)}
    assert res == pytest.approx({"r1": 1 / 1.75, "r2": 0.0, "r3": 0.75 / 1.75})


def test_without_gold_everyone_qualifies_equally() -> None:
    res = run_exam(table(VOTE_EXAMPLE), None)
    assert [r.weight for r in res] == [0.5, 0.5]
    assert all(r.exam_accuracy is None and r.qualified for r in res)


def test_no_one_qualifies_raises_with_the_table(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl",
                                           [pw("t1", "h", "A", "B", "second")]))
    with pytest.raises(NoQualifiedReviewer) as info:
        run_exam(table(VOTE_EXAMPLE[:2]), gold, threshold=0.6)
    assert [r.reviewer for r in info.value.results] == ["r1"]


def test_unexamined_reviewer_left_out_unless_allowed(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl",
                                           [pw("t2", "h", "A", "B", "second")]))
    rows = VOTE_EXAMPLE[:7]  # r1 never judged t2; r2 did, correctly
    res = {r.reviewer: r for r in run_exam(table([*rows, VOTE_EXAMPLE[7]]), gold)}
    assert not res["r1"].examined and not res["r1"].qualified
    res = {r.reviewer: r for r in run_exam(table([*rows, VOTE_EXAMPLE[7]]), gold,
                                           allow_unexamined=True)}
    assert res["r1"].qualified and res["r1"].weight == pytest.approx(0.5)


def test_position_consistency_and_interval(tmp_path: Path) -> None:
    rows = []
    for t in range(20):  # r agrees with itself across orders on 15 of 20 items
        rows += [pw(f"t{t}", "r", "A", "B", "first"),
                 pw(f"t{t}", "r", "B", "A", "second" if t < 15 else "first")]
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pw(f"t{t}", "h", "A", "B", "first") for t in range(20)]))
    (res,) = run_exam(table(rows), gold, threshold=0.0)
    assert res.position_consistency == pytest.approx(0.75)
    assert res.exam_accuracy == pytest.approx(35 / 40)
    assert res.ci_low is not None and res.ci_high is not None
    assert res.ci_low < res.exam_accuracy < res.ci_high <= 1.0
    # kappa: gold is always +1, so chance agreement is p(vote=+1); kappa is 0 here
    assert res.kappa == pytest.approx(0.0)
    assert np.isfinite(res.ci_low)
