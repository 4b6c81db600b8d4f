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
from peerreview.stub import StubServer, StubState
from tests.live import EVALUATEES, write_config, write_task

ROOT = Path(__file__).resolve().parents[1]


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
        proc = subprocess.Popen([sys.executable, "-m", "peerreview.cli", "run", str(config),
                                 "--out", str(tmp_path / "out"), "--quiet"], cwd=ROOT,
                                env=os.environ | {"PYTHONPATH": str(ROOT)})
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
    from peerreview.config import load_config
    from peerreview.plan import plan

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

    from peerreview.config import ModelConfig
    from peerreview.models.anthropic import AnthropicBackend

    backend = AnthropicBackend("c", ModelConfig(provider="anthropic", model="m",
                                                base_url="http://127.0.0.1:9"))
    text = "\n".join(['{"custom_id": "k1", "result": "oops"}', "not json", "[1, 2]",
                      '{"result": {"type": "succeeded"}}', ""])
    assert [k for k, _ in backend.batch_records(text, "b1")] == ["k1"]

    async def results() -> dict[str, object]:
        async def fetched(*_: object, **__: object) -> str:
            return text
        backend._api = fetched  # type: ignore[method-assign]
        return dict(await backend.batch_results("b1"))

    got = asyncio.run(results())
    assert list(got) == ["k1"] and got["k1"] == "batch b1: no result: "
