"""One breaker per endpoint (per replica) that sees refused connections, timeouts and
5xx; a hung model holds only its own workers; replicas share the load, each within
its own concurrency (under Ray, for the whole cluster: tests/calls/test_executors.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from peerreview.cli import main
from peerreview.models import CallError
from peerreview.models.breaker import Breaker
from peerreview.models.config import ModelConfig
from peerreview.models.openai import OpenAIBackend
from peerreview.testing.stub import StubServer
from tests.conftest import write_jsonl
from tests.fixtures.fake_endpoints import Counts, Fake
from tests.livetask import EVALUATEES, write_config, write_task

ASK = [{"role": "user", "content": "Which is better, A or B?"}]


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries and first probes without their pauses: these tests count, not time."""
    monkeypatch.setattr("peerreview.models.endpoint.BACKOFF_S", 0.001)
    monkeypatch.setattr("peerreview.models.breaker.FIRST_PROBE_S", 0.01)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def ask_many(backend: OpenAIBackend, n: int) -> list[str]:
    """``n`` different calls at once: each one's answer, or its error."""
    async def one(i: int) -> str:
        body = backend.prepare({"messages": [{"role": "user", "content": f"question {i}"}]})
        try:
            return (await backend.complete(body)).text
        except CallError as exc:
            return f"error: {exc}"

    async def every() -> list[str]:
        try:
            return list(await asyncio.gather(*(one(i) for i in range(n))))
        finally:
            await backend.aclose()

    return asyncio.run(every())


def test_a_burst_of_failures_opens_the_breaker_and_one_probe_closes_it() -> None:
    breaker = Breaker(threshold=3, cooldown_s=60)
    assert not breaker.failure("HTTP 500", "5xx answers")
    assert not breaker.failure("timeout", "timeouts")
    assert breaker.failure("HTTP 500", "5xx answers")
    assert breaker.reason == "paused after 3 failures in a row: HTTP 500"
    assert 0 < breaker.wait_s() <= 0.01  # queued calls wait for the probe, not fail
    time.sleep(0.02)
    assert breaker.allow() and breaker.wait_s() == float("inf")  # one probe out ...
    assert not breaker.allow()  # ... only one
    breaker.success()  # answered: closed, nothing lost
    assert breaker.closed and breaker.failures == 0
    for _ in range(3):
        breaker.failure("refused")
    time.sleep(0.02)
    assert breaker.allow()
    breaker.failure("refused", probe=True)  # the probe failed: calls fail at once
    assert breaker.wait_s() is None and not breaker.allow()


def test_a_hung_endpoint_is_paused_after_the_first_timeouts() -> None:
    # Accepts, never answers. Before: each of the 40 calls tried 6 times (240 POSTs,
    # 6 timeouts each); now the first wave's timeouts pause it, one probe confirms,
    # and the rest fail at once.
    with Fake("hangs") as fake:
        backend = OpenAIBackend("hung", ModelConfig(provider="openai", model="m",
                                                    base_url=fake.url, concurrency=4,
                                                    timeout_s=0.3, max_retries=5))
        said = ask_many(backend, 40)
        # 3 failures open it, 4 more at most were in flight then, and one probe.
        assert fake.posts <= 3 + 4 + 1
    assert all(s.startswith("error: ") for s in said)
    assert sum("paused after 3 timeouts in a row: no answer from" in s for s in said) >= 35
    assert backend.health.down is not None and "timeouts" in backend.health.down


def test_a_hung_endpoint_whose_model_list_hangs_too_gets_one_call() -> None:
    # Its check timed out: the first call goes alone and the others wait for it; it
    # times out too, and they fail at once. One POST for 40 calls.
    with Fake("hangs", hang_models=True) as fake:
        backend = OpenAIBackend("hung", ModelConfig(provider="openai", model="m",
                                                    base_url=fake.url, concurrency=4,
                                                    timeout_s=0.3, max_retries=5))

        async def checked() -> None:
            try:
                await backend.check()
            finally:
                await backend.aclose()

        asyncio.run(checked())
        said = ask_many(backend, 40)
        assert fake.posts == 1
    assert all(s.startswith("error: ") for s in said)
    assert sum("/models gave no answer within 0.3 s" in s for s in said) == 40


def test_an_endpoint_answering_500_to_everything_is_paused() -> None:
    with Fake("fails") as fake:
        backend = OpenAIBackend("broken", ModelConfig(provider="openai", model="m",
                                                      base_url=fake.url, concurrency=4,
                                                      max_retries=5))
        said = ask_many(backend, 40)
        assert fake.posts <= 3 + 4 + 1  # as for timeouts; before: 240
    assert sum("paused after 3 5xx answers in a row: HTTP 500" in s for s in said) >= 35


def test_a_hung_model_never_holds_the_workers_other_models_need(tmp_path: Path) -> None:
    # The review's jobs alternate between the two reviewers. Before, one pool served
    # both, and it filled with jobs waiting on the hung one: judge-1 stopped early.
    write_task(tmp_path, n_items=10)
    with StubServer() as server, Fake("hangs") as hung:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-hung": {"base_url": hung.url, "timeout_s": 120}})
        codes: list[int] = []
        run = threading.Thread(target=lambda: codes.append(main([
            "run", str(config), "--out", str(tmp_path / "out"), "--quiet"])))
        run.start()
        deadline = time.monotonic() + 60
        while server.state.calls["judge-1"] < 10 * 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        # Every judge-1 question was answered while judge-hung still holds its four.
        assert server.state.calls["judge-1"] == 10 * 6
        assert hung.counts.in_flight == 4 and hung.posts == 4
        hung.release()  # from now on it answers 500: paused, its calls fail
        run.join(60)
    assert codes == [1]  # a partial ranking, by the reviewer that answered
    out = tmp_path / "out"
    assert [r["model"] for r in json.loads((out / "leaderboard.json").read_text())] \
        == EVALUATEES
    facts = json.loads((out / "run.json").read_text())
    assert facts["failures"]["judge-hung"]["missing_calls"] == 10 * 6


# --- replicas ----------------------------------------------------------------------

def test_a_lone_surviving_replica_keeps_to_its_own_concurrency() -> None:
    # Before: one limit of concurrency x replicas, so the survivor ran 4 at once.
    with Fake("ok", latency_s=0.05) as alive:
        backend = OpenAIBackend("judge", ModelConfig(
            provider="openai", model="m", base_url=[dead_url(), alive.url], concurrency=2,
            max_retries=3))
        said = ask_many(backend, 30)
        assert alive.counts.max_in_flight == 2
    assert said == ["A"] * 30


def test_a_retry_goes_to_another_replica_and_a_failing_one_is_paused() -> None:
    # One replica answers 500 to everything. Before, it failed fast, so it had the
    # fewest in flight and got the retries too: calls failed for good.
    shared = Counts()
    with Fake("fails", counts=shared) as failing, Fake("ok", latency_s=0.01,
                                                       counts=shared) as healthy:
        backend = OpenAIBackend("judge", ModelConfig(
            provider="openai", model="m", base_url=[failing.url, healthy.url],
            concurrency=2, max_retries=1))
        said = ask_many(backend, 60)
        assert said == ["A"] * 60  # each call that met a 500 was answered by the other
        # Paused after 3 in a row (the 4th was in flight then), then one probe.
        assert failing.posts <= 4 + 1
        assert healthy.posts == 60


def test_two_replicas_take_twice_the_calls_at_once(tmp_path: Path) -> None:
    # Given submissions: the reviewer is the only model called. Before, the stage's
    # pool was its concurrency (2), so two replicas never had more than 2 in flight.
    write_task(tmp_path, n_items=6)
    write_jsonl(tmp_path / "subs.jsonl", [
        {"item": f"t{i}", "model": m, "output": f"{'correct ' * q}by {m}"}
        for i in range(6) for m, q in zip(EVALUATEES, (3, 2, 1), strict=True)])
    shared = Counts()
    with Fake("ok", latency_s=0.05, counts=shared) as one, \
            Fake("ok", latency_s=0.05, counts=shared) as two:
        config = write_config(tmp_path, one.url, exam=False, reviewers={
            "judge": {"base_url": [one.url, two.url], "concurrency": 2}})
        data = yaml.safe_load(config.read_text())
        data["task"]["submissions"] = "subs.jsonl"
        del data["evaluatees"]
        for name in EVALUATEES:
            del data["models"][name]
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert shared.max_in_flight == 4
        assert one.posts + two.posts == 6 * 6 and min(one.posts, two.posts) >= 6
