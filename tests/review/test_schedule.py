"""Schedules on recorded judgments: which judgments each would have asked for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peerreview.chair.base import debiased_votes
from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import JudgmentSet, PairwiseJudgment
from peerreview.records.gold import Gold
from peerreview.records.table import build_table
from peerreview.review.schedule import Schedule, decided, one_order_first
from tests.conftest import pw, write_jsonl


def both(item: str, reviewer: str, a: str, b: str, ab: str, ba: str) -> list[PairwiseJudgment]:
    """A reviewer's verdicts on a pair in both orders ("a", "b" or "tie" each)."""
    word = {"a": "first", "b": "second", "tie": "tie"}
    flip = {"a": "second", "b": "first", "tie": "tie"}
    return [PairwiseJudgment(item, reviewer, a, b, word[ab]),  # type: ignore[arg-type]
            PairwiseJudgment(item, reviewer, b, a, flip[ba])]  # type: ignore[arg-type]


# r1 is the most accurate on the exam, then r2, then r3 (exam items e1-e3).
EXAM = [j for t in ("e1", "e2", "e3") for j in
        both(t, "r1", "A", "B", "a", "a") + both(t, "r2", "A", "B", "a", "a" if t != "e3"
                                                 else "b") + both(t, "r3", "A", "B", "a", "b")]
EXAM_GOLD = Gold({(t, "A", "B"): 1 for t in ("e1", "e2", "e3")}, {})
CASES = (
    both("t1", "r1", "A", "B", "a", "a")      # r1 consistent: decided, 2 judgments
    + both("t1", "r2", "A", "B", "b", "b") + both("t1", "r3", "A", "B", "b", "b")
    + both("t2", "r1", "A", "B", "a", "b")    # r1 flips: r2 too (4); r2 consistent: stop
    + both("t2", "r2", "A", "B", "b", "b") + both("t2", "r3", "A", "B", "a", "a")
    + both("t3", "r1", "A", "B", "a", "tie")  # r1 weak (+1), r2 flips (+1): r3 (6)
    + both("t3", "r2", "A", "B", "a", "b") + both("t3", "r3", "A", "B", "b", "b")
)


def ranked(schedule: Schedule, **kw: object) -> tuple[int, int, dict[str, float]]:
    result = rank(JudgmentSet(EXAM + CASES, [], []), exam_gold=EXAM_GOLD,
                  options=RankOptions(schedule=schedule, exclude_exam_items=True,
                                      threshold=0.0, per_reviewer=False, **kw))  # type: ignore[arg-type]
    v = result.evidence.verdicts
    margins = {result.evidence.table.items[i]: m for i, m in
               zip(v.item.tolist(), v.margin.tolist(), strict=True)}
    return result.judgments_used, result.judgments_available, margins


def test_cascade_goes_down_only_while_undecided() -> None:
    used, available, margins = ranked(Schedule.CASCADE)
    assert available == 18 and used == 2 + 4 + 6
    # Exam accuracies 1, 5/6, 1/2: linear weights 3/7, 5/14, 3/14.
    # t1: r1 alone; t2: r1's flip (0) and r2's -2; t3: r1 +1, r2 0, r3 -2, a tie.
    assert margins["t1"] == pytest.approx(2 * 3 / 7)
    assert margins["t2"] == pytest.approx(-2 * 5 / 14)
    assert margins["t3"] == pytest.approx(3 / 7 - 2 * 3 / 14)


def test_full_uses_everything_and_the_budget_caps_it() -> None:
    assert ranked(Schedule.FULL)[:2] == (18, 18)
    assert ranked(Schedule.FULL, budget=12)[0] == 12  # two whole items of six
    assert ranked(Schedule.CASCADE, budget=3)[0] == 2  # r1 on t1; t2's r1 pair exceeds it


def test_one_order_keeps_one_order_per_reviewer_and_pair() -> None:
    used, available, _ = ranked(Schedule.ONE_ORDER)
    assert (used, available) == (9, 18)


def test_decided() -> None:
    assert decided([1, 1], 2) and decided([1, -1, -1, -1], 2) and not decided([1, 0], 2)
    assert decided([-1], 1) and not decided([1, -1], 1)


def test_one_order_coin_is_stable_and_fair() -> None:
    # Pinned: the first byte of SHA-256("0\x1ft0\x1fA\x1fB\x1fr") is 0xc2, even, so A
    # is shown first on t0. A resumed run on another machine must ask the same orders,
    # so these literals must never change.
    first = [one_order_first(f"t{k}", "A", "B", "r", 0) for k in range(16)]
    assert [int(c) for c in first] == [1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    by_seed = [one_order_first("t0", "A", "B", "r", s) for s in range(8)]
    assert [int(c) for c in by_seed] == [1, 0, 1, 1, 1, 1, 0, 0]
    coins = [one_order_first(f"t{k}", "A", "B", "r", 0) for k in range(2000)]
    assert 0.45 < np.mean(coins) < 0.55


def test_debiased_votes_by_hand() -> None:
    table = build_table([PairwiseJudgment("t1", "r", "A", "B", "first"),
                         PairwiseJudgment("t2", "r", "B", "A", "first"),
                         PairwiseJudgment("t3", "r", "A", "B", "tie"),
                         PairwiseJudgment("t4", "r", "A", "B", None)])
    votes = table.votes()
    # q = 0.75: a first-shown win is worth 2 (1 - .75) = .5, a second-shown win 1.5.
    value = debiased_votes(votes, np.array([0.75]))
    by_item = dict(zip(votes.item.tolist(), value.tolist(), strict=True))
    assert by_item == {0: 0.5, 1: -0.5, 2: 0.0, 3: 0.0}
    # An unbiased reviewer keeps its votes; one that always picks the first gives none.
    assert list(debiased_votes(votes, np.array([0.5]))) == [1.0, -1.0, 0.0, 0.0]
    assert list(debiased_votes(votes, np.array([1.0]))) == [0.0, 0.0, 0.0, 0.0]


def test_one_order_removes_a_reviewer_s_position_bias() -> None:
    """A reviewer that favors the first shown, asked once per pair: the bias fit
    turns its lopsided votes back into the true order A > B > C."""
    rng = np.random.default_rng(4)
    judgments = []
    strength = {"A": 1.0, "B": 0.0, "C": -1.0}
    for t in range(300):
        for x, y in (("A", "B"), ("B", "C"), ("A", "C")):
            first, second = (x, y) if rng.random() < 0.5 else (y, x)
            for r, bias in (("fair", 0.0), ("biased", 2.0)):
                p = 1 / (1 + np.exp(-(strength[first] - strength[second] + bias)))
                judgments.append(PairwiseJudgment(f"t{t}", r, first, second,
                                                  "first" if rng.random() < p else "second"))
    result = rank(JudgmentSet(judgments, [], []),
                  options=RankOptions(schedule=Schedule.ONE_ORDER, per_reviewer=False))
    assert [row.model for row in result.leaderboard] == ["A", "B", "C"]
    assert result.judgments_used == result.judgments_available == len(judgments)


def test_vicuna80_cascade_halves_the_judgments_at_full_fidelity(
        imported: dict[str, Path]) -> None:
    d = imported["vicuna80"]
    results = {s: rank([d / "judgments.jsonl"], exam_gold=d / "gold.jsonl",
                       gold=d / "gold.jsonl",
                       options=RankOptions(schedule=s, per_reviewer=False))
               for s in (Schedule.FULL, Schedule.CASCADE)}
    full, cascade = results[Schedule.FULL], results[Schedule.CASCADE]
    assert cascade.judgments_used / cascade.judgments_available < 0.5
    assert full.agreement is not None and cascade.agreement is not None
    assert abs(cascade.agreement.pairwise_accuracy - full.agreement.pairwise_accuracy) < 0.005


@pytest.mark.parametrize(("args", "words"), [
    (["--schedule", "greedy"], "invalid choice"),
    (["--schedule", "cascade"], "orders reviewers by exam accuracy"),
    (["--budget", "0"], "judges nothing"),
])
def test_bad_schedules_exit_2(tmp_path: Path, capsys, args: list[str], words: str) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", [pw("t1", "r", "A", "B", "first")])
    argv = ["rank", "--judgments", str(path), "--out", str(tmp_path / "o"), *args]
    if "greedy" in args:  # argparse refuses the choice itself
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    else:
        assert main(argv) == 2
    assert words in " ".join(capsys.readouterr().err.split())


def test_cost_json_reports_the_schedule(tmp_path: Path, capsys) -> None:
    rows = [pw(f"t{k}", r, a, b, "first") for k in range(3) for r in ("x", "y")
            for a, b in (("A", "B"), ("B", "A"))]
    path = write_jsonl(tmp_path / "j.jsonl", rows)
    assert main(["rank", "--judgments", str(path), "--schedule", "one-order", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 0
    cost = json.loads((tmp_path / "o" / "cost.json").read_text())
    assert cost == {"judgments_used": 6, "judgments_available": 12, "schedule": "one-order"}


def _pairwise_set(table_rows: list[dict[str, object]], reviewers: set[str]) -> set[tuple]:
    return {(j["item"], j["reviewer"], j["first"], j["second"]) for j in table_rows
            if "first" in j and j["reviewer"] in reviewers}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A full run (every judgment) of 40 items and five evaluatees, two of them twins
    the stub's judges cannot tell apart (ties), made once for the schedules replayed
    on it: its folder (the task, the run in ``full``) and its config."""
    import yaml

    from peerreview.testing.stub import StubServer
    from tests.livetask import write_config, write_task

    folder = tmp_path_factory.mktemp("schedules")
    write_task(folder, n_items=40)
    with StubServer() as server:
        config = write_config(folder, server.url)
        data = yaml.safe_load(config.read_text())
        for twin in ("twin-1", "twin-2"):
            data["models"][twin] = {**data["models"]["weak"], "model": twin}
        data["evaluatees"] += ["twin-1", "twin-2"]
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(folder / "full"), "--quiet"]) == 0
    return folder, data


@pytest.mark.parametrize("schedule", ["cascade", "adaptive"])
def test_a_live_schedule_asks_what_the_recorded_one_selects(
        full_run: tuple[Path, dict[str, Any]], tmp_path: Path, schedule: str) -> None:
    """The cascade and the adaptive schedule are one function fed two ways: a live run
    asks exactly the judgments that the schedule, replayed on the full run's
    recording, keeps. Two evaluatees the stub's judges cannot tell apart (ties)
    send their pair down the cascade."""
    import yaml

    from peerreview.testing.stub import StubServer

    folder, data = full_run
    for name in ("items.jsonl", "gold.jsonl"):
        shutil.copy(folder / name, tmp_path / name)
    with StubServer() as server:
        models = {m: {**c, "base_url": server.url} for m, c in data["models"].items()}
        live = {**data, "models": models, "review": {**data["review"], "schedule": schedule}}
        config = tmp_path / "run.yaml"
        config.write_text(yaml.safe_dump(live))
        assert main(["run", str(config), "--out", str(tmp_path / "live"), "--quiet"]) == 0
    recorded = rank([folder / "full" / "judgments.jsonl"], exam_gold=tmp_path / "gold.jsonl",
                    options=RankOptions(schedule=Schedule(schedule), per_reviewer=False))
    kept = recorded.evidence.table
    p = kept.pairwise
    selected = {(kept.items[t], kept.reviewers[r], kept.models[a if f == 1 else b],
                 kept.models[b if f == 1 else a])
                for t, r, a, b, f in zip(p.item.tolist(), p.reviewer.tolist(), p.a.tolist(),
                                         p.b.tolist(), p.a_first.tolist(), strict=True)}
    asked = _pairwise_set([json.loads(line) for line in (
        tmp_path / "live" / "judgments.jsonl").read_text().splitlines()], {"judge-1",
                                                                           "judge-2"})
    live_cost = json.loads((tmp_path / "live" / "cost.json").read_text())
    gold = {"strong", "medium", "weak"}  # the exam's pairs, on t0 and t1 (tests/livetask.py)
    # The same questions, to the last order and reviewer; the live file also holds the
    # exam, which every candidate sat.
    assert selected <= asked
    assert all(t in ("t0", "t1") and {x, y} <= gold for t, _, x, y in asked - selected)
    assert live_cost["review_calls"] == recorded.judgments_used
    assert live_cost["review_calls"] < live_cost["review_calls_full_schedule"]


def test_baseline_mode_asks_every_model_against_one_both_orders(tmp_path: Path) -> None:
    """review: {pairs: baseline}: N - 1 pairs an item instead of N(N - 1)/2, and the
    same pairs as rank --baseline keeps of the full run."""
    import yaml

    from peerreview.testing.stub import StubServer
    from tests.livetask import EVALUATEES, write_config, write_task

    write_task(tmp_path, n_items=10)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False)
        data = yaml.safe_load(config.read_text())
        data["review"].update(pairs="baseline", baseline="medium")
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "live"), "--quiet"]) == 0
        judged = [json.loads(line) for line in
                  (tmp_path / "live" / "judgments.jsonl").read_text().splitlines()]
        assert server.state.calls["judge-1"] == 10 * 2 * 2  # (3 - 1) pairs x 2 orders
        data["review"] = {"mode": "pairwise"}
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "full"), "--quiet"]) == 0
    assert all("medium" in (j["first"], j["second"]) for j in judged)
    cost = json.loads((tmp_path / "live" / "cost.json").read_text())
    assert cost["review_calls"] == 2 * 10 * 4 and cost["review_calls_full_schedule"] == 2 * 10 * 6
    board = [r["model"] for r in json.loads((tmp_path / "live" / "leaderboard.json").read_text())]
    assert board == EVALUATEES  # win rate against the baseline orders them all
    recorded = rank([tmp_path / "full" / "judgments.jsonl"],
                    options=RankOptions(baseline="medium", per_reviewer=False))
    assert recorded.judgments_used == len(judged)
    assert recorded.judgments_available == 2 * 10 * 6  # 2 reviewers, 6 ordered pairs


def test_a_baseline_no_judgment_names_is_an_input_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", [pw("t1", "r", "A", "B", "first")])
    with pytest.raises(InputError, match="no judgment compares the baseline 'Z'"):
        rank([path], options=RankOptions(baseline="Z"))


def test_the_pointwise_cascade_asks_live_what_it_keeps_recorded(tmp_path: Path) -> None:
    """``cascade_scores`` fed two ways: a live 5-level run under the cascade scores
    exactly the (item, reviewer, model) that the cascade keeps when replayed on the
    full run's recording; the stub's 1-5 scores tie often, so pairs go down the line."""
    import yaml

    from peerreview.testing.stub import StubServer
    from tests.livetask import write_config, write_task

    write_task(tmp_path, n_items=30)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, mode="5-level")
        assert main(["run", str(config), "--out", str(tmp_path / "full"), "--quiet"]) == 0
        data = yaml.safe_load(config.read_text())
        data["review"]["schedule"] = "cascade"
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "live"), "--quiet"]) == 0
    recorded = rank([tmp_path / "full" / "judgments.jsonl"], exam_gold=tmp_path / "gold.jsonl",
                    options=RankOptions(schedule=Schedule.CASCADE, per_reviewer=False))
    kept = recorded.evidence.table
    s = kept.scores
    selected = {(kept.items[t], kept.reviewers[r], kept.models[m])
                for t, r, m in zip(s.item.tolist(), s.reviewer.tolist(), s.model.tolist(),
                                   strict=True)}
    lines = [json.loads(line) for line in
             (tmp_path / "live" / "judgments.jsonl").read_text().splitlines()]
    asked = {(j["item"], j["reviewer"], j["model"]) for j in lines if "model" in j}
    full = {(j["item"], j["reviewer"], j["model"]) for j in (
        json.loads(line) for line in
        (tmp_path / "full" / "judgments.jsonl").read_text().splitlines()) if "model" in j}
    # The live file also holds the exam (t0, t1), which every candidate sat.
    assert selected <= asked
    assert all(t in ("t0", "t1") for t, _, _ in asked - selected)
    review = {k for k in selected if k[0] not in ("t0", "t1")}
    assert 0 < len(review) < len({k for k in full if k[0] not in ("t0", "t1")})
    live_cost = json.loads((tmp_path / "live" / "cost.json").read_text())
    assert live_cost["review_calls"] < live_cost["review_calls_full_schedule"]
