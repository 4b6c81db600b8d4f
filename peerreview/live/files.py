"""What a finished run writes: rank's files, the submissions and judgments it
produced, its facts (run.json), the cost with calls made and saved, reviewers.json
with each candidate's calls that failed for good, and the report; and what a run that
ranked nothing writes to say why (:func:`unranked_files`)."""

from __future__ import annotations

import contextlib
import logging
import platform
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from peerreview.calls.caller import Tally
from peerreview.calls.store import RunStore
from peerreview.errors import RunFailed
from peerreview.exam.grade import ExamResult, candidates
from peerreview.live.config import RunConfig
from peerreview.live.inputs import config_folder, rank_options
from peerreview.models import CallError
from peerreview.output import Content, write_files
from peerreview.prompts import template_hash
from peerreview.rankfiles import reviewer_rows
from peerreview.ranking import RankResult
from peerreview.records.exchange import (
    Judgment,
    Submission,
    dumps_json,
    dumps_jsonl,
    judgment_lines,
    judgment_to_dict,
)
from peerreview.records.readable import Unreadable, unreadable_reviewers
from peerreview.records.table import build_table
from peerreview.report import ReportInputs, UnrankedInputs, render, render_unranked

log = logging.getLogger("peerreview")
Records = dict[str, Iterable[dict[str, Any]]]  # what the run store keeps of the files


@dataclass(slots=True)
class Failures:
    """Calls that failed for good in this run, per model, with the first reason."""

    calls: Counter[str]
    first: dict[str, str]
    stages: dict[str, set[str]]

    def add(self, stage: str, error: CallError) -> None:
        model = error.model or "?"
        self.calls[model] += 1
        self.first.setdefault(model, str(error).removeprefix(f"model {model!r}: "))
        self.stages.setdefault(model, set()).add(stage)

    def in_stage(self, stage: str) -> set[str]:
        """Models that had a call fail for good in ``stage``."""
        return {m for m, stages in self.stages.items() if stage in stages}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {m: {"missing_calls": n, "stages": sorted(self.stages[m]),
                    "error": self.first[m]} for m, n in sorted(self.calls.items())}

    def summary(self) -> str:
        return "; ".join(f"{n} call(s) of model {m!r} failed for good ({self.first[m]})"
                         for m, n in sorted(self.calls.items()))


@dataclass(slots=True, repr=False)
class RunResult:
    """What a run produced."""

    out: Path
    submissions: list[Submission]
    judgments: list[Judgment]
    rank: RankResult
    tally: Tally
    seconds: float
    facts: dict[str, Any]

    def __repr__(self) -> str:
        # Short: asyncio's runner (3.11) formats the finished task's result when it
        # puts SIGINT's handler back, and a million judgments spelled out took
        # seconds and 100 MB a 300,000-call run.
        return (f"RunResult(out={str(self.out)!r}, submissions={len(self.submissions)}, "
                f"judgments={len(self.judgments)}, seconds={self.seconds:.1f})")


def run_facts(cfg: RunConfig) -> dict[str, Any]:
    """What run.json records of a run before its first call: the config (paths
    absolute), its folder, the versions, the seed and the reviewer prompts' hashes."""
    prompts = {f"{m.style}/{cfg.review.mode}.j2": template_hash(f"{m.style}/{cfg.review.mode}.j2")
               for n, m in cfg.models.items() if n in cfg.reviewers and m.style != "call"}
    versions = {"peerreview": metadata.version("peerreview"), "python": platform.python_version()}
    if any(m.embedded for m in cfg.models.values()):
        # Read from the metadata: importing llama.cpp would load its library.
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions["llama_cpp_python"] = metadata.version("llama-cpp-python")
    # Settings at their default are left out: the config reads back the same.
    # Paths made absolute (they are relative to where the run started), so that
    # report, label-select and label DIR read the same files from any folder.
    return {"config": cfg.resolve(Path.cwd()).model_dump(mode="json", exclude_defaults=True),
            "config_dir": str(config_folder(cfg)), "versions": versions, "seed": cfg.seed,
            "prompt_hashes": prompts, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def run_files(run: RunResult, config: RunConfig) -> tuple[dict[str, Content], Records]:
    """The files of a run (rank's, plus the submissions, judgments and run facts), and
    the records they hold, for the store."""
    ranked = run.rank.files()
    files: dict[str, Content] = dict(ranked)
    cost = {**orjson.loads(ranked["cost.json"]), **_calls(run.tally, run.facts)}
    reviewers = _mark_failures(orjson.loads(ranked["reviewers.json"]), config.reviewers,
                               run.facts.get("failures", {}))
    files["cost.json"] = dumps_json(cost)
    files["reviewers.json"] = dumps_json(reviewers)
    files["run.json"] = dumps_json(run.facts)
    files.update(render(ReportInputs(run.rank, title="peerreview run",
                                     threshold=rank_options(config).threshold,
                                     facts=run.facts)))
    return _with_records(files, run.submissions, run.judgments, reviewers)


class NoRanking(RunFailed):
    """A run that ended without a ranking. Its folder holds what says why:
    reviewers.json, report.html, summary.md, run.json, cost.json and the submissions
    and judgments made; ``exam`` is the exam table to show, ``threshold`` its
    threshold (None without an exam)."""

    def __init__(self, message: str, exam: list[ExamResult], threshold: float | None) -> None:
        super().__init__(message)
        self.exam = exam
        self.threshold = threshold


@dataclass(slots=True)
class Unranked:
    """What a run that ranked nothing got as far as."""

    why: str
    exam: list[ExamResult]  # the candidates' exam (or their counts), if it was reached
    submissions: list[Submission]
    judgments: list[Judgment]
    tally: Tally
    facts: dict[str, Any]


def unranked_files(run: Unranked, config: RunConfig, unreadable: list[Unreadable]
                   ) -> tuple[dict[str, Content], Records]:
    """The files of a run that ranked nothing (no leaderboard, no verdicts), and the
    records they hold, for the store; ``unreadable``: the reviewers it could not read."""
    exam = config.exam
    threshold = exam.threshold if exam is not None and exam.by_gold else None
    reviewers = _mark_failures(reviewer_rows(run.exam), config.reviewers,
                               run.facts.get("failures", {}))
    files: dict[str, Content] = {
        "reviewers.json": dumps_json(reviewers),
        "cost.json": dumps_json({"judgments_used": 0, "judgments_available": 0,
                                 **_calls(run.tally, run.facts)}),
        "run.json": dumps_json(run.facts),
        **render_unranked(UnrankedInputs(run.why, run.exam, unreadable,
                                         title="peerreview run", threshold=threshold,
                                         facts=run.facts)),
    }
    return _with_records(files, run.submissions, run.judgments, reviewers)


def _with_records(files: dict[str, Content], submissions: list[Submission],
                  judgments: list[Judgment], reviewers: list[dict[str, Any]]
                  ) -> tuple[dict[str, Content], Records]:
    """``files`` with the submissions and judgments files, and the records the store
    keeps of them: the judgments as chunks and rows made as they are read, so that
    none of their text is held twice."""
    subs = [asdict(s) for s in submissions]
    files["submissions.jsonl"] = dumps_jsonl(subs)
    files["judgments.jsonl"] = judgment_lines(judgments)
    return files, {"submissions": subs, "reviewers": reviewers,
                   "judgments": (judgment_to_dict(j) for j in judgments)}


def end_unranked(out: Path, store: RunStore, config: RunConfig, failures: Failures,
                 run: Unranked) -> NoRanking:
    """Write the folder of a run that ranked nothing, all at once, and return the error
    that ends it: its message names the cause (and the calls that failed, if any)."""
    cause = run.why
    if failures.calls:
        run.why = f"{failures.summary()}. {cause[:1].upper()}{cause[1:]}"
        run.facts["failures"] = failures.to_dict()
    store.set_fact("failures", run.facts.get("failures", {}))
    run.facts["unranked"] = run.why
    table = build_table(run.judgments)
    if not run.exam and run.judgments:  # the exam was not reached: the counts, at least
        run.exam = candidates(table)
    unreadable = unreadable_reviewers(run.exam, table)
    files, records = unranked_files(run, config, unreadable)
    for said in unreadable:
        log.warning(said.message)
    for kind, rows in records.items():
        store.set_records(kind, rows)
    write_files(out, files)
    shown = "the exam and why" if any(r.exam_accuracy is not None for r in run.exam) \
        else "why"
    retry = (f" Completed calls are kept in {out / 'run.sqlite'}: run again to retry the "
             "rest." if failures.calls else "")
    exam = config.exam
    return NoRanking(f"{run.why}. {out / 'report.html'} shows {shown}.{retry}", run.exam,
                     exam.threshold if exam is not None and exam.by_gold else None)


def _calls(t: Tally, facts: dict[str, Any]) -> dict[str, Any]:
    """cost.json's account of the run's calls: made, stored, tokens, dollars, saved."""
    review = facts.get("review", {})
    return {"calls_made": t.made, "calls_stored": t.cached, "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens, "cost_usd": round(t.cost_usd, 6),
            "truncated_prompts": t.truncated, "review_calls": review.get("calls"),
            "review_calls_full_schedule": review.get("full_schedule_calls"),
            "calls_saved": review.get("calls_saved"),
            # The whole run's, from the store (every invocation that resumed it); the
            # keys above are this invocation's.
            "run_totals": facts.get("calls")}


def _mark_failures(rows: list[dict[str, Any]], candidates: list[str],
                   failures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """reviewers.json with each candidate's calls that failed for good; a candidate
    that never answered gets a row too."""
    named = {row["reviewer"] for row in rows}
    rows = rows + [{"reviewer": name, "exam_accuracy": None, "exam_items": None,
                    "qualified": False, "weight": 0.0, "judgments": 0, "abstentions": 0,
                    "unreadable_share": None}
                   for name in candidates if name in failures and name not in named]
    for row in rows:
        missing = failures.get(row["reviewer"], {}).get("missing_calls", 0)
        row["failed"], row["missing_calls"] = missing > 0, missing
        if missing and "exam" in failures[row["reviewer"]]["stages"]:
            row["qualified"], row["weight"] = False, 0.0  # sat out: see Pipeline._stages
    return rows
