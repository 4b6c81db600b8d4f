"""Live runs when endpoints die: checked before the first call, paused by a circuit
breaker, progress said off a terminal, and outputs ranked with those that answered."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.models import CallError
from peerreview.models.breaker import Breaker
from peerreview.models.config import ModelConfig
from peerreview.models.openai import OpenAIBackend
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import EVALUATEES, write_config, write_task

pytestmark = pytest.mark.slow  # seconds of real processes: run first (conftest)

ROOT = Path(__file__).resolve().parents[2]


def dead_url() -> str:
    """A loopback URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def check(backend: OpenAIBackend) -> None:
    """The endpoint check, then the connections closed."""
    try:
        await backend.check()
    finally:
        await backend.aclose()


def dead_sends(out: Path) -> int:
    """Attempts the store counted for judge-dead's calls."""
    with RunStore(out / "run.sqlite") as store:
        ((n,),) = store._db.execute(
            "SELECT COALESCE(SUM(a.sent), 0) FROM attempts a JOIN calls c ON a.key = c.key "
            "WHERE c.model = 'judge-dead'").fetchall()
    return int(n)


def reviewers_json(out: Path) -> dict[str, dict[str, object]]:
    return {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}


@pytest.mark.real_backoff  # its claim: the breaker, not a quick backoff, stops it
def test_a_dead_reviewer_is_stopped_at_once_and_the_others_rank(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=150)
    dead = dead_url()
    with StubServer() as server:
        config = write_config(tmp_path, server.url, reviewers={
            "judge-1": {}, "judge-dead": {"base_url": dead}}, exam=False,
            model={"max_retries": 5, "concurrency": 16})
        code = main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
        assert code == 1
        out = tmp_path / "out"
        # Sent to the dead endpoint, as the store counts them: none, the check before
        # the first call found it down (before: every call's 6 attempts with backoff,
        # minutes in all).
        assert dead_sends(out) == 0
        board = [r["model"] for r in json.loads((out / "leaderboard.json").read_text())]
        assert board == EVALUATEES  # ranked by the reviewer that answered
        rows = reviewers_json(out)
        assert rows["judge-1"]["failed"] is False and rows["judge-1"]["missing_calls"] == 0
        assert rows["judge-dead"]["failed"] is True
        assert rows["judge-dead"]["missing_calls"] == 150 * 6
        assert rows["judge-dead"]["judgments"] == 0
        facts = json.loads((out / "run.json").read_text())
        assert facts["failures"]["judge-dead"]["missing_calls"] == 150 * 6
        assert dead in facts["failures"]["judge-dead"]["error"]
        report = (out / "report.html").read_text()
        assert "judge-dead" in report and "900 calls failed" in report
        answered = server.state.calls["judge-1"]
        assert answered == 150 * 6
        # Again: only the missing calls are tried; the answered ones come from the store.
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
        assert server.state.calls["judge-1"] == answered
        with RunStore(out / "run.sqlite") as store:
            per_model = {row["model"]: row for row in store.per_model()}
        assert per_model["judge-1"]["calls"] == 150 * 6
        assert per_model["judge-dead"]["calls"] == 0
        assert per_model["judge-dead"]["failed"] == 150 * 6


@pytest.mark.real_backoff  # its claim: the breaker, not a quick backoff, stops it
def test_the_breaker_pauses_an_endpoint_that_stops_answering() -> None:
    config = ModelConfig(provider="openai", model="m", base_url=dead_url(), max_retries=5,
                         concurrency=4, timeout_s=2)
    backend = OpenAIBackend("judge", config)
    body = backend.prepare({"messages": [{"role": "user", "content": "hi"}]})
    sends = 0

    def sent() -> None:
        nonlocal sends
        sends += 1

    async def calls() -> list[BaseException | object]:
        try:
            return await asyncio.gather(*(backend.complete(body, on_attempt=sent)
                                          for _ in range(20)), return_exceptions=True)
        finally:
            await backend.aclose()

    results = asyncio.run(calls())
    assert all(isinstance(r, CallError) for r in results)
    assert sum("paused after 3 connection failures" in str(r) for r in results) >= 16
    # Without the breaker every call's 6 attempts (120 sends, over a minute of backoff);
    # with it, the 3 that open it and those of the 4 in flight.
    assert 3 <= sends <= 3 + 4, sends
    assert backend.health.down is not None and "paused" in backend.health.down


def test_breaker_opens_after_threshold_and_lets_one_probe_after_cooldown() -> None:
    breaker = Breaker(threshold=2, cooldown_s=0.05)
    assert breaker.allow() and not breaker.failure("refused")
    assert breaker.failure("refused")  # opened now
    assert not breaker.failure("refused")  # already open: not "opened" again
    assert not breaker.allow()
    time.sleep(0.06)
    assert breaker.allow()  # one probe ...
    assert not breaker.allow()  # ... and only one per cooldown
    breaker.success()
    assert breaker.allow() and breaker.reason is None
    breaker.stop("no such model")
    breaker.success()
    time.sleep(0.06)
    assert not breaker.allow() and breaker.reason == "no such model"


# A model missing from /models is only a warning now (llama.cpp's servers list the GGUF
# path and answer any name): tests/test_endpoints_real.py covers it.
@pytest.mark.parametrize(("state", "words"), [
    (StubState(models_status=401), r"refused the credentials \(HTTP 401\)"),
])
def test_the_endpoint_check_stops_a_model_it_cannot_serve(state: StubState, words: str) -> None:
    with StubServer(state) as server:
        backend = OpenAIBackend("judge-1", ModelConfig(provider="openai", model="judge-1",
                                                       base_url=server.url))
        with pytest.raises(CallError, match=words):
            asyncio.run(check(backend))
        assert not backend.replicas[0].breaker.allow()
        assert state.calls["judge-1"] == 0


def test_a_server_without_a_model_list_passes_the_check(tmp_path: Path) -> None:
    with StubServer(StubState(served=None)) as server:
        backend = OpenAIBackend("m", ModelConfig(provider="openai", model="m",
                                                 base_url=server.url))
        asyncio.run(check(backend))
        assert backend.replicas[0].breaker.allow()


def test_progress_lines_off_a_terminal_name_the_failing_model(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=6)
    with StubServer(StubState(latency_s=0.05)) as server:
        config = write_config(tmp_path, server.url, reviewers={
            "judge-1": {}, "judge-dead": {"base_url": dead_url()}}, exam=False)
        done = subprocess.run(
            [sys.executable, "-m", "peerreview.cli", "run", str(config), "--out",
             str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    stage_ends = [line for line in lines if line.startswith("review: 72/72 done")]
    assert stage_ends, done.stderr
    assert "judge-dead: 0 retries, 36 failed" in stage_ends[-1]
    assert any(line.startswith("submissions: 18/18 done") for line in lines)
    assert "never awaited" not in done.stderr
