"""Speed and memory of `peerreview rank` (its report included) on 1,000,000 synthetic
pairwise judgments, in two shapes.

100 models with latent strengths, 10 reviewers of varying noise and position bias;
1,000 items x 50 random pairs, or 10,000 items x 5 pairs, x 10 reviewers x both
orders = 1,000,000 judgments. Each command runs as its own process; wall time and
peak memory (max RSS) are measured. peereval 0.1.0 `score` (a peer tool) runs on
the same judgments in its own format when a `peereval` command is found (install it into a separate
environment: `python -m venv /tmp/pe && /tmp/pe/bin/pip install peereval==0.1.0`,
then pass `--peereval /tmp/pe/bin/peereval`).

    python benchmarks/speed.py [--judgments N] [--pairs 50,5] [--bootstrap B]
        [--methods vote,bradley-terry] [--peereval PATH]

``--bootstrap 200`` ranks with 200 bootstrap resamples (the intervals); ``--pairs 50``
with ``--judgments 10000000`` is the 10M shape (10,000 items x 50 pairs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from splits import machine


def synthesize(folder: Path, n_judgments: int, seed: int = 0,
               pairs_per_item: int = 50, theirs_too: bool = True) -> tuple[Path, Path]:
    """Write the same judgments in peerreview's and (``theirs_too``) peereval's formats."""
    rng = np.random.default_rng(seed)
    n_models, n_reviewers = 100, 10
    n_items = n_judgments // (n_reviewers * 2 * pairs_per_item)
    strength = rng.normal(0, 1, n_models)
    noise = rng.uniform(0.5, 3.0, n_reviewers)
    bias = rng.uniform(-0.5, 0.5, n_reviewers)
    upper = np.triu_indices(n_models, 1)
    ours, theirs = folder / "judgments.jsonl", folder / "peereval.jsonl"
    with ours.open("wb") as f_ours, (theirs if theirs_too else Path(os.devnull)).open(
            "wb") as f_theirs:
        for t in range(n_items):
            chosen = rng.choice(upper[0].size, pairs_per_item, replace=False)  # distinct pairs
            a, b = upper[0][chosen], upper[1][chosen]
            for r in range(n_reviewers):
                for first, second in ((a, b), (b, a)):
                    d = strength[first] - strength[second] + bias[r]
                    u = d + rng.normal(0, noise[r], pairs_per_item)
                    winner = np.where(np.abs(u) < 0.15, "tie",
                                      np.where(u > 0, "first", "second"))
                    for x, y, w in zip(first.tolist(), second.tolist(), winner.tolist(),
                                       strict=True):
                        f_ours.write(orjson.dumps(
                            {"item": f"t{t}", "reviewer": f"r{r}", "first": f"m{x:03d}",
                             "second": f"m{y:03d}", "winner": w}) + b"\n")
                        if not theirs_too:
                            continue
                        f_theirs.write(orjson.dumps(
                            {"dataset": "synthetic", "question_id": f"t{t}",
                             "judge_model": f"r{r}", "response_a_model": f"m{x:03d}",
                             "response_b_model": f"m{y:03d}",
                             "judgment": {"winner": {"first": "A", "second": "B",
                                                     "tie": "tie"}[w]}}) + b"\n")
    return ours, theirs


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak resident memory in MB, exit status) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--peereval", default=shutil.which("peereval"),
                        help="the peereval command (default: from PATH)")
    parser.add_argument("--pairs", default="50,5", help="pairs per item, one shape each")
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples (default 0)")
    parser.add_argument("--methods", default="vote,bradley-terry")
    args = parser.parse_args()
    peerreview = shutil.which("peerreview") or "peerreview"
    boot = ["--bootstrap", str(args.bootstrap)] if args.bootstrap else []
    rows = []
    for pairs in (int(p) for p in args.pairs.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            t0 = time.perf_counter()
            ours, theirs = synthesize(folder, args.judgments, pairs_per_item=pairs,
                                      theirs_too=bool(args.peereval))
            shape = f"{args.judgments // (20 * pairs):,} items x {pairs} pairs"
            print(f"synthesized {args.judgments:,} judgments ({shape}) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            for method in args.methods.split(","):
                wall, rss, code = measure([peerreview, "rank", "--judgments", str(ours),
                                           "--out", str(folder / f"out-{method}"), "--method",
                                           method, "--quiet", *boot])
                rows.append((shape, f"peerreview rank --method {method} {' '.join(boot)}",
                             wall, rss, code))
            if args.peereval:
                wall, rss, code = measure([args.peereval, "score", str(theirs),
                                           "--no-by-dataset"])
                rows.append((shape, "peereval 0.1.0 score", wall, rss, code))
    start = time.perf_counter()
    code = subprocess.run([peerreview, "--version"], capture_output=True, check=False).returncode
    version = time.perf_counter() - start
    print(f"\n{args.judgments:,} pairwise judgments, 100 models, 10 reviewers; report.html "
          f"included; {machine()}\n")
    print("| shape | command | wall (s) | peak memory (MB) | exit |")
    print("|---|---|---:|---:|---:|")
    for shape, name, wall, rss, code in rows:
        print(f"| {shape} | {name} | {wall:.1f} | {rss:.0f} | {code} |")
    print(f"| | `peerreview --version` | {version:.2f} | | {code} |")
    if args.peereval:
        for shape in dict.fromkeys(r[0] for r in rows):
            ours_vote = next(r[2] for r in rows if r[0] == shape and "vote" in r[1])
            theirs = next(r[2] for r in rows if r[0] == shape and "peereval" in r[1])
            print(f"\n{shape}: peereval score / peerreview rank (vote) wall time: "
                  f"{theirs / ours_vote:.1f}x")
    resource.getrusage(resource.RUSAGE_SELF)


if __name__ == "__main__":
    main()
