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

from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr
from splits import SETS, arguments, header, load
from splits import splits as each_split

from peerreview.exam.grade import NoQualifiedReviewer
from peerreview.ranking import Qualification, RankOptions, rank
from peerreview.records.exchange import JudgmentSet

MODES = [("none", "dawid-skene"), ("gold", "dawid-skene"), ("latent", "dawid-skene"),
         ("latent", "noisy-bt"), ("consistency", "dawid-skene")]


def label(mode: str, model: str) -> str:
    if mode != "latent":
        return mode
    return "latent (DS; scores: factor model)" if model == "dawid-skene" else f"latent {model}"


def run_set(name: str, data: Path, splits: int) -> tuple[dict[str, list[float]], float, float]:
    judgments, gold = load(name, data)
    pointwise = judgments.judgments and not hasattr(judgments.judgments[0], "winner")
    out: dict[str, list[float]] = {}
    exam_acc: list[float] = []
    latent: list[float] = []
    for split in each_split(name, gold, splits):
        exam_items = split.exam_items
        held = JudgmentSet([j for j in judgments.judgments if j.item not in exam_items], [], [])
        for mode, model in MODES:
            if pointwise and (model == "noisy-bt" or mode == "consistency"):
                continue
            options = RankOptions(qualification=Qualification(mode), latent_model=model,
                                  per_reviewer=False, seed=split.seed,
                                  exclude_exam_items=mode == "gold")
            try:
                result = rank(judgments if mode == "gold" else held,
                              exam_gold=split.exam_gold if mode == "gold" else None,
                              gold=split.test_gold, options=options)
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
    args = arguments(__doc__).parse_args()
    print(header(args.splits))
    labels = [label(m, k) for m, k in MODES]
    print("| set | " + " | ".join(labels) + " | latent vs exam accuracy: Pearson / Spearman |")
    print("|---|" + "---:|" * len(labels) + "---:|")
    for name in SETS:
        results, pearson, spearman = run_set(name, args.data, args.splits)
        cells = [f"{np.nanmean(results[k]):.3f}" if k in results else "n/a" for k in labels]
        print(f"| {name} | " + " | ".join(cells) + f" | {pearson:.2f} / {spearman:.2f} |")


if __name__ == "__main__":
    main()
