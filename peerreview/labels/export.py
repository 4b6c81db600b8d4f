"""Labels to exam gold: the contract's judgments, in the order labelled, and what they
say about the labelling (per stratum, per annotator, between annotators)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peerreview.errors import InputError, NoQualifiedReviewer
from peerreview.exam.grade import ExamResult, cohen_kappa, run_exam
from peerreview.labels.select import Unit
from peerreview.labels.store import read_labels, read_units, selection_file
from peerreview.output import write_file
from peerreview.records.exchange import PairwiseJudgment, Winner, dumps_jsonl
from peerreview.records.study import load_study
from peerreview.records.table import vote_from

WINNER: dict[str, Winner] = {"a": "first", "b": "second", "t": "tie", "x": "tie"}  # x: both bad
SCALE = (1, 5)  # a rating unit's scores


@dataclass
class AnnotatorStats:
    annotator: str
    labels: int  # not skipped
    skipped: int
    tie_rate: float | None  # t and x, of the pair labels
    left_rate: float | None  # of the decided labels, the share that picked A (left)
    self_agreement: float | None  # on units shown again with the order swapped
    repeats: int


@dataclass
class LabelStats:
    """What ``label-export`` prints."""

    gold: int  # lines written
    strata: dict[str, tuple[int, int]]  # stratum -> (labels, ties)
    annotators: list[AnnotatorStats]
    kappa: dict[tuple[str, str], tuple[float | None, int]]  # pair -> (kappa, shared units)
    flagged: int  # units whose labels disagree
    effective: float  # Kish's effective number of the decided labels, (sum w)^2 / sum w^2
    notes: list[str] = field(default_factory=list)


def export_gold(folder: str | Path, out: str | Path) -> LabelStats:
    """Write the labels of ``folder`` as exam gold to ``out``.

    Each pair's label is a pairwise judgment: ``first`` the answer shown as A (left),
    ``reviewer`` the annotator, ``winner`` first/second/tie ("both bad" is a tie,
    flagged in ``meta``), ``weight`` 1 / the unit's selection probability. A rating
    is a pointwise judgment on the 1-5 scale (its weight in ``meta``). Skips are
    left out.

    Raises:
        InputError: no selection, no labels yet, or a malformed label line.
    """
    folder = Path(folder)
    units = {u.id: u for u in read_units(selection_file(folder))}
    labels = read_labels(folder, units)  # a choice a unit does not take: file:line:field
    ordered = sorted(((x["labelled_at"], name, x) for name, xs in labels.items() for x in xs
                      if _counts(x, units)),
                     key=lambda t: (t[0], t[1]))
    if not ordered:
        raise InputError("no labels yet: run peerreview label first", folder / "labels")
    signs = _signs(ordered, units)
    flagged = {pair for pair, s in signs.items() if len(set(s.values())) > 1}
    rows: list[dict[str, Any]] = []
    for _, name, x in ordered:
        unit = units[x["unit"]]
        weight = round(1.0 / unit.probability, 6)
        meta = {"unit": unit.id, "probability": unit.probability, "stratum": unit.stratum,
                "repeat_of": unit.repeat_of, "double": unit.double,
                "disagreement": _pair(unit) in flagged,
                "reviewer_disagreement": unit.disagreement,
                "rationale": x.get("rationale") or None}
        if unit.kind == "rate":
            rows.append({"item": unit.item, "reviewer": name, "model": unit.left,
                         "score": int(x["choice"]), "scale": list(SCALE),
                         "meta": {**meta, "weight": weight}})
        else:
            rows.append({"item": unit.item, "reviewer": name, "first": unit.left,
                         "second": unit.right, "winner": WINNER[x["choice"]],
                         "weight": weight, "meta": {**meta, "both_bad": x["choice"] == "x"}})
    write_file(out, dumps_jsonl(rows))
    w = np.array([r.get("weight") or r["meta"]["weight"] for r in rows
                  if r.get("winner") != "tie"])
    return LabelStats(len(rows), _strata(ordered, units), _annotators(labels, units),
                      _kappas(signs), len(flagged),
                      float(w.sum() ** 2 / (w ** 2).sum()) if w.size else 0.0)


def _counts(label: dict[str, Any], units: dict[str, Unit]) -> bool:
    """A label that says something (not a skip) about a unit of the selection."""
    unit = units.get(label["unit"])
    return unit is not None and label["choice"] != "s"


def exam_on_labels(folder: str | Path, gold: str | Path, threshold: float = 0.6
                   ) -> tuple[list[ExamResult], str | None]:
    """Every reviewer of ``folder``'s judgments graded on the exported ``gold``
    (weighted); no results and why, when the folder has no judgments to grade."""
    judged = Path(folder) / "judgments.jsonl"
    if not judged.exists():
        return [], None
    try:
        study = load_study([judged], exam_gold=gold)
        assert study.exam_gold is not None
        return run_exam(study.table, study.exam_gold, threshold=threshold), None
    except NoQualifiedReviewer as exc:  # the table still says who scored what
        return exc.results, None
    except InputError as exc:
        return [], str(exc)


def _pair(unit: Unit) -> tuple[str, str, str]:
    a, b = sorted((unit.left, unit.right))
    return unit.item, a, b


def _sign(unit: Unit, choice: str) -> int:
    """+1: the alphabetically first model is better, -1: the other, 0: a tie (a
    rating: its score)."""
    if unit.kind == "rate":
        return int(choice)
    said = PairwiseJudgment(unit.item, "", unit.left, unit.right, WINNER[choice])
    return vote_from(said, min(unit.left, unit.right))


def _signs(ordered: list[tuple[float, str, dict[str, Any]]],
           units: dict[str, Unit]) -> dict[tuple[str, str, str], dict[str, int]]:
    """pair -> annotator (and annotator + ' again' for a repeat) -> sign."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for _, name, x in ordered:
        unit = units[x["unit"]]
        who = name + " again" if unit.repeat_of else name
        out.setdefault(_pair(unit), {})[who] = _sign(unit, x["choice"])
    return out


def _strata(ordered: list[tuple[float, str, dict[str, Any]]],
            units: dict[str, Unit]) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = {}
    for _, _, x in ordered:
        c = counts.setdefault(units[x["unit"]].stratum, [0, 0])
        c[0] += 1
        c[1] += x["choice"] in ("t", "x")
    return {h: (c[0], c[1]) for h, c in sorted(counts.items())}


def _annotators(labels: dict[str, list[dict[str, Any]]],
                units: dict[str, Unit]) -> list[AnnotatorStats]:
    out = []
    for name, xs in sorted(labels.items()):
        kept = [x for x in xs if _counts(x, units)]
        pairs = [x for x in kept if units[x["unit"]].kind == "pair"]
        decided = [x for x in pairs if x["choice"] in ("a", "b")]
        mine = {x["unit"]: _sign(units[x["unit"]], x["choice"]) for x in kept}
        again = [(mine[u.repeat_of], s) for uid, s in mine.items()
                 if (u := units[uid]).repeat_of and u.repeat_of in mine]
        out.append(AnnotatorStats(
            name, len(kept), sum(1 for x in xs if x["choice"] == "s"),
            _share(sum(1 for x in pairs if x["choice"] in ("t", "x")), len(pairs)),
            _share(sum(1 for x in decided if x["choice"] == "a"), len(decided)),
            _share(sum(1 for a, b in again if a == b), len(again)), len(again)))
    return out


def _kappas(signs: dict[tuple[str, str, str], dict[str, int]]
            ) -> dict[tuple[str, str], tuple[float | None, int]]:
    """Cohen's kappa of every two annotators over the units both labelled."""
    names = sorted({n for s in signs.values() for n in s if not n.endswith(" again")})
    out = {}
    for x, y in itertools.combinations(names, 2):
        shared = [(s[x], s[y]) for s in signs.values() if x in s and y in s]
        if shared:
            a, b = np.array(shared).T
            out[(x, y)] = (cohen_kappa(a, b), len(shared))
    return out


def _share(k: int, n: int) -> float | None:
    return k / n if n else None
