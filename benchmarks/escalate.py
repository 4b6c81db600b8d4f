"""Escalation in a recorded cascade: needs_review and judgments used, with and without
escalation, on exam/chair splits (benchmarks/splits.py).

    python benchmarks/escalate.py [--splits 20] [--target 0.8] [--delta 0.1]
"""

from __future__ import annotations

import numpy as np
from guarantee import held_out
from splits import SETS, arguments, header, load, splits

import peerreview.ranking as ranking
from peerreview.ranking import RankOptions, rank
from peerreview.review.escalate import Escalation
from peerreview.review.schedule import Schedule

escalation = ranking._escalation


def _zero(found: Escalation | None, plain: bool) -> Escalation | None:
    """The plain cascade's escalation: a threshold of 0, which every decided pair
    clears (so it keeps the exam's judgments as the escalated one does)."""
    if found is not None and plain:
        found.threshold = 0.0
    return found


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args()
    print(header(args.splits))
    print(f"target {args.target}, delta {args.delta}; means over the splits\n")
    print("| set | schedule | judgments used | needs review | realized agreement of the "
          "trusted held-out | held |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.sets.split(","):
        judgments, gold = load(name, args.data)
        rows: dict[str, list[tuple[float, float, float | None]]] = {}
        for split in splits(name, gold, args.splits):
            for label, schedule in (("full", Schedule.FULL), ("cascade", Schedule.CASCADE),
                                    ("cascade, escalated", Schedule.CASCADE)):
                # the plain cascade: every decided pair clears a threshold of 0 (it keeps
                # the exam's judgments, as a live run's outputs hold them)
                plain = label == "cascade"
                ranking._escalation = (lambda *a, _f=escalation, _p=plain: _zero(_f(*a), _p))
                result = rank(judgments, exam_gold=split.exam_gold, gold=split.test_gold,
                              options=RankOptions(schedule=schedule,
                                                  target_agreement=args.target,
                                                  delta=args.delta, per_reviewer=False))
                assert result.guarantee is not None
                got, _, _ = held_out(result, split.test_gold)
                rows.setdefault(label, []).append((
                    result.judgments_used / result.judgments_available,
                    result.guarantee.needs_review / result.guarantee.verdicts, got))
        for label, got in rows.items():
            used, needs, agree = zip(*got, strict=True)
            trusted = [a for a in agree if a is not None]
            held = sum(a is None or a >= args.target for a in agree)
            shown = f"{np.mean(trusted):.3f}" if trusted else "nothing trusted"
            print(f"| {name} | {label} | {np.mean(used):.0%} | {np.mean(needs):.0%} | "
                  f"{shown} | {held}/{len(agree)} |", flush=True)


if __name__ == "__main__":
    main()
