"""Recusal: a reviewer does not judge pairs that contain its own submissions.

A model is its own by name, or by family: ``families`` maps model and reviewer names
to a family (``families:`` in a run config, ``--families FILE``), e.g. a GLM reviewer
and a GLM evaluatee. A reviewer named ``gpt4:variant`` is ``gpt4``'s, as peer-rank
reads it. ``self`` drops those votes everywhere (exam and review); ``self-exam`` only
on the exam's items, so the exam does not grade a reviewer on its own answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from peerreview.errors import InputError
from peerreview.options import Recusal as Recusal
from peerreview.records.gold import Gold
from peerreview.records.table import BoolArray, JudgmentTable, Votes


def family_of(name: str, families: dict[str, str]) -> str:
    """A model's or reviewer's family: as mapped, else that of the name before a ':',
    else the name itself."""
    if name in families:
        return families[name]
    base = name.split(":")[0]
    return families.get(base, base)


def read_families(path: str | Path) -> dict[str, str]:
    """A JSON or YAML mapping of model name to family.

    Raises:
        InputError: the file is missing, unreadable or not a mapping of strings.
    """
    import yaml  # YAML is a superset of JSON: one reader for both

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the families file: {exc.strerror}", path,
                         field="--families") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid JSON or YAML: {getattr(exc, 'problem', exc)}", path,
                         None if mark is None else mark.line + 1, field="--families") from exc
    return check_families(data, path)


def check_families(data: object, where: str | Path | None = None) -> dict[str, str]:
    """``data`` as a name -> family mapping of strings.

    Raises:
        InputError: it is not one, naming the first bad entry.
    """
    if not isinstance(data, dict):
        raise InputError("families must map model names to family names (e.g. glm-4: glm)",
                         where, field="families")
    for name, family in data.items():
        if not isinstance(name, str) or not isinstance(family, str) or not family:
            raise InputError(f"family of {name!r} must be a name (a string), got "
                             f"{family!r}", where, field=f"families.{name}")
    return dict(data)


def own_models(table: JudgmentTable, families: dict[str, str]) -> BoolArray:
    """(reviewers x models): whether the model is the reviewer's own (its family)."""
    reviewer_family = [family_of(r, families) for r in table.reviewers]
    model_family = [family_of(m, families) for m in table.models]
    return np.array([[rf == mf for mf in model_family] for rf in reviewer_family],
                    np.bool_).reshape(len(table.reviewers), len(table.models))


def recuse(table: JudgmentTable, families: dict[str, str], recusal: Recusal,
           exam_items: set[str] | None = None) -> tuple[JudgmentTable, int]:
    """The table without the recused judgments, and how many were dropped.

    A pairwise judgment is dropped when either model is the reviewer's own; a score
    when its model is (so no score vote on a pair with the reviewer's own is cast).
    With :attr:`Recusal.SELF_EXAM` only judgments on ``exam_items`` are dropped.
    """
    if recusal is Recusal.NONE:
        return table, 0
    own = own_models(table, families)
    where = np.ones(len(table.items), np.bool_)
    if recusal is Recusal.SELF_EXAM:
        items = exam_items or set()
        where = np.array([t in items for t in table.items], np.bool_).reshape(-1)
    p, s = table.pairwise, table.scores
    drop_p = (own[p.reviewer, p.a] | own[p.reviewer, p.b]) & where[p.item]
    drop_s = own[s.reviewer, s.model] & where[s.item]
    return table.subset(~drop_p, ~drop_s), int(drop_p.sum() + drop_s.sum())



def recused_table(table: JudgmentTable, recusal: str, families: dict[str, str],
                  exam_gold: Gold | None, notes: list[str]) -> JudgmentTable:
    """What ``rank`` ranks under ``--recuse`` (``none``: the table itself), with a note
    of how many judgments were dropped.

    Raises:
        InputError: an unknown recusal, naming ``--recuse``.
    """
    try:
        how = Recusal(recusal)
    except ValueError as exc:
        raise InputError(f"unknown recusal {recusal!r}; choose from "
                         f"{', '.join(r.value for r in Recusal)}", field="--recuse") from exc
    if how is Recusal.NONE:
        return table
    families = check_families(families)
    kept, dropped = recuse(table, families, how, exam_gold.items if exam_gold else None)
    where = "on the exam's items" if how is Recusal.SELF_EXAM else "exam and review"
    notes.append(f"--recuse {how.value}: {dropped} judgment(s) of a reviewer on a pair with "
                 f"its own family's submission dropped ({where})")
    if how is Recusal.SELF_EXAM and exam_gold is None:
        notes.append("--recuse self-exam without exam gold: there is no exam to recuse from")
    return kept


def self_preference_interval(votes: Votes, decided: BoolArray, reviewer: int, own: int | None,
                             n_items: int, n_boot: int,
                             seed: int = 0) -> tuple[float | None, float | None]:
    """A 95% bootstrap interval over items of reviewer ``reviewer``'s self-preference:
    its own model's (index ``own``) win rate in its verdicts minus in the other
    reviewers' verdicts (decided votes on pairs with that model). None without one.
    """
    if own is None or n_boot <= 0 or n_items == 0:
        return None, None
    involved = decided & ((votes.a == own) | (votes.b == own))
    won = np.where(votes.a == own, votes.vote > 0, votes.vote < 0).astype(np.float64)
    by_self = involved & (votes.reviewer == reviewer)
    by_others = involved & (votes.reviewer != reviewer)
    if not by_self.any() or not by_others.any():
        return None, None
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items)).astype(float)
        w_self, w_others = counts[votes.item] * by_self, counts[votes.item] * by_others
        if w_self.sum() > 0 and w_others.sum() > 0:
            draws.append(float(w_self @ won / w_self.sum() - w_others @ won / w_others.sum()))
    if not draws:
        return None, None
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)
