"""Qualifying reviewers with and without human labels: agreement with human gold.

For each set and each of 20 random splits, the chair ranks the same held-out items
(SummEval: 80 articles; Vicuna80 and PandaLM: 80% of the items) with reviewers
qualified by: nobody dropped (none), PRE's gold exam on the other items (gold),
latent reliability from one-coin Dawid-Skene or from the offset-scale-noise model
for scores (latent), the noisy Bradley-Terry model (latent noisy-bt, pairwise
sets), and order consistency (consistency, sets judged in both orders). Label-free
methods see only the held-out items' judgments. Also: the correlation across
reviewers between latent reliability and gold exam accuracy.

    python benchmarks/qualification.py [--data ../shared/data] [--splits 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from peerreview.exam import NoQualifiedReviewer
from peerreview.gold import gold_from_judgments
from peerreview.importers import importer
from peerreview.rank import Qualification, RankOptions, rank
from peerreview.records import JudgmentSet, read_judgments

SETS = {"summeval": 20, "vicuna80": 0.2, "pandalm": 0.2}  # exam size: items or share
MODES = [("none", "dawid-skene"), ("gold", "dawid-skene"), ("latent", "dawid-skene"),
         ("latent", "noisy-bt"), ("consistency", "dawid-skene")]


def label(mode: str, model: str) -> str:
    if mode != "latent":
        return mode
    return "latent (DS; scores: factor model)" if model == "dawid-skene" else f"latent {model}"


def run_set(name: str, data: Path, splits: int) -> tuple[dict[str, list[float]], float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        importer(name)(data / name).write(Path(tmp) / name)
        judgments = read_judgments(Path(tmp) / name / "judgments.jsonl")
        gold = gold_from_judgments(Path(tmp) / name / "gold.jsonl")
    items = sorted(gold.items)
    size = SETS[name]
    n_exam = size if isinstance(size, int) else round(size * len(items))
    pointwise = judgments.judgments and not hasattr(judgments.judgments[0], "winner")
    out: dict[str, list[float]] = {}
    exam_acc: list[float] = []
    latent: list[float] = []
    for split in range(splits):
        rng = np.random.default_rng(split)
        exam_items = set(rng.choice(items, n_exam, replace=False).tolist())
        held = JudgmentSet([j for j in judgments.judgments if j.item not in exam_items], [], [])
        test_gold = gold.restrict(set(items) - exam_items)
        for mode, model in MODES:
            if pointwise and (model == "noisy-bt" or mode == "consistency"):
                continue
            options = RankOptions(qualification=Qualification(mode), latent_model=model,
                                  per_reviewer=False, seed=split,
                                  exclude_exam_items=mode == "gold")
            try:
                result = rank(judgments if mode == "gold" else held,
                              exam_gold=gold.restrict(exam_items) if mode == "gold" else None,
                              gold=test_gold, options=options)
            except NoQualifiedReviewer:
                out.setdefault(label(mode, model), []).append(float("nan"))
                continue
            assert result.agreement is not None
            if mode == "consistency" and all(r.qualification_score is None
                                             for r in result.exam):
                continue  # one order only: no consistency to qualify by
            out.setdefault(label(mode, model), []).append(result.agreement.pairwise_accuracy)
            if mode == "gold":
                for r in result.exam:
                    if r.exam_accuracy is not None and r.latent_reliability is not None:
                        exam_acc.append(r.exam_accuracy)
                        latent.append(r.latent_reliability)
    return out, float(pearsonr(exam_acc, latent)[0]), float(spearmanr(exam_acc, latent)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--splits", type=int, default=20)
    args = parser.parse_args()
    print(f"{args.splits} random splits; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {date.today()}\n")
    labels = [label(m, k) for m, k in MODES]
    print("| set | " + " | ".join(labels) + " | latent vs exam accuracy: Pearson / Spearman |")
    print("|---|" + "---:|" * len(labels) + "---:|")
    for name in SETS:
        results, pearson, spearman = run_set(name, args.data, args.splits)
        cells = [f"{np.nanmean(results[k]):.3f}" if k in results else "n/a" for k in labels]
        print(f"| {name} | " + " | ".join(cells) + f" | {pearson:.2f} / {spearman:.2f} |")


if __name__ == "__main__":
    main()
