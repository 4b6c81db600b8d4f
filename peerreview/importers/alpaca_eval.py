"""alpaca_eval's model outputs: a JSON list, or JSON Lines, of ``{instruction, output,
generator, dataset?}``, one file or several (one per model, as alpaca_eval keeps them).

``generator`` is the model. An item's id comes from its instruction alone (``ae-`` and
12 hex digits of its SHA-256), so the same instruction gets the same id in every file
and every run. No judgments: the outputs are for a live run (``task.submissions``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers import ImportedSet, load_json
from peerreview.records import Item, Submission, iter_jsonl


def item_id(instruction: str) -> str:
    """The stable id of an instruction."""
    return "ae-" + hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:12]


def _records(path: Path) -> list[tuple[int, Any]]:
    """(position, record) from a JSON list (position = index + 1) or JSON Lines (line)."""
    if path.suffix == ".jsonl":
        return list(iter_jsonl(path))
    data = load_json(path)
    if not isinstance(data, list):
        raise InputError("expected a JSON list of {instruction, output, generator} records "
                         "(or a .jsonl file)", path)
    return list(enumerate(data, start=1))


def import_alpaca_eval(*paths: str | Path) -> ImportedSet:
    """Import alpaca_eval model-output files.

    Raises:
        InputError: a file or record is malformed (naming the file, the record's line or
            position, and the field).
    """
    if not paths:
        raise InputError("name at least one alpaca_eval output file")
    items: dict[str, Item] = {}
    submissions: dict[tuple[str, str], Submission] = {}
    notes: list[str] = []
    for path in map(Path, paths):
        for position, record in _records(path):
            if not isinstance(record, dict):
                raise InputError(f"expected a JSON object, got {type(record).__name__}",
                                 path, position)
            for key in ("instruction", "output", "generator"):
                if not isinstance(record.get(key), str) or (key != "output" and
                                                            not record[key]):
                    raise InputError("missing or not a string", path, position, key)
            instruction, generator = record["instruction"], record["generator"]
            tid = item_id(instruction)
            meta = {"dataset": record["dataset"]} if isinstance(record.get("dataset"), str) \
                else {}
            items.setdefault(tid, Item(tid, instruction, None, meta))
            if (tid, generator) in submissions:
                notes.append(f"{path}:{position}: {generator!r} answers an instruction twice; "
                             "the first answer is kept")
                continue
            submissions[tid, generator] = Submission(tid, generator, record["output"])
    return ImportedSet(sorted(items.values(), key=lambda i: i.item),
                       sorted(submissions.values(), key=lambda s: (s.item, s.model)), [], [],
                       notes)
