"""Provider batch APIs, against loopback fakes of OpenAI's /v1/files + /v1/batches and
Anthropic's /v1/messages/batches written from their documented shapes: in each
batch's first submission one line errors and one expires, and results come in
reverse order; answers are matched by custom_id (the call key)."""

from __future__ import annotations

import json
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
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import EVALUATEES, write_config, write_task
from tests.spawned import run_cli, start_cli

pytestmark = pytest.mark.slow  # seconds of real processes: run first (conftest)

ROOT = Path(__file__).resolve().parents[2]


def batch_config(folder: Path, evaluatees_url: str, judge_url: str, provider: str,
                 poll: float = 0.02) -> Path:
    judge = {"model": "judge-1", "batch": True, "batch_poll_s": poll,
             "price": {"input_per_mtok": 10, "output_per_mtok": 10}}
    if provider == "anthropic":
        judge.update(provider="anthropic", base_url=judge_url, api_key_env="PR_TEST_KEY")
    else:
        judge.update(base_url=judge_url)
    return write_config(folder, evaluatees_url, exam=False, reviewers={"judge-1": judge})


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_round_trip_with_errored_and_expired_lines(tmp_path: Path, provider: str,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    write_task(tmp_path, n_items=5)
    with StubServer() as evaluatees, StubServer(StubState(batch_polls=2)) as judge:
        config = batch_config(tmp_path, evaluatees.url, judge.url, provider)
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        state = judge.state
    assert state.calls["judge-1"] == 0  # nothing asked one call at a time
    assert len(state.batches) == 2  # the round, then the errored and expired lines again
    assert sorted(state.batch_lines.values()).count(2) == 2 and len(state.batch_lines) == 30
    board = [r["model"] for r in json.loads((tmp_path / "out" / "leaderboard.json").read_text())]
    assert board == EVALUATEES
    judged = [json.loads(x) for x in (tmp_path / "out" / "judgments.jsonl").read_text()
              .splitlines()]
    assert len(judged) == 30 and all(j["winner"] in ("first", "second") for j in judged)
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM batches WHERE collected IS NOT NULL").fetchone() \
        == (2,)
    tokens, cost = db.execute("SELECT SUM(prompt_tokens + completion_tokens), SUM(cost_usd) "
                              "FROM calls WHERE model = 'judge-1'").fetchone()
    assert cost == pytest.approx(tokens * 10 / 1e6 * 0.5)  # the batch price: half


def test_no_wait_submits_and_a_second_run_collects(tmp_path: Path, capsys) -> None:
    write_task(tmp_path, n_items=4)
    with StubServer() as evaluatees, StubServer(StubState(batch_polls=1)) as judge:
        config = batch_config(tmp_path, evaluatees.url, judge.url, "openai")
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet",
                     "--no-wait"]) == 0
        said = capsys.readouterr().out
        assert "1 batch(es) submitted or waiting (batch_1)" in said and "run the same" in said
        assert not (tmp_path / "out" / "leaderboard.json").exists()
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert len(judge.state.batches) == 2  # the first polled, not resubmitted; then one
    assert (tmp_path / "out" / "leaderboard.json").exists()


def test_kill_9_while_polling_then_resume_submits_nothing_again(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=4)
    with StubServer() as evaluatees, StubServer(StubState(batch_polls=10 ** 6)) as judge:
        config = batch_config(tmp_path, evaluatees.url, judge.url, "openai", poll=0.05)
        proc = start_cli(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"],
                         cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline and not any(
                b["polls"] >= 3 for b in judge.state.batches.values()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert list(judge.state.batches) == ["batch_1"]  # submitted, being polled
        first = dict(judge.state.batch_lines)
        judge.state.batch_polls = 0  # the provider finishes it meanwhile
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        again = {k: n - first.get(k, 0) for k, n in judge.state.batch_lines.items()}
    # After the resume only the errored and the expired line went out again.
    assert sorted(again.values()) == [0] * (len(first) - 2) + [1, 1]
    assert list(judge.state.batches) == ["batch_1", "batch_2"]


def test_the_dry_run_prices_a_batch_model_at_half(tmp_path: Path) -> None:
    from peerreview.live.config import load_config
    from peerreview.live.plan import plan

    write_task(tmp_path, n_items=4)
    config = batch_config(tmp_path, "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1",
                          "openai")
    batched = {(r.model, r.stage): r for r in plan(load_config(config))}
    data = yaml.safe_load(config.read_text())
    data["models"]["judge-1"]["batch"] = False
    config.write_text(yaml.safe_dump(data))
    direct = {(r.model, r.stage): r for r in plan(load_config(config))}
    row, full = batched["judge-1", "review"], direct["judge-1", "review"]
    assert row.calls == full.calls and row.cost_usd == pytest.approx(full.cost_usd / 2)


def test_a_broken_results_line_leaves_its_call_for_the_next_batch() -> None:
    """Lines that are not JSON objects with a custom_id are skipped, not a crash; an
    Anthropic result that is not an object is a failed call with its reason."""
    import asyncio

    from peerreview.models.anthropic import AnthropicBackend
    from peerreview.models.batchapi import result_records
    from peerreview.models.config import ModelConfig

    backend = AnthropicBackend("c", ModelConfig(provider="anthropic", model="m",
                                                base_url="http://127.0.0.1:9"))
    text = "\n".join(['{"custom_id": "k1", "result": "oops"}', "not json", "[1, 2]",
                      '{"result": {"type": "succeeded"}}', ""])
    assert [k for k, _ in result_records(text, "c", "batch b1")] == ["k1"]

    async def results() -> dict[str, object]:
        async def fetched(*_: object, **__: object) -> str:
            return text
        backend._api = fetched  # type: ignore[method-assign]
        return dict(await backend.batch_results("b1"))

    got = asyncio.run(results())
    assert list(got) == ["k1"] and got["k1"] == "batch b1: no result: "


# --- Money bounded by construction, against tests/fixtures/fake_batches.py --------

def fake_config(folder: Path, evaluatees_url: str, judge_url: str, provider: str,
                poll: float = 0.05, max_retries: int = 2) -> Path:
    config = batch_config(folder, evaluatees_url, judge_url, provider, poll=poll)
    data = yaml.safe_load(config.read_text())
    data["models"]["judge-1"]["max_retries"] = max_retries
    config.write_text(yaml.safe_dump(data))
    return config


def run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", str(config), "--out", str(out), "--quiet", *extra])


REVIEW_CALLS = 3 * 2 * 2  # 3 evaluatees, both orders of each pair, 2 items
JUDGE_SENT = ("SELECT {} FROM attempts a JOIN calls c ON a.key = c.key "
              "WHERE c.model = 'judge-1'")


@pytest.mark.parametrize(("provider", "switch"), [
    ("openai", {"omit_first": 10 ** 6}), ("openai", {"unknown_ids": True}),
    ("openai", {"status": "failed"}), ("openai", {"status": "expired"}),
    ("anthropic", {"unknown_ids": True}), ("anthropic", {"status": "expired"})])
def test_a_call_a_batch_never_answers_goes_into_at_most_max_retries_plus_one_batches(
        tmp_path: Path, provider: str, switch: dict[str, object], monkeypatch,
        capsys) -> None:
    """Before: resubmitted at once, forever (thousands of batches in seconds)."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    write_task(tmp_path, n_items=2)
    state = FakeState(**switch, refuse_after=20)  # type: ignore[arg-type]
    with StubServer() as evaluatees, FakeBatches(state) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, provider)
        out = tmp_path / "out"
        assert run(config, out) == 1
        assert state.created == 3
        assert sorted(state.lines.values()) == [3] * REVIEW_CALLS
        capsys.readouterr()
        assert run(config, out) == 1  # out of attempts: nothing is submitted again
        assert state.created == 3
    assert "no answer after 3 attempts over every run (max_retries: 2 allows 3); nothing " \
        "was sent. Run again with --retry-failed" in capsys.readouterr().err
    db = sqlite3.connect(out / "run.sqlite")
    errors = [e for (e,) in db.execute("SELECT error FROM calls WHERE model = 'judge-1'")]
    last = "msgbatch_3" if provider == "anthropic" else "batch_3"
    expected = f"batch {last}: expired: " if provider == "anthropic" and \
        switch.get("status") else f"not in the results of batch {last}"
    assert errors == [expected] * REVIEW_CALLS  # each call's last failed attempt, stored


def test_batch_rounds_are_paced_by_batch_poll_s(tmp_path: Path) -> None:
    """A round that sends calls again starts batch_poll_s after the last batch ended."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(omit_first=2, spoiled=1)) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, "openai", poll=0.3)
        assert run(config, tmp_path / "out") == 0
        assert fake.state.created == 2
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    ((ended,),) = db.execute(
        "SELECT collected FROM batches ORDER BY submitted LIMIT 1").fetchall()
    ((intended,),) = db.execute(
        "SELECT created FROM batch_intents ORDER BY created DESC LIMIT 1").fetchall()
    assert intended - ended >= 0.3 - 0.01  # asyncio may wake a hair early


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("point", ["after-batch-create", "before-batch-create",
                                   "after-batch-record"])
def test_a_kill_around_creating_a_batch_never_creates_it_twice(
        tmp_path: Path, provider: str, point: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Killed (os._exit) at a named point; the resume (in this process: nothing is
    killed there) adopts the batch the provider holds (found by the run token in its
    metadata, or for Anthropic by its time and size), or, if none was created, creates
    it once."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    monkeypatch.delenv("PEERREVIEW_FAULT", raising=False)
    env = os.environ | {"PYTHONPATH": str(ROOT), "PEERREVIEW_FAULT": point}
    with StubServer() as evaluatees, FakeBatches(FakeState(polls=1)) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, provider)
        out = tmp_path / "out"
        killed = run_cli(["run", str(config), "--out", str(out), "--quiet"], cwd=ROOT,
                         env=env)
        assert killed.returncode == 86, killed.stderr
        assert fake.state.created == (0 if point == "before-batch-create" else 1)
        capsys.readouterr()
        assert run(config, out) == 0
        resumed = capsys.readouterr().err
        assert fake.state.created == 1  # zero batches created twice
        assert sorted(fake.state.lines.values()) == [1] * REVIEW_CALLS
    if point == "after-batch-create":
        assert "adopted batch" in resumed
    assert (out / "leaderboard.json").exists()


def test_no_wait_polls_collects_and_finishes_the_run(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a second --no-wait never collected anything."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(polls=2)) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, "openai", poll=2.5)
        out = tmp_path / "out"
        assert run(config, out, "--no-wait") == 0
        said = capsys.readouterr().out
        assert "1 batch(es) submitted or waiting (batch_1)" in said
        assert "run the same command again after ~3 s" in said
        assert run(config, out, "--no-wait") == 0  # polled once: not ended yet
        assert not (out / "leaderboard.json").exists()
        assert run(config, out, "--no-wait") == 0  # ended: collected, the run finishes
        assert fake.state.created == 1 and fake.state.batches["batch_1"]["polls"] == 2
    assert len((out / "judgments.jsonl").read_text().splitlines()) == REVIEW_CALLS
    assert (out / "leaderboard.json").exists()


def test_no_wait_comes_back_for_calls_a_batch_left_out(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(polls=1, omit_first=3)) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, "openai", poll=0.05)
        out = tmp_path / "out"
        assert run(config, out, "--no-wait") == 0  # submitted
        assert run(config, out, "--no-wait") == 0  # collected; 3 left out wait (paced)
        assert "3 calls wait for the next batch round" in capsys.readouterr().out
        time.sleep(0.1)
        fake.state.omit_first = 0
        assert run(config, out, "--no-wait") == 0  # the second round submitted
        assert fake.state.created == 2
        assert run(config, out, "--no-wait") == 0  # collected: finished
    assert (out / "leaderboard.json").exists()
    assert sorted(fake.state.lines.values()) == [1] * (REVIEW_CALLS - 3) + [2] * 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_the_provider_forgot_is_abandoned_and_its_calls_go_into_a_new_one(
        tmp_path: Path, provider: str, monkeypatch, capsys) -> None:
    """Before: every poll raised, on every rerun."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(forget=1)) as fake:
        config = fake_config(tmp_path, evaluatees.url, fake.url, provider)
        assert run(config, tmp_path / "out") == 0
        assert fake.state.created == 2
        assert sorted(fake.state.lines.values()) == [2] * REVIEW_CALLS
    first = "batch_1" if provider == "openai" else "msgbatch_1"
    assert f"no longer knows batch {first}" in capsys.readouterr().err
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    assert db.execute(JUDGE_SENT.format("MIN(sent), MAX(sent)")).fetchone() == (2, 2)


@pytest.mark.parametrize(("provider", "spoil"), [
    ("openai", {"no_id": {"file"}}), ("openai", {"not_json": {"file"}}),
    ("openai", {"as_list": {"file"}})])
def test_an_upload_answered_without_an_id_is_a_named_failed_attempt(
        tmp_path: Path, provider: str, spoil: dict[str, set[str]]) -> None:
    """Before: KeyError. Nothing was created, so each round is a failed attempt."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(**spoil)) as fake:  # type: ignore[arg-type]
        config = fake_config(tmp_path, evaluatees.url, fake.url, provider)
        assert run(config, tmp_path / "out") == 1
        assert fake.state.created == 0
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    assert db.execute("SELECT MAX(sent) FROM attempts").fetchone() == (3,)
    error = db.execute("SELECT error FROM calls WHERE model = 'judge-1'").fetchone()[0]
    assert f"unreadable answer from {fake.url}/files" in error


@pytest.mark.parametrize(("provider", "spoil"), [
    ("openai", {"no_id": {"batch"}}), ("openai", {"not_json": {"batch"}}),
    ("openai", {"as_list": {"batch"}}), ("anthropic", {"no_id": {"batch"}}),
    ("anthropic", {"as_list": {"batch"}})])
def test_a_created_batch_answered_without_an_id_is_adopted_not_paid_twice(
        tmp_path: Path, provider: str, spoil: dict[str, set[str]], monkeypatch) -> None:
    """The create request was answered with no readable id: the batch may exist, so the
    next round first looks for it in the provider's list, and adopts it."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(**spoil)) as fake:  # type: ignore[arg-type]
        config = fake_config(tmp_path, evaluatees.url, fake.url, provider)
        assert run(config, tmp_path / "out") == 0
        assert fake.state.created == 1
        assert sorted(fake.state.lines.values()) == [1] * REVIEW_CALLS
    assert (tmp_path / "out" / "leaderboard.json").exists()


@pytest.mark.parametrize("spoil", [{"not_json": {"poll"}}, {"as_list": {"poll"}}])
def test_a_poll_answered_with_no_batch_is_a_named_failure(
        tmp_path: Path, spoil: dict[str, set[str]], capsys) -> None:
    """Polled again max_retries times, then the run stops naming the URL; nothing is
    submitted twice, and the batch stays recorded for the next run."""
    from tests.fixtures.fake_batches import FakeBatches, FakeState

    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, FakeBatches(FakeState(**spoil)) as fake:  # type: ignore[arg-type]
        config = fake_config(tmp_path, evaluatees.url, fake.url, "openai")
        assert run(config, tmp_path / "out") == 1
        assert fake.state.created == 1 and fake.state.batches["batch_1"]["polls"] == 3
        assert f"unreadable answer from {fake.url}/batches/batch_1" in capsys.readouterr().err
        fake.state.not_json, fake.state.as_list = set(), set()
        assert run(config, tmp_path / "out") == 0
        assert fake.state.created == 1


def test_against_the_shared_stub_nothing_is_answered_twice(tmp_path: Path) -> None:
    """The outside fake (/work/shared/fakes/stub_openai.py): Files + Batches, about 5% of
    lines failing once. The failed lines go into a second round, and no line that was
    answered is ever submitted again."""
    stub = ROOT.parent / "shared" / "fakes" / "stub_openai.py"
    if not stub.exists():
        pytest.skip(f"the shared fakes are not here ({stub})")
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(stub), str(port), "--latency", "0",
                               "--batch-delay", "0.2"])
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/models", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        write_task(tmp_path, n_items=80)  # its evaluatees answer alike: 80 review calls
        config = fake_config(tmp_path, url, url, "openai", poll=0.1)
        code = run(config, tmp_path / "out")
        with urllib.request.urlopen(url + "/stats", timeout=5) as answer:
            stats = json.loads(answer.read())
    finally:
        server.kill()
        server.wait(10)
    assert code == 0 and stats["repeats"] == 0
    assert stats["batches_created"] == 2 and stats["batch_lines"] > 80  # a second round
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    (lines,) = db.execute(JUDGE_SENT.format("SUM(sent)")).fetchone()
    (batches,) = db.execute("SELECT COUNT(*) FROM batches").fetchone()
    assert stats["batch_lines"] == lines and stats["batches_created"] == batches
    assert db.execute(JUDGE_SENT.format("MAX(sent)")).fetchone()[0] <= 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stage_splits_into_batches_under_the_provider_limits(
        tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a limit of 7 requests a batch, the round's 30 calls go into batches of
    7, 7, 7, 7 and 2, each tracked alone; the lines each first submission loses (its
    first errors, its second expires: 2 a batch) go into the next round, split too."""
    from peerreview.models.anthropic import AnthropicBackend
    from peerreview.models.openai import OpenAIBackend

    backend = AnthropicBackend if provider == "anthropic" else OpenAIBackend
    monkeypatch.setattr(backend, "batch_limits", (7, 10**9))
    monkeypatch.setenv("PR_TEST_KEY", "sk-ant-batch-test-123456")
    write_task(tmp_path, n_items=5)
    with StubServer() as evaluatees, StubServer(StubState(batch_polls=1)) as judge:
        config = batch_config(tmp_path, evaluatees.url, judge.url, provider)
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        state = judge.state
    sizes = [b["lines"] for b in state.batches.values()]
    # Round 1: 30 calls; round 2: the 2 of each of its 5 batches that failed, 10 calls.
    assert sorted(sizes) == [2, 3, 7, 7, 7, 7, 7]
    assert len(state.batch_lines) == 30 and state.calls["judge-1"] == 0
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM batches WHERE collected IS NOT NULL").fetchone() \
        == (7,)
    assert db.execute("SELECT COUNT(*) FROM calls WHERE model = 'judge-1' AND response IS "
                      "NOT NULL").fetchone() == (30,)


def test_batches_are_split_by_bytes_too() -> None:
    from peerreview.calls.batches import LINE_ENVELOPE, split_batch

    calls = {f"k{i}": {"messages": [{"role": "user", "content": "x" * 100}]} for i in range(5)}
    line = len(json.dumps(calls["k0"], separators=(",", ":"))) + LINE_ENVELOPE
    # Room for two lines and a half: parts of 2, 2 and 1, in order.
    assert split_batch(list(calls), calls, (1000, int(2.5 * line))) == \
        [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert split_batch(list(calls), calls, (3, 10**9)) == [["k0", "k1", "k2"], ["k3", "k4"]]
    # A line past the byte limit alone is a part of its own.
    assert split_batch(["k0", "k1"], calls, (10, line - 1)) == [["k0"], ["k1"]]
