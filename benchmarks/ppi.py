"""Prediction-powered intervals (rank --ppi): do they cover, and what are they worth?

1. A simulated population with a biased panel: 5 models, each item gives model m the
   quality q_m + e (e ~ N(0, 1)); a human prefers a to b with probability
   sigmoid(2 (z_a - z_b)); the panel does the same but adds ``--bias`` to the worst
   model's quality (it likes its style). The truth is each model's expected human item
   win share (400,000 simulated items). Each run draws 1,000 items, all judged by the
   panel, and gold on 100 of them: uniformly, or (weighted) with probability 0.3 on
   the items the panel finds close and 0.05 elsewhere, undone by weights 1/p.
2. SummEval (relevance) and Vicuna80: the panel is every recorded reviewer, equally
   weighted (no exam, so the panel is the same in every split); the gold items are
   split at random into a labelled part (``--labelled`` of them) and a held-out part;
   the truth is the win share over all gold items. Intervals are for items drawn like
   these, so on a fixed set they hold a little more than 95% (the finite population).

Coverage is the share of (run, model) intervals holding the truth; width the mean
width; "gold items worth" the mean of n (gold-only width / PPI width)^2.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from splits import arguments, load, machine

from peerreview.chair.ppi import PPIRow, gold_win_shares, item_win_shares, ppi_rows
from peerreview.ranking import RankOptions, rank
from peerreview.records.table import FloatArray

QUALITY = np.array([0.6, 0.3, 0.0, -0.3, -0.6])
MODELS = [f"m{k}" for k in range(QUALITY.size)]


@dataclass
class Tally:
    """Coverage and width of one kind of interval over runs and models."""

    covered: int = 0
    total: int = 0
    width: float = 0.0
    worth: float = 0.0
    worth_n: int = 0

    def add(self, low: float | None, high: float | None, truth: float,
            worth: float | None = None) -> None:
        if low is None or high is None:
            return
        self.total += 1
        self.covered += low <= truth <= high
        self.width += high - low
        if worth is not None:
            self.worth += worth
            self.worth_n += 1

    def cells(self) -> str:
        worth = f"{self.worth / self.worth_n:.0f}" if self.worth_n else ""
        return (f"{self.covered / max(self.total, 1):.3f} | "
                f"{self.width / max(self.total, 1):.3f} | {worth}")


def _shares(p_win: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Item win shares from pairwise win probabilities (items x models x models)."""
    draws = rng.uniform(size=p_win.shape) < p_win
    iu = np.triu_indices(p_win.shape[1], 1)
    won = np.zeros(p_win.shape[:2])
    for a, b in zip(*iu, strict=True):
        won[:, a] += draws[:, a, b]
        won[:, b] += ~draws[:, a, b]
    shares: FloatArray = won / (p_win.shape[1] - 1)
    return shares


def _probabilities(z: FloatArray) -> FloatArray:
    diff = z[:, :, None] - z[:, None, :]
    p: FloatArray = 1 / (1 + np.exp(-2 * diff))
    return p


def simulate(runs: int, bias: float, seed: int = 0) -> dict[str, Tally]:
    """Coverage of the three intervals on the simulated population."""
    rng = np.random.default_rng(seed)
    z = QUALITY + rng.normal(size=(400_000, QUALITY.size))
    p = _probabilities(z)
    truth = (p.sum(axis=2) - 0.5) / (QUALITY.size - 1)  # the diagonal's 1/2 taken out
    truth = truth.mean(axis=0)
    tallies = {k: Tally() for k in ("panel", "gold", "ppi", "gold w", "ppi w")}
    skew = np.zeros(QUALITY.size)
    skew[-1] = bias
    for _ in range(runs):
        z = QUALITY + rng.normal(size=(1000, QUALITY.size))
        y = _shares(_probabilities(z), rng)
        f = _shares(_probabilities(z + skew), rng)
        uniform = np.full(1000, np.nan)
        uniform[rng.choice(1000, 100, replace=False)] = 1.0
        close = np.abs(f - 0.5).mean(axis=1) < np.median(np.abs(f - 0.5).mean(axis=1))
        prob = np.where(close, 0.3, 0.05)
        picked = rng.uniform(size=1000) < prob * 100 / prob.sum()
        for name, mask, w in (("", uniform, None),
                              (" w", np.where(picked, 1.0, np.nan), 1 / prob)):
            labelled = y * mask[:, None]
            weights = None if w is None else np.repeat(w[:, None], QUALITY.size, axis=1)
            rows = ppi_rows(MODELS, f, labelled, weights)
            _tally(rows, dict(zip(MODELS, truth, strict=True)), tallies, name)
    return tallies


def _tally(rows: list[PPIRow], truth: dict[str, float], tallies: dict[str, Tally],
           suffix: str = "") -> None:
    for r in rows:
        t = truth[r.model]
        tallies["ppi" + suffix].add(r.ci_low, r.ci_high, t, r.as_narrow_as)
        tallies["gold" + suffix].add(r.gold.ci_low, r.gold.ci_high, t)
        if not suffix:
            tallies["panel"].add(r.panel.ci_low, r.panel.ci_high, t)


def shared_set(name: str, data: Path, runs: int, labelled: float) -> tuple[dict[str, Tally],
                                                                            int, int]:
    """Coverage on a shared set, gold split into a labelled and a held-out part."""
    judgments, gold = load(name, data)
    result = rank(judgments, options=RankOptions(per_reviewer=False))
    table = result.evidence.table
    f = item_win_shares(result.evidence.verdicts, len(table.items), len(table.models))
    y, _ = gold_win_shares(gold, table)
    has_gold = ~np.isnan(y).all(axis=1)
    f, y = f[has_gold], y[has_gold]
    truth = dict(zip(table.models, np.nanmean(y, axis=0).tolist(), strict=True))
    n_items = int(has_gold.sum())
    n = round(labelled * n_items)
    rng = np.random.default_rng(0)
    tallies = {k: Tally() for k in ("panel", "gold", "ppi")}
    for _ in range(runs):
        mask = np.full(n_items, np.nan)
        mask[rng.choice(n_items, n, replace=False)] = 1.0
        _tally(ppi_rows(table.models, f, y * mask[:, None]), truth, tallies)
    return tallies, n_items, n


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--bias", type=float, default=1.0)
    parser.add_argument("--labelled", type=float, default=0.2)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{machine()}\n")
    print(f"Simulated: 5 models, 1,000 items, gold on 100, the panel adds {args.bias} to "
          f"the worst model; {args.runs} runs\n")
    print("| interval | coverage | mean width | gold items worth |\n|---|---:|---:|---:|")
    sim = simulate(args.runs, args.bias)
    labels = {"panel": "panel alone", "gold": "gold alone (uniform)",
              "ppi": "PPI++ (uniform)", "gold w": "gold alone (weighted, Hajek)",
              "ppi w": "PPI++ (weighted)"}
    for key, label in labels.items():
        print(f"| {label} | {sim[key].cells()} |")
    for name in ("summeval", "vicuna80"):
        tallies, items, n = shared_set(name, args.data, args.runs, args.labelled)
        print(f"\n{name}: {items} gold items, {n} labelled, the rest held out; "
              f"{args.runs} splits\n")
        print("| interval | coverage | mean width | gold items worth |\n|---|---:|---:|---:|")
        for key in ("panel", "gold", "ppi"):
            print(f"| {labels[key].split(' (')[0]} | {tallies[key].cells()} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
