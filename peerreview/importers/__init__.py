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

from peerreview.errors import InputError
from peerreview.output import write_files
from peerreview.records.exchange import (
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
    warnings: list[str] = field(default_factory=list)  # shape problems (importers/shape.py)

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
        if self.judgments:  # outputs alone have no judgments or gold
            files["judgments.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.judgments])
        if self.gold:
            files["gold.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in self.gold])
        return files

    def write(self, out_dir: str | Path) -> None:
        """Write the exchange files into ``out_dir``, all or nothing."""
        write_files(out_dir, self.files())


def _abstained(j: Judgment) -> bool:
    return (j.winner if hasattr(j, "winner") else j.score) is None


def require_dir(path: Path, what: str) -> None:
    """Fail clearly when a data set folder is not where it should be."""
    if not path.is_dir():
        raise InputError(f"not a folder; expected the {what}", path)


IMPORTERS = ("summeval", "vicuna80", "pandalm", "alpaca-eval", "mt-bench", "arena-hard")
__all__ = ["IMPORTERS", "ImportedSet", "import_set", "importer", "require_dir"]


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


# The options each importer takes, beyond its paths (the CLI's flag for messages).
_OPTIONS: dict[str, dict[str, str]] = {
    "summeval": {"dimension": "--dimension", "off_scale": "--off-scale"},
    "vicuna80": {},
    "pandalm": {},
    "alpaca-eval": {"keep_first": "--keep-first"},
    "mt-bench": {"keep_first": "--keep-first", "ties": "--ties"},
    "arena-hard": {"keep_first": "--keep-first", "baseline": "--baseline"},
}


def import_set(name: str, paths: list[str | Path], **options: Any) -> ImportedSet:
    """Import a data set by name: ``paths`` are its folder (or alpaca_eval's files);
    ``options`` not given (None) take the importer's defaults.

    Raises:
        InputError: an option the importer does not take, a second folder, or bad data.
    """
    takes = _OPTIONS.get(name)
    if takes is None:
        importer(name)  # the unknown-name error
        raise AssertionError(name)
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    for key in given:
        if key not in takes:
            flag = "--" + key.replace("_", "-")
            users = [n for n, o in _OPTIONS.items() if key in o]
            named = ", ".join(users[:-1]) + " and " + users[-1] if len(users) > 1 else \
                "".join(users) or "no importer"
            raise InputError(f"{flag} is for {named}, not {name}", field=flag)
    if not paths:
        raise InputError(f"name the {name} data to import", field="PATH")
    if len(paths) > 1 and name != "alpaca-eval":
        raise InputError(f"{name} takes one folder, got {len(paths)} paths", field="PATH")
    return importer(name)(*paths, **given)
