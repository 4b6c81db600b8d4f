"""Empirical-Bayes item verdicts: --shrink none (PRE) against eb and cv.

Each item's margin moves toward the panel's model-level prior by lambda (eb: from
the panel's own vote spread; cv: cross-validated on the exam gold). SummEval
relevance and consistency (exam on 20 random articles), Vicuna80 and PandaLM (exam
on 20% of the items' human votes); the chair ranks the rest (--exclude-exam-items),
PRE's defaults otherwise. Pairwise accuracy on the held-out gold, mean over 20
random splits; "lost" counts the splits where the method does worse than none; the
wall time is the whole set's, all three methods.

    python benchmarks/shrink.py [--data ../shared/data] [--splits 20]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from splits import arguments, header, load
from splits import splits as each_split

from peerreview.errors import NoQualifiedReviewer
from peerreview.importers import importer
from peerreview.options import Shrink
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import JudgmentSet, read_judgments
from peerreview.records.gold import Gold, gold_from_judgments

METHODS = tuple(Shrink)
SETS = {  # table row -> (splits.py's protocol, the import's SummEval dimension)
    "SummEval relevance": ("summeval", None),
    "SummEval consistency": ("summeval", "consistency"),
    "Vicuna80": ("vicuna80", None),
    "PandaLM": ("pandalm", None),
}


def load_set(name: str, dimension: str | None, data: Path) -> tuple[JudgmentSet, Gold]:
    """A set's judgments and gold (SummEval on another dimension than relevance)."""
    if dimension is None:
        return load(name, data)
    with tempfile.TemporaryDirectory() as tmp:
        importer(name)(data / name, dimension=dimension).write(Path(tmp) / name)
        return (read_judgments(Path(tmp) / name / "judgments.jsonl"),
                gold_from_judgments(Path(tmp) / name / "gold.jsonl"))


def run_set(name: str, dimension: str | None, data: Path,
            splits: int) -> tuple[dict[str, list[float]], dict[str, list[float]], float]:
    """Per method, the held-out pairwise accuracy of every split and its lambda."""
    judgments, gold = load_set(name, dimension, data)
    accuracy: dict[str, list[float]] = {m: [] for m in METHODS}
    lambdas: dict[str, list[float]] = {m: [] for m in METHODS}
    start = time.perf_counter()
    for split in each_split(name, gold, splits):
        for method in METHODS:
            try:
                result = rank(judgments, exam_gold=split.exam_gold, gold=split.test_gold,
                              options=RankOptions(exclude_exam_items=True, seed=split.seed,
                                                  per_reviewer=False, shrink=method))
            except NoQualifiedReviewer:
                accuracy[method].append(float("nan"))
                continue
            assert result.agreement is not None
            accuracy[method].append(result.agreement.pairwise_accuracy)
            lambdas[method].append(result.shrinkage.lam if result.shrinkage else 0.0)
    return accuracy, lambdas, time.perf_counter() - start


def main() -> None:
    args = arguments(__doc__).parse_args()
    print(header(args.splits))
    print("| set | none (PRE) | eb | cv | eb lost | cv lost | eb lambda | cv lambda | "
          "wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (name, dimension) in SETS.items():
        acc, lam, wall = run_set(name, dimension, args.data, args.splits)
        base = np.array(acc["none"])
        cells = [f"{np.nanmean(acc[m]):.3f}" for m in METHODS]
        lost = [f"{int(np.sum(np.array(acc[m]) < base - 1e-12))} of {len(base)}"
                for m in ("eb", "cv")]
        lams = [f"{np.median(lam[m]):.2f}" for m in ("eb", "cv")]
        print(f"| {label} | " + " | ".join(cells + lost + lams) + f" | {wall:.0f} |")


if __name__ == "__main__":
    main()
