"""Importers of public evaluation sets into the exchange format.

Each importer reads a data set's own folder and returns an :class:`ImportedSet`:
items, submissions, reviewer judgments and human gold, keeping the source's ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.output import write_files
from peerreview.records import (
    Item,
    Judgment,
    Submission,
    dumps_jsonl,
    judgment_to_dict,
)


@dataclass(slots=True)
class ImportedSet:
    """A data set in the exchange format, with what the import had to decide."""

    items: list[Item]
    submissions: list[Submission]
    judgments: list[Judgment]
    gold: list[Judgment]
    notes: list[str] = field(default_factory=list)

    def abstentions(self) -> Counter[str]:
        """Unreadable reviewer answers (kept as abstentions), per reviewer."""
        return Counter(j.reviewer for j in self.judgments if _abstained(j))

    def files(self) -> dict[str, bytes]:
        """The four exchange files, by name."""
        def item_dict(i: Item) -> dict[str, Any]:
            out = asdict(i)
            if out["reference"] is None:
                del out["reference"]
            return out

        files = {
            "items.jsonl": dumps_jsonl([item_dict(i) for i in self.items]),
            "submissions.jsonl": dumps_jsonl([asdict(s) for s in self.submissions]),
        }
        if self.judgments:  # outputs alone (alpaca_eval) have no judgments or gold
            files["judgments.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.judgments])
        if self.gold:
            files["gold.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.gold])
        return files

    def write(self, out_dir: str | Path) -> None:
        """Write the exchange files into ``out_dir``, all or nothing."""
        write_files(out_dir, self.files())


def _abstained(j: Judgment) -> bool:
    return (j.winner if hasattr(j, "winner") else j.score) is None


def load_json(path: Path) -> Any:
    """Read one JSON document, with errors naming the file."""
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", path) from None


def require_dir(path: Path, what: str) -> None:
    """Fail clearly when a data set folder is not where it should be."""
    if not path.is_dir():
        raise InputError(f"not a folder; expected the {what}", path)


IMPORTERS = ("summeval", "vicuna80", "pandalm", "alpaca-eval", "mt-bench", "arena-hard")


def importer(name: str) -> Callable[..., ImportedSet]:
    """The import function of a data set name."""
    from peerreview.importers import alpaca_eval, arena_hard, mt_bench, pandalm, summeval, vicuna80

    table: dict[str, Callable[..., ImportedSet]] = {
        "summeval": summeval.import_summeval,
        "vicuna80": vicuna80.import_vicuna80,
        "pandalm": pandalm.import_pandalm,
        "alpaca-eval": alpaca_eval.import_alpaca_eval,
        "mt-bench": mt_bench.import_mt_bench,
        "arena-hard": arena_hard.import_arena_hard,
    }
    assert set(table) == set(IMPORTERS)
    if name not in table:
        raise InputError(f"unknown data set {name!r}; choose from {', '.join(table)}")
    return table[name]
