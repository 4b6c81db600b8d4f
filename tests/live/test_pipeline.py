"""Live runs against a real OpenAI-compatible server on 127.0.0.1 (peerreview.testing.stub)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import EVALUATEES, expected_calls, write_config, write_task
from tests.spawned import start_cli

pytestmark = pytest.mark.slow  # seconds of real processes: run first (conftest)

SAME_FILES = ["leaderboard.json", "reviewers.json", "verdicts.jsonl", "judgments.jsonl",
              "submissions.jsonl"]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def task(tmp_path: Path) -> Path:
    write_task(tmp_path)
    return tmp_path


def board(out: Path) -> list[str]:
    return [row["model"] for row in json.loads((out / "leaderboard.json").read_text())]


def test_full_run_ranks_the_known_order_and_makes_each_call_once(stub, task, capsys):
    config = write_config(task, stub.url)
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    out = task / "out"
    assert board(out) == EVALUATEES
    assert sum(stub.state.calls.values()) == expected_calls(4, 2)
    reviewers = {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}
    assert reviewers["judge-1"]["exam_accuracy"] == 1.0 and reviewers["judge-1"]["qualified"]
    judgments = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    assert len(judgments) == 2 * 6 * 4
    assert all(j["winner"] in ("first", "second") for j in judgments)
    submissions = (out / "submissions.jsonl").read_text().splitlines()
    assert len(submissions) == 3 * 4
    assert (out / "run.sqlite").exists() and (out / "report.html").exists()
    # Again on the same folder: every call comes from the store.
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    assert sum(stub.state.calls.values()) == expected_calls(4, 2)
    assert json.loads((out / "cost.json").read_text())["calls_stored"] > 0


def test_a_failed_exam_keeps_the_reviewer_out_of_the_review(stub, task):
    # judge-bad reads every answer upside down through garbage: abstentions only (0.5).
    stub.state.faults["judge-bad"] = "garbage"
    config = write_config(task, stub.url, reviewers={"judge-1": {}, "judge-bad": {}})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    reviewers = {r["reviewer"]: r for r in
                 json.loads((task / "out" / "reviewers.json").read_text())}
    assert reviewers["judge-bad"]["qualified"] is False
    assert reviewers["judge-bad"]["abstentions"] == reviewers["judge-bad"]["judgments"] == 12
    # 12 exam questions, each asked once and re-asked twice; no review questions.
    assert stub.state.calls["judge-bad"] == 12 * 3
    judgments = (task / "out" / "judgments.jsonl").read_text()
    assert "hard to say" in judgments  # the raw answer of an abstention is kept


def test_an_answer_read_after_one_reask(stub, task):
    stub.state.faults["judge-1"] = "garbage-once"
    config = write_config(task, stub.url, reviewers={"judge-1": {}})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    assert board(task / "out") == EVALUATEES
    assert stub.state.calls["judge-1"] == 2 * 6 * 4  # each question asked twice


def test_structured_output_is_asked_for_and_read(stub, task):
    config = write_config(task, stub.url, reviewers={"judge-1": {"structured_output": True}})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    raw = [json.loads(line)["raw"] for line in
           (task / "out" / "judgments.jsonl").read_text().splitlines()]
    assert all(r.startswith('{"winner"') for r in raw)
    assert board(task / "out") == EVALUATEES


@pytest.mark.parametrize("fault", ["429", "500", "stall", "drop"])
def test_transient_faults_are_retried(stub, task, fault, monkeypatch):
    stub.state.faults["judge-1"] = fault
    stub.state.stall_s = 3.0  # past the timeout (the stub ends its stalls when it stops)
    waits: list[float] = []

    async def pause(seconds: float) -> None:  # the retries' pauses, recorded, not slept
        waits.append(seconds)

    monkeypatch.setattr("peerreview.models.endpoint.sleep", pause)
    # Every question in flight at once: the stalls time out together, not four by four.
    config = write_config(task, stub.url, reviewers={"judge-1": {"timeout_s": 0.5,
                                                                 "concurrency": 24}},
                          model={"max_retries": 2})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    assert board(task / "out") == EVALUATEES
    assert stub.state.calls["judge-1"] == 2 * 6 * 4  # every question: one fault, one answer
    assert len(waits) == 6 * 4  # one pause before each question's second attempt
    if fault == "429":  # Retry-After: 1 was honored, not the backoff
        assert waits == [1.0] * (6 * 4)
    else:  # the backoff (a millisecond here: tests/conftest.py's quick_retries)
        assert max(waits) < 0.01


def test_persistent_500s_fail_naming_the_endpoint_and_keep_what_completed(stub, task, capsys):
    stub.state.faults["judge-1"] = "500"
    stub.state.fault_attempts = 99
    config = write_config(task, stub.url, reviewers={"judge-1": {}}, model={"max_retries": 1})
    out = task / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 500" in err and stub.url in err and "run again" in err
    assert not (out / "leaderboard.json").exists()  # nothing half-written
    made = sum(stub.state.calls.values())
    stub.state.faults.clear()
    # Calls sent max_retries + 1 times are out of attempts: retried only when asked.
    assert main(["run", str(config), "--out", str(out), "--quiet", "--retry-failed"]) == 0
    # The submissions were kept: only the reviewer's calls are made again.
    assert sum(stub.state.calls.values()) - made == 6 * 4
    assert board(out) == EVALUATEES


def test_missing_key_variable_fails_before_any_call(stub, task, capsys, monkeypatch):
    monkeypatch.delenv("PEERREVIEW_TEST_KEY", raising=False)
    config = write_config(task, stub.url, model={"api_key_env": "PEERREVIEW_TEST_KEY"})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 2
    assert "$PEERREVIEW_TEST_KEY" in capsys.readouterr().err
    assert sum(stub.state.calls.values()) == 0


def test_the_key_never_reaches_the_store_or_outputs(stub, task, monkeypatch):
    secret = "sk-do-not-store-4f9a"
    monkeypatch.setenv("PEERREVIEW_TEST_KEY", secret)
    config = write_config(task, stub.url, model={"api_key_env": "PEERREVIEW_TEST_KEY"})
    out = task / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_unreachable_endpoint_fails_naming_it(task, capsys):
    url = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    config = write_config(task, url, model={"max_retries": 0})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    for model in ("strong", "medium", "weak", "judge-1", "judge-2"):
        assert f"model '{model}': cannot connect to {url}" in err
    assert "nothing to rank" in err
    assert not (task / "out" / "leaderboard.json").exists()


def test_long_prompts_are_truncated_counted_and_reported(tmp_path):
    write_task(tmp_path, input_chars=3000)
    with StubServer(StubState(max_context=400)) as server:
        config = write_config(tmp_path, server.url, model={"context_tokens": 400,
                                                          "max_tokens": 64})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        cost = json.loads((tmp_path / "out" / "cost.json").read_text())
        assert cost["truncated_prompts"] == 3 * 4 + 2 * 6 * 4  # every prompt was too long
        # With no context limit configured, the endpoint refuses: a failed run.
        config = write_config(tmp_path, server.url, model={"max_tokens": 64})
        assert main(["run", str(config), "--out", str(tmp_path / "o2"), "--quiet"]) == 1


def test_bad_config_names_the_yaml_path_and_line(stub, task, capsys):
    config = write_config(task, stub.url)
    text = config.read_text().replace("concurrency: 4", "concurency: 4", 1)
    config.write_text(text)
    line = text.splitlines().index(next(s for s in text.splitlines() if "concurency" in s)) + 1
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"run.yaml:{line}:" in err and "concurency" in err and "unknown key" in err


def test_dry_run_makes_no_call(stub, task, capsys):
    config = write_config(task, stub.url)
    assert main(["run", str(config), "--out", str(task / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert sum(stub.state.calls.values()) == 0 and not (task / "out").exists()
    title = next(line for line in out.splitlines() if "Planned calls" in line)
    assert "expected" not in title  # the full schedule's calls are counted
    rows = table_rows(out)
    # Review: 4 items x 6 ordered pairs = 24 per reviewer; submissions: 4 per evaluatee.
    assert rows[("judge-1", "review")][0] == "24" and rows[("judge-2", "review")][0] == "24"
    assert rows[("strong", "submissions")][0] == "4"
    assert rows[("total", "")][0] == str(sum(int(r[0]) for k, r in rows.items()
                                             if k[0] != "total"))


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """A rich table's body rows by their first two cells, the other cells after."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) >= 3 and cells[0] and not set(cells[0]) <= set("━─┏┡└╇╋"):
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return int(con.execute("SELECT COUNT(response) FROM calls").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("schedule", ["full", "cascade"])
def test_resume_after_kill_9_repeats_no_completed_call_and_matches(tmp_path, schedule):
    write_task(tmp_path, n_items=6)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, model={"concurrency": 2},
                              review={"mode": "pairwise", "schedule": schedule})
        whole = tmp_path / "whole"
        assert main(["run", str(config), "--out", str(whole), "--quiet"]) == 0
        total = sum(server.state.calls.values())
        server.state.calls.clear()

        # The killed run: half its calls answered, the next ones held in flight.
        server.state.answered, server.state.hold_after = 0, total // 2
        out = tmp_path / "killed"
        proc = start_cli(["run", str(config), "--out", str(out), "--quiet"],
                         env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        deadline = time.time() + 60
        while _stored(out / "run.sqlite") < total // 2 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stored = _stored(out / "run.sqlite")
        assert 0 < stored < total
        server.state.hold_after = None
        before = sum(server.state.calls.values())
        assert before > stored  # calls were in flight when it was killed
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
        # Exactly the calls that were not stored are made again: no completed call.
        assert sum(server.state.calls.values()) - before == total - stored
    for name in SAME_FILES:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name


def test_status_shows_calls_per_model(stub, task, capsys):
    config = write_config(task, stub.url)
    out = task / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    # The table's title, however many lines a long folder name wraps it to.
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Run "))
    end = next(i for i in range(start, len(lines)) if lines[i].lstrip()[:1] in "┏┌╭━─")
    title = " ".join(line.strip() for line in lines[start:end])
    assert title.split(": ", 1)[1].startswith("finished;") and "review 48/48" in title
    rows = {k[0]: v for k, v in table_rows(text).items()}
    assert rows["judge-1"][0] == "24" and rows["judge-1"][1] == "0"  # calls, failed
    assert rows["strong"][0] == "4"
    assert main(["status", str(task / "nowhere")]) == 2


def test_label_free_qualification_in_a_run(stub, task):
    stub.state.faults["judge-bad"] = "garbage"
    config = write_config(task, stub.url, exam=False, reviewers={
        "judge-1": {}, "judge-2": {}, "judge-bad": {"max_retries": 0}},
        review={"mode": "pairwise", "reasks": 0})
    text = config.read_text() + "exam:\n  qualification: latent\n"
    config.write_text(text)
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    reviewers = {r["reviewer"]: r for r in
                 json.loads((task / "out" / "reviewers.json").read_text())}
    assert reviewers["judge-1"]["latent_reliability"] > 0.99
    assert reviewers["judge-bad"]["latent_reliability"] == 0.5  # abstentions only: half
    assert not reviewers["judge-bad"]["qualified"]
    assert reviewers["judge-1"]["exam_accuracy"] is None
    assert board(task / "out") == EVALUATEES


def test_cascade_makes_only_the_calls_it_needs(stub, task):
    config = write_config(task, stub.url, review={"mode": "pairwise", "schedule": "cascade"})
    out = task / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    # Both judges pass the exam with 1.0; judge-1 comes first and decides every pair
    # in its two orders. The exam already asked both judges about items t0 and t1.
    exam = 2 * 6 * 2
    review_new = 6 * 2  # judge-1 on items t2, t3
    assert sum(stub.state.calls.values()) == 3 * 4 + exam + review_new
    assert stub.state.calls["judge-2"] == 12  # its exam only
    cost = json.loads((out / "cost.json").read_text())
    assert cost["review_calls"] == 24 and cost["calls_saved"] == 24
    assert board(out) == EVALUATEES


def test_one_order_asks_each_pair_once_per_reviewer(stub, task):
    config = write_config(task, stub.url, exam=False,
                          review={"mode": "pairwise", "schedule": "one-order"})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 0
    assert stub.state.calls["judge-1"] == stub.state.calls["judge-2"] == 3 * 4
    assert board(task / "out") == EVALUATEES


def test_budget_stops_the_review(stub, task, capsys):
    config = write_config(task, stub.url, exam=False)
    assert main(["run", str(config), "--out", str(task / "o1"), "--budget", "12",
                 "--quiet"]) == 2
    assert "leaves nothing for the review" in " ".join(capsys.readouterr().err.split())
    assert sum(stub.state.calls.values()) == 0
    assert main(["run", str(config), "--out", str(task / "o2"), "--budget", "30",
                 "--quiet"]) == 0
    assert sum(stub.state.calls.values()) == 30  # 12 submissions, then 18 review calls
    assert json.loads((task / "o2" / "cost.json").read_text())["review_calls"] == 18


def test_cascade_without_exam_gold_is_refused(stub, task, capsys):
    config = write_config(task, stub.url, exam=False,
                          review={"mode": "pairwise", "schedule": "cascade"})
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 2
    assert "needs exam: gold" in " ".join(capsys.readouterr().err.split())


def test_dry_run_estimates_the_cascade(stub, task, capsys):
    config = write_config(task, stub.url, review={"mode": "pairwise", "schedule": "cascade"})
    assert main(["run", str(config), "--out", str(task / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    calls = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[2] == "review":
            calls[cells[1]] = int(cells[3])
    assert calls == {"judge-1": 24, "judge-2": 7}  # all of judge-1's; 30% of them after
    assert "the review's calls expected, not counted" in " ".join(out.split())


def test_adaptive_stops_when_the_ranking_is_settled(stub, tmp_path):
    write_task(tmp_path, n_items=40)
    config = write_config(tmp_path, stub.url,
                          review={"mode": "pairwise", "schedule": "adaptive"})
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    cost = json.loads((out / "cost.json").read_text())
    # A clear order (strong > medium > weak, one judge in line): settled long before
    # the 40 items are through, with far fewer calls than the full schedule.
    assert cost["review_calls"] < cost["review_calls_full_schedule"] / 4
    assert board(out) == EVALUATEES
    ranks = json.loads((out / "leaderboard.json").read_text())
    assert all(a["rank_high"] < b["rank_low"] for a, b in itertools.pairwise(ranks))


def test_a_prompt_naming_a_missing_field_fails_before_any_call(stub, task, capsys):
    config = write_config(task, stub.url)
    config.write_text(config.read_text().replace("Answer: {{ input }}",
                                                 "Answer: {{ input }} {{ meta.topic }}"))
    assert main(["run", str(config), "--out", str(task / "out"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "task.prompt" in err and "item 't0'" in err and "topic" in err
    assert sum(stub.state.calls.values()) == 0


def test_missing_local_weights_fail_before_any_call(task, capsys):
    (task / "run.yaml").write_text(
        "task: {items: items.jsonl}\n"
        "models: {a: {provider: local, model: missing.gguf},\n"
        "         b: {provider: python, function: 'peerreview.demo.baselines:echo_question'}}\n"
        "evaluatees: [a, b]\nreviewers: [b]\n")
    assert main(["run", str(task / "run.yaml"), "--out", str(task / "out"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "missing.gguf" in err and "models.a.model" in err
    assert not (task / "out").exists()


def test_budget_in_dollars_stops_new_calls(stub, task):
    config = write_config(task, stub.url, exam=False,
                          model={"price": {"input_per_mtok": 1e3, "output_per_mtok": 0}})
    out = task / "out"
    # The stub counts a prompt's words as its tokens: a submission costs about $0.004,
    # a review call about $0.07 (all 48: about $3.4).
    assert main(["run", str(config), "--out", str(out), "--budget-usd", "1", "--quiet"]) == 0
    cost = json.loads((out / "cost.json").read_text())
    assert 0 < cost["review_calls"] < cost["review_calls_full_schedule"]
    # A call starts only if its estimated cost (4 characters a token, here above the
    # stub's word count) still fits next to the calls in flight.
    assert cost["cost_usd"] <= 1.0
    with RunStore(out / "run.sqlite") as store:
        assert len(store.records("judgments")) == cost["review_calls"]
    # A dollar budget the submissions spend: a clear failure, not an empty ranking.
    assert main(["run", str(config), "--out", str(task / "o2"), "--budget-usd", "0.01",
                 "--quiet"]) == 1


@pytest.mark.parametrize(("rule", "score"), [("keep", 0), ("clip", 1), ("abstain", None)])
def test_live_ratings_off_the_scale_follow_the_rule(stub, task, rule, score):
    stub.state.faults["judge-2"] = "off-scale"
    config = write_config(task, stub.url, mode="5-level", exam=False,
                          review={"mode": "5-level", "off_scale": rule})
    code = main(["run", str(config), "--out", str(task / "out"), "--quiet"])
    assert code == 0
    judged = [json.loads(line) for line in
              (task / "out" / "judgments.jsonl").read_text().splitlines()]
    mine = [j for j in judged if j["reviewer"] == "judge-2"]
    assert len(mine) == 3 * 4 and all(j["score"] == score for j in mine)
    assert all(j["raw"] == "Score: 0" for j in mine)
    facts = json.loads((task / "out" / "run.json").read_text())
    assert facts["off_scale"] == {"judge-2": 12}
