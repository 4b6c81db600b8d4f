"""The exchange records of the contract and their JSON Lines reading and writing.

Reading is strict: every problem raises :class:`InputError` naming the file, the
line and the field. Unknown keys are ignored. A judgment whose ``winner`` or
``score`` is null is an abstention and is kept.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.records.fields import EXTRAS, describe
from peerreview.records.fields import WINNERS as WINNERS
from peerreview.records.fields import Winner as Winner


class OffScale(StrEnum):
    """What to do with a score outside its declared scale (LLM reviewers answer 0 to a
    1-5 prompt). ``keep`` is what PRE's own scoring does."""

    KEEP = "keep"  # as given
    CLIP = "clip"  # to the nearest end of the scale
    ABSTAIN = "abstain"  # as an unreadable answer
    ERROR = "error"  # refuse the input


def off_scale_score(score: float, scale: tuple[float, float], rule: OffScale) -> float | None:
    """``score`` under the off-scale rule (unchanged when on the scale).

    Raises:
        ValueError: off the scale under ``error``.
    """
    low, high = scale
    if low <= score <= high or rule is OffScale.KEEP:
        return score
    if rule is OffScale.CLIP:
        return min(max(score, low), high)
    if rule is OffScale.ABSTAIN:
        return None
    raise ValueError(f"{score:g} is outside the scale [{low:g}, {high:g}] "
                     "(--off-scale keep|clip|abstain lets it in)")


@dataclass(frozen=True, slots=True)
class Item:
    """A task input given to every evaluatee."""

    item: str
    input: str
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Submission:
    """What one evaluatee model produced for one item."""

    item: str
    model: str
    output: str


@dataclass(frozen=True, slots=True)
class PairwiseJudgment:
    """A reviewer's choice between two submissions; ``first`` was shown first."""

    item: str
    reviewer: str
    first: str
    second: str
    winner: Winner | None
    raw: str | None = None
    confidence: float | None = None  # the probability the reviewer put on its verdict
    strength: int | None = None  # 2: a strong verdict (arena-hard's >>); None: plain
    weight: float | None = None  # gold only: 1 / the label's selection probability
    p_first: float | None = None  # the reviewer's probability that ``first`` is better


@dataclass(frozen=True, slots=True)
class PointwiseJudgment:
    """A reviewer's score of one submission on a scale ``(low, high)``."""

    item: str
    reviewer: str
    model: str
    score: float | None
    scale: tuple[float, float]
    raw: str | None = None


Judgment = PairwiseJudgment | PointwiseJudgment


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every non-blank line of a JSON Lines file.

    Raises:
        InputError: the file is missing, a line is not UTF-8, not JSON, or not an object.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    with handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                obj = orjson.loads(raw_line)
            except orjson.JSONDecodeError as exc:
                try:
                    raw_line.decode("utf-8")
                except UnicodeDecodeError as uexc:
                    raise InputError(
                        f"not UTF-8 (byte 0x{raw_line[uexc.start]:02x} at column {uexc.start + 1})",
                        path,
                        number,
                    ) from None
                raise InputError(f"not valid JSON ({exc})", path, number) from None
            if not isinstance(obj, dict):
                raise InputError(
                    f"expected a JSON object, got {type(obj).__name__}", path, number
                )
            yield number, obj


def _text(obj: dict[str, Any], key: str, path: Path, line: int, *, optional: bool = False) -> Any:
    """Return ``obj[key]`` checked to be a non-empty string (or None when optional)."""
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise InputError("missing (expected a string)", path, line, key)
    value = obj[key]
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {describe(value)}", path, line, key)
    if not optional and not value:
        raise InputError("must not be empty", path, line, key)
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scale(obj: dict[str, Any], path: Path, line: int) -> tuple[float, float]:
    scale = obj.get("scale")
    if (
        not isinstance(scale, list)
        or len(scale) != 2
        or not all(_number(v) and math.isfinite(v) for v in scale)
        or not scale[0] < scale[1]
    ):
        got = "missing" if scale is None else f"got {describe(scale)}"
        raise InputError(f"expected [low, high] with low < high, {got}", path, line, "scale")
    return (float(scale[0]), float(scale[1]))


def parse_judgment(obj: dict[str, Any], path: Path, line: int,
                   off_scale: OffScale = OffScale.KEEP) -> Judgment:
    """Validate one decoded JSON object as a pairwise or pointwise judgment; a score
    outside its scale follows ``off_scale``."""
    item = _text(obj, "item", path, line)
    reviewer = _text(obj, "reviewer", path, line)
    raw = obj.get("raw")
    if raw is not None and not isinstance(raw, str):  # kept as JSON text, as polars spells it
        raw = json.dumps(raw, ensure_ascii=False)
    if "first" in obj or "second" in obj:
        first = _text(obj, "first", path, line)
        second = _text(obj, "second", path, line)
        if first == second:
            raise InputError(f"equals 'first' ({first!r}): a model is not compared with itself",
                             path, line, "second")
        if "winner" not in obj:
            raise InputError('missing (expected "first", "second", "tie" or null)',
                             path, line, "winner")
        winner = obj["winner"]
        if winner is not None and winner not in WINNERS:
            raise InputError(
                f'expected "first", "second", "tie" or null, got {describe(winner)}',
                path, line, "winner",
            )
        extras: dict[str, Any] = {f.name: f.read(obj, path, line) for f in EXTRAS}
        return PairwiseJudgment(item, reviewer, first, second, winner, raw, **extras)
    if "model" in obj:
        model = _text(obj, "model", path, line)
        scale = _scale(obj, path, line)
        if "score" not in obj:
            raise InputError("missing (expected a number or null)", path, line, "score")
        score = obj["score"]
        if score is not None:
            if not _number(score) or not math.isfinite(score):
                raise InputError(f"expected a number or null, got {describe(score)}",
                                 path, line, "score")
            try:
                score = off_scale_score(float(score), scale, off_scale)
            except ValueError as exc:
                raise InputError(str(exc), path, line, "score") from None
        return PointwiseJudgment(item, reviewer, model, score, scale, raw)
    raise InputError(
        "a judgment needs 'first' and 'second' (pairwise) or 'model' (pointwise)",
        path, line, "first",
    )


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A judgment dropped because an earlier line already said the same thing."""

    path: str
    line: int
    kept_path: str
    kept_line: int


@dataclass(slots=True)
class JudgmentSet:
    """Judgments read from one or more files, duplicates removed (first one kept)."""

    judgments: list[Judgment]
    duplicates: list[Duplicate]
    sources: list[tuple[str, int]]  # (path, line) of each kept judgment
    off_scale: Counter[str] = field(default_factory=Counter)  # reviewer -> scores off scale


def read_judgment_lines(path: str | Path, off_scale: OffScale = OffScale.KEEP
                        ) -> Iterator[tuple[int, Judgment, bool]]:
    """Every judgment of one file, exactly checked: ``(line, judgment, off_scale)``
    where the last says whether the score given lay outside its scale.

    Raises:
        InputError: the file is missing or a record is malformed (file, line, field).
    """
    path = Path(path)
    for line, obj in iter_jsonl(path):
        judgment = parse_judgment(obj, path, line, off_scale)
        yield line, judgment, isinstance(judgment, PointwiseJudgment) and _off(obj)


def judgment_key(judgment: Judgment) -> tuple[str, ...]:
    """What makes a judgment a repeat of another: item, reviewer, models and order."""
    if isinstance(judgment, PairwiseJudgment):
        return (judgment.item, judgment.reviewer, judgment.first, judgment.second)
    return (judgment.item, judgment.reviewer, judgment.model)


def read_judgments(paths: list[str | Path] | str | Path,
                   off_scale: OffScale = OffScale.KEEP) -> JudgmentSet:
    """Read judgments from one or more JSON Lines files, as records (the exact reader;
    :mod:`peerreview.records.reading` reads large files straight into columns).

    A judgment with the same item, reviewer, models and order (pairwise) or item,
    reviewer and model (pointwise) as an earlier one is a duplicate: the first is
    kept and the later one is listed in ``duplicates``. Scores outside their scale
    follow ``off_scale`` and are counted per reviewer.

    Raises:
        InputError: a file is missing, empty or holds a malformed record.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    judgments: list[Judgment] = []
    sources: list[tuple[str, int]] = []
    duplicates: list[Duplicate] = []
    seen: dict[tuple[str, ...], tuple[str, int]] = {}
    off: Counter[str] = Counter()
    for path in map(Path, paths):
        count = 0
        for line, judgment, outside in read_judgment_lines(path, off_scale):
            count += 1
            off[judgment.reviewer] += outside
            where = (str(path), line)
            earlier = seen.setdefault(judgment_key(judgment), where)
            if earlier is not where:
                duplicates.append(Duplicate(str(path), line, earlier[0], earlier[1]))
                continue
            judgments.append(judgment)
            sources.append(where)
        if count == 0:
            raise InputError("no judgments in file (it is empty)", path)
    return JudgmentSet(judgments, duplicates, sources, +off)


def _off(obj: dict[str, Any]) -> bool:
    """Whether a (valid) pointwise record's score lies outside its scale."""
    score, scale = obj.get("score"), obj["scale"]
    return score is not None and not scale[0] <= score <= scale[1]


def off_scale_note(counts: Counter[str], rule: OffScale) -> list[str]:
    """One warning per reviewer that gave scores outside the scale."""
    done = {OffScale.KEEP: "kept as given", OffScale.CLIP: "clipped to the scale",
            OffScale.ABSTAIN: "counted as abstentions", OffScale.ERROR: "refused"}[rule]
    return [f"reviewer {r!r}: {n} score(s) outside the scale {done} "
            "(--off-scale keep|clip|abstain|error)" for r, n in sorted(counts.items())]


def read_items(path: str | Path) -> list[Item]:
    """Read ``items.jsonl``; item ids must be unique."""
    path = Path(path)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        item_id = _text(obj, "item", path, line)
        if item_id in seen:
            raise InputError(f"item {item_id!r} already given on line {seen[item_id]}",
                             path, line, "item")
        seen[item_id] = line
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            raise InputError(f"expected an object, got {describe(meta)}", path, line, "meta")
        items.append(Item(item_id, _text(obj, "input", path, line),
                          _text(obj, "reference", path, line, optional=True), meta))
    if not items:
        raise InputError("no items in file (it is empty)", path)
    return items


def read_submissions(path: str | Path) -> list[Submission]:
    """Read ``submissions.jsonl``; one submission per (item, model)."""
    path = Path(path)
    submissions: list[Submission] = []
    seen: dict[tuple[str, str], int] = {}
    for line, obj in iter_jsonl(path):
        sub = Submission(_text(obj, "item", path, line), _text(obj, "model", path, line),
                         _text(obj, "output", path, line, optional=True) or "")
        key = (sub.item, sub.model)
        if key in seen:
            raise InputError(f"model {sub.model!r} already has a submission for item "
                             f"{sub.item!r} on line {seen[key]}", path, line, "model")
        seen[key] = line
        submissions.append(sub)
    if not submissions:
        raise InputError("no submissions in file (it is empty)", path)
    return submissions


def judgment_to_dict(judgment: Judgment) -> dict[str, Any]:
    """The contract's JSON object for a judgment."""
    if isinstance(judgment, PairwiseJudgment):
        out: dict[str, Any] = {"item": judgment.item, "reviewer": judgment.reviewer,
                               "first": judgment.first, "second": judgment.second,
                               "winner": judgment.winner}
    else:
        score: float | int | None = judgment.score
        if score is not None and float(score).is_integer():
            score = int(score)
        out = {"item": judgment.item, "reviewer": judgment.reviewer, "model": judgment.model,
               "score": score, "scale": [_compact(v) for v in judgment.scale]}
    if judgment.raw is not None:
        out["raw"] = judgment.raw
    if isinstance(judgment, PairwiseJudgment):
        for extra in EXTRAS:
            value = getattr(judgment, extra.name)
            if value is not None:
                out[extra.name] = extra.written(value)
    return out


def _compact(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def dumps_jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Serialize rows as JSON Lines (UTF-8, one object per line)."""
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def judgment_lines(judgments: Iterable[Judgment], chunk: int = 10_000) -> Iterator[bytes]:
    """Judgments as JSON Lines, ``chunk`` lines at a time: a run's million judgments
    are written out without their text ever held whole."""
    buffer = bytearray()
    for n, judgment in enumerate(judgments, 1):
        # Copied into one buffer at once: orjson's own bytes keep kilobytes spare.
        buffer += orjson.dumps(judgment_to_dict(judgment))
        buffer += b"\n"
        if n % chunk == 0:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def dumps_json(value: Any) -> bytes:
    """Serialize an output document: indented JSON (numpy values as numbers), a final
    newline."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
