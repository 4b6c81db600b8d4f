"""A live run's per-call data is never held twice: the review's jobs are made when
taken, the judgments file is written in chunks, and a run's result prints short."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from peerreview.live.files import RunResult
from peerreview.output import write_files
from peerreview.records.exchange import (
    Item,
    PairwiseJudgment,
    PointwiseJudgment,
    Submission,
    dumps_jsonl,
    judgment_lines,
    judgment_to_dict,
)
from peerreview.review.schedule import Schedule, one_order_first
from peerreview.review.stage import ReviewJobs

ITEMS = {t: Item(t, f"question {t}") for t in ("t2", "t1")}
MODELS = ("c", "a", "b")
SUBS = [Submission(t, m, f"{m} on {t}") for t in ITEMS for m in MODELS]
REVIEWERS = ["r2", "r1"]


def _asked(jobs: ReviewJobs) -> list[tuple[str, str, str, str | None]]:
    """(reviewer, item, first, second) of every job, in order, read off the job."""
    out = []
    for job in jobs:
        _, reviewer, question = job.args  # type: ignore[attr-defined]
        second = question.second.model if question.second else None
        out.append((reviewer, question.item.item, question.first.model, second))
    return out


def test_full_jobs_are_every_pair_in_both_orders_reviewers_interleaved() -> None:
    jobs = ReviewJobs(None, Schedule.FULL, REVIEWERS, ITEMS, SUBS,  # type: ignore[arg-type]
                      pairwise=True, seed=0)
    expected = [(r, t, x, y) for t in ("t1", "t2")
                for a, b in (("a", "b"), ("a", "c"), ("b", "c"))
                for x, y in ((a, b), (b, a)) for r in REVIEWERS]
    assert len(jobs) == 2 * 3 * 2 * 2 == 24
    assert _asked(jobs) == expected


def test_one_order_jobs_ask_each_pair_once_in_the_seeded_order() -> None:
    jobs = ReviewJobs(None, Schedule.ONE_ORDER, REVIEWERS, ITEMS, SUBS,  # type: ignore[arg-type]
                      pairwise=True, seed=7)
    expected = []
    for t in ("t1", "t2"):
        for a, b in itertools.combinations(("a", "b", "c"), 2):
            for r in REVIEWERS:
                first = one_order_first(t, a, b, r, 7)
                expected.append((r, t, a, b) if first else (r, t, b, a))
    assert _asked(jobs) == expected
    assert any(x < y for *_, x, y in expected) and any(x > y for *_, x, y in expected)


def test_pointwise_jobs_score_each_submission_by_each_reviewer() -> None:
    jobs = ReviewJobs(None, Schedule.FULL, REVIEWERS, ITEMS, SUBS,  # type: ignore[arg-type]
                      pairwise=False, seed=0)
    assert _asked(jobs) == [(r, t, m, None) for t in ("t1", "t2") for m in ("a", "b", "c")
                            for r in REVIEWERS]
    with pytest.raises(IndexError):
        jobs[len(jobs)]


def test_baseline_pairs_only() -> None:
    jobs = ReviewJobs(None, Schedule.FULL, ["r"], ITEMS, SUBS,  # type: ignore[arg-type]
                      pairwise=True, seed=0, baseline="b")
    assert _asked(jobs) == [("r", t, x, y) for t in ("t1", "t2")
                            for x, y in (("a", "b"), ("b", "a"), ("b", "c"), ("c", "b"))]


def _judgments(n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        if i % 3:
            out.append(PairwiseJudgment(f"t{i}", "r", "a", "b", "first" if i % 2 else "tie",
                                        raw=f"answer \u00e9 {i}", p_first=0.25))
        else:
            out.append(PointwiseJudgment(f"t{i}", "r", "a", 4.0, (1.0, 5.0), raw=None))
    return out


@pytest.mark.parametrize(("n", "chunk"), [(0, 3), (1, 3), (9, 3), (10, 3), (25, 10_000)])
def test_judgment_lines_are_the_judgments_file_in_chunks(n: int, chunk: int) -> None:
    judgments = _judgments(n)
    chunks = list(judgment_lines(judgments, chunk))
    assert len(chunks) == -(-n // chunk)
    assert b"".join(chunks) == dumps_jsonl([judgment_to_dict(j) for j in judgments])
    lines = b"".join(chunks).splitlines()
    assert [orjson.loads(x)["item"] for x in lines] == [f"t{i}" for i in range(n)]


def test_a_streamed_file_is_written_whole_into_the_set(tmp_path: Path) -> None:
    judgments = _judgments(7)
    write_files(tmp_path, {"judgments.jsonl": judgment_lines(judgments, 2),
                           "other.json": b"{}\n"})
    assert (tmp_path / "judgments.jsonl").read_bytes() == \
        dumps_jsonl([judgment_to_dict(j) for j in judgments])
    assert (tmp_path / "other.json").read_bytes() == b"{}\n"


def test_a_run_result_prints_in_one_short_line(tmp_path: Path) -> None:
    # asyncio's runner formats the result of the task it ran: spelled out, a million
    # judgments cost seconds and hundreds of megabytes at the end of a run.
    run = RunResult(tmp_path, SUBS, _judgments(100_000), None,  # type: ignore[arg-type]
                    None, 12.3, {})  # type: ignore[arg-type]
    assert repr(run) == (f"RunResult(out={str(tmp_path)!r}, submissions=6, "
                         "judgments=100000, seconds=12.3)")


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_the_page_is_encoded_in_chunks_that_join_to_the_whole(size: int) -> None:
    from peerreview.report import _encoded

    pieces = ["<p>", "caf\u00e9 ", "\U0001f600", "", "x" * 12, "</p>\n"]
    chunks = list(_encoded(iter(pieces), size))
    assert b"".join(chunks) == "".join(pieces).encode()
    # By hand: small pieces are joined until they reach ``size`` characters; a piece
    # of ``size`` or more is its own slices of ``size`` (never joined, never empty).
    assert len(chunks) == {1: 26, 5: 7, 1 << 20: 1}[size]
    assert all(chunks)
