"""What a finished run writes: rank's files, the submissions and judgments it
produced, its facts (run.json), the cost with calls made and saved, reviewers.json
with each candidate's calls that failed for good, and the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from peerreview.calls import Tally
from peerreview.config import RunConfig
from peerreview.models import CallError
from peerreview.ranking import RankResult
from peerreview.records import (
    Judgment,
    Submission,
    dumps_json,
    dumps_jsonl,
    judgment_to_dict,
)
from peerreview.report import ReportInputs, render
from peerreview.runinputs import rank_options


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


@dataclass(slots=True)
class RunResult:
    """What a run produced."""

    out: Path
    submissions: list[Submission]
    judgments: list[Judgment]
    rank: RankResult
    tally: Tally
    seconds: float
    facts: dict[str, Any]


def run_files(run: RunResult, config: RunConfig
              ) -> tuple[dict[str, bytes], dict[str, list[dict[str, Any]]]]:
    """The files of a run (rank's, plus the submissions, judgments and run facts), and
    the records they hold, for the store."""
    files = run.rank.files()
    t = run.tally
    cost = orjson.loads(files["cost.json"])
    review = run.facts.get("review", {})
    cost.update(calls_made=t.made, calls_stored=t.cached, prompt_tokens=t.prompt_tokens,
                completion_tokens=t.completion_tokens, cost_usd=round(t.cost_usd, 6),
                truncated_prompts=t.truncated, review_calls=review.get("calls"),
                review_calls_full_schedule=review.get("full_schedule_calls"),
                calls_saved=review.get("calls_saved"))
    records = {
        "submissions": [asdict(s) for s in run.submissions],
        "judgments": [judgment_to_dict(j) for j in run.judgments],
        "reviewers": _mark_failures(orjson.loads(files["reviewers.json"]), config.reviewers,
                                    run.facts.get("failures", {})),
    }
    files["cost.json"] = dumps_json(cost)
    files["reviewers.json"] = dumps_json(records["reviewers"])
    files["submissions.jsonl"] = dumps_jsonl(records["submissions"])
    files["judgments.jsonl"] = dumps_jsonl(records["judgments"])
    files["run.json"] = dumps_json(run.facts)
    files.update(render(ReportInputs(run.rank, title="peerreview run",
                                     threshold=rank_options(config).threshold,
                                     facts=run.facts)))
    return files, records


def _mark_failures(rows: list[dict[str, Any]], candidates: list[str],
                   failures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """reviewers.json with each candidate's calls that failed for good; a candidate
    that never answered gets a row too."""
    named = {row["reviewer"] for row in rows}
    rows = rows + [{"reviewer": name, "exam_accuracy": None, "exam_items": None,
                    "qualified": False, "weight": 0.0, "judgments": 0, "abstentions": 0}
                   for name in candidates if name in failures and name not in named]
    for row in rows:
        missing = failures.get(row["reviewer"], {}).get("missing_calls", 0)
        row["failed"], row["missing_calls"] = missing > 0, missing
        if missing and "exam" in failures[row["reviewer"]]["stages"]:
            row["qualified"], row["weight"] = False, 0.0  # sat out: see Pipeline._stages
    return rows
