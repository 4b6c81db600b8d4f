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

from peerreview.agreement import Agreement, measure_agreement
from peerreview.errors import InputError, PeerReviewError
from peerreview.exam import ExamResult, Weighting, run_exam
from peerreview.gold import Gold, gold_from_judgments
from peerreview.rank import Qualification, RankOptions, RankResult, rank, write_rank
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
from peerreview.votes import JudgmentTable, build_table

__all__ = [
    "Agreement",
    "ExamResult",
    "Gold",
    "InputError",
    "Item",
    "Judgment",
    "JudgmentTable",
    "PairwiseJudgment",
    "PeerReviewError",
    "PointwiseJudgment",
    "Qualification",
    "RankOptions",
    "RankResult",
    "Submission",
    "Weighting",
    "__version__",
    "build_table",
    "gold_from_judgments",
    "measure_agreement",
    "rank",
    "read_items",
    "read_judgments",
    "read_submissions",
    "run_exam",
    "write_rank",
]
