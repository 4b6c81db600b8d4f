"""Agreement with human gold: the exam-weighted panel versus every single reviewer.

SummEval (relevance): exam on 20 articles drawn at random (gold = expert mean,
pairs of systems within an article), chair on the other 80. Vicuna80 and PandaLM:
exam on 20% of the items' human votes, chair on the rest. Each is averaged over
20 random splits; the defaults of `peerreview rank` (threshold 0.6, linear
weights, vote or mean chair) are used throughout.

    python benchmarks/agreement.py [--data ../shared/data] [--splits 20]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from splits import SETS, arguments, header, load
from splits import splits as each_split

from peerreview.exam.grade import NoQualifiedReviewer
from peerreview.ranking import RankOptions, rank


def run_set(name: str, data: Path, splits: int, method: str | None) -> dict[str, list[float]]:
    judgments, gold = load(name, data)
    results: dict[str, list[float]] = {"panel": [], "panel tau": [], "qualified": []}
    for split in each_split(name, gold, splits):
        try:
            result = rank(judgments, exam_gold=split.exam_gold, gold=split.test_gold,
                          options=RankOptions(method=method, exclude_exam_items=True,
                                              seed=split.seed))
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
    parser = arguments(__doc__)
    parser.add_argument("--method", default=None, help="chair method (default: PRE's)")
    args = parser.parse_args()
    print(header(args.splits))
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
