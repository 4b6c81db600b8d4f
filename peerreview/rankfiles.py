"""A ranking as the contract's files: leaderboard.json and .csv, reviewers.json,
verdicts.jsonl, cost.json and (with gold) agreement.json."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from peerreview.errors import InputError
from peerreview.exam.grade import ExamResult
from peerreview.records.exchange import dumps_json, dumps_jsonl
from peerreview.records.readable import unreadable_share

if TYPE_CHECKING:
    from peerreview.ranking import RankResult

_ROW_KEY = {"ci_low": "exam_ci_low", "ci_high": "exam_ci_high"}  # ExamResult -> row


def reviewer_rows(exam: list[ExamResult]) -> list[dict[str, Any]]:
    """reviewers.json's rows: every candidate's exam, weight and answers.

    ``unreadable_share`` is the share of its judgments that could not be read (the
    abstentions), None for a candidate with no judgment; ``exam_readable`` and
    ``review_readable`` count the readable ones on the exam and in the review.
    """
    return [{
        "reviewer": r.reviewer, "exam_accuracy": r.exam_accuracy, "exam_items": r.exam_items,
        "qualified": r.qualified, "weight": r.weight, "judgments": r.judgments,
        "abstentions": r.abstentions, "exam_votes": r.exam_votes,
        "exam_ci_low": r.ci_low, "exam_ci_high": r.ci_high, "kappa": r.kappa,
        "position_consistency": r.position_consistency,
        "abstention_rate": r.abstention_rate,
        "unreadable_share": unreadable_share(r.judgments, r.abstentions),
        "exam_readable": r.exam_readable, "review_judgments": r.review_judgments,
        "review_readable": r.review_readable,
        "qualification_score": r.qualification_score,
        "latent_reliability": r.latent_reliability,
        "consistency_accuracy": r.consistency_accuracy,
        "self_confidence": r.self_confidence,
    } for r in exam]


def exam_from_rows(rows: Any, path: Path) -> list[ExamResult]:
    """The exam's results back from reviewers.json's rows (what :func:`reviewer_rows`
    wrote): ``report DIR`` draws a run that ranked nothing from them, sitting no exam
    again. A run's rows for candidates that never answered (no ``exam_votes``) are not
    results.

    Raises:
        InputError: the rows are not reviewers.json's (the file, the row).
    """
    if not isinstance(rows, list):
        raise InputError("expected a JSON list of reviewer rows", path)
    out = []
    for k, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InputError(f"row {k}: expected a JSON object", path)
        if "exam_votes" not in row:
            continue
        try:
            out.append(ExamResult(**{f.name: row[_ROW_KEY.get(f.name, f.name)]
                                     for f in fields(ExamResult)}))
        except KeyError as exc:
            raise InputError(f"row {k}: missing {exc}", path) from exc
    return out


def rank_files(result: RankResult) -> dict[str, bytes]:
    """Serialize a :class:`RankResult` as the contract's files."""
    board = [row.to_dict() for row in result.leaderboard]
    csv_text = io.StringIO()
    writer = csv.DictWriter(csv_text, fieldnames=list(board[0]) if board else ["model"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(board)
    comparisons = result.comparisons
    if comparisons is not None:  # --bootstrap: each row against the next
        for line, c in zip(board, comparisons.vs_next(result.leaderboard), strict=True):
            line["vs_next"] = None if c is None else c.to_dict()
    reviewers = reviewer_rows(result.exam)
    t = result.table
    v = result.evidence.verdicts
    verdicts = [{"item": t.items[i], "a": t.models[a], "b": t.models[b], "margin": m}
                for i, a, b, m in zip(v.item.tolist(), v.a.tolist(), v.b.tolist(),
                                      np.round(v.margin, 12).tolist(), strict=True)]
    if result.needs_review is not None:  # --target-agreement: below the calibrated threshold
        for line, needs in zip(verdicts, result.needs_review.tolist(), strict=True):
            line["needs_review"] = needs
    files = {
        "leaderboard.json": dumps_json(board),
        "leaderboard.csv": csv_text.getvalue().encode(),
        "reviewers.json": dumps_json(reviewers),
        "verdicts.jsonl": dumps_jsonl(verdicts),
        "cost.json": dumps_json({"judgments_used": result.judgments_used,
                            "judgments_available": result.judgments_available,
                            "schedule": str(result.schedule)}),
    }
    if comparisons is not None:  # --bootstrap: every pair
        files["comparisons.json"] = dumps_json(comparisons.to_dict())
    if result.agreement is not None:
        panel = result.agreement.to_dict()
        panel["method"] = result.method
        panel["per_reviewer"] = [{"reviewer": s.reviewer, **s.agreement.to_dict()}
                                 for s in result.reviewer_agreement]
        files["agreement.json"] = dumps_json(panel)
    if result.style is not None:  # --control: coefficients and the controlled leaderboard
        files["style.json"] = dumps_json(result.style.to_dict())
    if result.bias is not None:  # --calibrate-bias: each reviewer's excess, from the exam
        files["bias.json"] = dumps_json([b.to_dict() for b in result.bias])
    if result.guarantee is not None:
        files["guarantee.json"] = dumps_json(result.guarantee.to_dict())
    if result.audit is not None:
        files["audit.json"] = dumps_json(result.audit)
    if result.ppi is not None:  # --ppi
        from peerreview.chair.ppi import ppi_document
        files["ppi.json"] = dumps_json(ppi_document(result.ppi))
    return files
