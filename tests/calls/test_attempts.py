"""Money bounded by construction, for live calls: every send of a call is counted in
the run store before it goes out, and no call is sent more than ``max_retries + 1``
times over every run, unless ``--retry-failed`` grants it one more round. A call
that never reached a server (its endpoint dead from the start) counts nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path

import pytest

from peerreview.calls.caller import Caller
from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.errors import BudgetSpent, Deferred
from peerreview.models import CallError, Response, make_backend
from peerreview.models.config import ModelConfig
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import write_config, write_task

REQUEST = {"messages": [{"role": "user", "content": "Which is better, A or B?"}],
           "max_tokens": 10}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off for milliseconds, not seconds."""
    monkeypatch.setattr("peerreview.models.endpoint.BACKOFF_S", 0.001, raising=False)


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", *extra])


def test_a_failing_call_is_sent_max_retries_plus_one_times_over_every_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """judge-2 answers 200s that are no chat completion, forever: each of its 12 calls
    is sent twice (max_retries 1) in the first run, never again in the second, twice
    more with --retry-failed, then never again."""
    write_task(tmp_path, n_items=2)
    state = StubState(faults={"judge-2": "empty-choices"}, fault_attempts=10 ** 6)
    with StubServer(state) as server:
        config = write_config(tmp_path, server.url, exam=False, model={"max_retries": 1})
        out = tmp_path / "out"
        assert run(config, out) == 1
        first = state.calls["judge-2"]
        assert first == 12 * 2
        assert state.calls["judge-1"] == 12  # the healthy reviewer: once each
        capsys.readouterr()
        assert run(config, out) == 1
        assert state.calls["judge-2"] == first  # nothing sent: the attempts are spent
        said = capsys.readouterr().err
        assert "--retry-failed" in said
        assert run(config, out, "--retry-failed") == 1
        assert state.calls["judge-2"] == first + 12 * 2  # one more round, granted
        assert run(config, out) == 1
        assert state.calls["judge-2"] == first + 12 * 2
    db = sqlite3.connect(out / "run.sqlite")
    sent = db.execute("SELECT a.sent FROM attempts a JOIN calls c ON a.key = c.key "
                      "WHERE c.model = 'judge-2'").fetchall()
    assert sorted(sent) == [(4,)] * 12


def test_a_call_out_of_attempts_fails_at_once_and_says_how_to_allow_more(
        tmp_path: Path) -> None:
    config = ModelConfig(provider="openai", model="m", base_url=dead_url(), max_retries=2)

    async def ask() -> None:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite") as store:
            caller = Caller(store, {"judge": config}, {"judge": backend})
            key = caller.key("judge", REQUEST)
            for _ in range(3):
                store.count_attempt(key)
            try:
                await caller.call("judge", REQUEST)
            finally:
                await backend.aclose()

    with pytest.raises(CallError) as raised:
        asyncio.run(ask())
    assert str(raised.value).startswith(
        "model 'judge': no answer after 3 attempts over every run (max_retries: 2 allows "
        "3); nothing was sent. Run again with --retry-failed to allow 3 more")


def test_calls_of_an_endpoint_dead_from_the_start_count_no_attempt(tmp_path: Path) -> None:
    """Refused by the endpoint check before any send: a later run, with the server
    back, still has every attempt of those calls."""
    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-dead": {"base_url": dead_url()}},
            model={"max_retries": 0})
        out = tmp_path / "out"
        assert run(config, out) == 1
    db = sqlite3.connect(out / "run.sqlite")
    failed = db.execute("SELECT COUNT(*) FROM calls WHERE model = 'judge-dead' AND "
                        "error IS NOT NULL").fetchone()[0]
    counted = db.execute("SELECT COUNT(*) FROM attempts a JOIN calls c ON a.key = c.key "
                         "WHERE c.model = 'judge-dead'").fetchone()[0]
    assert (failed, counted) == (12, 0)


def _batch_model() -> ModelConfig:
    return ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9/v1",
                       batch=True, price={"input_per_mtok": 10, "output_per_mtok": 10})


def test_a_repeated_batch_answer_counts_at_the_batch_price(tmp_path: Path) -> None:
    """A question asked again in the run (an exam question in review) counts its cost
    again against --budget-usd, at the price it was paid: half, for a batch model."""
    config = _batch_model()

    async def ask() -> list[float]:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite", background=True) as store:
            caller = Caller(store, {"judge": config}, {"judge": backend})
            with pytest.raises(Deferred):
                await caller.call("judge", REQUEST)
            key = caller.key("judge", REQUEST)
            caller.ingest("judge", key, Response("A", None, 1000, 0))
            costs = [caller.run_cost]
            await caller.call("judge", REQUEST)  # the deferred call, answered
            costs.append(caller.run_cost)
            await caller.call("judge", REQUEST)  # asked again
            costs.append(caller.run_cost)
            await backend.aclose()
            return costs

    # 1000 prompt tokens at $10 per million, half price: $0.005 each time it is used.
    assert asyncio.run(ask()) == pytest.approx([0.005, 0.005, 0.010])


def test_calls_deferred_to_a_batch_hold_their_cost_against_the_budget(
        tmp_path: Path) -> None:
    """Each deferred call may cost what it estimates until its batch answers: a
    budget of three such calls defers three and refuses the fourth."""
    config = _batch_model()
    # 10 answer tokens and 7 prompt tokens (27 characters), half of $10 per million.
    each = 0.5 * (7 * 10 + 10 * 10) / 1e6

    async def ask() -> int:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite") as store:
            caller = Caller(store, {"judge": config}, {"judge": backend},
                            budget_usd=3.5 * each)
            deferred = 0
            try:
                for i in range(10):
                    request = {**REQUEST, "seed": i}
                    with pytest.raises(Deferred):
                        await caller.call("judge", request)
                    deferred += 1
            except BudgetSpent:
                return deferred
            finally:
                await backend.aclose()
            return deferred

    assert asyncio.run(ask()) == 3


def test_cost_json_holds_the_run_totals_beside_this_invocation(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False,
                              reviewers={"judge-1": {}},
                              model={"price": {"input_per_mtok": 1, "output_per_mtok": 1}})
        out = tmp_path / "out"
        assert run(config, out) == 0
        first = json.loads((out / "cost.json").read_text())
        assert run(config, out) == 0  # everything from the store
        again = json.loads((out / "cost.json").read_text())
    db = sqlite3.connect(out / "run.sqlite")
    calls, cost = db.execute("SELECT COUNT(response), SUM(cost_usd) FROM calls").fetchone()
    assert first["calls_made"] == calls == 6 + 12 and again["calls_made"] == 0
    assert again["cost_usd"] == 0 and first["cost_usd"] == pytest.approx(cost)
    assert again["run_totals"]["calls"] == calls
    assert again["run_totals"]["cost_usd"] == pytest.approx(cost)
    assert again["run_totals"] == first["run_totals"]


@pytest.mark.parametrize("fault", [None, "500"])
def test_the_same_call_asked_at_once_is_sent_once(tmp_path: Path, fault: str | None) -> None:
    """Two questions whose prompts are the same text are one call: asked four times at
    once, it is sent once (answered, the others count as stored answers), or, failing,
    max_retries + 1 times in all, not four times that."""
    state = StubState(latency_s=0.05, faults={"m": fault} if fault else {},
                      fault_attempts=100)
    with StubServer(state) as server:
        config = ModelConfig(provider="openai", model="m", base_url=server.url,
                             max_retries=1)

        async def ask() -> tuple[list[Response | BaseException], int, int, int]:
            backend = make_backend("judge", config)
            with RunStore(tmp_path / "run.sqlite") as store:
                caller = Caller(store, {"judge": config}, {"judge": backend})
                try:
                    got = await asyncio.gather(*(caller.call("judge", REQUEST)
                                                 for _ in range(4)), return_exceptions=True)
                finally:
                    await backend.aclose()
                return (got, store.sent(caller.key("judge", REQUEST)), caller.tally.made,
                        caller.tally.cached)

        got, sent, made, cached = asyncio.run(ask())
        assert state.calls["m"] == (1 if fault is None else 2)
    if fault is None:
        assert [r.text for r in got if isinstance(r, Response)] == [got[0].text] * 4  # type: ignore[union-attr]
        assert (made, cached) == (1, 3)
    else:
        assert all(isinstance(r, CallError) for r in got)
        assert (sent, made, cached) == (2, 0, 0)
