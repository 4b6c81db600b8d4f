"""alpaca_eval's files: model outputs and its judges' annotations.

Each file is a JSON list (as alpaca_eval writes them) or JSON Lines, and is told
apart by its fields:

- **outputs** (``model_outputs.json``): ``{instruction, output, generator,
  dataset?}``; ``generator`` is the model.
- **annotations** (``results/<model>/<annotator>/annotations.json``):
  ``{instruction, output_1, generator_1, output_2, generator_2, preference,
  annotator?}``, one judge's verdict per pair. They become pairwise judgments:
  reviewer = ``annotator`` (else the file's folder name), ``first`` =
  ``generator_1`` (alpaca_eval's reference, shown first), and ``preference`` read
  as alpaca_eval reads it (``metrics/helpers.py``): 1 the first is better, 2 the
  second, 0 or 1.5 a tie, a value in between the judge's probability that the
  second is better (the verdict is the nearer end; ``p_first`` = 2 - preference);
  anything else (null, NaN, outside [1, 2]) is not a preference: an abstention.
  Both outputs also become submissions. An annotation of a model against itself
  (alpaca_eval keeps its reference's) is left out.

An item's id comes from its instruction alone (``ae-`` and 12 hex digits of its
SHA-256), so the same instruction gets the same id in every file and every run.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet
from peerreview.importers.shape import SubmissionPool, shape_warnings
from peerreview.importers.sources import Place, Source, read_records
from peerreview.records.exchange import Item, Judgment, PairwiseJudgment, Winner

OUTPUT_FIELDS = ("instruction", "output", "generator")
ANNOTATION_FIELDS = ("instruction", "output_1", "generator_1", "output_2", "generator_2")


def item_id(instruction: str) -> str:
    """The stable id of an instruction."""
    return "ae-" + hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:12]


def read_preference(value: Any) -> tuple[Winner | None, float | None]:
    """alpaca_eval's ``preference`` as ``(winner, p_first)``.

    ``p_first`` (the judge's probability that the first output is better) is given
    for a soft preference strictly between 1 and 2; a hard one says it by its winner.

    Raises:
        ValueError: the value is not a number (nor null).
    """
    if value is None:
        return None, None
    if isinstance(value, str):  # alpaca_eval reads the column with astype(float)
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a number (1, 2, 1.5 or 0 for a tie) or null, "
                             f"got {value!r}"[:120]) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number (1, 2, 1.5 or 0 for a tie) or null, "
                         f"got {type(value).__name__} {value!r}"[:120])
    if math.isnan(value):
        return None, None
    if value in (0, 1.5):  # 0 is the older files' tie
        return "tie", None
    if not 1 <= value <= 2:
        return None, None  # alpaca_eval drops it: "not a preference"
    winner: Winner = "first" if value < 1.5 else "second"
    return winner, (2 - value if 1 < value < 2 else None)


def _text(record: dict[str, Any], key: str, source: Source, position: int) -> str:
    value = record.get(key)
    if not isinstance(value, str) or (not value and not key.startswith("output")):
        raise source.error(position, "missing or not a string", key)
    return value


def _meta(record: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": record["dataset"]} if isinstance(record.get("dataset"), str) else {}


def _kind(source: Source, first: Any) -> str:
    if not isinstance(first, dict):
        raise source.error(1, f"expected a JSON object, got {type(first).__name__}")
    if "preference" in first or "output_1" in first:
        return "annotations"
    return "outputs"


def import_alpaca_eval(*paths: str | Path, keep_first: bool = False) -> ImportedSet:
    """Import alpaca_eval output and annotation files (each kind told by its fields).

    Args:
        paths: the files.
        keep_first: a generator answering an instruction twice with different outputs
            keeps its first answer (else that is an error naming both records).

    Raises:
        InputError: a file or record is malformed (naming the file, the line where the
            record starts, its index in a JSON list, and the field).
    """
    if not paths:
        raise InputError("name at least one alpaca_eval output or annotations file")
    items: dict[str, Item] = {}
    pool = SubmissionPool(keep_first)
    judgments: list[Judgment] = []
    soft = itself = 0
    for path in map(Path, paths):
        source, rows = read_records(path, "alpaca_eval {instruction, output, generator}")
        kind = _kind(source, rows[0][1])
        for position, record in rows:
            if not isinstance(record, dict):
                raise source.error(position,
                                   f"expected a JSON object, got {type(record).__name__}")
            place = Place(source, position)
            instruction = _text(record, "instruction", source, position)
            tid = item_id(instruction)
            items.setdefault(tid, Item(tid, instruction, None, _meta(record)))
            if kind == "outputs":
                pool.add(tid, _text(record, "generator", source, position),
                         _text(record, "output", source, position), place, instruction)
                continue
            for k in ("1", "2"):
                pool.add(tid, _text(record, f"generator_{k}", source, position),
                         _text(record, f"output_{k}", source, position), place, instruction)
            if record["generator_1"] == record["generator_2"]:
                itself += 1  # alpaca_eval keeps its reference's annotations against itself
                continue
            judgment = _annotation(record, tid, source, position)
            soft += judgment.p_first is not None
            judgments.append(judgment)
    notes = pool.notes()
    if itself:
        notes.append(f"{itself} annotation(s) of a model against itself left out")
    if soft:
        notes.append(f"{soft} soft preference(s) kept as p_first (the judge's probability "
                     "that the first output is better)")
    item_list = sorted(items.values(), key=lambda i: i.item)
    submissions = sorted(pool.submissions, key=lambda s: (s.item, s.model))
    return ImportedSet(item_list, submissions, judgments, [], notes,
                       shape_warnings(item_list, submissions, judgments))


def _annotation(record: dict[str, Any], tid: str, source: Source,
                position: int) -> PairwiseJudgment:
    first = _text(record, "generator_1", source, position)
    second = _text(record, "generator_2", source, position)
    if "preference" not in record:
        raise source.error(position, "missing (expected 1, 2, 1.5 or 0 for a tie, or a "
                                     "value in between)", "preference")
    try:
        winner, p_first = read_preference(record["preference"])
    except ValueError as exc:
        raise source.error(position, str(exc), "preference") from None
    annotator = record.get("annotator")
    reviewer = annotator if isinstance(annotator, str) and annotator else \
        source.path.parent.name or "alpaca_eval"
    raw = record.get("raw_completion")
    return PairwiseJudgment(tid, reviewer, first, second, winner,
                            raw if isinstance(raw, str) else None, p_first=p_first)
