"""A labelling folder: ``DIR/labels/selection.jsonl`` (what to label) and one
``DIR/labels/<annotator>.jsonl`` a person (what they said, appended; an undo is a
retraction line)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.labels.select import Unit, select, select_ratings
from peerreview.output import write_file
from peerreview.records import (
    Item,
    dumps_jsonl,
    iter_jsonl,
    read_items,
    read_judgments,
    read_submissions,
)

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def read_units(path: Path) -> list[Unit]:
    """The selection, in its order."""
    return [Unit(**{k: u[k] for k in Unit.__dataclass_fields__ if k in u})
            for _, u in iter_jsonl(path)]


def selection_file(folder: Path) -> Path:
    """Raises: InputError: the folder has no selection yet."""
    path = folder / "labels" / "selection.jsonl"
    if not path.exists():
        raise InputError("no labels/selection.jsonl here: run peerreview label-select first",
                         folder)
    return path


def _label_files(folder: Path) -> list[Path]:
    """One file an annotator."""
    return sorted(p for p in (folder / "labels").glob("*.jsonl")
                  if p.name != "selection.jsonl")


def read_labels(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every annotator's labels in order, retracted ones removed."""
    out = {}
    for path in _label_files(folder):
        kept: list[dict[str, Any]] = []
        for number, line in iter_jsonl(path):
            needed = ("seq", "retract") if "retract" in line else \
                ("seq", "unit", "choice", "labelled_at")
            for name in needed:
                if name not in line:
                    raise InputError("missing (a label line has seq, unit, choice and "
                                     "labelled_at; a retraction seq and retract)",
                                     path, number, name)
            if "retract" in line:
                kept = [x for x in kept if x["seq"] != line["retract"]]
            else:
                kept.append(line)
        out[path.stem] = kept
    return out


def select_into(folder: str | Path, n: int, seed: int = 0, rate: bool = False) -> list[Unit]:
    """Choose what to label from ``folder``'s submissions (and its judgments, when
    present) and write ``labels/selection.jsonl``: pairs to compare, or with ``rate``
    single submissions to score 1-5.

    Raises:
        InputError: no submissions, a bad ``n``, or labels already made on an earlier
            selection (a new one would orphan them).
    """
    folder = Path(folder)
    if n < 1:
        raise InputError(f"expected at least 1, got {n}", field="--n")
    made = _label_files(folder)
    if made:
        raise InputError("labels were already made on the current selection; a new one "
                         "would orphan them (move the labels folder away first)", made[0])
    subs = read_submissions(folder / "submissions.jsonl")
    judged = folder / "judgments.jsonl"
    items_file = _items_file(folder)  # without items, strata by model pair alone
    items = read_items(items_file) if items_file else []
    categories = {i.item: str(i.meta["category"]) for i in items
                  if isinstance(i.meta.get("category"), str | int)}
    units = (select_ratings if rate else select)(
        subs, read_judgments(judged).judgments if judged.exists() else [], n, seed=seed,
        categories=categories)
    if not units:
        raise InputError("no item has two submissions to compare", folder / "submissions.jsonl")
    write_file(folder / "labels" / "selection.jsonl", dumps_jsonl([u.to_dict() for u in units]))
    return units


@dataclass(frozen=True, slots=True)
class Progress:
    unit: Unit | None  # the next to label; None: all done
    done: int
    total: int
    eta_s: float | None  # at this annotator's recent pace


@dataclass
class LabelBook:
    """One annotator's session over a folder's selection."""

    folder: Path
    annotator: str
    units: list[Unit]
    items: dict[str, Item]
    texts: dict[tuple[str, str], str]
    path: Path
    seq: int = 0
    times: list[float] = field(default_factory=list)
    _shown: dict[str, float] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, annotator: str) -> LabelBook:
        """Raises: InputError: no selection here, or an annotator name that is no file name."""
        if not _NAME.match(annotator):
            raise InputError("an annotator's name is letters, digits, '.', '_' or '-'",
                             field="--annotator")
        selection = selection_file(folder)
        items_file = _items_file(folder)
        if items_file is None:
            raise InputError("no items.jsonl here, nor a run.json naming the task's items",
                             folder)
        items = {i.item: i for i in read_items(items_file)}
        subs = read_submissions(folder / "submissions.jsonl")
        book = cls(folder, annotator, read_units(selection), items,
                   {(s.item, s.model): s.output for s in subs},
                   folder / "labels" / f"{annotator}.jsonl")
        book.seq = sum(1 for _ in iter_jsonl(book.path)) if book.path.exists() else 0
        return book

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)

    def text(self, item: str, model: str) -> str:
        return self.texts.get((item, model), "")

    def _labelled(self) -> dict[str, set[str]]:
        """unit -> the annotators who labelled it (a skip included: it leaves their
        queue)."""
        who: dict[str, set[str]] = {}
        for name, labels in read_labels(self.folder).items():
            for x in labels:
                who.setdefault(x["unit"], set()).add(name)
        return who

    def _mine(self, who: dict[str, set[str]]) -> list[Unit]:
        """This annotator's queue: units nobody labelled (two people for a double),
        and repeats of units this annotator labelled or has queued (a selection lists
        the repeats last, so an original always comes first)."""
        queue: list[Unit] = []
        for u in self.units:
            by = who.get(u.id, set())
            if self.annotator in by:
                continue
            if u.repeat_of is not None:
                if self.annotator in who.get(u.repeat_of, set()) or \
                        any(q.id == u.repeat_of for q in queue):
                    queue.append(u)
            elif not by or (u.double and len(by) < 2):
                queue.append(u)
        return queue

    def state(self) -> Progress:
        """What to show next, and how far this annotator is (the labels read once)."""
        who = self._labelled()
        queue = self._mine(who)
        done = sum(1 for u in self.units if self.annotator in who.get(u.id, set()))
        pace = self.times[-20:]
        return Progress(queue[0] if queue else None, done, done + len(queue),
                        len(queue) * sum(pace) / len(pace) if pace else None)

    def next_unit(self) -> Unit | None:
        return self.state().unit

    def progress(self) -> tuple[int, int]:
        state = self.state()
        return state.done, state.total

    def shown(self, unit_id: str) -> None:
        self._shown[unit_id] = time.time()

    def label(self, unit_id: str, choice: str, rationale: str) -> None:
        """Raises: InputError: no such unit, or this annotator labelled it already."""
        unit = self.unit(unit_id)
        if unit is None:
            raise InputError(f"no unit {unit_id!r} in the selection", field="unit")
        if any(x["unit"] == unit_id for x in read_labels(self.folder).get(self.annotator, [])):
            raise InputError(f"unit {unit_id!r} is labelled already (undo first)",
                             self.path, field="unit")
        shown = self._shown.get(unit_id)
        now = time.time()
        if shown is not None:
            self.times.append(now - shown)
        self.seq += 1
        self._append({"seq": self.seq, "unit": unit_id, "item": unit.item,
                      "left": unit.left, "right": unit.right, "choice": choice,
                      "rationale": rationale, "shown_at": shown, "labelled_at": now})

    def undo(self) -> int | None:
        """Retract this annotator's last label still standing; its seq, or None."""
        mine = read_labels(self.folder).get(self.annotator, [])
        if not mine:
            return None
        last = int(mine[-1]["seq"])
        self.seq += 1
        self._append({"seq": self.seq, "retract": last, "at": time.time()})
        return last

    def _append(self, line: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(line) + b"\n")


def _items_file(folder: Path) -> Path | None:
    """items.jsonl beside the submissions, or the run's task items, or None."""
    if (folder / "items.jsonl").exists():
        return folder / "items.jsonl"
    facts = folder / "run.json"
    if facts.exists():
        task = (orjson.loads(facts.read_bytes()).get("config") or {}).get("task") or {}
        if task.get("items"):
            return Path(task["items"])
    return None

