"""Agreement with human gold: the exam-weighted panel versus every single reviewer.

SummEval (relevance): exam on 20 articles drawn at random (gold = expert mean,
pairs of systems within an article), chair on the other 80. Vicuna80 and PandaLM:
exam on 20% of the items' human votes, chair on the rest. Each is averaged over
20 random splits; the defaults of `peerreview rank` (threshold 0.6, linear
weights, vote or mean chair) are used throughout.

    python benchmarks/agreement.py [--data ../shared/data] [--splits 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

from peerreview.exam import NoQualifiedReviewer
from peerreview.gold import gold_from_judgments
from peerreview.importers import importer
from peerreview.rank import RankOptions, rank
from peerreview.records import read_judgments

SETS = {"summeval": 20, "vicuna80": 0.2, "pandalm": 0.2}  # exam size: items or share


def run_set(name: str, data: Path, splits: int, method: str | None) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        importer(name)(data / name).write(Path(tmp) / name)
        judgments = read_judgments(Path(tmp) / name / "judgments.jsonl")
        gold = gold_from_judgments(Path(tmp) / name / "gold.jsonl")
    items = sorted(gold.items)
    size = SETS[name]
    n_exam = size if isinstance(size, int) else round(size * len(items))
    results: dict[str, list[float]] = {"panel": [], "panel tau": [], "qualified": []}
    for split in range(splits):
        rng = np.random.default_rng(split)
        exam_items = set(rng.choice(items, n_exam, replace=False).tolist())
        try:
            result = rank(judgments, exam_gold=gold.restrict(exam_items),
                          gold=gold.restrict(set(items) - exam_items),
                          options=RankOptions(method=method, exclude_exam_items=True,
                                              seed=split))
        except NoQualifiedReviewer:
            results["panel"].append(float("nan"))
            continue
        assert result.agreement is not None
        results["panel"].append(result.agreement.pairwise_accuracy)
        results["panel tau"].append(result.agreement.kendall_tau or float("nan"))
        results["qualified"].append(sum(r.qualified for r in result.exam))
        for single in result.reviewer_agreement:
            results.setdefault(single.reviewer, []).append(single.agreement.pairwise_accuracy)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--method", default=None, help="chair method (default: PRE's)")
    args = parser.parse_args()
    print(f"{args.splits} random exam/chair splits; {platform.machine()}, {os.cpu_count()} "
          f"cores, Python {platform.python_version()}, {date.today()}\n")
    print("| set | panel pairwise acc. | panel Kendall tau | best single reviewer | "
          "qualified | every single reviewer (pairwise acc.) |")
    print("|---|---:|---:|---|---:|---|")
    for name in SETS:
        r = run_set(name, args.data, args.splits, args.method)
        singles = {k: float(np.mean(v)) for k, v in r.items()
                   if k not in ("panel", "panel tau", "qualified")}
        best = max(singles, key=lambda k: singles[k])
        others = ", ".join(f"{k} {v:.3f}" for k, v in
                           sorted(singles.items(), key=lambda kv: -kv[1]))
        print(f"| {name} | {np.nanmean(r['panel']):.3f} ± {np.nanstd(r['panel']):.3f} | "
              f"{np.nanmean(r['panel tau']):.3f} | {best} {singles[best]:.3f} | "
              f"{np.mean(r['qualified']):.1f} | {others} |")


if __name__ == "__main__":
    main()
