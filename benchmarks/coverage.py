"""How often the leaderboard's 95% intervals cover the truth, by simulation.

A population: 6 models with true strengths, 4 reviewers of different noise, position
bias and (fixed) weight, and a quality of every submission on every item shared by
all reviewers (so that the votes of an item move together, and the item is the unit
a bootstrap must resample). Every reviewer judges every pair of every item in both
orders (a tie when the perceived difference is small). Each replication draws
``n`` items, ranks them with ``--bootstrap`` and asks, for every model, whether its
interval holds the truth: the chair's score on the whole population (the vote's win
rate as the share of item verdicts a model wins in expectation; Bradley-Terry's
strength fitted to the expected counts of ``n`` items, its penalty included), computed
exactly by quadrature, not by sampling.

    python benchmarks/coverage.py [--reps 600] [--items 60,200] [--boot 1000]
        [--methods vote,bradley-terry]

Prints the share of intervals covering the truth per model and overall, for the
leaderboard's interval (the expanded BCa of :mod:`peerreview.chair.bootstrap`) and
for the plain percentile interval on the same resamples.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr

sys.path.insert(0, str(Path(__file__).parent))
from splits import machine

from peerreview.chair import gather_evidence, make_chair
from peerreview.chair.bootstrap import bootstrap_samples, intervals, resample_counts
from peerreview.chair.bradley_terry import fit_bradley_terry
from peerreview.records.fields import TABLE_EXTRAS
from peerreview.records.table import FloatArray, JudgmentTable, TableParts, assemble_table


@dataclass(frozen=True, slots=True)
class Population:
    """Who is judged, who judges, and how."""

    strength: tuple[float, ...] = (-1.2, -0.7, -0.3, 0.1, 0.6, 1.2)
    noise: tuple[float, ...] = (0.6, 1.0, 1.5, 2.2)  # per reviewer
    bias: tuple[float, ...] = (0.3, -0.2, 0.5, 0.1)  # toward the one shown first
    # fixed weights (sum 1) with no signed sum of 2 votes each near 0: a margin is 0
    # only when every reviewer's two votes cancel, as the exact truth assumes
    weight: tuple[float, ...] = (0.519, 0.192, 0.172, 0.117)
    quality_sd: float = 0.8  # a submission's quality on an item, shared by reviewers
    tie: float = 0.3  # |perceived difference| below this is a tie

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        ia, ib = np.triu_indices(len(self.strength), 1)
        return ia.astype(np.int64), ib.astype(np.int64)


def simulate(pop: Population, n_items: int, rng: np.random.Generator) -> JudgmentTable:
    """``n_items`` items, every pair by every reviewer in both orders: the table."""
    n_models, n_rev = len(pop.strength), len(pop.noise)
    ia, ib = pop.pairs
    s = np.asarray(pop.strength)
    quality = s[None, :] + rng.normal(0.0, pop.quality_sd, (n_items, n_models))
    # axes: item, pair, reviewer, order (0: a first, 1: b first)
    d = (quality[:, ia] - quality[:, ib])[:, :, None, None]
    sign = np.array([1.0, -1.0])[None, None, None, :]  # first minus second, seen as shown
    noise = np.asarray(pop.noise)[None, None, :, None]
    u = sign * d + np.asarray(pop.bias)[None, None, :, None] + \
        noise * rng.standard_normal((n_items, ia.size, n_rev, 2))
    code = np.where(np.abs(u) < pop.tie, 0, np.where(u > 0, 1, -1)).ravel()
    shape = (n_items, ia.size, n_rev, 2)
    item = np.broadcast_to(np.arange(n_items)[:, None, None, None], shape).ravel()
    rev = np.broadcast_to(np.arange(n_rev)[None, None, :, None], shape).ravel()
    a = np.broadcast_to(ia[None, :, None, None], shape)
    b = np.broadcast_to(ib[None, :, None, None], shape)
    first = np.where(np.arange(2)[None, None, None, :] == 0, a, b).ravel()
    second = np.where(np.arange(2)[None, None, None, :] == 0, b, a).ravel()
    n = code.size
    raw = np.empty(n, dtype=object)
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    return assemble_table(TableParts(
        items=[f"t{t:05d}" for t in range(n_items)], models=[f"m{m}" for m in range(n_models)],
        reviewers=[f"r{r}" for r in range(n_rev)], p_item=item.astype(np.int64),
        p_reviewer=rev.astype(np.int64), first=first.astype(np.int64),
        second=second.astype(np.int64), winner_code=code.astype(np.int64),
        extras={e.name: np.full(n, e.missing) for e in TABLE_EXTRAS}, p_raw=raw,
        s_item=empty_i, s_reviewer=empty_i, model=empty_i, score=empty_f, low=empty_f,
        high=empty_f, s_raw=np.empty(0, dtype=object)))


def _vote_probabilities(pop: Population, d: FloatArray) -> FloatArray:
    """P(vote for a = +1, 0, -1) per difference d, reviewer and order: (d, r, o, 3)."""
    noise, bias = np.asarray(pop.noise)[None, :, None], np.asarray(pop.bias)[None, :, None]
    seen = np.stack([d, -d], axis=-1)[:, None, :]  # first minus second, as shown
    first_wins = ndtr((seen + bias - pop.tie) / noise)
    second_wins = ndtr((-seen - bias - pop.tie) / noise)
    a_wins = np.where(np.arange(2) == 0, first_wins, second_wins)
    b_wins = np.where(np.arange(2) == 0, second_wins, first_wins)
    return np.stack([a_wins, 1.0 - a_wins - b_wins, b_wins], axis=-1)


def _nodes(pop: Population, pair_mean: float) -> tuple[FloatArray, FloatArray]:
    """Gauss-Hermite nodes and weights for d ~ N(pair_mean, 2 quality_sd^2)."""
    x, w = np.polynomial.hermite_e.hermegauss(120)
    return pair_mean + np.sqrt(2.0) * pop.quality_sd * x, w / w.sum()


def true_vote(pop: Population) -> FloatArray:
    """The win rate each model has in expectation: P(its item verdict wins), ties half,
    averaged over its pairs."""
    n_models, n_rev = len(pop.strength), len(pop.noise)
    ia, ib = pop.pairs
    w = np.asarray(pop.weight)
    combos = np.array(list(itertools.product(range(-2, 3), repeat=n_rev)))  # net votes
    margin = combos @ w
    points = np.where(np.all(combos == 0, axis=1), 0.5, (margin > 0).astype(float))
    won = np.zeros(n_models)
    for a, b in zip(ia.tolist(), ib.tolist(), strict=True):
        d, dw = _nodes(pop, pop.strength[a] - pop.strength[b])
        p = _vote_probabilities(pop, d)  # (d, r, o, 3): +1, 0, -1
        value = np.array([1, 0, -1])
        net = np.zeros((d.size, n_rev, 5))  # P(net vote of a reviewer = -2..2)
        for i, j in itertools.product(range(3), repeat=2):
            net[:, :, value[i] + value[j] + 2] += p[:, :, 0, i] * p[:, :, 1, j]
        prob = np.ones((d.size, combos.shape[0]))
        for r in range(n_rev):
            prob *= net[:, r, combos[:, r] + 2]
        p_a = float(dw @ (prob @ points))
        won[a] += p_a
        won[b] += 1.0 - p_a
    return won / (n_models - 1)


def true_bradley_terry(pop: Population, n_items: int, reg: float = 0.1) -> FloatArray:
    """The strengths fitted to the expected weighted wins of ``n_items`` items."""
    n_models, n_rev = len(pop.strength), len(pop.noise)
    ia, ib = pop.pairs
    row_weight = np.asarray(pop.weight) * n_rev  # as the chair weighs a vote
    won, lost = np.zeros(ia.size), np.zeros(ia.size)
    for k, (a, b) in enumerate(zip(ia.tolist(), ib.tolist(), strict=True)):
        d, dw = _nodes(pop, pop.strength[a] - pop.strength[b])
        p = _vote_probabilities(pop, d)  # (d, r, o, 3)
        share = p[..., 0] + 0.5 * p[..., 1]
        won[k] = float(dw @ (share * row_weight[None, :, None]).sum(axis=(1, 2)))
        lost[k] = float(dw @ ((1 - share) * row_weight[None, :, None]).sum(axis=(1, 2)))
    theta = fit_bradley_terry(ia, ib, n_items * won, n_items * lost, n_models, reg)
    return np.exp(theta)


def covered(pop: Population, method: str, n_items: int, reps: int, n_boot: int,
            seed: int) -> dict[str, FloatArray]:
    """Per interval kind, (reps x models) whether the interval held the truth."""
    truth = true_vote(pop) if method == "vote" else true_bradley_terry(pop, n_items)
    rng = np.random.default_rng(seed)
    weights = np.asarray(pop.weight)
    hits: dict[str, list[FloatArray]] = {"leaderboard (expanded BCa)": [], "percentile": []}
    for rep in range(reps):
        evidence = gather_evidence(simulate(pop, n_items, rng), weights, by_mean=False)
        chair = make_chair(method)
        point = chair.scores(evidence)
        samples = bootstrap_samples(chair, evidence, resample_counts(n_items, n_boot, rep))
        for kind, how in (("leaderboard (expanded BCa)", "bca"), ("percentile", "percentile")):
            low, high = intervals(chair, evidence, point, samples, how)
            hits[kind].append((low <= truth) & (truth <= high))
    return {k: np.array(v, np.float64) for k, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=600)
    parser.add_argument("--items", default="60,200")
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--methods", default="vote,bradley-terry")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pop = Population()
    print(f"{args.reps} replications, --bootstrap {args.boot}, {len(pop.strength)} models, "
          f"{len(pop.noise)} reviewers; {machine()}\n")
    models = " | ".join(f"m{m} ({s:+.1f})" for m, s in enumerate(pop.strength))
    print(f"| method | items | interval | {models} | all | s |")
    print("|---|---:|---|" + "---:|" * (len(pop.strength) + 2))
    for method in args.methods.split(","):
        for n_items in (int(x) for x in args.items.split(",")):
            start = time.perf_counter()
            hits = covered(pop, method, n_items, args.reps, args.boot, args.seed + n_items)
            took = time.perf_counter() - start
            for kind, h in hits.items():
                per = " | ".join(f"{x:.1%}" for x in h.mean(axis=0))
                print(f"| {method} | {n_items} | {kind} | {per} | {h.mean():.1%} | "
                      f"{took:.0f} |", flush=True)


if __name__ == "__main__":
    main()
