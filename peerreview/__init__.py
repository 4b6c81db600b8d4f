"""peerreview: rank large language models by peer review (PRE, Chu et al. 2024).

Reviewer candidates sit a qualification exam against human gold; the qualified
ones, weighted by their exam accuracy, judge the evaluatees' submissions; a chair
turns the weighted judgments into verdicts and a ranking.

The library is usable without the command line::

    from peerreview import rank, RankOptions
    result = rank(["judgments.jsonl"], exam_gold="exam.jsonl", gold="gold.jsonl")
    for row in result.leaderboard:
        print(row.rank, row.model, row.score)
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = metadata.version("peerreview")
except metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from peerreview.agreement import Agreement, measure_agreement
    from peerreview.errors import InputError, PeerReviewError
    from peerreview.exam.grade import ExamResult, run_exam
    from peerreview.live.pipeline import run, run_async
    from peerreview.options import Qualification, Weighting
    from peerreview.ranking import RankOptions, RankResult, rank, write_rank
    from peerreview.records.exchange import (
        Item,
        Judgment,
        PairwiseJudgment,
        PointwiseJudgment,
        Submission,
        read_items,
        read_judgments,
        read_submissions,
    )
    from peerreview.records.gold import Gold, gold_from_judgments
    from peerreview.records.study import Study, load_study, study_of
    from peerreview.records.table import JudgmentTable, build_table

# Loaded on first use, so that the command line starts without numpy or scipy.
_WHERE = {
    "Agreement": "agreement", "measure_agreement": "agreement",
    "InputError": "errors", "PeerReviewError": "errors",
    "ExamResult": "exam.grade", "run_exam": "exam.grade",
    "Gold": "records.gold", "gold_from_judgments": "records.gold",
    "Qualification": "options", "Weighting": "options",
    "run": "live.pipeline", "run_async": "live.pipeline",
    "RankOptions": "ranking", "RankResult": "ranking", "rank": "ranking",
    "write_rank": "ranking",
    **dict.fromkeys(["Item", "Judgment", "PairwiseJudgment", "PointwiseJudgment",
                     "Submission", "read_items", "read_judgments", "read_submissions"],
                    "records.exchange"),
    "Study": "records.study", "load_study": "records.study", "study_of": "records.study",
    "JudgmentTable": "records.table", "build_table": "records.table",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'peerreview' has no attribute {name!r}")
    return getattr(importlib.import_module(f"peerreview.{_WHERE[name]}"), name)


__all__ = ["__version__", *sorted(_WHERE)]
