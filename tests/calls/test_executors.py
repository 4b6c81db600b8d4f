"""Executors past this process: Ray workers with peerreview's own async caller, and
vllm run-batch (a stand-in command here, since vLLM is not installed)."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
import yaml

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.testing.stub import StubServer
from tests.conftest import RAY_KEY_ENV, RayCluster, needs_ray
from tests.fixtures.fake_endpoints import Fake
from tests.livetask import EVALUATEES, expected_calls, write_config, write_task

pytestmark = pytest.mark.slow  # seconds of real processes: run first (conftest)

FAKE_VLLM = Path(__file__).parents[1] / "fixtures" / "fake_vllm_run_batch.py"
N_ITEMS = 8  # the cluster-concurrency test's items: 48 calls


def board(out: Path) -> list[str]:
    return [r["model"] for r in json.loads((out / "leaderboard.json").read_text())]


def test_the_ray_executor_runs_the_calls_on_workers(tmp_path: Path, ray_cluster: RayCluster,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """Calls on Ray workers: the key read from the worker's environment (never in a Ray
    log), headers sent as configured (not the mask of the config's JSON), each task's
    attempts counted, and a second run answered from the store."""
    import ray

    secret = ray_cluster.secret  # in the workers' environment since Ray started
    write_task(tmp_path, n_items=6)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, model={
            "api_key_env": RAY_KEY_ENV, "headers": {"X-Team": "team-7"}})
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "ray", "num_cpus": 2}
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        calls = sum(server.state.calls.values())
        session = Path(ray._private.worker._global_node.get_session_dir_path())
        # Again: everything from the store, nothing sent to Ray or the endpoint.
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert sum(server.state.calls.values()) == calls
        seen = {(h.get("Authorization") or h.get("authorization"),
                 h.get("X-Team") or h.get("x-team")) for h in server.state.headers}
    assert seen == {(f"Bearer {secret}", "team-7")}
    leaked = [p for p in (session / "logs").rglob("*") if p.is_file()
              and secret.encode() in p.read_bytes()]
    assert leaked == []
    assert capfd.readouterr().err == ""  # --quiet: nothing from Ray either,
    assert ray_cluster.said() == ""  # nor from its start and its processes since
    assert calls == expected_calls(6, 2)
    assert board(tmp_path / "out") == EVALUATEES
    cost = json.loads((tmp_path / "out" / "cost.json").read_text())
    assert cost["calls_made"] == 0 and cost["calls_stored"] > 0
    with sqlite3.connect(tmp_path / "out" / "run.sqlite") as raw:  # one attempt a call
        assert raw.execute("SELECT MIN(sent), MAX(sent) FROM attempts").fetchone() == (1, 1)


def test_under_ray_a_models_concurrency_holds_for_the_cluster(
        tmp_path: Path, ray_cluster: RayCluster) -> None:
    # Enough calls, slow enough, that both Ray workers run batches at once (tasks of
    # two calls, 0.1 s each: 24 tasks, two at a time).
    write_task(tmp_path, n_items=N_ITEMS)
    with StubServer() as server, Fake("ok", latency_s=0.1) as judge:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge": {"base_url": judge.url, "concurrency": 4}})
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "ray", "num_cpus": 2}
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert judge.posts == N_ITEMS * 6
        assert judge.counts.max_in_flight <= 4  # before: 4 on each of 2 workers, 8
        assert judge.counts.max_in_flight >= 2  # a worker's share was in use
    with RunStore(tmp_path / "out" / "run.sqlite") as store:
        assert {r["model"]: r["calls"] for r in store.per_model()}["judge"] == N_ITEMS * 6


def test_ray_options_are_checked_at_config_load(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write_task(tmp_path, n_items=2)
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", exam=False)
    data = yaml.safe_load(config.read_text())
    data["executor"] = {"kind": "ray", "address": "10.0.0.1:6379", "num_cpus": 2}
    config.write_text(yaml.safe_dump(data))
    line = 2 + config.read_text().splitlines().index("executor:")  # its mapping's line
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "num_cpus sizes a local Ray" in err and f"{config}:{line}" in err


@needs_ray
def test_an_unreachable_ray_address_fails_at_once_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    # As in a process that has not started Ray (the session's Ray may be up: a run
    # joins a Ray already started and never looks at the address).
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False)
        data = yaml.safe_load(config.read_text())
        data["executor"] = {"kind": "ray", "address": f"127.0.0.1:{port}"}
        config.write_text(yaml.safe_dump(data))
        code = main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    assert f"executor.address '127.0.0.1:{port}': no Ray cluster answers" in \
        capsys.readouterr().err


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
