"""Two output folders compared: ``peerreview diff OLD NEW`` and the CI gate
``peerreview gate DIR --against OLD --max-drop 0.03``.

Nothing is ranked again. Each folder's ``verdicts.jsonl`` gives every model's points
per item (1 a verdict won, 0.5 a tie); a model's score here is its share of points
over the items both folders judged (the vote chair's score on those items), and the
difference NEW - OLD gets a paired bootstrap interval over those common items (the
same resample of items in both folders). ``leaderboard.json`` gives the ranks. Judge
drift: where both folders hold ``judgments.jsonl`` (or name in ``run.json`` the
judgment files a ``rank`` read), the share of the same reviewer's
answers to the same call (item, reviewer, order; or item, reviewer, model) that
changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import orjson

from peerreview.errors import InputError
from peerreview.records.table import FloatArray


@dataclass(slots=True)
class Folder:
    """What diff and gate read from one output folder."""

    path: Path
    ranks: dict[str, int]
    points: dict[tuple[str, str], tuple[float, int]]  # (item, model) -> (won, played)
    answers: dict[tuple[str, ...], Any] = field(default_factory=dict)  # call -> answer


@dataclass(slots=True)
class ModelChange:
    """One model's score over the common items, old and new, and the paired interval."""

    model: str
    old: float
    new: float
    ci_low: float
    ci_high: float
    old_rank: int | None
    new_rank: int | None

    @property
    def change(self) -> float:
        return self.new - self.old


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc}", str(path), number) from None
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", str(path), number)
        rows.append((number, row))
    return rows


def read_folder(path: str | Path) -> Folder:
    """Read a folder written by rank, run or demo.

    Raises:
        InputError: the folder, its leaderboard.json or verdicts.jsonl is missing or
            malformed (naming the file, line and field).
    """
    folder = Path(path)
    board_path, verdicts_path = folder / "leaderboard.json", folder / "verdicts.jsonl"
    for needed in (board_path, verdicts_path):
        if not needed.is_file():
            raise InputError(f"{needed} is missing: not a folder written by rank, run or demo")
    try:
        board = orjson.loads(board_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", str(board_path)) from None
    if not isinstance(board, list):
        raise InputError("expected a list of leaderboard rows", str(board_path))
    ranks: dict[str, int] = {}
    for k, row in enumerate(board, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("model"), str) \
                or not isinstance(row.get("rank"), int):
            raise InputError(f"row {k} needs a string model and an integer rank",
                             str(board_path), None, "rank")
        ranks[row["model"]] = row["rank"]
    points: dict[tuple[str, str], tuple[float, int]] = {}
    for number, row in _read_jsonl(verdicts_path):
        for key in ("item", "a", "b"):
            if not isinstance(row.get(key), str):
                raise InputError("expected a string", str(verdicts_path), number, key)
        margin = row.get("margin")
        if not isinstance(margin, int | float) or isinstance(margin, bool) \
                or not math.isfinite(margin):
            raise InputError("expected a number", str(verdicts_path), number, "margin")
        a_points = 1.0 if margin > 0 else 0.0 if margin < 0 else 0.5
        for model, won in ((row["a"], a_points), (row["b"], 1.0 - a_points)):
            w, p = points.get((row["item"], model), (0.0, 0))
            points[(row["item"], model)] = (w + won, p + 1)
    return Folder(folder, ranks, points, _answers(_judgment_files(folder)))


def _judgment_files(folder: Path) -> list[Path]:
    """A run's judgments.jsonl, or the files a rank read (its run.json)."""
    if (folder / "judgments.jsonl").is_file():
        return [folder / "judgments.jsonl"]
    try:
        facts = orjson.loads((folder / "run.json").read_bytes())
        files = facts["rank"]["judgments"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return []
    return [Path(f) for f in files if isinstance(f, str) and Path(f).is_file()] \
        if isinstance(files, list) else []


def _answers(paths: list[Path]) -> dict[tuple[str, ...], Any]:
    """Each call's answer: (item, reviewer, first, second) -> winner, or (item,
    reviewer, model) -> score. Malformed lines are skipped: drift is a diagnostic."""
    out: dict[tuple[str, ...], Any] = {}
    rows = [row for path in paths for _, row in _read_jsonl(path)]
    for row in rows:
        item, reviewer = row.get("item"), row.get("reviewer")
        if not isinstance(item, str) or not isinstance(reviewer, str):
            continue
        if isinstance(row.get("first"), str) and isinstance(row.get("second"), str):
            out.setdefault((item, reviewer, row["first"], row["second"]), row.get("winner"))
        elif isinstance(row.get("model"), str):
            out.setdefault((item, reviewer, row["model"]), row.get("score"))
    return out


def _matrix(folder: Folder, items: list[str], models: list[str]) -> tuple[FloatArray,
                                                                         FloatArray]:
    won = np.zeros((len(items), len(models)))
    played = np.zeros((len(items), len(models)))
    for i, t in enumerate(items):
        for m, name in enumerate(models):
            won[i, m], played[i, m] = folder.points.get((t, name), (0.0, 0))
    return won, played


def _rates(won: FloatArray, played: FloatArray, w: FloatArray) -> FloatArray:
    total = w @ played
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, (w @ won) / np.where(total > 0, total, 1),
                                   np.nan), np.float64)


def compare(old: Folder, new: Folder, *, n_boot: int = 1000, seed: int = 0) -> list[ModelChange]:
    """Every model of both folders: its score over the common items in each, and a
    paired bootstrap interval (95%) of NEW - OLD.

    Raises:
        InputError: the folders share no item with a verdict.
    """
    items = sorted({t for t, _ in old.points} & {t for t, _ in new.points})
    if not items:
        raise InputError(f"{old.path} and {new.path} share no judged item: nothing to compare")
    models = sorted({m for _, m in old.points} & {m for _, m in new.points})
    won_o, played_o = _matrix(old, items, models)
    won_n, played_n = _matrix(new, items, models)
    ones = np.ones(len(items))
    base = _rates(won_n, played_n, ones) - _rates(won_o, played_o, ones)
    rng = np.random.default_rng(seed)
    samples = np.empty((n_boot, len(models)))
    for b in range(n_boot):
        w = rng.multinomial(len(items), ones / len(items)).astype(np.float64)
        samples[b] = _rates(won_n, played_n, w) - _rates(won_o, played_o, w)
    with np.errstate(all="ignore"):
        low, high = np.nanpercentile(samples, [2.5, 97.5], axis=0) if n_boot else (base, base)
    old_rate, new_rate = _rates(won_o, played_o, ones), _rates(won_n, played_n, ones)
    return [ModelChange(m, float(old_rate[k]), float(new_rate[k]), float(low[k]),
                        float(high[k]), old.ranks.get(m), new.ranks.get(m))
            for k, m in enumerate(models) if np.isfinite(base[k])]


def drift(old: Folder, new: Folder) -> dict[str, tuple[int, int]]:
    """Per reviewer: (calls answered in both folders, of them answered differently)."""
    out: dict[str, tuple[int, int]] = {}
    for key in old.answers.keys() & new.answers.keys():
        same, changed = out.get(key[1], (0, 0))
        out[key[1]] = (same + 1, changed + (old.answers[key] != new.answers[key]))
    return dict(sorted(out.items()))


def diff_lines(old: Folder, new: Folder, changes: list[ModelChange]) -> list[str]:
    """What ``peerreview diff`` prints: models, ranks, score changes, judge drift."""
    lines = []
    added, gone = sorted(new.ranks.keys() - old.ranks.keys()), sorted(old.ranks.keys()
                                                                       - new.ranks.keys())
    if added:
        lines.append(f"models added: {', '.join(added)}")
    if gone:
        lines.append(f"models removed: {', '.join(gone)}")
    items = len({t for t, _ in old.points} & {t for t, _ in new.points})
    lines.append(f"score = share of verdicts won over the {items} common items; "
                 "NEW - OLD with a paired bootstrap 95% interval")
    for c in sorted(changes, key=lambda c: (c.new_rank or 10**9, c.model)):
        moved = "" if c.old_rank == c.new_rank else f" (rank {c.old_rank} -> {c.new_rank})"
        lines.append(f"{c.model}: rank {c.new_rank}{moved}, {c.old:.3f} -> {c.new:.3f}, "
                     f"{c.change:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}]")
    for reviewer, (both, changed) in drift(old, new).items():
        lines.append(f"judge drift {reviewer}: {changed} of {both} identical calls answered "
                     f"differently ({changed / both:.0%})")
    return lines


def gate_failures(changes: list[ModelChange], max_drop: float) -> list[ModelChange]:
    """Models whose score fell by more than ``max_drop`` with an interval excluding 0."""
    return [c for c in changes if c.change < -max_drop and c.ci_high < 0]


def junit_xml(changes: list[ModelChange], failures: list[ModelChange], max_drop: float) -> bytes:
    """A JUnit report, one test case per model, a failure for each that dropped."""
    failed = {c.model for c in failures}
    suite = ET.Element("testsuite", name="peerreview gate", tests=str(len(changes)),
                       failures=str(len(failed)), errors="0")
    for c in changes:
        case = ET.SubElement(suite, "testcase", classname="peerreview.gate", name=c.model)
        said = (f"{c.old:.3f} -> {c.new:.3f} ({c.change:+.3f}, 95% interval "
                f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]; allowed drop {max_drop})")
        if c.model in failed:
            ET.SubElement(case, "failure", message=f"score fell: {said}").text = said
        else:
            ET.SubElement(case, "system-out").text = said
    return bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def gate(folder: str | Path, against: str | Path, max_drop: float, *,
         junit: str | Path | None = None, n_boot: int = 1000,
         seed: int = 0) -> tuple[list[ModelChange], list[ModelChange]]:
    """Compare ``folder`` with ``against``; write the JUnit XML to ``junit``.

    Returns:
        (every model's change, those that fail the gate).

    Raises:
        InputError: a bad folder, or ``max_drop`` < 0.
    """
    if not max_drop >= 0:
        raise InputError(f"--max-drop must be >= 0, got {max_drop}")
    old, new = read_folder(against), read_folder(folder)
    changes = compare(old, new, n_boot=n_boot, seed=seed)
    failures = gate_failures(changes, max_drop)
    if junit is not None:
        Path(junit).write_bytes(junit_xml(changes, failures, max_drop))
    return changes, failures
