"""A ratio that cannot go stale the way a README number can: ranking 200,000 judgments,
report included, against merely reading the same file line by line with Python's json
module, both measured here, in the same run (a ratio, so a slow or busy machine moves
both). It was a timed test; timings are benchmarks, so it prints a table instead.

    python benchmarks/speed_guard.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from splits import machine

from peerreview.commands import rank_outputs, rank_spec
from peerreview.output import whole
from peerreview.ranking import RankOptions


def synthesize(path: Path, n_items: int = 1_000, pairs: int = 10, n_reviewers: int = 10,
               n_models: int = 50) -> int:
    """Pairwise judgments of models with latent strengths, both orders: the shape of
    benchmarks/speed.py, smaller."""
    rng = np.random.default_rng(0)
    strength = rng.normal(0, 1, n_models)
    upper = np.triu_indices(n_models, 1)
    count = 0
    with path.open("wb") as handle:
        for t in range(n_items):
            chosen = rng.choice(upper[0].size, pairs, replace=False)
            for r in range(n_reviewers):
                for first, second in ((upper[0][chosen], upper[1][chosen]),
                                      (upper[1][chosen], upper[0][chosen])):
                    u = strength[first] - strength[second] + rng.normal(0, 1.5, pairs)
                    winner = np.where(np.abs(u) < 0.1, "tie", np.where(u > 0, "first", "second"))
                    for x, y, w in zip(first.tolist(), second.tolist(), winner.tolist(),
                                       strict=True):
                        handle.write(orjson.dumps({"item": f"t{t}", "reviewer": f"r{r}",
                                                   "first": f"m{x:02d}", "second": f"m{y:02d}",
                                                   "winner": w}) + b"\n")
                        count += 1
    return count


def measure(path: Path) -> tuple[float, float]:
    """Seconds for ``rank`` with its report and for a plain json read, best of two."""
    assert synthesize(path) == 200_000

    def read_with_json() -> float:
        start = time.perf_counter()
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        assert len(rows) == 200_000
        return time.perf_counter() - start

    def rank_with_report() -> float:
        start = time.perf_counter()
        result, files = rank_outputs(rank_spec([str(path)], RankOptions()))
        html = whole(files["report.html"])  # the page renders as it is read
        assert len(result.leaderboard) == 50 and b"<svg" in html
        return time.perf_counter() - start

    rank_with_report()  # once to warm imports and caches, as the json read is warm too
    json_seconds = min(read_with_json() for _ in range(2))
    rank_seconds = min(rank_with_report() for _ in range(2))
    return rank_seconds, json_seconds


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        rank_seconds, json_seconds = measure(Path(folder) / "judgments.jsonl")
    print(machine())
    print("| what (200,000 judgments) | s |\n|---|---:|")
    print(f"| `rank`, report included | {rank_seconds:.2f} |")
    print(f"| `json.loads` line by line | {json_seconds:.2f} |")
    print(f"| ratio | {rank_seconds / json_seconds:.2f} |")
    return 0 if rank_seconds < json_seconds else 1


if __name__ == "__main__":
    sys.exit(main())
