"""Guaranteed agreement (--target-agreement, --delta) validated on held-out gold.

On each exam/chair split (benchmarks/splits.py) the threshold on the chair's margin
is calibrated on the exam gold's verdicts (Trust or Escalate's fixed-sequence test
with Clopper-Pearson bounds); the realized agreement is measured on the held-out
gold pairs at or above it. The guarantee holds on a split when that agreement is at
or above the target; it should hold in at least 1 - delta of the splits. Coverage:
the share of held-out gold pairs (and of all verdicts) trusted.

    python benchmarks/guarantee.py [--splits 20] [--targets 0.8,0.85,0.9] [--delta 0.1]
"""

from __future__ import annotations

import numpy as np
from splits import SETS, arguments, header, load, splits

from peerreview.ranking import RankOptions, rank
from peerreview.records.table import find_keys, pair_key


def held_out(result: object, test_gold: object) -> tuple[float | None, float, int]:
    """(agreement of the trusted held-out verdicts, their share, held-out pairs)."""
    ev = result.evidence  # type: ignore[attr-defined]
    needs = result.needs_review  # type: ignore[attr-defined]
    table = ev.table
    g_item, g_a, g_b, g_sign = test_gold.indexed(table)  # type: ignore[attr-defined]
    n_models = len(table.models)
    v = ev.verdicts
    found, index = find_keys(pair_key(v.item, v.a, v.b, n_models),
                             pair_key(g_item, g_a, g_b, n_models))
    found &= g_item >= 0
    trusted = np.zeros(g_item.size, bool)
    trusted[found] = ~needs[index[found]]
    if not trusted.any():
        return None, 0.0, int(g_item.size)
    agrees = np.sign(v.margin[index[trusted]]) == g_sign[trusted]
    return float(agrees.mean()), float(trusted.mean()), int(g_item.size)


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--targets", default="0.8,0.85,0.9")
    parser.add_argument("--delta", type=float, default=0.1)
    args = parser.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    print(header(args.splits))
    print(f"delta {args.delta}; agreement and coverage are means over the splits where "
          "something was trusted\n")
    print("| set | target | held | realized agreement (mean, min) | coverage of held-out "
          "gold | coverage of all verdicts | plain panel |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in SETS:
        judgments, gold = load(name, args.data)
        parts = list(splits(name, gold, args.splits))
        for target in targets:
            held, agreement, cover, cover_all, plain = 0, [], [], [], []
            for split in parts:
                result = rank(judgments, exam_gold=split.exam_gold, gold=split.test_gold,
                              options=RankOptions(target_agreement=target, delta=args.delta,
                                                  per_reviewer=False))
                got, share, _ = held_out(result, split.test_gold)
                assert result.guarantee is not None and result.agreement is not None
                plain.append(result.agreement.pairwise_accuracy)
                held += got is None or got >= target  # nothing trusted: vacuously held
                if got is not None:
                    agreement.append(got)
                cover.append(share)
                cover_all.append(result.guarantee.coverage)
            shown = (f"{np.mean(agreement):.3f}, {np.min(agreement):.3f}" if agreement
                     else "nothing trusted")
            print(f"| {name} | {target} | {held}/{len(parts)} | {shown} | "
                  f"{np.mean(cover):.0%} | {np.mean(cover_all):.0%} | "
                  f"{np.mean(plain):.3f} |", flush=True)


if __name__ == "__main__":
    main()
