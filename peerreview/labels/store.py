"""A labelling folder: ``DIR/labels/selection.jsonl`` (what to label) and one
``DIR/labels/<annotator>.jsonl`` a person (what they said, appended; an undo is a
retraction line).

Several people (and one person in several tabs or processes) label one folder at
once. Every change happens under one lock, ``labels/.lock`` (the kernel's ``flock``):
a label's ``seq`` is one more than the highest in that annotator's file, so it is
unique whatever process writes it, and an undo retracts exactly the last label still
standing. The unit shown to someone is leased to them for :data:`LEASE_S` seconds
(``labels/.leases.json``): nobody else is shown it, or may label it, until they label
it, move on, or the lease runs out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.labels.select import Unit, select, select_ratings
from peerreview.output import settle, write_file
from peerreview.records.exchange import (
    Item,
    dumps_jsonl,
    iter_jsonl,
    read_items,
    read_judgments,
    read_submissions,
)

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CHOICES = {"a": "A better", "b": "B better", "t": "tie", "x": "both bad", "s": "skip"}
RATINGS = ("1", "2", "3", "4", "5")  # for a rating unit (and "s", skip)
LEASE_S = 600.0  # how long a unit shown to one annotator is kept from the others
_LOCK_WAIT_S = 10.0


def allowed_choices(unit: Unit) -> tuple[str, ...]:
    """What a label of ``unit`` may say."""
    return ("s", *RATINGS) if unit.kind == "rate" else tuple(CHOICES)


@contextlib.contextmanager
def _held(folder: Path) -> Iterator[None]:
    """The labels folder for this process alone, for the milliseconds of one change.

    Raises:
        InputError: another process held it for longer than a change takes.
    """
    labels = folder / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    with (labels / ".lock").open("a+b") as handle:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InputError(f"another process has held the labels for "
                                     f"{_LOCK_WAIT_S:.0f} s", labels / ".lock") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "seq": (int, "a whole number"), "retract": (int, "a whole number"),
    "unit": (str, "a unit id"), "choice": (str, "a choice"),
    "labelled_at": ((int, float), "a time in seconds")}


def read_labels(folder: Path, units: dict[str, Unit] | None = None
                ) -> dict[str, list[dict[str, Any]]]:
    """Every annotator's labels in order, retracted ones removed; each keeps where it
    was read (``_path``, ``_line``). With ``units`` (the selection), a choice that the
    unit's kind does not take is an error too.

    Raises:
        InputError: a malformed line, naming its file, line and field.
    """
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
                kind, what = _FIELDS[name]
                if not isinstance(line[name], kind) or isinstance(line[name], bool):
                    raise InputError(f"expected {what}, got {line[name]!r}", path, number, name)
            unit = units.get(line.get("unit", "")) if units is not None else None
            if unit is not None and line["choice"] not in allowed_choices(unit):
                raise InputError(f"unknown choice {line['choice']!r} for a {unit.kind} unit "
                                 f"(expected one of {', '.join(allowed_choices(unit))})",
                                 path, number, "choice")
            if "retract" in line:
                kept = [x for x in kept if x["seq"] != line["retract"]]
            else:
                kept.append({**line, "_path": str(path), "_line": number})
        out[path.stem] = kept
    return out


def _last_seq(path: Path) -> int:
    """The highest seq in an annotator's file (labels and retractions)."""
    if not path.exists():
        return 0
    return max((int(line["seq"]) for _, line in iter_jsonl(path)
                if isinstance(line.get("seq"), int)), default=0)


def select_into(folder: str | Path, n: int, seed: int = 0, rate: bool = False,
                only: set[tuple[str, str, str]] | None = None) -> list[Unit]:
    """Choose what to label from ``folder``'s submissions (and its judgments, when
    present) and write ``labels/selection.jsonl``: pairs to compare, or with ``rate``
    single submissions to score 1-5; ``only`` limits the pairs to these (item, a, b),
    e.g. the verdicts ``rank --target-agreement`` marked ``needs_review``.

    Raises:
        InputError: no submissions, a bad ``n``, or labels already made on an earlier
            selection (a new one would orphan them).
    """
    folder = Path(folder)
    if n < 1:
        raise InputError(f"expected at least 1, got {n}", field="--n")
    if rate and only is not None:
        raise InputError("--from-abstained chooses pairs; it does not go with --rate",
                         field="--from-abstained")
    settle(folder)  # a run's outputs cut off by a kill are completed before they are read
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
    judgments = read_judgments(judged).judgments if judged.exists() else []
    if rate:
        units = select_ratings(subs, judgments, n, seed=seed, categories=categories)
    else:
        units = select(subs, judgments, n, seed=seed, categories=categories, only=only)
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
        settle(folder)
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
        book.seq = _last_seq(book.path)
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
        """What to show next, leased to this annotator (nobody else is shown it for
        :data:`LEASE_S` seconds), and how far this annotator is."""
        with _held(self.folder):
            who = self._labelled()
            queue = self._mine(who)
            leases = self._leases()
            now = time.time()
            free = [u for u in queue if leases.get(u.id, (self.annotator, 0.0))[0]
                    == self.annotator]
            unit = free[0] if free else None
            for unit_id, (name, _) in list(leases.items()):
                if name == self.annotator:  # one unit at a time: the one shown now
                    del leases[unit_id]
            if unit is not None:
                leases[unit.id] = (self.annotator, now + LEASE_S)
            self._save_leases(leases)
        done = sum(1 for u in self.units if self.annotator in who.get(u.id, set()))
        pace = self.times[-20:]
        return Progress(unit, done, done + len(queue),
                        len(queue) * sum(pace) / len(pace) if pace else None)

    def _leases(self) -> dict[str, tuple[str, float]]:
        """unit -> (annotator, until), the expired ones dropped (the folder is held)."""
        path = self.folder / "labels" / ".leases.json"
        try:
            raw = orjson.loads(path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        now = time.time()
        return {str(k): (str(v[0]), float(v[1])) for k, v in raw.items()
                if isinstance(v, list) and len(v) == 2 and isinstance(v[1], int | float)
                and v[1] > now} if isinstance(raw, dict) else {}

    def _save_leases(self, leases: dict[str, tuple[str, float]]) -> None:
        write_file(self.folder / "labels" / ".leases.json",
                   orjson.dumps({k: list(v) for k, v in leases.items()}))

    def next_unit(self) -> Unit | None:
        return self.state().unit

    def progress(self) -> tuple[int, int]:
        state = self.state()
        return state.done, state.total

    def shown(self, unit_id: str) -> None:
        self._shown[unit_id] = time.time()

    def label(self, unit_id: str, choice: str, rationale: str) -> None:
        """Raises: InputError: no such unit, a choice its kind does not take, this
        annotator labelled it already, or it is leased to someone else."""
        unit = self.unit(unit_id)
        if unit is None:
            raise InputError(f"no unit {unit_id!r} in the selection", field="unit")
        if choice not in allowed_choices(unit):
            raise InputError(f"unknown choice {choice!r} (expected one of "
                             f"{', '.join(allowed_choices(unit))})", field="choice")
        with _held(self.folder):
            if any(x["unit"] == unit_id
                   for x in read_labels(self.folder).get(self.annotator, [])):
                raise InputError(f"unit {unit_id!r} is labelled already (undo first)",
                                 self.path, field="unit")
            leases = self._leases()
            holder = leases.get(unit_id, (self.annotator, 0.0))[0]
            if holder != self.annotator:
                raise InputError(f"unit {unit_id!r} is being labelled by {holder}",
                                 field="unit")
            shown = self._shown.get(unit_id)
            now = time.time()
            if shown is not None:
                self.times.append(now - shown)
            self._append({"unit": unit_id, "item": unit.item, "left": unit.left,
                          "right": unit.right, "choice": choice, "rationale": rationale,
                          "shown_at": shown, "labelled_at": now})
            if leases.pop(unit_id, None) is not None:
                self._save_leases(leases)

    def undo(self) -> int | None:
        """Retract this annotator's last label still standing (in any of their tabs or
        processes: exactly one); its seq, or None."""
        with _held(self.folder):
            mine = read_labels(self.folder).get(self.annotator, [])
            if not mine:
                return None
            last = int(mine[-1]["seq"])
            self._append({"retract": last, "at": time.time()})
            return last

    def _append(self, line: dict[str, Any]) -> None:
        """Append a line with the next seq of this annotator's file (the folder is
        held, so no other process takes the same one)."""
        self.seq = _last_seq(self.path) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps({"seq": self.seq, **line}) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())


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

