"""Live runs that can be trusted: cache identity across endpoints, only the parameters
the user set, secrets kept out, untrusted templates sandboxed, malformed answers
retried, bounded waits, one run per output folder."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from peerreview.cli import main
from peerreview.models.config import ModelConfig
from peerreview.models.endpoint import MAX_RETRY_AFTER_S
from peerreview.models.openai import OpenAIBackend
from peerreview.testing.stub import StubServer, StubState
from tests.conftest import pt, pw, write_jsonl
from tests.livetask import EVALUATEES, write_config, write_task
from tests.spawned import start_cli

ROOT = Path(__file__).resolve().parents[2]


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_endpoints_serving_the_same_model_name_keep_their_own_answers(tmp_path: Path,
                                                                          capsys) -> None:
    """Two judges both 'model: default' (as vLLM serves unless told otherwise) on two
    servers that judge differently: a rerun must replay each one's own answers."""
    write_task(tmp_path, n_items=6)
    with StubServer() as one, StubServer(StubState(invert=True)) as two:
        config = write_config(tmp_path, one.url, exam=False, reviewers={
            "judge-1": {"model": "default"},
            "judge-2": {"model": "default", "base_url": two.url}})
        out = tmp_path / "out"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
        first = read_lines(out / "judgments.jsonl")
        board = (out / "leaderboard.json").read_bytes()
        by_judge = {r: {(j["item"], j["first"], j["second"]): j["winner"] for j in first
                        if j["reviewer"] == r} for r in ("judge-1", "judge-2")}
        assert len(by_judge["judge-1"]) == len(by_judge["judge-2"]) == 6 * 6
        # The two servers disagree on every question: no answer was shared.
        assert all(by_judge["judge-1"][k] != by_judge["judge-2"][k] for k in by_judge["judge-1"])
        assert one.state.calls["default"] == two.state.calls["default"] == 36
        capsys.readouterr()
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
        assert one.state.calls["default"] == two.state.calls["default"] == 36  # none again
        assert read_lines(out / "judgments.jsonl") == first
        assert (out / "leaderboard.json").read_bytes() == board
        assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out
    calls = {line.split("│")[1].strip(): line.split("│")[3].strip()
             for line in status.splitlines() if line.count("│") > 4}
    assert calls["judge-1"] == calls["judge-2"] == "36"


def test_only_what_the_user_set_is_sent_and_params_win(tmp_path: Path) -> None:
    write_task(tmp_path)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {"temperature": 0.9, "params": {"temperature": 0.3, "top_p": 0.5}},
            "judge-2": {"max_tokens": 7, "seed": 11, "headers": {"x-tenant": "lab-7"}}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    bodies = {b["model"]: b for b in server.state.bodies}
    plain = bodies["strong"]  # an evaluatee that sets nothing
    assert set(plain) == {"model", "messages"}
    assert bodies["judge-1"]["temperature"] == 0.3 and bodies["judge-1"]["top_p"] == 0.5
    assert "max_tokens" not in bodies["judge-1"] and "seed" not in bodies["judge-1"]
    assert bodies["judge-2"]["max_tokens"] == 7 and bodies["judge-2"]["seed"] == 11
    sent = [h for h, b in zip(server.state.headers, server.state.bodies, strict=True)
            if b["model"] == "judge-2"]
    assert sent and all(h.get("x-tenant") == "lab-7" for h in sent)
    stored = sqlite3.connect(tmp_path / "out" / "run.sqlite").execute(
        "SELECT request FROM calls").fetchall()
    assert not any(b"lab-7" in row[0] for row in stored)  # headers never stored


def test_reasoning_models_get_max_completion_tokens_and_no_temperature(tmp_path: Path) -> None:
    write_task(tmp_path)
    with StubServer() as server:
        server.state.faults.update({"judge-1": "reasoning", "judge-2": "reasoning"})
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {"reasoning": True, "max_tokens": 50, "temperature": 0.2},
            "judge-2": {"max_tokens": 50}})  # found out from the 400 it answers
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    judge1 = [b for b in server.state.bodies if b["model"] == "judge-1"]
    assert len(judge1) == 24  # never refused
    assert all(b["max_completion_tokens"] == 50 and "max_tokens" not in b
               and "temperature" not in b for b in judge1)
    judge2 = [b for b in server.state.bodies if b["model"] == "judge-2"]
    refused = sum("max_tokens" in b for b in judge2)
    assert 1 <= refused <= 4  # at most the calls in flight when the first was refused
    assert len(judge2) == 24 + refused
    assert board_of(tmp_path / "out") == EVALUATEES


def board_of(out: Path) -> list[str]:
    return [str(r["model"]) for r in json.loads((out / "leaderboard.json").read_text())]


def test_a_key_echoed_back_is_never_stored_or_printed(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    secret = "sk-echoed-back-7b1e93f0"
    monkeypatch.setenv("PEERREVIEW_TEST_KEY", secret)
    write_task(tmp_path)
    with StubServer() as server:
        server.state.faults["judge-1"] = "echo-key"
        server.state.fault_attempts = 99
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {"headers": {"api-key": "azure-style-secret-99"}}, "judge-2": {}},
            model={"api_key_env": "PEERREVIEW_TEST_KEY", "max_retries": 0})
        out = tmp_path / "out"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    printed = capsys.readouterr()
    assert "HTTP 401" in printed.err and "[REDACTED]" in printed.err
    for leaked in (secret, "azure-style-secret-99"):
        assert leaked not in printed.err + printed.out
        for path in out.rglob("*"):
            if path.is_file():
                assert leaked.encode() not in path.read_bytes(), path
    errors = sqlite3.connect(out / "run.sqlite").execute(
        "SELECT error FROM calls WHERE error IS NOT NULL").fetchall()
    assert len(errors) == 24 and all("[REDACTED]" in e for (e,) in errors)


def test_the_task_prompt_is_sandboxed(tmp_path: Path, capsys) -> None:
    write_task(tmp_path)
    marker = tmp_path / "pwned"
    with StubServer() as server:
        config = write_config(tmp_path, server.url)
        data = yaml.safe_load(config.read_text())
        data["task"]["prompt"] = ("{{ cycler.__init__.__globals__.os.popen('touch "
                                  + str(marker) + "').read() }}")
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 2
        assert sum(server.state.calls.values()) == 0
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "task.prompt" in err and "unsafe" in err


@pytest.mark.parametrize("fault", ["empty-choices", "null-message", "list-body"])
def test_a_malformed_answer_is_a_failed_attempt_not_a_crash(tmp_path: Path, capsys,
                                                            fault: str) -> None:
    write_task(tmp_path)
    with StubServer() as server:
        server.state.faults["judge-1"] = fault
        config = write_config(tmp_path, server.url, model={"max_retries": 2})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert board_of(tmp_path / "out") == EVALUATEES  # retried, then answered
        server.state.fault_attempts = 99  # now it never answers properly
        config = write_config(tmp_path, server.url, exam=False, model={"max_retries": 1})
        out = tmp_path / "again"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "bad answer from " + server.url in err and "Session is closed" not in err
    assert board_of(out) == EVALUATEES  # judge-2 answered; judge-1 is marked failed
    rows = {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}
    assert rows["judge-1"]["failed"] and rows["judge-1"]["missing_calls"] == 24


def test_a_long_retry_after_is_capped_said_and_counted(caplog) -> None:
    backend = OpenAIBackend("judge", ModelConfig(provider="openai", model="m",
                                                 base_url="http://127.0.0.1:1/v1"))
    with caplog.at_level(logging.WARNING, logger="peerreview"):
        assert backend._retry_after("86400") == MAX_RETRY_AFTER_S == 60.0
        assert backend._retry_after("2") == 2.0
    assert len(caplog.records) == 1
    assert "asked to wait 86400 s" in caplog.records[0].getMessage()


def test_a_long_retry_after_counts_as_a_retry(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("peerreview.models.endpoint.MAX_RETRY_AFTER_S", 0.2)
    with StubServer(StubState(fault_attempts=99)) as server:
        server.state.faults["m"] = "retry-after-long"
        backend = OpenAIBackend("m", ModelConfig(provider="openai", model="m",
                                                 base_url=server.url, max_retries=2))

        async def call() -> None:
            try:
                await backend.complete(backend.prepare({"messages": [
                    {"role": "user", "content": "hi"}]}))
            finally:
                await backend.aclose()

        start = time.perf_counter()
        with pytest.raises(Exception, match=r"HTTP 429.*gave up after 3 attempts"):
            asyncio.run(call())
        assert time.perf_counter() - start < 5
        assert server.state.calls["m"] == 3


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path, capsys) -> None:
    write_task(tmp_path, n_items=12)
    # The first run's calls are held in flight: it runs (holding the folder) until stopped.
    with StubServer(StubState(hold_after=0)) as server:
        config = write_config(tmp_path, server.url, model={"concurrency": 1})
        out = tmp_path / "out"
        first = start_cli(["run", str(config), "--out", str(out), "--quiet"], cwd=ROOT,
                          env=os.environ | {"PYTHONPATH": str(ROOT)})
        try:
            deadline = time.time() + 30
            while server.state.calls.total() == 0 and time.time() < deadline:
                time.sleep(0.05)
            assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
            err = capsys.readouterr().err
            assert f"another peerreview run (pid {first.pid})" in err
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(30)


def test_an_interrupt_leaves_no_unawaited_coroutines(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=20)
    # Interrupted with 10 calls answered and the next ones held in flight.
    with StubServer(StubState(hold_after=10)) as server:
        config = write_config(tmp_path, server.url, model={"concurrency": 2})
        proc = subprocess.Popen([sys.executable, "-m", "peerreview.cli", "run", str(config),
                                 "--out", str(tmp_path / "out"), "--quiet"], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True,
                                env=os.environ | {"PYTHONPATH": str(ROOT)})
        deadline = time.time() + 30
        while not (server.state.answered >= 10 and server.state.calls.total() > 10) and \
                time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "never awaited" not in err


def test_summary_md_escapes_untrusted_names(tmp_path: Path, capsys) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rows = [pt(f"t{i}", "r|1", m, s) for i in range(3)
            for m, s in ((evil, 5), ("line\nbreak", 3), ("*bold*", 1))]
    j = write_jsonl(tmp_path / "j.jsonl", rows)
    assert main(["rank", "--judgments", str(j), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    table = [line for line in md.splitlines() if line.startswith("| ") and "|---" not in line]
    assert len(table) == 1 + 3  # header and one row a model: the newline broke nothing
    assert all(line.count(" | ") == 3 for line in table)  # 4 cells, no stray pipe
    assert "| 3 | \\*bold\\* |" in md


def test_gold_labelled_twice_by_one_annotator_is_warned(tmp_path: Path, capsys) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", [pw("t1", "r", "A", "B", "first"),
                                           pw("t1", "r", "B", "A", "second")])
    gold = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "ann", "A", "B", "first"),
                                              pw("t1", "ann", "A", "B", "second")])
    assert main(["rank", "--judgments", str(j), "--gold", str(gold), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    notes = [n for n in err.split("note: ") if n.startswith("gold: ")]
    assert len(notes) == 1 and "1 repeated label(s) of the same annotator" in notes[0]
    assert f"{gold}:2 repeats {gold}:1" in notes[0]


def test_exam_gold_that_shares_nothing_with_the_judgments_says_so(tmp_path: Path,
                                                                  capsys) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", [pw("t1", "r", "A", "B", "first"),
                                           pw("t1", "r", "B", "A", "second")])
    gold = write_jsonl(tmp_path / "g.jsonl", [pw("q-9", "ann", "A", "B", "first")])
    assert main(["rank", "--judgments", str(j), "--exam-gold", str(gold), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no exam gold pair was judged by any reviewer" in err and "q-9" in err
    assert "no reviewer qualified" not in err
