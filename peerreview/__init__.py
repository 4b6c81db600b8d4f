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

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peerreview.agreement import Agreement, measure_agreement
    from peerreview.errors import InputError, PeerReviewError
    from peerreview.exam import ExamResult, run_exam
    from peerreview.gold import Gold, gold_from_judgments
    from peerreview.options import Qualification, Weighting
    from peerreview.pipeline import run, run_async
    from peerreview.ranking import RankOptions, RankResult, rank, write_rank
    from peerreview.records import (
        Item,
        Judgment,
        PairwiseJudgment,
        PointwiseJudgment,
        Submission,
        read_items,
        read_judgments,
        read_submissions,
    )
    from peerreview.study import Study, load_study, study_of
    from peerreview.votes import JudgmentTable, build_table

# Loaded on first use, so that the command line starts without numpy or scipy.
_WHERE = {
    "Agreement": "agreement", "measure_agreement": "agreement",
    "InputError": "errors", "PeerReviewError": "errors",
    "ExamResult": "exam", "run_exam": "exam",
    "Gold": "gold", "gold_from_judgments": "gold",
    "Qualification": "options", "Weighting": "options",
    "run": "pipeline", "run_async": "pipeline",
    "RankOptions": "ranking", "RankResult": "ranking", "rank": "ranking",
    "write_rank": "ranking",
    "Item": "records", "Judgment": "records", "PairwiseJudgment": "records",
    "PointwiseJudgment": "records", "Submission": "records", "read_items": "records",
    "read_judgments": "records", "read_submissions": "records",
    "Study": "study", "load_study": "study", "study_of": "study",
    "JudgmentTable": "votes", "build_table": "votes",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'peerreview' has no attribute {name!r}")
    return getattr(importlib.import_module(f"peerreview.{_WHERE[name]}"), name)


__all__ = ["__version__", *sorted(_WHERE)]
