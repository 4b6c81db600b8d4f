"""Importers of public evaluation sets into the exchange format.

Each importer reads a data set's own folder and returns an :class:`ImportedSet`:
items, submissions, reviewer judgments and human gold, keeping the source's ids.
It is defined in :mod:`.imported`, which the importers import: none imports this face,
which imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet, require_dir

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
