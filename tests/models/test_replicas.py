"""Replicas of one model behind a list of base URLs: the fewest in flight gets the
call, a dead replica is paused while the others answer, and replicas share answers."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path

import yaml

from peerreview.calls.key import identity_of
from peerreview.cli import main
from peerreview.models.config import ModelConfig
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import EVALUATEES, write_config, write_task


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_three_replicas_one_dead_the_others_answer_everything(tmp_path: Path,
                                                             capsys) -> None:
    write_task(tmp_path, n_items=20)
    dead = dead_url()
    with StubServer(StubState(latency_s=0.02)) as one, \
            StubServer(StubState(latency_s=0.02)) as two, StubServer() as evaluatees:
        config = write_config(tmp_path, evaluatees.url, exam=False, reviewers={
            "judge": {"model": "judge", "base_url": [one.url, dead, two.url],
                      "concurrency": 2}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        asked = (one.state.calls["judge"], two.state.calls["judge"])
        assert sum(asked) == 20 * 6  # every question answered, none lost to the dead one
        assert min(asked) >= 20  # both live replicas took their share
        board = [r["model"] for r in json.loads((tmp_path / "out" / "leaderboard.json")
                                                .read_text())]
        assert board == EVALUATEES
        err = capsys.readouterr().err
        assert f"cannot connect to {dead}" in err and "the others answer" in err
        # Answers are shared by the replicas: the same run with the list reordered
        # (cache_id defaults to the first URL, so set it) asks nothing again.
        data = yaml.safe_load(config.read_text())
        data["models"]["judge"].update(base_url=[two.url, one.url], cache_id=one.url)
        config.write_text(yaml.safe_dump(data))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert (one.state.calls["judge"], two.state.calls["judge"]) == asked
        capsys.readouterr()
        assert main(["status", str(tmp_path / "out")]) == 0
    status = capsys.readouterr().out
    rows = {line.split("│")[2].strip(): int(line.split("│")[3].strip().replace(",", ""))
            for line in status.split("Calls answered per replica", 1)[1].splitlines()
            if line.count("│") == 4}
    assert rows == {one.url: asked[0], two.url: asked[1]}
    facts = json.loads((tmp_path / "out" / "run.json").read_text())
    assert facts["calls_by_replica"] == {f"judge @ {one.url}": asked[0],
                                         f"judge @ {two.url}": asked[1]}
    report = (tmp_path / "out" / "report.html").read_text()
    assert f"judge @ {one.url}" in report
    stored = sqlite3.connect(tmp_path / "out" / "run.sqlite").execute(
        "SELECT COUNT(DISTINCT json_extract(request, '$.endpoint')) FROM calls "
        "WHERE model = 'judge'").fetchone()[0]
    assert stored == 1  # one cache identity for the replicas


N_ITEMS = 12


def test_a_replica_that_dies_mid_run_is_paused_and_the_run_finishes(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=N_ITEMS)  # 72 calls, one at a time on each replica
    with StubServer(StubState(latency_s=0.01)) as keeper, StubServer() as evaluatees, \
            StubServer(StubState(latency_s=0.01)) as mortal:
        config = write_config(tmp_path, evaluatees.url, exam=False, reviewers={
            "judge": {"model": "judge", "base_url": [mortal.url, keeper.url],
                      "concurrency": 1, "max_retries": 2}})

        def kill_after_ten() -> None:
            deadline = time.time() + 30
            while mortal.state.calls["judge"] < 10 and time.time() < deadline:
                time.sleep(0.005)
            mortal.stop_listening()

        killer = threading.Thread(target=kill_after_ten)
        killer.start()
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        killer.join()
        served = mortal.state.calls["judge"]
        assert 10 <= served < N_ITEMS * 6 // 2  # it died early in its share
        assert keeper.state.calls["judge"] + served >= N_ITEMS * 6  # the keeper took the rest
    board = [r["model"] for r in json.loads((tmp_path / "out" / "leaderboard.json")
                                            .read_text())]
    assert board == EVALUATEES


def test_the_cache_identity_of_replicas_is_the_first_url_or_the_cache_id() -> None:
    one = ModelConfig(provider="openai", model="m", base_url=["http://a:1/v1", "http://b:1/v1"])
    assert identity_of(one).endpoint == "http://a:1/v1"
    assert one.urls == ["http://a:1/v1", "http://b:1/v1"]
    named = one.model_copy(update={"cache_id": "pool"})
    assert identity_of(named).endpoint == "pool"
