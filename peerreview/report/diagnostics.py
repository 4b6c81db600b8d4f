"""Bias diagnostics and agreement matrices for the report, from the judgment table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peerreview.chair.base import Verdicts
from peerreview.exam.grade import cohen_kappa
from peerreview.records.table import JudgmentTable, Votes, pair_key, votes_toward_first

FloatMatrix = npt.NDArray[np.float64]


@dataclass(slots=True)
class Bias:
    """One reviewer's biases; None where the data cannot tell."""

    reviewer: str
    first_wins: float | None  # share of decided ordered verdicts won by the first shown
    flips: float | None  # share of pairs asked in both orders whose winner changed
    self_preference: float | None  # own win rate by itself minus by the other reviewers
    longer_wins: float | None  # share of decided verdicts won by the longer submission
    decided: int


def _share(mask: npt.NDArray[np.bool_]) -> float | None:
    return float(mask.mean()) if mask.size else None


def biases(table: JudgmentTable, lengths: dict[tuple[str, str], int],
           consistency: dict[str, float | None]) -> list[Bias]:
    """Position, self-preference and length bias of every reviewer.

    Args:
        table: all judgments.
        lengths: characters of each (item, model) submission, if known.
        consistency: each reviewer's position consistency (from the exam module).
    """
    votes = table.votes()
    decided = ~votes.abstain & (votes.vote != 0)
    toward_first = votes_toward_first(votes)
    length = np.full((len(table.items), len(table.models)), -1, dtype=np.int64)
    item_index = {t: i for i, t in enumerate(table.items)}
    model_index = {m: i for i, m in enumerate(table.models)}
    for (t, m), n in lengths.items():
        if t in item_index and m in model_index:
            length[item_index[t], model_index[m]] = n
    out = []
    for r, name in enumerate(table.reviewers):
        mine = decided & (votes.reviewer == r)
        ordered = mine & (votes.a_first >= 0)
        first_won = toward_first[ordered] > 0
        la, lb = length[votes.item[mine], votes.a[mine]], length[votes.item[mine], votes.b[mine]]
        known = (la >= 0) & (lb >= 0) & (la != lb)
        longer_won = (votes.vote[mine][known] > 0) == (la[known] > lb[known])
        flips = consistency.get(name)
        out.append(Bias(name, _share(first_won), None if flips is None else 1 - flips,
                        _self_preference(votes, decided, r, model_index.get(name)),
                        _share(longer_won), int(mine.sum())))
    return out


def _self_preference(votes: Votes, decided: npt.NDArray[np.bool_], r: int,
                     own: int | None) -> float | None:
    """How much more reviewer ``r`` lets its own model win than the others do."""
    if own is None:
        return None
    involved = decided & ((votes.a == own) | (votes.b == own))
    won = np.where(votes.a == own, votes.vote > 0, votes.vote < 0)
    by_self, by_others = involved & (votes.reviewer == r), involved & (votes.reviewer != r)
    if not by_self.any() or not by_others.any():
        return None
    return float(won[by_self].mean() - won[by_others].mean())


def kappa_matrix(table: JudgmentTable) -> FloatMatrix:
    """Cohen's kappa between every two reviewers over the questions both answered
    (the same item, pair and order); NaN where they share fewer than 5."""
    votes = table.votes()
    keep = ~votes.abstain
    n_models = len(table.models)
    key = pair_key(votes.item, votes.a, votes.b, n_models) * 3 + votes.a_first + 1
    n = len(table.reviewers)
    kappa = np.full((n, n), np.nan)
    per = []
    for r in range(n):
        mask = keep & (votes.reviewer == r)
        asked, first = np.unique(key[mask], return_index=True)
        per.append((asked, votes.vote[mask][first] + 1))
    for i in range(n):
        kappa[i, i] = 1.0
        for j in range(i + 1, n):
            _, ia, ja = np.intersect1d(per[i][0], per[j][0], return_indices=True)
            if ia.size >= 5:
                k = cohen_kappa(per[i][1][ia], per[j][1][ja])
                # Undefined only when both always gave the same one verdict: full agreement.
                kappa[i, j] = kappa[j, i] = 1.0 if k is None else k
    return kappa


def win_matrix(verdicts: Verdicts, n_models: int) -> FloatMatrix:
    """Share of items on which the row model beat the column model (ties half)."""
    wins = np.zeros((n_models, n_models))
    games = np.zeros((n_models, n_models))
    score = np.where(verdicts.margin > 0, 1.0, np.where(verdicts.margin < 0, 0.0, 0.5))
    np.add.at(wins, (verdicts.a, verdicts.b), score)
    np.add.at(wins, (verdicts.b, verdicts.a), 1 - score)
    np.add.at(games, (verdicts.a, verdicts.b), 1)
    np.add.at(games, (verdicts.b, verdicts.a), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(games > 0, wins / games, np.nan)
