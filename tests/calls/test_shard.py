"""``run --shard I/N`` and ``merge``: three shards against the stub, one killed with
SIGKILL mid-review and resumed, merged into a result identical to an unsharded run
(leaderboard, verdicts, judgments), with every review call made once over the shards."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from peerreview.calls.shard import Shard, parse_shard
from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import write_config, write_task
from tests.spawned import start_cli

ROOT = Path(__file__).resolve().parents[2]
COMPARED = ("leaderboard.json", "verdicts.jsonl", "judgments.jsonl")


def _review_keys(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        return {k for (k,) in raw.execute("SELECT key FROM calls WHERE response IS NOT NULL")}


def _kill_mid_review(config: Path, out: Path, server: StubServer) -> None:
    """Start shard 1/3 in a process of its own and SIGKILL it once it has stored some
    review calls (past the submissions and the exam)."""
    proc = start_cli(["run", str(config), "--out", str(out), "--quiet", "--shard", "1/3"],
                     cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    start = server.state.calls.total()
    deadline = time.time() + 60
    try:
        # 12 items x 3 evaluatees and the exam's 12 calls, then review calls.
        while server.state.calls.total() - start < 60 and time.time() < deadline:
            assert proc.poll() is None, "the shard ended before it could be killed"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_three_shards_one_killed_merge_into_the_unsharded_result(tmp_path: Path) -> None:
    write_task(tmp_path, n_items=12)
    with StubServer(StubState()) as server:
        config = write_config(tmp_path, server.url, model={"concurrency": 2})
        assert main(["run", str(config), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
        whole_calls = server.state.calls.total()
        server.state.calls.clear()
        server.state.latency_s = 0.05
        _kill_mid_review(config, tmp_path / "s1", server)
        server.state.latency_s = 0.0
        for i in range(3):  # shard 1 resumes where it was killed
            assert main(["run", str(config), "--out", str(tmp_path / f"s{i}"), "--quiet",
                         "--shard", f"{i}/3"]) == 0
        assert not (tmp_path / "s0" / "leaderboard.json").exists()  # the merge ranks
        before_merge = server.state.calls.total()
        assert main(["merge", *(str(tmp_path / f"s{i}") for i in range(3)), "--out",
                     str(tmp_path / "merged"), "--quiet"]) == 0
        assert server.state.calls.total() == before_merge  # the merge sends nothing
    for name in COMPARED:
        assert (tmp_path / "merged" / name).read_bytes() == \
            (tmp_path / "whole" / name).read_bytes(), name
    merged = _review_keys(tmp_path / "merged" / "run.sqlite")
    assert merged == _review_keys(tmp_path / "whole" / "run.sqlite")
    shards = [_review_keys(tmp_path / f"s{i}" / "run.sqlite") for i in range(3)]
    # Review calls are each in one shard's store; submissions and exam in all three.
    common = shards[0] & shards[1] & shards[2]
    review = merged - common
    assert all(Shard(i, 3).holds(k) for i in range(3) for k in shards[i] - common)
    assert sum(len(s - common) for s in shards) == len(review) > 0
    # Over the shards, each review call was sent once (the killed shard lost at most
    # those in flight: concurrency 2 for each of 2 reviewers); the shared calls 3 times.
    shard_calls = before_merge
    assert whole_calls - len(common) + 3 * len(common) <= shard_calls
    assert shard_calls <= whole_calls + 2 * len(common) + 4
    facts = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert facts["calls"]["calls"] == len(merged)


def test_merge_refuses_a_missing_shard_and_a_different_config(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    write_task(tmp_path, n_items=3)
    with StubServer(StubState()) as server:
        config = write_config(tmp_path, server.url, exam=False)
        for i in range(2):
            assert main(["run", str(config), "--out", str(tmp_path / f"s{i}"), "--quiet",
                         "--shard", f"{i}/3"]) == 0
        assert main(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out",
                     str(tmp_path / "m")]) == 2
        assert "shard(s) 2/3 missing" in capsys.readouterr().err
        other = write_config(tmp_path, server.url, exam=False, seed=7)
        assert main(["run", str(other), "--out", str(tmp_path / "s2"), "--quiet",
                     "--shard", "2/3"]) == 0
        assert main(["merge", *(str(tmp_path / f"s{i}") for i in range(3)), "--out",
                     str(tmp_path / "m")]) == 2
        err = capsys.readouterr().err
        assert "its config differs" in err and str(tmp_path / "s2" / "run.sqlite") in err
        # A folder holds one shard for good.
        assert main(["run", str(config), "--out", str(tmp_path / "s0"), "--quiet",
                     "--shard", "1/3"]) == 2
        assert "holds shard 0/3, not 1/3" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["3/3", "1", "a/2", "-1/2", "0/0"])
def test_a_bad_shard_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_shard(text)
    assert caught.value.field == "--shard"


def test_shards_are_by_the_key_prefix() -> None:
    key = "0000000a" + "f" * 56  # 10
    assert [Shard(i, 3).holds(key) for i in range(3)] == [False, True, False]
    assert [Shard(i, 5).holds(key) for i in range(5)] == [True, False, False, False, False]


def test_a_schedule_that_asks_by_the_answers_cannot_be_sharded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_task(tmp_path, n_items=3)
    config = write_config(tmp_path, "http://127.0.0.1:9/v1",
                          review={"mode": "pairwise", "schedule": "adaptive"})
    assert main(["run", str(config), "--out", str(tmp_path / "s0"), "--quiet",
                 "--shard", "0/2"]) == 2
    err = capsys.readouterr().err
    assert "--shard needs review.schedule full or one-order" in err
    assert f"{config}:" in err  # the config file and the line of review.schedule
