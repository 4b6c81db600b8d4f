"""The calibrated margin threshold (Trust or Escalate) against values computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import gather_evidence
from peerreview.chair.guarantee import (
    calibrate,
    choose_threshold,
    clopper_pearson_upper,
    design_effects,
)
from peerreview.errors import InputError
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import Gold
from peerreview.records.table import build_table


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def _upper_by_hand(k: int, n: int, delta: float) -> float:
    """The p at which P(Bin(n, p) <= k) = delta, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _binomial_cdf(k, n, mid) > delta else (lo, mid)
    return (lo + hi) / 2


def test_clopper_pearson_upper_bound_by_hand() -> None:
    # no error in 10: 1 - delta^(1/n)
    assert float(clopper_pearson_upper(0, 10, 0.1)) == pytest.approx(1 - 0.1 ** 0.1, abs=1e-9)
    assert float(clopper_pearson_upper(1, 10, 0.1)) == pytest.approx(
        _upper_by_hand(1, 10, 0.1), abs=1e-7)
    assert float(clopper_pearson_upper(3, 3, 0.1)) == 1.0


def test_threshold_on_ten_verdicts() -> None:
    # target 0.7, delta 0.1: a threshold needs bound <= 0.3. With no error the bound is
    # 1 - 0.1^(1/n): n = 6 gives 0.319 (fails), n = 7 gives 0.280: the sequence starts at
    # the 7th verdict (|margin| 4). The 8th is wrong: 1 error in 8 bounds at 0.40 > 0.3,
    # so testing stops and the threshold is 4, covering 7 verdicts, none wrong.
    confidence = np.arange(10, 0, -1).astype(float)
    agrees = np.array([True] * 7 + [False, True, True])
    assert 1 - 0.1 ** (1 / 6) > 0.3 > 1 - 0.1 ** (1 / 7)
    assert _upper_by_hand(1, 8, 0.1) > 0.3
    assert choose_threshold(confidence, agrees, 0.7, 0.1)[:3] == (4.0, 7, 0)
    # every verdict right: the lowest threshold passes
    assert choose_threshold(confidence, np.ones(10, bool), 0.7, 0.1)[:3] == (1.0, 10, 0)
    # the 7th wrong: the first threshold tested fails, nothing is trusted
    seventh = np.array([True] * 6 + [False] + [True] * 3)
    assert choose_threshold(confidence, seventh, 0.7, 0.1) == (None, 0, 0, None)


def test_ties_in_confidence_are_covered_together() -> None:
    # four verdicts at |margin| 2 (one wrong) and eight at 1, target 0.5, delta 0.5:
    # n_min = ceil(log .5 / log .5) = 1; at 2: 1 error in 4, bound 0.386 <= 0.5 passes;
    # at 1: 1 + 6 errors in 12, bound about 0.62 > 0.5 fails -> threshold 2
    confidence = np.array([2.0] * 4 + [1.0] * 8)
    agrees = np.array([True, False, True, True] + [True, False, False, False] * 2)
    assert _upper_by_hand(1, 4, 0.5) <= 0.5 < _upper_by_hand(7, 12, 0.5)
    assert choose_threshold(confidence, agrees, 0.5, 0.5)[:3] == (2.0, 4, 1)


def _table_and_gold() -> tuple[object, Gold]:
    rows = []
    for t in range(10):  # r1 and r2 agree on t0..t5, split on t6..t9
        rows.append({"item": f"t{t}", "reviewer": "r1", "first": "A", "second": "B",
                     "winner": "first"})
        rows.append({"item": f"t{t}", "reviewer": "r2", "first": "A", "second": "B",
                     "winner": "first" if t < 6 else "second"})
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    gold = Gold({(f"t{t}", "A", "B"): 1 for t in range(10)}, {})
    return table, gold


def test_calibrate_marks_the_weak_verdicts() -> None:
    table, gold = _table_and_gold()
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)  # type: ignore[arg-type]
    # margins 1 on t0..t5 (all right), 0 on t6..t9 (ties: not agreeing);
    # target 0.6, delta 0.2: n_min = ceil(log .2 / log .6) = 4; 0 errors in 6 passes
    # (1 - 0.2^(1/6) = 0.235); with the ties 4 errors in 10 fails -> threshold 1
    g, needs = calibrate(ev.verdicts, ev.table, gold, 0.6, 0.2)
    assert g.threshold == 1.0
    assert (g.calibration_pairs, g.calibration_covered, g.covered, g.needs_review) == \
        (10, 6, 6, 4)
    assert g.coverage == pytest.approx(0.6)
    assert g.calibration_agreement == 1.0
    assert needs.tolist() == [False] * 6 + [True] * 4


def test_calibrate_refuses_bad_input() -> None:
    table, gold = _table_and_gold()
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs --exam-gold"):
        calibrate(ev.verdicts, ev.table, None, 0.8, 0.1)
    with pytest.raises(InputError, match="--target-agreement"):
        calibrate(ev.verdicts, ev.table, gold, 1.5, 0.1)
    with pytest.raises(InputError, match="--delta"):
        calibrate(ev.verdicts, ev.table, gold, 0.8, 0.0)


def test_design_effect_of_errors_that_go_together() -> None:
    # two items, both verdicts of t0 wrong, both of t1 right: MSB = 1, MSW = 0, rho = 1;
    # covering all four, m = (2^2 + 2^2) / 4 = 2: deff = 1 + (2 - 1) * 1 = 2
    agrees = np.array([False, False, True, True])
    groups = np.array([0, 0, 1, 1])
    order = np.arange(4)
    assert design_effects(agrees, groups, order, np.array([1, 3])).tolist() == [2.0, 2.0]
    # errors unrelated to the item (one wrong in each): rho clipped to 0, deff 1
    mixed = np.array([False, True, False, True])
    assert design_effects(mixed, groups, order, np.array([3])).tolist() == [1.0]


def test_label_select_draws_from_the_verdicts_that_need_review(tmp_path: Path) -> None:
    from peerreview.labels.select import abstained_pairs, select
    from peerreview.records.exchange import Submission

    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text(
        '{"item": "t1", "a": "A", "b": "B", "margin": 0.1, "needs_review": true}\n'
        '{"item": "t1", "a": "A", "b": "C", "margin": 2.0, "needs_review": false}\n'
        '{"item": "t2", "a": "B", "b": "C", "margin": 0.0, "needs_review": true}\n')
    only = abstained_pairs(verdicts)
    assert only == {("t1", "A", "B"), ("t2", "B", "C")}
    subs = [Submission(t, m, "x") for t in ("t1", "t2") for m in ("A", "B", "C")]
    units = select(subs, [], 10, repeats=0.0, only=only)
    assert {(u.item, *sorted((u.left, u.right))) for u in units} == only
    verdicts.write_text('{"item": "t1", "a": "A", "b": "B", "margin": 0.1}\n')
    with pytest.raises(InputError, match="--target-agreement"):
        abstained_pairs(verdicts)
    verdicts.write_text('{"item": 3, "a": "A", "b": "B", "needs_review": true}\n')
    with pytest.raises(InputError, match="item"):
        abstained_pairs(verdicts)


def test_rank_writes_needs_review_guarantee_and_audit_only_when_asked() -> None:
    import orjson

    from peerreview.ranking import RankOptions, rank

    rows = []
    for t in range(10):  # as in _table_and_gold: margins 1 on t0..t5, 0 on t6..t9
        rows.append({"item": f"t{t}", "reviewer": "r1", "first": "A", "second": "B",
                     "winner": "first"})
        rows.append({"item": f"t{t}", "reviewer": "r2", "first": "A", "second": "B",
                     "winner": "first" if t < 6 else "second"})
    _, gold = _table_and_gold()
    plain = rank(rows, exam_gold=gold, options=RankOptions(threshold=0.5)).files()
    assert "guarantee.json" not in plain and "audit.json" not in plain
    assert b"needs_review" not in plain["verdicts.jsonl"]
    asked = rank(rows, exam_gold=gold, options=RankOptions(
        threshold=0.5, target_agreement=0.6, delta=0.2, audit=True)).files()
    lines = [orjson.loads(x) for x in asked["verdicts.jsonl"].splitlines()]
    # r1 is right on all 10 exam pairs, r2 on 6: weights 1/1.6 and 0.6/1.6, so the
    # margins are 1 on t0..t5 and 0.625 - 0.375 = 0.25 on t6..t9, all right. n_min = 4;
    # 0 errors in 6 passes, in 10 too: the threshold is 0.25, nothing needs review.
    guarantee = orjson.loads(asked["guarantee.json"])
    assert guarantee["threshold"] == pytest.approx(0.25)
    assert (guarantee["covered"], guarantee["coverage"]) == (10, 1.0)
    assert [x["needs_review"] for x in lines] == [False] * 10
    assert plain["verdicts.jsonl"].count(b"margin") == 10
    audit = orjson.loads(asked["audit.json"])
    assert audit["top"]["leader"] == "A" and audit["top"]["items"] is None


def test_the_console_sentence() -> None:
    from peerreview.chair.guarantee import Guarantee

    g = Guarantee(0.85, 0.1, 1.5, 100, 60, 0.9, 0.12, 200, 150, 50)
    assert g.describe() == ("guaranteed agreement >= 0.85 (delta 0.1): verdicts with "
                            "|margin| >= 1.5 are trusted, coverage 75% (50 of 200 need review)")
    none = Guarantee(0.85, 0.1, None, 100, 0, None, None, 200, 0, 200)
    assert "every verdict needs review" in none.describe() and none.coverage == 0.0
