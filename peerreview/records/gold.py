"""Human gold labels: decided unordered pairs, and item scores where the gold is pointwise.

A gold file holds judgments in the exchange format, from one or several human
annotators. Pairwise gold votes on a pair are summed over annotators and both
orders; pointwise gold scores are averaged per (item, model) and a pair is decided
by the order of the means. A pair whose sum is 0 (a tie) is not gold: it is left
out of every count (METHOD.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peerreview.errors import InputError
from peerreview.records.exchange import Duplicate, PairwiseJudgment, read_judgments
from peerreview.records.table import FloatArray, IntArray, JudgmentTable, vote_from


@dataclass(slots=True)
class Gold:
    """Decided gold pairs keyed by (item, a, b) with a < b, and gold item scores."""

    pairs: dict[tuple[str, str, str], int]  # +1: a better, -1: b better
    item_scores: dict[str, dict[str, float]]  # item -> model -> mean gold score
    path: str = ""
    duplicates: list[Duplicate] = field(default_factory=list)  # repeated labels, ignored
    # (item, a, b) -> 1 / its selection probability, where the labels were sampled
    # unevenly (``peerreview label-select``); empty: every pair weighs 1
    weights: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def restrict(self, items: set[str]) -> Gold:
        """The gold of these items only."""
        return Gold({k: v for k, v in self.pairs.items() if k[0] in items},
                    {t: s for t, s in self.item_scores.items() if t in items}, self.path,
                    self.duplicates, {k: w for k, w in self.weights.items() if k[0] in items})

    @property
    def items(self) -> set[str]:
        """Items with at least one decided pair."""
        return {t for t, _, _ in self.pairs}

    def win_rates(self) -> dict[str, float]:
        """The system ranking the gold implies: each model's share of gold pairs won."""
        wins: dict[str, float] = defaultdict(float)
        games: dict[str, int] = defaultdict(int)
        for (_, a, b), sign in self.pairs.items():
            games[a] += 1
            games[b] += 1
            wins[a if sign > 0 else b] += 1
        return {m: wins[m] / games[m] for m in sorted(games)}

    def check_models(self, models: list[str]) -> None:
        """Refuse gold about a model that no reviewer judged.

        Raises:
            InputError: naming the first such model.
        """
        known = set(models)
        for item, a, b in sorted(self.pairs):
            for name in (a, b):
                if name not in known:
                    raise InputError(f"model {name!r} (gold pair on item {item!r}) was judged "
                                     "by no reviewer (gold must be about judged models)",
                                     self.path or None)

    def pair_weights(self) -> FloatArray:
        """Each gold pair's weight, in the order of :meth:`indexed`."""
        keys = sorted(self.pairs)
        return np.fromiter((self.weights.get(k, 1.0) for k in keys), np.float64, len(keys))

    def indexed(self, table: JudgmentTable) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Gold pairs as index arrays (item, a, b, sign) of ``table``; items the table
        lacks get index -1."""
        item_ix = {t: i for i, t in enumerate(table.items)}
        model_ix = {m: i for i, m in enumerate(table.models)}
        keys = sorted(self.pairs)
        n = len(keys)
        return (np.fromiter((item_ix.get(k[0], -1) for k in keys), np.int64, n),
                np.fromiter((model_ix[k[1]] for k in keys), np.int64, n),
                np.fromiter((model_ix[k[2]] for k in keys), np.int64, n),
                np.fromiter((self.pairs[k] for k in keys), np.int64, n))


def gold_from_judgments(path: str | Path, known_models: list[str] | None = None) -> Gold:
    """Read a gold file.

    Args:
        path: JSON Lines of pairwise and/or pointwise human judgments.
        known_models: if given, every model the gold names must be one of these
            (gold about a model nobody judged is an error).

    Raises:
        InputError: the file is malformed, names an unknown model, or decides no pair.
    """
    read = read_judgments(path)
    known = set(known_models) if known_models is not None else None
    votes: dict[tuple[str, str, str], int] = defaultdict(int)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    weights: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for judgment, (src, line) in zip(read.judgments, read.sources, strict=True):
        named: list[tuple[str, str]] = [(judgment.first, "first"), (judgment.second, "second")] \
            if isinstance(judgment, PairwiseJudgment) else [(judgment.model, "model")]
        if known is not None:
            for name, field in named:
                if name not in known:
                    raise InputError(f"model {name!r} was judged by no reviewer "
                                     "(gold must be about judged models)", src, line, field)
        if isinstance(judgment, PairwiseJudgment):
            a, b = sorted((judgment.first, judgment.second))
            if judgment.weight is not None:
                weights[(judgment.item, a, b)].append(judgment.weight)
            if judgment.winner in (None, "tie"):
                continue
            votes[(judgment.item, a, b)] += vote_from(judgment, a)
        elif judgment.score is not None:
            low, high = judgment.scale
            sums[(judgment.item, judgment.model)] += (judgment.score - low) / (high - low)
            counts[(judgment.item, judgment.model)] += 1
    item_scores: dict[str, dict[str, float]] = defaultdict(dict)
    for (item, model), total in sums.items():
        item_scores[item][model] = total / counts[(item, model)]
    for item, scores in item_scores.items():
        names = sorted(scores)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                diff = scores[a] - scores[b]
                if diff != 0:
                    votes[(item, a, b)] += 1 if diff > 0 else -1
    pairs = {k: (1 if v > 0 else -1) for k, v in votes.items() if v != 0}
    if not pairs:
        raise InputError("no decided gold pair (every gold pair is a tie or an abstention)",
                         path)
    return Gold(pairs, dict(item_scores), str(path), read.duplicates,
                {k: sum(w) / len(w) for k, w in weights.items() if k in pairs})
