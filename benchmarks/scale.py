"""Past one machine: the Ray executor against the local one on the same stub, and how
long a 100,000-call --dry-run takes to plan.

    python benchmarks/scale.py [--calls 2000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from splits import machine
from throughput import MODELS, start_stub


def write_inputs(folder: Path, items: int) -> None:
    rows = [{"item": f"q{i}", "input": f"Question number {i}?"} for i in range(items)]
    subs = [{"item": r["item"], "model": m, "output": " ".join(["correct"] * (5 - k))}
            for r in rows for k, m in enumerate(MODELS)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "subs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subs))


def config(folder: Path, url: str, reviewers: int, executor: dict[str, object]) -> Path:
    data = {"task": {"items": "items.jsonl", "submissions": "subs.jsonl"},
            "models": {f"judge-{r}": {"provider": "openai", "model": f"judge-{r}",
                                      "base_url": url, "concurrency": 64, "max_tokens": 8}
                       for r in range(reviewers)},
            "reviewers": [f"judge-{r}" for r in range(reviewers)], "executor": executor}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    per_item = len(MODELS) * (len(MODELS) - 1)
    rows = []
    stub, url = start_stub(args.latency)
    try:
        for kind, executor in (("local", {"kind": "local"}),
                               ("ray", {"kind": "ray", "num_cpus": 2})):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_inputs(folder, args.calls // per_item)
                path = config(folder, url, 1, executor)
                wall = timed([sys.executable, "-m", "peerreview.cli", "run", str(path),
                              "--out", str(folder / "out"), "--quiet"])
                stage = json.loads((folder / "out" / "run.json").read_text())
                in_flight = 64 if kind == "local" else "64 a worker batch"
                rows.append((f"executor {kind}", args.calls, in_flight, wall,
                             stage["seconds"]))
    finally:
        stub.terminate()
        stub.wait()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder, 100_000 // (2 * per_item))
        path = config(folder, "http://127.0.0.1:9/v1", 2, {"kind": "local"})
        plan_wall = timed([sys.executable, "-m", "peerreview.cli", "run", str(path), "--out",
                           str(folder / "out"), "--dry-run"])
    print(f"# {args.calls} review calls against the stub at {1000 * args.latency:.0f} ms; "
          f"{machine()}")
    print("| what | calls | in flight | wall s (process) | run s (inside) |")
    print("|---|---:|---|---:|---:|")
    for name, calls, flight, wall, inside in rows:
        print(f"| {name} | {calls:,} | {flight} | {wall:.2f} | {inside:.2f} |")
    print(f"| `run --dry-run`, 100,000 planned calls | 100,000 | | {plan_wall:.2f} | |")


if __name__ == "__main__":
    main()
