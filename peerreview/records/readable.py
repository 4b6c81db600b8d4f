"""Reviewers that say nothing: how many of each reviewer's answers could be read.

An answer that cannot be read is an abstention, kept and counted (never a loss).
A reviewer that abstains on everything has shown nothing, yet it would qualify on
ties alone under a low threshold, or keep its share of the weight without an exam.
So: a candidate with no readable answer on the exam does not qualify; one with no
readable answer in the review (its judgments outside the exam) keeps weight 0; and
a reviewer whose answers are unreadable more than :data:`WARN_SHARE` of the time is
a warning that names it and shows one of those answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from peerreview.records.table import IntArray, JudgmentTable, Votes
from peerreview.text import inert

if TYPE_CHECKING:
    from peerreview.exam.grade import ExamResult
    from peerreview.records.gold import Gold

WARN_SHARE = 0.2  # above this share of unreadable answers a reviewer is warned about
EXAMPLE_CHARS = 160  # of a raw answer shown in a warning


@dataclass(frozen=True, slots=True)
class Readable:
    """Per reviewer (in the table's order): answers on the exam and in the review
    (every other judgment), and how many of them could be read."""

    exam_votes: list[int]
    exam_readable: list[int]
    review_judgments: list[int]
    review_readable: list[int]


def readable_counts(table: JudgmentTable, gold: Gold | None = None,
                    graded: IntArray | None = None, votes: Votes | None = None) -> Readable:
    """Readable answers per reviewer, on the exam and in the review.

    Args:
        table: every judgment.
        gold: the exam gold; None: no exam, every judgment is the review's.
        graded: the rows of ``votes`` graded against the gold (``exam.grade``).
        votes: ``table.votes()``, if computed already.
    """
    n = len(table.reviewers)
    p, s = table.pairwise, table.scores
    in_review = np.ones(len(p), np.bool_)
    scored = np.ones(len(s), np.bool_)
    exam_votes = exam_readable = np.zeros(n, np.int64)
    if gold is not None and graded is not None:
        votes = table.votes() if votes is None else votes
        exam_votes = np.bincount(votes.reviewer[graded], minlength=n)
        exam_readable = np.bincount(votes.reviewer[graded[~votes.abstain[graded]]], minlength=n)
        in_review[graded[graded < len(p)]] = False  # the first rows of votes are pairwise
        g_item, g_a, g_b, _ = gold.indexed(table)
        m = len(table.models)
        on_gold = np.concatenate([g_item * m + g_a, g_item * m + g_b])
        scored = ~np.isin(s.item * m + s.model, on_gold)  # an unknown item's key is < 0
    review = np.bincount(p.reviewer[in_review], minlength=n) + \
        np.bincount(s.reviewer[scored], minlength=n)
    readable = np.bincount(p.reviewer[in_review & ~p.abstain], minlength=n) + \
        np.bincount(s.reviewer[scored & ~np.isnan(s.score)], minlength=n)
    return Readable(exam_votes.tolist(), exam_readable.tolist(), review.tolist(),
                    readable.tolist())


def unreadable_share(judgments: int, abstentions: int) -> float | None:
    """The share of a reviewer's answers that could not be read (None: it gave none)."""
    return abstentions / judgments if judgments else None


def silent_on_exam(result: ExamResult) -> bool:
    """Whether a candidate answered exam questions and could be read on none."""
    return bool(result.exam_votes) and result.exam_readable == 0


def silent_in_review(result: ExamResult) -> bool:
    """Whether a reviewer judged outside the exam and could be read on none of it."""
    return result.review_judgments > 0 and result.review_readable == 0


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A reviewer that said nothing readable too often, with one such answer."""

    reviewer: str
    unreadable: int
    judgments: int
    example: str  # one unreadable raw answer, inert and cut short
    silent_on_exam: bool  # did not qualify: nothing readable on the exam
    silent_in_review: bool  # weight 0: nothing readable in the review

    @property
    def share(self) -> float:
        return self.unreadable / self.judgments if self.judgments else 0.0

    @property
    def message(self) -> str:
        """The warning, in one line (the example answer is inert)."""
        said = (f"{self.unreadable} of its {self.judgments} answers ({self.share:.0%}) could "
                f"not be read, e.g. {self.example}")
        if self.silent_on_exam:
            return (f"reviewer {self.reviewer!r} gave no readable answer on the exam and does "
                    f"not qualify: {said}")
        if self.silent_in_review:
            return (f"reviewer {self.reviewer!r} gave no readable answer in the review and "
                    f"has weight 0: {said}")
        return f"reviewer {self.reviewer!r}: {said}"


def unreadable_reviewers(exam: list[ExamResult], table: JudgmentTable) -> list[Unreadable]:
    """The reviewers to warn about: unreadable more than :data:`WARN_SHARE` of the time,
    or silent on the exam or in the review; in the table's reviewer order."""
    index = {name: r for r, name in enumerate(table.reviewers)}
    out = []
    for res in exam:
        share = unreadable_share(res.judgments, res.abstentions) or 0.0
        if share <= WARN_SHARE and not silent_on_exam(res) and not silent_in_review(res):
            continue
        r = index.get(res.reviewer)
        out.append(Unreadable(res.reviewer, res.abstentions, res.judgments,
                              _example(table, r) if r is not None else "(none kept)",
                              silent_on_exam(res), silent_in_review(res) and res.qualified))
    return sorted(out, key=lambda u: index.get(u.reviewer, len(index)))


def _example(table: JudgmentTable, r: int) -> str:
    """One unreadable answer of reviewer ``r``, quoted, inert and cut short: the first
    that is not empty, if any is."""
    p, s = table.pairwise, table.scores
    raws = [*p.raw[(p.reviewer == r) & p.abstain].tolist(),
            *s.raw[(s.reviewer == r) & np.isnan(s.score)].tolist()]
    if not raws:
        return "(none kept)"
    text = next((" ".join(str(x).split()) for x in raws if x is not None and str(x).strip()),
                "")
    if not text:
        return "(an empty answer)"
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + "..."
    return f'"{inert(text)}"'
