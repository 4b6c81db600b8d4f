"""Which (item, pair) to label, and with what probability each was chosen.

A share of the labels (``core``) is a stratified random sample: the strata are the
model pairs, each gets an equal share, drawn uniformly within. The rest go where
reviewers disagree: every unit not in the core is drawn independently (Poisson
sampling) with probability proportional to its disagreement. A unit's inclusion
probability is then π = π_core + (1 - π_core) π_disagree, and weighting each label
by 1/π estimates any share over all units (a reviewer's accuracy) without bias
(Horvitz-Thompson). Some units are labelled twice by one person with the order
swapped (their consistency), some by two people (human agreement).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.records import Judgment, PairwiseJudgment, Submission
from peerreview.votes import FloatArray


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing to label: a pair of submissions on an item, in a shown order."""

    id: str
    item: str
    left: str  # the model shown as A
    right: str  # the model shown as B
    stratum: str
    probability: float  # of being chosen: the label weighs 1 / probability
    disagreement: float  # among the reviewers, 0 (agree) to 1
    repeat_of: str | None = None  # the unit shown again, the order swapped
    double: bool = False  # to be labelled by two people

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def disagreement(judgments: list[Judgment]) -> dict[tuple[str, str, str], float]:
    """Per (item, a, b), a < b: 1 minus |mean vote| over every reviewer and order
    (0: they all agree; 1: as many one way as the other, or all ties)."""
    votes: dict[tuple[str, str, str], list[int]] = {}
    for j in judgments:
        if not isinstance(j, PairwiseJudgment) or j.winner is None:
            continue
        a, b = sorted((j.first, j.second))
        won = j.first if j.winner == "first" else j.second if j.winner == "second" else None
        votes.setdefault((j.item, a, b), []).append(0 if won is None else 1 if won == a else -1)
    return {k: 1.0 - abs(sum(v)) / len(v) for k, v in votes.items()}


def select(submissions: list[Submission], judgments: list[Judgment], n: int, *, seed: int = 0,
           core: float = 0.7, repeats: float = 0.05, doubles: float = 0.1,
           categories: dict[str, str] | None = None) -> list[Unit]:
    """Choose ``n`` units (plus repeats) to label.

    Args:
        categories: item -> its category (an item's ``meta.category``): the strata are
            then model pair x category.
        core: the share drawn at random within strata (the rest by disagreement).
        repeats: the share shown again to the same person, the order swapped.
        doubles: the share to be labelled by two people.
    """
    rng = np.random.default_rng(seed)
    models_of: dict[str, list[str]] = {}
    for s in submissions:
        models_of.setdefault(s.item, []).append(s.model)
    universe = [(t, a, b) for t in sorted(models_of)
                for a, b in itertools.combinations(sorted(models_of[t]), 2)]
    if not universe:
        return []
    n = min(n, len(universe))
    spread = disagreement(judgments)
    strata: dict[str, list[int]] = {}
    categories = categories or {}
    for k, (t, a, b) in enumerate(universe):
        strata.setdefault(_stratum(a, b, categories.get(t)), []).append(k)
    # The core: an equal share a stratum (what a stratum cannot fill goes to the others).
    n_core = max(1, round(core * n)) if judgments else n
    quota = _shares(n_core, {h: len(ks) for h, ks in strata.items()})
    p_core = np.zeros(len(universe))
    chosen = np.zeros(len(universe), bool)
    for h, ks in strata.items():
        if quota[h]:
            chosen[rng.choice(ks, quota[h], replace=False)] = True
            p_core[ks] = quota[h] / len(ks)
    # The rest: Poisson sampling proportional to disagreement among the units left.
    d = np.array([spread.get(u, 0.0) for u in universe]) + 1e-3  # every unit can be drawn
    rest = n - int(chosen.sum())
    p_dis = _capped(d, rest) if rest > 0 else np.zeros(len(universe))
    drawn = ~chosen & (rng.random(len(universe)) < p_dis)
    chosen |= drawn
    probability = p_core + (1 - p_core) * p_dis
    units = []
    for k in np.flatnonzero(chosen).tolist():
        t, a, b = universe[k]
        left, right = (a, b) if _coin(seed, t, a, b) else (b, a)
        units.append(Unit(_id(t, a, b), t, left, right, _stratum(a, b, categories.get(t)),
                          float(probability[k]),
                          round(float(d[k] - 1e-3), 6), None, bool(rng.random() < doubles)))
    order = rng.permutation(len(units))
    units = [units[i] for i in order]
    again = [u for u in units if rng.random() < repeats]
    return units + [Unit(u.id + "-again", u.item, u.right, u.left, u.stratum, u.probability,
                         u.disagreement, u.id, False) for u in again]


def _stratum(a: str, b: str, category: str | None) -> str:
    return f"{a} vs {b}" + ("" if category is None else f" | {category}")


def _shares(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """``total`` split as evenly as the strata's sizes allow."""
    share = {h: 0 for h in sizes}
    left = total
    while left > 0:
        open_ = [h for h in sorted(sizes) if share[h] < sizes[h]]
        if not open_:
            break
        for h in open_[:left] if left < len(open_) else open_:
            share[h] += 1
            left -= 1
    return share


def _capped(weight: FloatArray, expected: int) -> FloatArray:
    """Probabilities proportional to ``weight``, none above 1, summing to ``expected``."""
    p = np.zeros_like(weight)
    free = np.ones(weight.size, bool)
    budget = float(min(expected, weight.size))
    for _ in range(weight.size):
        p[free] = budget * weight[free] / weight[free].sum()
        over = free & (p >= 1)
        if not over.any():
            break
        p[over] = 1.0
        free &= ~over
        budget = min(expected, weight.size) - float((~free).sum())
        if budget <= 0 or not free.any():
            break
    capped: FloatArray = np.clip(p, 0, 1)
    return capped


def _coin(seed: int, item: str, a: str, b: str) -> bool:
    digest = hashlib.sha256(f"{seed}\x1flabel\x1f{item}\x1f{a}\x1f{b}".encode()).digest()
    return digest[0] % 2 == 0


def _id(item: str, a: str, b: str) -> str:
    return hashlib.sha256(f"{item}\x1f{a}\x1f{b}".encode()).hexdigest()[:12]

