"""Agreement with human gold against judgments used, for every schedule, replaying the
recorded judgments of the three sets in ../shared/data.

Protocol of benchmarks/agreement.py: exam on 20 random SummEval articles or on 20%
of the items' human votes, the chair on the rest, 20 random splits. Each schedule
uses only the judgments it would have asked for; "full, budget x" takes whole items
at random until x of the full schedule's judgments. Writes a table (stdout) and a
PNG (--png).

    python benchmarks/cost.py [--data ../shared/data] [--splits 20] [--png docs/cost.png]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from splits import SETS, arguments, header, load
from splits import splits as each_split

from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import PairwiseJudgment
from peerreview.records.gold import Gold
from peerreview.review.schedule import Schedule

RUNS = [("full", Schedule.FULL, None), ("cascade", Schedule.CASCADE, None),
        ("one-order", Schedule.ONE_ORDER, None), ("adaptive", Schedule.ADAPTIVE, None),
        ("full, budget 25%", Schedule.FULL, 0.25), ("full, budget 50%", Schedule.FULL, 0.5)]


def middle_model(gold: Gold) -> str:
    """The baseline of the baseline design: the model in the middle of the gold ranking
    (arena-hard and alpaca_eval compare every model with a mid-strength one)."""
    rates = gold.win_rates()
    ordered = sorted(rates, key=lambda m: (rates[m], m))
    return ordered[len(ordered) // 2]


def run_set(name: str, data: Path, splits: int) -> dict[str, dict[str, list[float]]]:
    judgments, gold = load(name, data)
    pairwise = any(isinstance(j, PairwiseJudgment) for j in judgments.judgments)
    runs = RUNS + ([(f"baseline {middle_model(gold)}", Schedule.FULL, None)] if pairwise
                   else [])  # scores are given one submission at a time: no pairs to pick
    out: dict[str, dict[str, list[float]]] = {}
    for split in each_split(name, gold, splits):
        available = None
        for label, schedule, share in runs:
            budget = None if share is None or available is None else round(share * available)
            baseline = label.removeprefix("baseline ") if label.startswith("baseline") else None
            result = rank(judgments, exam_gold=split.exam_gold, gold=split.test_gold,
                          options=RankOptions(exclude_exam_items=True, seed=split.seed,
                                              per_reviewer=False, schedule=schedule,
                                              budget=budget, baseline=baseline))
            assert result.agreement is not None
            available = result.judgments_available
            row = out.setdefault(label, {"acc": [], "tau": [], "share": []})
            row["acc"].append(result.agreement.pairwise_accuracy)
            row["tau"].append(result.agreement.kendall_tau or float("nan"))
            row["share"].append(result.judgments_used / result.judgments_available)
    return out


def plot(results: dict[str, dict[str, dict[str, list[float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for label, row in rows.items():
            marker = "s" if label.startswith("full, budget") else "o"
            ax.scatter(np.mean(row["share"]), np.mean(row["acc"]), marker=marker)
            ax.annotate(label, (np.mean(row["share"]), np.mean(row["acc"])), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        ax.set_title(name)
        ax.set_xlabel("judgments used / full schedule")
        ax.set_xlim(0, 1.15)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("pairwise accuracy vs human gold")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--png", type=Path, help="write the plot here")
    args = parser.parse_args()
    print(header(args.splits))
    print("| set | schedule | judgments used | pairwise acc. | vs full (points) | "
          "Kendall tau |")
    print("|---|---|---:|---:|---:|---:|")
    results = {}
    for name in SETS:
        rows = run_set(name, args.data, args.splits)
        results[name] = rows
        full = float(np.mean(rows["full"]["acc"]))
        for label, row in rows.items():
            acc = float(np.mean(row["acc"]))
            print(f"| {name} | {label} | {100 * np.mean(row['share']):.0f}% | {acc:.3f} | "
                  f"{100 * (acc - full):+.2f} | {np.nanmean(row['tau']):.3f} |")
    if args.png:
        plot(results, args.png)


if __name__ == "__main__":
    main()
