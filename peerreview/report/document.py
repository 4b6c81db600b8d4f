"""report.json: exactly what the report draws of a ranking, so that ``report DIR``
draws the report again by reading files and ranks nothing.

It holds the leaderboard, the exam, the agreement (the panel's and each reviewer's),
each reviewer's own ranking, the chair's verdicts (for the win matrix and the item
browser) and the optional sections (comparisons, style, bias, guarantee, audit, PPI,
shrinkage), as plain JSON. What the report computes from the judgment table (the
bias diagnostics, the kappa matrix, the item browser) is computed again from the
judgments, gold, items and submissions the folder's run.json names: that is reading.
A folder is untrusted: the document is JSON (nothing is unpickled), and every field
is checked against its type on the way in.
"""

from __future__ import annotations

import dataclasses
import math
import types
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
import orjson

from peerreview.agreement import Agreement
from peerreview.chair import LeaderboardRow
from peerreview.chair.base import Evidence, Verdicts
from peerreview.chair.compare import Comparisons
from peerreview.chair.excess_bias import ExcessBias
from peerreview.chair.guarantee import Guarantee
from peerreview.chair.ppi import PPIRow
from peerreview.chair.shrink import Shrinkage
from peerreview.chair.style import StyleControl
from peerreview.errors import InputError
from peerreview.exam.grade import ExamResult
from peerreview.records.exchange import dumps_json
from peerreview.records.study import Study
from peerreview.records.table import JudgmentTable, build_table
from peerreview.review.schedule import Schedule

FORMAT = 1  # bumped when the document changes shape; another one is drawn by ranking


def _plain(value: Any) -> Any:
    """A dataclass tree as JSON values (init fields only; an Evidence is left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.init and not isinstance(getattr(value, f.name), Evidence)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _names(table: JudgmentTable) -> dict[str, list[str]]:
    return {"items": table.items, "models": table.models, "reviewers": table.reviewers}


def report_document(result: Any) -> bytes:
    """report.json for a :class:`~peerreview.ranking.RankResult`."""
    v = result.evidence.verdicts
    style = None if result.style is None else _plain(result.style)
    doc = {
        "format": FORMAT, "method": result.method, "schedule": str(result.schedule),
        "bootstrap": result.bootstrap, "judgments_used": result.judgments_used,
        "judgments_available": result.judgments_available, "notes": list(result.notes),
        "table": _names(result.table), "evidence": _names(result.evidence.table),
        # Exact margins (not verdicts.jsonl's rounded ones): the browser rounds them.
        "verdicts": {"item": v.item.tolist(), "a": v.a.tolist(), "b": v.b.tolist(),
                     "margin": v.margin.tolist()},
        "leaderboard": _plain(result.leaderboard), "exam": _plain(result.exam),
        "agreement": _plain(result.agreement),
        "reviewer_agreement": [{"reviewer": s.reviewer, "agreement": _plain(s.agreement)}
                               for s in result.reviewer_agreement],
        "rankings": result.rankings, "style": style, "bias": _plain(result.bias),
        "guarantee": _plain(result.guarantee), "audit": result.audit,
        "ppi": _plain(result.ppi), "shrinkage": _plain(result.shrinkage),
        "comparisons": None if result.comparisons is None else result.comparisons.to_dict(),
    }
    return dumps_json(doc)


class _Bad(Exception):
    """A field of the document that is not what it should be."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _build(tp: Any, raw: Any, where: str) -> Any:
    """``raw`` as the type ``tp`` (dataclasses, lists, tuples, optionals, enums and
    scalars), checked; JSON's null for a float is NaN (orjson writes NaN as null)."""
    origin = get_origin(tp)
    if tp is Any:
        return raw
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        return _build(next(a for a in get_args(tp) if a is not type(None)), raw, where)
    if origin in (list, tuple):
        if not isinstance(raw, list):
            raise _Bad(where, "expected a list")
        out = [_build(get_args(tp)[0], x, f"{where}[{k}]") for k, x in enumerate(raw)]
        return out if origin is list else tuple(out)
    if origin is dict or tp is dict:
        if not isinstance(raw, dict):
            raise _Bad(where, "expected an object")
        return raw
    if dataclasses.is_dataclass(tp):
        return _record(tp, raw, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(raw)
        except ValueError as exc:
            raise _Bad(where, f"unknown value {raw!r}") from exc
    if tp is float:
        if raw is None:
            return math.nan
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Bad(where, "expected a number")
        return float(raw)
    if tp in (int, bool, str) and (type(raw) is not tp):
        raise _Bad(where, f"expected {tp.__name__}")
    return raw


def _record(cls: Any, raw: Any, where: str, **extra: Any) -> Any:
    if not isinstance(raw, dict):
        raise _Bad(where, "expected an object")
    hints = get_type_hints(cls)
    given = {f.name: _build(hints[f.name], raw[f.name], f"{where}.{f.name}")
             for f in dataclasses.fields(cls) if f.init and f.name in raw}
    try:
        return cls(**given, **extra)
    except TypeError as exc:  # a required field missing
        raise _Bad(where, str(exc)) from exc


def _table(raw: Any, where: str) -> JudgmentTable:
    names = _build(dict[str, list[str]], raw, where)
    for key in ("items", "models", "reviewers"):
        _build(list[str], names.get(key), f"{where}.{key}")
    # Only the names: the report counts and draws from the study's table, not this one.
    return dataclasses.replace(build_table([]), items=names["items"],
                               models=names["models"], reviewers=names["reviewers"])


def read_document(path: Path, study: Study) -> Any:
    """report.json read back as the :class:`~peerreview.ranking.RankResult` the report
    draws, with ``study`` (read from the folder's files) as what was ranked. Its
    evidence holds the verdicts only (no votes, weights or item scores: the report
    draws none of them).

    Raises:
        InputError: not JSON, another format, or a field of the wrong type (named).
    """
    from peerreview.ranking import RankResult, ReviewerAgreement

    try:
        raw = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise InputError(f"not a report.json of format {FORMAT}", path, field="format")
    try:
        ev_table = _table(raw.get("evidence"), "evidence")
        cols = _build(dict[str, list[Any]], raw.get("verdicts"), "verdicts")
        arrays = [np.array(_build(list[int], cols.get(k), f"verdicts.{k}"), np.int64)
                  for k in ("item", "a", "b")]
        margin = np.array(_build(list[float], cols.get("margin"), "verdicts.margin"),
                          np.float64)
        if any(a.size != margin.size for a in arrays) or any(
                a.size and (a.min() < 0 or a.max() >= bound) for a, bound in
                zip(arrays, (len(ev_table.items), len(ev_table.models),
                             len(ev_table.models)), strict=True)):
            raise _Bad("verdicts", "columns of unequal length or out of range")
        empty = build_table([]).pairwise
        evidence = Evidence(ev_table, np.zeros(len(ev_table.reviewers)), empty,
                            np.zeros(0), Verdicts(arrays[0], arrays[1], arrays[2], margin),
                            np.full((len(ev_table.items), len(ev_table.models)), np.nan))
        reviewer_agreement = [ReviewerAgreement(
            _build(str, s.get("reviewer") if isinstance(s, dict) else None,
                   f"reviewer_agreement[{k}].reviewer"),
            _build(Agreement, s.get("agreement"), f"reviewer_agreement[{k}].agreement"))
            for k, s in enumerate(_build(list[dict[str, Any]], raw.get("reviewer_agreement"),
                                         "reviewer_agreement"))]
        style = raw.get("style")
        return RankResult(
            method=_build(str, raw.get("method"), "method"),
            table=_table(raw.get("table"), "table"),
            exam=_build(list[ExamResult], raw.get("exam"), "exam"),
            evidence=evidence,
            leaderboard=_build(list[LeaderboardRow], raw.get("leaderboard"), "leaderboard"),
            agreement=_build(Agreement | None, raw.get("agreement"), "agreement"),
            reviewer_agreement=reviewer_agreement, duplicates=[],
            judgments_used=_build(int, raw.get("judgments_used"), "judgments_used"),
            judgments_available=_build(int, raw.get("judgments_available"),
                                       "judgments_available"),
            notes=_build(list[str], raw.get("notes"), "notes"),
            schedule=_build(Schedule, raw.get("schedule"), "schedule"), study=study,
            style=None if style is None else _record(StyleControl, style, "style",
                                                     evidence=evidence),
            bias=_build(list[ExcessBias] | None, raw.get("bias"), "bias"),
            bootstrap=_build(int, raw.get("bootstrap"), "bootstrap"),
            guarantee=_build(Guarantee | None, raw.get("guarantee"), "guarantee"),
            audit=_build(dict[str, Any] | None, raw.get("audit"), "audit"),
            ppi=_build(list[PPIRow] | None, raw.get("ppi"), "ppi"),
            shrinkage=_build(Shrinkage | None, raw.get("shrinkage"), "shrinkage"),
            comparisons=None if raw.get("comparisons") is None else
            Comparisons.from_dict(raw["comparisons"], f"{path}: comparisons"),
            rankings=_build(dict[str, dict[str, int]], raw.get("rankings"), "rankings"))
    except _Bad as exc:
        raise InputError(exc.message, path, field=exc.field) from exc
