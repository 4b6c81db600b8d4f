"""Bias diagnostics and agreement matrices for the report, from the judgment table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peerreview.chair.base import Verdicts
from peerreview.records.recuse import self_preference_interval
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
    self_low: float | None = None  # self_preference's 95% bootstrap interval over items
    self_high: float | None = None  # (with the ranking's --bootstrap)


def _share(mask: npt.NDArray[np.bool_]) -> float | None:
    return float(mask.mean()) if mask.size else None


def biases(table: JudgmentTable, lengths: dict[tuple[str, str], int],
           consistency: dict[str, float | None], n_boot: int = 0) -> list[Bias]:
    """Position, self-preference and length bias of every reviewer.

    Args:
        table: all judgments.
        lengths: characters of each (item, model) submission, if known.
        consistency: each reviewer's position consistency (from the exam module).
        n_boot: resamples of items for self-preference intervals (0: none).
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
                        _share(longer_won), int(mine.sum()),
                        *self_preference_interval(votes, decided, r, model_index.get(name),
                                                  len(table.items), n_boot)))
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
    # Every reviewer's first answer to every question, found by one sort, and every two
    # reviewers' 3 x 3 table of answers to the questions both answered, by 9 sparse
    # products (no per-reviewer sort, no grid of questions x reviewers).
    from scipy.sparse import csr_matrix

    kept = np.flatnonzero(keep)
    asked, question = np.unique(key[kept], return_inverse=True)
    cells, first = np.unique(question.reshape(-1) * n + votes.reviewer[kept],
                             return_index=True)
    q, r = np.divmod(cells, n)
    label = votes.vote[kept][first] + 1
    said = [csr_matrix((np.ones(int(np.count_nonzero(label == c))),
                        (q[label == c], r[label == c])), shape=(asked.size, n))
            for c in range(3)]
    table3 = np.array([[(said[c].T @ said[d]).toarray() for d in range(3)] for c in range(3)])
    for i in range(n):
        kappa[i, i] = 1.0
        for j in range(i + 1, n):
            both = table3[:, :, i, j]
            if both.sum() >= 5:
                k = kappa_of_table(both)
                # Undefined only when both always gave the same one verdict: full agreement.
                kappa[i, j] = kappa[j, i] = 1.0 if k is None else k
    return kappa


def kappa_of_table(counts: FloatMatrix) -> float | None:
    """:func:`~peerreview.exam.grade.cohen_kappa` from the two raters' table of label
    counts (row: the first's label, column: the second's), to the same bits."""
    total = float(counts.sum())
    observed = float(np.trace(counts)) / total
    first, second = counts.sum(axis=1) / total, counts.sum(axis=0) / total
    expected = sum(float(first[c]) * float(second[c]) for c in range(counts.shape[0])
                   if first[c] > 0 or second[c] > 0)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


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
