"""Executors past this process: Ray workers with peerreview's own async caller, and
vllm run-batch (a stand-in command here, since vLLM is not installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from peerreview.cli import main
from peerreview.testing.stub import StubServer
from tests.conftest import needs_ray
from tests.livetask import EVALUATEES, expected_calls, write_config, write_task

FAKE_VLLM = Path(__file__).parents[1] / "fixtures" / "fake_vllm_run_batch.py"


def board(out: Path) -> list[str]:
    return [r["model"] for r in json.loads((out / "leaderboard.json").read_text())]


@needs_ray
def test_the_ray_executor_runs_the_calls_on_workers(tmp_path: Path) -> None:
    import ray

    write_task(tmp_path, n_items=6)
    with StubServer() as server:
        config = write_config(tmp_path, server.url)
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "ray", "num_cpus": 2}
        config.write_text(yaml.safe_dump(data))
        try:
            assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
            calls = sum(server.state.calls.values())
            # Again: everything from the store, nothing sent to Ray or the endpoint.
            assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
            assert sum(server.state.calls.values()) == calls
        finally:
            ray.shutdown()
    assert calls == expected_calls(6, 2)
    assert board(tmp_path / "out") == EVALUATEES
    cost = json.loads((tmp_path / "out" / "cost.json").read_text())
    assert cost["calls_made"] == 0 and cost["calls_stored"] > 0


def test_the_vllm_batch_executor_round_trips_the_batch_file(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=4)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False)
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "vllm-batch", "models": ["judge-1", "judge-2"],
                            "command": [sys.executable, str(FAKE_VLLM)]}
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert server.state.calls["judge-1"] == server.state.calls["judge-2"] == 0
        assert server.state.calls["strong"] == 4  # evaluatees asked the usual way
    assert board(tmp_path / "out") == EVALUATEES
    judged = (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()
    assert len(judged) == 2 * 6 * 4


def test_a_failing_run_batch_command_fails_the_calls_naming_it(tmp_path: Path,
                                                              capsys) -> None:
    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False)
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "vllm-batch", "models": ["judge-1"],
                            "command": [sys.executable, "-c", "import sys; sys.exit(3)"]}
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert "failed (exit 3)" in capsys.readouterr().err
