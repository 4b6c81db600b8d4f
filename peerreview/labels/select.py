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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from peerreview.records.exchange import Judgment, PairwiseJudgment, PointwiseJudgment, Submission
from peerreview.records.table import FloatArray, vote_from
from peerreview.review.schedule import one_order_first


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing to label: a pair of submissions on an item, in a shown order (or,
    for rating, one submission)."""

    id: str
    item: str
    left: str  # the model shown as A
    right: str  # the model shown as B
    stratum: str
    probability: float  # of being chosen: the label weighs 1 / probability
    disagreement: float  # among the reviewers, 0 (agree) to 1
    repeat_of: str | None = None  # the unit shown again, the order swapped
    double: bool = False  # to be labelled by two people
    kind: str = "pair"  # "pair": which is better; "rate": ``left`` alone, scored 1-5

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
        votes.setdefault((j.item, a, b), []).append(vote_from(j, a))
    return {k: 1.0 - abs(sum(v)) / len(v) for k, v in votes.items()}


def select(submissions: list[Submission], judgments: list[Judgment], n: int, *, seed: int = 0,
           core: float = 0.7, repeats: float = 0.05, doubles: float = 0.1,
           categories: dict[str, str] | None = None,
           only: set[tuple[str, str, str]] | None = None) -> list[Unit]:
    """Choose ``n`` pairs (plus repeats) to label.

    Args:
        core: the share drawn at random within strata (the rest by disagreement).
        repeats: the share shown again to the same person, the order swapped.
        doubles: the share to be labelled by two people.
        categories: item -> its category (an item's ``meta.category``): the strata are
            then model pair x category.
        only: draw from these (item, a, b) alone, e.g. the verdicts that need review
            (:func:`abstained_pairs`); the probabilities are then within them.
    """
    rng = np.random.default_rng(seed)
    categories = categories or {}
    models_of: dict[str, list[str]] = {}
    for s in submissions:
        models_of.setdefault(s.item, []).append(s.model)
    universe = [(t, a, b) for t in sorted(models_of)
                for a, b in itertools.combinations(sorted(models_of[t]), 2)]
    if only is not None:
        universe = [u for u in universe if u in only]
    spread = disagreement(judgments)
    d = np.array([spread.get(u, 0.0) for u in universe])
    strata = [_stratum(f"{a} vs {b}", categories.get(t)) for t, a, b in universe]
    units = []
    for k, probability in _draw(strata, d, n, core if judgments else 1.0, rng):
        t, a, b = universe[k]
        left, right = (a, b) if one_order_first(t, a, b, "label", seed) else (b, a)
        units.append(Unit(_id(t, a, b), t, left, right, strata[k], probability,
                          round(float(d[k]), 6), None, bool(rng.random() < doubles)))
    return _shuffled_with_repeats(units, rng, repeats, swap=True)


def abstained_pairs(path: str | Path) -> set[tuple[str, str, str]]:
    """The (item, a, b) of a ``verdicts.jsonl`` marked ``needs_review`` (written by
    ``rank --target-agreement``).

    Raises:
        InputError: the file is missing or malformed, or marks nothing (naming the file,
            and the line and field of a bad line).
    """
    import orjson

    from peerreview.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is missing: --from-abstained reads the verdicts of "
                         "rank --target-agreement")
    out: set[tuple[str, str, str]] = set()
    marked = False
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise InputError("not JSON", path, number) from None
        if not isinstance(row, dict):
            raise InputError("expected a JSON object", path, number)
        if "needs_review" in row:
            marked = True
        if row.get("needs_review") is True:
            for key in ("item", "a", "b"):
                if not isinstance(row.get(key), str):
                    raise InputError("expected a string", path, number, key)
            a, b = sorted((row["a"], row["b"]))
            out.add((row["item"], a, b))
    if not marked:
        raise InputError("no verdict carries needs_review: rank with --target-agreement "
                         "first", path)
    return out


def select_ratings(submissions: list[Submission], judgments: list[Judgment], n: int, *,
                   seed: int = 0, core: float = 0.7, repeats: float = 0.05,
                   doubles: float = 0.1, categories: dict[str, str] | None = None
                   ) -> list[Unit]:
    """Choose ``n`` submissions (plus repeats) to rate 1-5: strata are the models (x
    category), the rest go where the reviewers' scores spread most."""
    rng = np.random.default_rng(seed)
    categories = categories or {}
    universe = sorted({(s.item, s.model) for s in submissions})
    spread = score_spread(judgments)
    d = np.array([spread.get(u, 0.0) for u in universe])
    strata = [_stratum(m, categories.get(t)) for t, m in universe]
    units = [Unit(_id(t, m, ""), t, m, "", strata[k], probability, round(float(d[k]), 6),
                  None, bool(rng.random() < doubles), kind="rate")
             for k, probability in _draw(strata, d, n, core if spread else 1.0, rng)
             for t, m in [universe[k]]]
    return _shuffled_with_repeats(units, rng, repeats, swap=False)


def score_spread(judgments: list[Judgment]) -> dict[tuple[str, str], float]:
    """Per (item, model): twice the standard deviation of the reviewers' scores, on a
    0-1 scale (0: they agree; 1: half say the bottom, half the top)."""
    scores: dict[tuple[str, str], list[float]] = {}
    for j in judgments:
        if isinstance(j, PointwiseJudgment) and j.score is not None:
            low, high = j.scale
            scores.setdefault((j.item, j.model), []).append((j.score - low) / (high - low))
    return {k: min(1.0, 2 * float(np.std(v))) for k, v in scores.items()}


def _draw(strata: list[str], spread: FloatArray, n: int, core: float,
          rng: np.random.Generator) -> list[tuple[int, float]]:
    """Which of the units (indices) to label, each with its probability of being chosen.

    The core (``core`` of ``n``) is an equal share a stratum, uniform within (what a
    stratum cannot fill goes to the others); the rest is Poisson sampling of the
    units left, proportional to ``spread`` (plus a little, so every unit can be drawn).
    """
    size = len(strata)
    if size == 0:
        return []
    n = min(n, size)
    members: dict[str, list[int]] = {}
    for k, h in enumerate(strata):
        members.setdefault(h, []).append(k)
    quota = _shares(max(1, round(core * n)), {h: len(ks) for h, ks in members.items()})
    p_core = np.zeros(size)
    chosen = np.zeros(size, bool)
    for h, ks in members.items():
        if quota[h]:
            chosen[rng.choice(ks, quota[h], replace=False)] = True
            p_core[ks] = quota[h] / len(ks)
    rest = n - int(chosen.sum())
    p_spread = _capped(spread + 1e-3, rest) if rest > 0 else np.zeros(size)
    chosen |= ~chosen & (rng.random(size) < p_spread)
    probability = p_core + (1 - p_core) * p_spread
    return [(k, float(probability[k])) for k in np.flatnonzero(chosen).tolist()]


def _shuffled_with_repeats(units: list[Unit], rng: np.random.Generator, share: float,
                           swap: bool) -> list[Unit]:
    """The units in random order, then a ``share`` of them again (swapped, for pairs)."""
    units = [units[i] for i in rng.permutation(len(units))]
    again = [u for u in units if rng.random() < share]
    return units + [replace(u, id=u.id + "-again", left=u.right if swap else u.left,
                            right=u.left if swap else u.right, repeat_of=u.id, double=False)
                    for u in again]


def _stratum(models: str, category: str | None) -> str:
    return models + ("" if category is None else f" | {category}")


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


def _id(item: str, a: str, b: str) -> str:
    return hashlib.sha256(f"{item}\x1f{a}\x1f{b}".encode()).hexdigest()[:12]

