"""The Study: what a ranking is about, loaded once.

Judgments (as one numbered table), exam gold, gold, items and submissions. ``rank``
and ``report`` build it from files (:func:`load_study`), a live run from what it
asked and read (:func:`study_of`); past this step no file is read, and data flows
one way: Study -> exam -> chair -> agreement -> outputs -> report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from peerreview.records.exchange import (
    Duplicate,
    Item,
    Judgment,
    OffScale,
    Submission,
    read_items,
    read_submissions,
)
from peerreview.records.gold import Gold, gold_from_judgments
from peerreview.records.reading import load_judgments
from peerreview.records.table import JudgmentTable, build_table


@dataclass(slots=True)
class Study:
    """Everything a ranking reads, typed and loaded once."""

    table: JudgmentTable  # every judgment, numbered (raw answers and confidences too)
    exam_gold: Gold | None = None  # human labels for the qualification exam
    gold: Gold | None = None  # human labels to measure agreement against
    items: dict[str, Item] = field(default_factory=dict)  # the task's (and exam's) items
    submissions: list[Submission] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)  # repeated judgments dropped
    off_scale: Counter[str] = field(default_factory=Counter)  # reviewer -> off-scale scores
    notes: list[str] = field(default_factory=list)  # what loading had to decide


def load_study(judgments: list[str | Path] | list[str] | list[Path], *,
               exam_gold: str | Path | None = None, gold: str | Path | None = None,
               items: str | Path | None = None, submissions: str | Path | None = None,
               off_scale: OffScale = OffScale.KEEP) -> Study:
    """Read a study's files once (judgments on the fast path).

    Raises:
        InputError: a file is missing or malformed (naming file, line and field), or
            gold names a model no reviewer judged.
    """
    loaded = load_judgments(judgments, off_scale)
    table = loaded.table
    exam_labels = gold_from_judgments(exam_gold, known_models=table.models) \
        if exam_gold is not None else None
    same = exam_gold is not None and gold is not None and \
        Path(exam_gold).resolve() == Path(gold).resolve()
    gold_labels = exam_labels if same else (
        gold_from_judgments(gold, known_models=table.models) if gold is not None else None)
    return Study(table, exam_labels, gold_labels,
                 {i.item: i for i in read_items(items)} if items else {},
                 read_submissions(submissions) if submissions else [],
                 loaded.duplicates, loaded.off_scale)


def study_of(judgments: list[Judgment], *, exam_gold: Gold | None = None,
             gold: Gold | None = None, items: dict[str, Item] | None = None,
             submissions: list[Submission] | None = None) -> Study:
    """A study of judgments already in hand (a live run's, or a notebook's)."""
    return Study(build_table(judgments), exam_gold, gold, dict(items or {}),
                 list(submissions or []))
