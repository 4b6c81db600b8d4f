"""peerreview as a library in a notebook: run and run_async, results as DataFrames,
records in hand, and Parquet."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import polars as pl
import pytest

import peerreview
from peerreview.cli import main
from peerreview.testing.stub import StubServer
from tests.conftest import VOTE_EXAMPLE, pw, write_jsonl
from tests.livetask import EVALUATEES, write_config, write_task


def test_run_async_awaited_inside_a_running_loop(tmp_path: Path) -> None:
    """As a Jupyter cell runs it: inside an event loop that is already running, where
    asyncio.run() refuses."""
    write_task(tmp_path)
    with StubServer() as server:
        config = write_config(tmp_path, server.url)

        async def cell() -> list[str]:
            with pytest.raises(RuntimeError, match="cannot be called from a running"):
                peerreview.run(config, tmp_path / "sync", show_progress=False)
            result = await peerreview.run_async(config, tmp_path / "out", show_progress=False)
            return [row.model for row in result.rank.leaderboard]

        assert asyncio.run(cell()) == EVALUATEES
    assert (tmp_path / "out" / "report.html").exists()


def test_rank_takes_records_and_dicts_and_gives_dataframes(tmp_path: Path) -> None:
    by_dicts = peerreview.rank(VOTE_EXAMPLE)
    by_file = peerreview.rank([write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)])
    assert [(r.model, r.score) for r in by_dicts.leaderboard] == \
        [(r.model, r.score) for r in by_file.leaderboard]
    frame = by_dicts.to_polars()
    assert frame.columns == ["model", "rank", "score", "ci_low", "ci_high", "rank_low",
                             "rank_high"]
    assert frame["model"].to_list() == [r.model for r in by_dicts.leaderboard]
    assert frame["score"].to_list() == [r.score for r in by_dicts.leaderboard]
    back = pl.read_parquet(io.BytesIO(by_dicts.leaderboard_parquet()))
    assert back.equals(frame)


def test_a_bad_dict_names_its_position_and_field() -> None:
    with pytest.raises(peerreview.InputError) as caught:
        peerreview.rank([pw("t1", "r", "A", "B", "first"), {"item": "t1", "reviewer": "r"}])
    assert (caught.value.line, caught.value.field) == (2, "first")


def test_rank_writes_leaderboard_parquet_when_asked(tmp_path: Path) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    assert main(["rank", "--judgments", str(j), "--out", str(tmp_path / "o"), "--parquet",
                 "--quiet"]) == 0
    board = pl.read_parquet(tmp_path / "o" / "leaderboard.parquet")
    assert board["model"].to_list()[0] == peerreview.rank(VOTE_EXAMPLE).leaderboard[0].model


def test_version_flags() -> None:
    for flag in ("--version", "-V"):
        with pytest.raises(SystemExit) as caught:
            main([flag])
        assert caught.value.code == 0
