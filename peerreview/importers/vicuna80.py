"""Vicuna80 with the LLM and human reviews released with PRD (Li, Patel and Du 2023).

Items are the 80 questions (``question_id`` as a string); the five evaluatees,
gpt4, claude, gpt35, bard and vicuna-13b, are also the reviewers. Ratings code
1 = the first answer is better, 2 = the second, 3 = a tie.

Duplicate runs: ``ratings-gpt35/`` holds two files for each order of gpt35 versus
gpt4, one named ``answer-A-vs-answer-B-...`` and one ``answer_A-vs-answer_B-...``
(the set's common pattern). They are two runs that disagree on some questions;
the rule is to keep the run whose file follows the common pattern and report the
other. Human votes (several per question and order) become gold records of
reviewers ``human-1``, ``human-2``, ... in the order they appear; pairs with
models that have no answers here (the Guanaco models) are left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet, require_dir
from peerreview.importers.shape import shape_warnings
from peerreview.records.exchange import (
    Item,
    Judgment,
    PairwiseJudgment,
    Submission,
    Winner,
    iter_jsonl,
)

MODELS = ("gpt4", "claude", "gpt35", "bard", "vicuna-13b")
_CODES: dict[object, Winner] = {1: "first", 2: "second", 3: "tie"}


def _pairs(folder: Path, reviewer: str) -> tuple[dict[tuple[str, str], Path], list[Path]]:
    """The rating file of each ordered pair of known models, by the naming rule, and
    the files passed over because another file gives the same ordered pair."""
    chosen: dict[tuple[str, str], Path] = {}
    passed_over: list[Path] = []
    name = re.compile(r"^answer(?P<sep>[_-])(?P<a>.+?)-vs-answer[_-](?P<b>.+)-"
                      + re.escape(reviewer) + r"-reviewer")
    for file in sorted(folder.glob("*.jsonl")):
        m = name.match(file.name)
        if not m or m["a"] not in MODELS or m["b"] not in MODELS:
            continue
        key = (m["a"], m["b"])
        if key in chosen:
            if m["sep"] != "_":
                passed_over.append(file)
                continue
            passed_over.append(chosen[key])
        chosen[key] = file
    return chosen, passed_over


def _ratings(file: Path, known: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (question id, record) of each rating in a file; the question must be known."""
    for line, obj in iter_jsonl(file):
        item = str(obj.get("question_id"))
        if item not in known:
            raise InputError(f"question {item!r} is not in vicuna_questions.jsonl",
                             file, line, "question_id")
        yield item, obj


def _raw(obj: dict[str, object]) -> str | None:
    text = obj.get("text")
    return text if isinstance(text, str) else None


def _winner(obj: dict[str, object]) -> Winner | None:
    return _CODES.get(obj.get("score"))


def import_vicuna80(path: str | Path) -> ImportedSet:
    """Import Vicuna80 from its folder (``prompts/``, ``generations/``, ``ratings-*/``)."""
    root = Path(path)
    require_dir(root / "prompts", "Vicuna80 folder holding prompts/")
    items = [Item(str(obj["question_id"]), str(obj["text"]), None,
                  {"category": obj.get("category")})
             for _, obj in iter_jsonl(root / "prompts" / "vicuna_questions.jsonl")]
    known = {i.item for i in items}
    submissions = [Submission(str(obj["question_id"]), model, str(obj["text"]))
                   for model in MODELS
                   for _, obj in iter_jsonl(root / "generations" / f"answer_{model}.jsonl")]

    judgments: list[Judgment] = []
    notes: list[str] = []
    for reviewer in MODELS:
        folder = root / f"ratings-{reviewer}"
        require_dir(folder, f"ratings of reviewer {reviewer}")
        chosen, passed_over = _pairs(folder, reviewer)
        for file in passed_over:
            notes.append(f"{reviewer}: {file.name} repeats an ordered pair another file "
                         "gives; the file named answer_A-vs-answer_B is kept")
        for (first, second), file in sorted(chosen.items()):
            for item, obj in _ratings(file, known):
                judgments.append(PairwiseJudgment(item, reviewer, first, second, _winner(obj),
                                                  _raw(obj)))

    gold: list[Judgment] = []
    human = root / "ratings-human"
    require_dir(human, "human ratings")
    for (first, second), file in sorted(_pairs(human, "human")[0].items()):
        count: dict[str, int] = defaultdict(int)
        for item, obj in _ratings(file, known):
            count[item] += 1
            gold.append(PairwiseJudgment(item, f"human-{count[item]}", first, second,
                                         _winner(obj)))
    return ImportedSet(items, submissions, judgments, gold, notes,
                       shape_warnings(items, submissions, judgments))
