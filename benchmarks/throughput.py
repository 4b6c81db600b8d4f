"""Throughput of live review calls: peerreview against a local stub endpoint.

5,000 pairwise review calls (250 items, 5 evaluatees, both orders, one reviewer)
at 64 in flight against ``peerreview.testing.stub`` with 50 ms latency, run in its own
process. The target: the review stage within 1.25x of the ideal
ceil(5000/64) x 50 ms. Also reported: CPU time per call of the whole
``peerreview run`` process, and the same work through peereval 0.1.0 ``judge``
(``--peereval PATH``, a peereval executable with the openai SDK installed).

    python benchmarks/throughput.py [--peereval /path/to/peereval]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from splits import machine

MODELS = ["strong", "medium", "weak", "m4", "m5"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stub(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "peerreview.testing.stub", "--port", str(port),
                             "--latency", str(latency)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the stub did not start")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and child CPU seconds of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--peereval", help="a peereval executable to compare with")
    args = parser.parse_args()
    from peerreview.calls.store import RunStore

    work = Path(tempfile.mkdtemp(prefix="throughput-"))
    items = [{"item": f"q{i}", "input": f"Question number {i}?"} for i in range(args.items)]
    subs = [{"item": it["item"], "model": m,
             "output": " ".join(["correct"] * (5 - k) + [f"answer {it['item']}"])}
            for it in items for k, m in enumerate(MODELS)]
    (work / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (work / "subs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subs))
    calls = args.items * len(MODELS) * (len(MODELS) - 1)
    ideal = math.ceil(calls / args.concurrency) * args.latency
    stub, url = start_stub(args.latency)
    rows = []
    try:
        config = {"task": {"items": "items.jsonl", "submissions": "subs.jsonl"},
                  "models": {"judge": {"provider": "openai", "model": "judge", "base_url": url,
                                       "concurrency": args.concurrency, "max_tokens": 8,
                                       "max_retries": 0},
                             **{m: {"provider": "python", "function": "builtins:str"}
                                for m in MODELS}},
                  "evaluatees": MODELS, "reviewers": ["judge"], "chair": {"bootstrap": 0}}
        (work / "run.yaml").write_text(yaml.safe_dump(config))
        out = work / "out"
        wall, cpu = timed([sys.executable, "-m", "peerreview.cli", "run",
                           str(work / "run.yaml"), "--out", str(out), "--quiet"])
        with RunStore(out / "run.sqlite") as store:
            stage = store.facts()["stage.review"]
            made = store.totals()["calls"]
        rows.append(("peerreview review stage", made, stage["seconds"], ideal))
        rows.append(("peerreview run, whole process", made, wall, ideal))
        cpu_per_call = {"peerreview": 1000 * cpu / made}
        if args.peereval:
            answers = [{"question_id": it["item"], "question": it["input"], "model": s["model"],
                        "response": s["output"]}
                       for it in items for s in subs if s["item"] == it["item"]]
            (work / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in answers))
            (work / "judges.json").write_text(json.dumps(
                [{"name": "judge", "model": "judge", "base_url": url, "max_tokens": 8}]))
            wall, cpu = timed([args.peereval, "judge", str(work / "answers.jsonl"), "--judges",
                               str(work / "judges.json"), "--out", str(work / "pe.jsonl"),
                               "--concurrency", str(args.concurrency)],
                              env={**os.environ, "OPENAI_API_KEY": "stub"})
            lines = (work / "pe.jsonl").read_text().splitlines()
            done = sum(1 for line in lines if not json.loads(line).get("error"))
            rows.append(("peereval 0.1.0 judge, whole process", done, wall, ideal))
            cpu_per_call["peereval"] = 1000 * cpu / max(done, 1)
    finally:
        stub.terminate()
        stub.wait()

    print(f"# {calls} pairwise review calls, {args.concurrency} in flight, "
          f"{1000 * args.latency:.0f} ms latency; {machine()}")
    print("| what | calls | wall s | ideal s | wall / ideal |")
    print("|---|---:|---:|---:|---:|")
    for name, n, seconds, best in rows:
        print(f"| {name} | {n} | {seconds:.2f} | {best:.2f} | {seconds / best:.2f} |")
    print()
    print("| tool | CPU ms per call (whole process) |")
    print("|---|---:|")
    for name, ms in cpu_per_call.items():
        print(f"| {name} | {ms:.2f} |")
    if "peereval" in cpu_per_call:
        pe_wall = next(r[2] for r in rows if r[0].startswith("peereval"))
        ours = next(r[2] for r in rows if r[0].startswith("peerreview run"))
        print(f"\npeereval wall / peerreview wall: {pe_wall / ours:.2f}x")


if __name__ == "__main__":
    main()
