"""Escalation: with a target agreement the cascade asks a pair of the next reviewer
until its weighted margin so far reaches the threshold calibrated on the exam."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peerreview.chair.base import gather_evidence
from peerreview.cli import main
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import Judgment, PairwiseJudgment, PointwiseJudgment
from peerreview.records.gold import Gold
from peerreview.records.table import JudgmentTable, build_table
from peerreview.review.escalate import Escalation, escalation_for, exam_rows
from peerreview.review.schedule import Schedule, select

WEIGHTS = {"r1": 0.5, "r2": 0.3, "r3": 0.2}  # the exam's, normalized; r1 asked first


def both(item: str, reviewer: str, ab: str, ba: str) -> list[Judgment]:
    """A reviewer's verdicts on {A, B} in both orders ("a", "b" or "tie" each)."""
    word = {"a": "first", "b": "second", "tie": "tie"}
    flip = {"a": "second", "b": "first", "tie": "tie"}
    return [PairwiseJudgment(item, reviewer, "A", "B", word[ab]),  # type: ignore[arg-type]
            PairwiseJudgment(item, reviewer, "B", "A", flip[ba])]  # type: ignore[arg-type]


def kept(table: JudgmentTable) -> dict[str, list[str]]:
    """Item -> the reviewers of its selected judgments, one entry a judgment."""
    out: dict[str, list[str]] = {}
    for rows in (table.pairwise, table.scores):
        for t, r in zip(rows.item.tolist(), rows.reviewer.tolist(), strict=True):
            out.setdefault(table.items[t], []).append(table.reviewers[r])
    return {t: sorted(rs) for t, rs in out.items()}


def cascade(table: JudgmentTable, escalation: Escalation | None) -> dict[str, list[str]]:
    order = [table.reviewers.index(r) for r in ("r1", "r2", "r3")]
    return kept(select(table, Schedule.CASCADE, order, escalation=escalation))


# Margins by hand (w = .5, .3, .2; threshold .9):
# t1: r1 agrees with itself: 2 x .5 = 1.0 >= .9, trusted: r2 and r3 are not asked.
# t2: r1 flips (0); r2 agrees (decided, as the plain cascade stops): .6 < .9, so r3 is
#     asked: .6 + .4 = 1.0, trusted.
# t3: as t2, but r3 votes the other way: .6 - .4 = .2, undecided, below: needs review.
PAIRWISE = (both("t1", "r1", "a", "a") + both("t1", "r2", "b", "b") + both("t1", "r3", "b", "b")
            + both("t2", "r1", "a", "b") + both("t2", "r2", "a", "a") + both("t2", "r3", "a", "a")
            + both("t3", "r1", "a", "b") + both("t3", "r2", "a", "a") + both("t3", "r3", "b", "b"))


def test_a_pair_below_the_threshold_is_asked_of_the_next_reviewer() -> None:
    table = build_table(PAIRWISE)
    escalation = Escalation(WEIGHTS, 0.9)
    assert cascade(table, escalation) == {"t1": ["r1"] * 2, "t2": ["r1"] * 2 + ["r2"] * 2 +
                                          ["r3"] * 2, "t3": ["r1"] * 2 + ["r2"] * 2 + ["r3"] * 2}
    assert escalation.escalated == {("t2", "A", "B"), ("t3", "A", "B")}
    # the plain cascade stops t2 and t3 at r2
    assert cascade(table, None) == {"t1": ["r1"] * 2, "t2": ["r1"] * 2 + ["r2"] * 2,
                                    "t3": ["r1"] * 2 + ["r2"] * 2}
    # the margins the chair forms from what was asked are those computed above
    used = select(table, Schedule.CASCADE, [0, 1, 2], escalation=Escalation(WEIGHTS, 0.9))
    w = np.array([WEIGHTS[r] for r in used.reviewers])
    verdicts = gather_evidence(used, w, by_mean=False).verdicts
    assert dict(zip([used.items[t] for t in verdicts.item], verdicts.margin.round(9).tolist(),
                    strict=True)) == {"t1": 1.0, "t2": 1.0, "t3": 0.2}


def test_the_exam_rows_are_the_gold_pairs_and_their_submissions_scores() -> None:
    table = build_table(both("e1", "r1", "a", "a") + both("t1", "r1", "a", "a") + [
        PointwiseJudgment(t, "r2", m, 3.0, scale=(1, 5)) for t in ("e1", "t1")
        for m in ("A", "B", "C")])
    gold = Gold({("e1", "A", "B"): 1}, {})
    pairs, scores = exam_rows(table, gold)
    p, s = table.pairwise, table.scores
    assert [table.items[t] for t in p.item[pairs]] == ["e1", "e1"]
    assert sorted((table.items[t], table.models[m]) for t, m in
                  zip(s.item[scores], s.model[scores], strict=True)) == [("e1", "A"),
                                                                       ("e1", "B")]
    none_p, none_s = exam_rows(table, None)
    assert not none_p.any() and not none_s.any()


def test_no_threshold_sends_every_pair_down_the_whole_cascade(
        caplog: pytest.LogCaptureFixture) -> None:
    # target .9 at delta .1 needs ceil(log .1 / log .9) = 22 calibration pairs; 3 is few
    exam = build_table([j for t in ("e1", "e2", "e3") for r in WEIGHTS
                        for j in both(t, r, "a", "a")])
    gold = Gold({(t, "A", "B"): 1 for t in ("e1", "e2", "e3")}, {})
    with caplog.at_level(logging.WARNING, logger="peerreview"):
        escalation = escalation_for(exam, WEIGHTS, gold, 0.9, 0.1, by_mean=False)
    assert escalation.threshold is None
    assert "every pair goes down the whole cascade" in caplog.text
    assert cascade(build_table(PAIRWISE), escalation)["t1"] == ["r1"] * 2 + ["r2"] * 2 + \
        ["r3"] * 2
    assert escalation.facts() == {"target_agreement": 0.9, "delta": 0.1, "threshold": None,
                                  "calibration_pairs": 3, "escalated": 3}


def test_the_threshold_is_calibrated_on_the_qualified_reviewers_exam_margins() -> None:
    # Six exam pairs, gold A > B. r1 (.6) right in both orders on all; r2 (.4) on e1-e5,
    # split on e6; r3 (weight 0, not qualified) always wrong. Margins: e1-e5 2(.6 + .4)
    # = 2, e6 1.2; all agree. Target .7 at delta .3 needs 4 pairs; with no error the
    # bound on 5 is 1 - .3^(1/5) = .21 and on 6 is .18, both <= .3: the threshold is 1.2.
    items = [f"e{k}" for k in range(1, 7)]
    exam = build_table([j for t in items for j in
                        both(t, "r1", "a", "a") + both(t, "r2", "a", "a" if t != "e6" else "b")
                        + both(t, "r3", "b", "b")])
    gold = Gold({(t, "A", "B"): 1 for t in items}, {})
    escalation = escalation_for(exam, {"r1": 0.6, "r2": 0.4, "r3": 0.0}, gold, 0.7, 0.3,
                                by_mean=False)
    assert escalation.threshold == pytest.approx(1.2, abs=1e-12)
    assert escalation.facts()["calibration_pairs"] == 6


def test_pointwise_margins_are_the_weighted_mean_scores_difference() -> None:
    # u1: r1 scores A 4, B 3: margin 1 < 1.5, so r2 is asked: S_A = (.5 x 4 + .3 x 5) / .8
    # = 4.375, S_B = (.5 x 3 + .3 x 2) / .8 = 2.625, margin 1.75 >= 1.5: r3 is not.
    # u2: r1 scores A 5, B 3: margin 2, trusted at once.
    scores = {("u1", "r1"): (4, 3), ("u1", "r2"): (5, 2), ("u1", "r3"): (1, 5),
              ("u2", "r1"): (5, 3), ("u2", "r2"): (1, 5), ("u2", "r3"): (1, 5)}
    table = build_table([PointwiseJudgment(t, r, m, float(s), scale=(1, 5))
                         for (t, r), pair in scores.items()
                         for m, s in zip(("A", "B"), pair, strict=True)])
    escalation = Escalation(WEIGHTS, 1.5, by_mean=True)
    assert cascade(table, escalation) == {"u1": ["r1"] * 2 + ["r2"] * 2, "u2": ["r1"] * 2}
    assert escalation.escalated == {("u1", "A", "B")}
    assert cascade(table, None) == {"u1": ["r1"] * 2, "u2": ["r1"] * 2}
    # below 1.75 nothing more is asked; above it, r3 too
    assert cascade(table, Escalation(WEIGHTS, 1.8, by_mean=True))["u1"] == \
        ["r1"] * 2 + ["r2"] * 2 + ["r3"] * 2


# --- Live and recorded: the same judgments, escalated the same way. Three reviewers
# over the stub: judge-1 and judge-2 always right, long-1 length-biased (a seeded
# coin), so less accurate on the exam and asked last. Twins the judges cannot tell
# apart tie. Exam gold on twelve items (36 pairs).

TARGET = {"target_agreement": 0.7, "delta": 0.3}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full run, a plain cascade, a cascade and an adaptive schedule with a target
    agreement, one task."""
    import yaml

    from peerreview.testing.stub import StubServer
    from tests.conftest import pw, write_jsonl
    from tests.livetask import write_config, write_task

    tmp = tmp_path_factory.mktemp("escalate")
    write_task(tmp, n_items=40)
    write_jsonl(tmp / "gold.jsonl", [pw(f"t{i}", "human", a, b, "first") for i in range(12)
                                     for a, b in (("strong", "medium"), ("medium", "weak"),
                                                  ("strong", "weak"))])
    with StubServer() as server:
        config = write_config(tmp, server.url, reviewers={"judge-1": {}, "judge-2": {},
                                                          "long-1": {}})
        data = yaml.safe_load(config.read_text())
        for twin in ("twin-1", "twin-2"):
            data["models"][twin] = {**data["models"]["weak"], "model": twin}
        data["evaluatees"] += ["twin-1", "twin-2"]
        for name, schedule, chair in (("full", "full", {}), ("plain", "cascade", {}),
                                      ("live", "cascade", TARGET),
                                      ("adaptive", "adaptive", TARGET)):
            data["review"]["schedule"] = schedule
            data["chair"] = {"bootstrap": 0, **chair}
            config.write_text(yaml.safe_dump(data))
            assert main(["run", str(config), "--out", str(tmp / name), "--quiet"]) == 0
    return tmp


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("schedule", ["cascade", "adaptive"])
def test_a_live_cascade_escalates_as_the_recorded_one(runs: Path, schedule: str) -> None:
    folder = runs / ("live" if schedule == "cascade" else "adaptive")
    recorded = rank([runs / "full" / "judgments.jsonl"], exam_gold=runs / "gold.jsonl",
                    options=RankOptions(schedule=Schedule(schedule), per_reviewer=False,
                                        **TARGET))  # type: ignore[arg-type]
    kept_table = recorded.evidence.table
    p = kept_table.pairwise
    selected = {(kept_table.items[t], kept_table.reviewers[r],
                 kept_table.models[a if f == 1 else b], kept_table.models[b if f == 1 else a])
                for t, r, a, b, f in zip(p.item.tolist(), p.reviewer.tolist(), p.a.tolist(),
                                         p.b.tolist(), p.a_first.tolist(), strict=True)}
    asked = {(j["item"], j["reviewer"], j["first"], j["second"])
             for j in _lines(folder / "judgments.jsonl")}
    facts = json.loads((folder / "run.json").read_text())["escalation"]
    weights = {r["reviewer"]: r["weight"] for r in
               json.loads((folder / "reviewers.json").read_text())}
    # The same judgments, to the last order and reviewer, the exam's too: every
    # candidate sat it, and the recorded cascade keeps it as the live run's files hold it.
    assert selected == asked
    cost = json.loads((folder / "cost.json").read_text())
    assert cost["judgments_used"] == recorded.judgments_used
    assert recorded.guarantee is not None
    assert recorded.guarantee.threshold == pytest.approx(facts["threshold"], rel=1e-9)
    assert recorded.guarantee.needs_review == \
        json.loads((folder / "guarantee.json").read_text())["needs_review"]
    assert f"escalation: {facts['escalated']} pair(s) asked of more reviewers until |margin| " \
        f">= {facts['threshold']:.4g} (calibrated on the exam)" in recorded.notes
    if schedule == "adaptive":  # it stops asking once the ranking is settled
        assert 0 < facts["escalated"] < 9 * 40
        return
    # long-1 split an exam pair: the lowest exam margin, judge-1's and judge-2's votes,
    # is the threshold; one judge alone (2 w) is below it, both reach it. So every pair
    # the twins do not tie goes to judge-2 and stops there: 9 pairs on each of 40 items.
    both_judges = 2 * (weights["judge-1"] + weights["judge-2"])
    assert facts["threshold"] == pytest.approx(both_judges, rel=1e-9)
    assert 2 * weights["judge-1"] < facts["threshold"]
    assert facts["escalated"] == 9 * 40
    assert facts["calibration_pairs"] == 36
    assert json.loads((runs / "live" / "guarantee.json").read_text())["threshold"] == \
        pytest.approx(facts["threshold"], rel=1e-9)
    by_reviewer = {r: sum(1 for j in asked if j[1] == r) for r in weights}
    # long-1 judged only the twins' tie (2 orders on 40 items) and the exam
    assert by_reviewer["long-1"] == 2 * 40 + 2 * 36


def test_escalation_leaves_fewer_verdicts_needing_review(runs: Path) -> None:
    """The same three reviewers, the same threshold: the plain cascade stops most pairs
    at judge-1, below it; escalation takes them to judge-2, at it."""
    plain = rank([runs / "plain" / "judgments.jsonl"], exam_gold=runs / "gold.jsonl",
                 options=RankOptions(per_reviewer=False, **TARGET))  # type: ignore[arg-type]
    live = json.loads((runs / "live" / "guarantee.json").read_text())
    assert plain.guarantee is not None
    assert plain.guarantee.threshold == pytest.approx(live["threshold"], rel=1e-9)
    # per item 10 pairs: 3 of strong, medium and weak (the exam's gold pairs on t0-t11,
    # judged by everyone), 6 of a twin and another, 1 of the twins (a tie).
    # Plain: on the 12 exam items 7 below, on the 28 others 10 below. Escalated: the tie.
    assert plain.guarantee.needs_review == 12 * 7 + 28 * 10
    assert live["needs_review"] == 40
    flagged = [v for v in _lines(runs / "live" / "verdicts.jsonl") if v["needs_review"]]
    assert {(v["a"], v["b"]) for v in flagged} == {("twin-1", "twin-2")}
    calls = {name: json.loads((runs / name / "cost.json").read_text())["review_calls"]
             for name in ("plain", "live", "full")}
    assert calls["plain"] < calls["live"] < calls["full"]


def test_a_target_without_exam_gold_is_refused_before_the_review(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from peerreview.testing.stub import StubServer
    from tests.livetask import write_config, write_task

    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False)
        data = yaml.safe_load(config.read_text())
        data["chair"].update(TARGET)
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
        reviewed = sum(n for m, n in server.state.calls.items() if m.startswith("judge"))
    assert "chair.target_agreement calibrates on the exam" in capsys.readouterr().err
    assert reviewed == 0
