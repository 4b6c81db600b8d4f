"""At scale: a live run's memory and CPU per call, the Ray executor against the local one
on the same stub (a driver killed mid-round, a worker node lost: calls paid twice), and
how long a 1,000,000-call --dry-run takes to plan.

    python benchmarks/scale.py [--memory-calls 100000,300000] [--calls 2000] [--latency 0.05]

Every row runs ``peerreview`` in a process of its own; peak memory is that process's
own high-water mark (VmHWM, written by ``peak.py`` as it exits), CPU is its user +
system time.
The rank rows of the scale table are measured by ``benchmarks/speed.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from splits import machine
from throughput import MODELS, start_stub

from peerreview.testing.stub import StubServer, StubState

PER_ITEM = len(MODELS) * (len(MODELS) - 1)  # pairwise review calls of one item, both orders


def write_inputs(folder: Path, items: int) -> None:
    rows = [{"item": f"q{i}", "input": f"Question number {i}?"} for i in range(items)]
    subs = [{"item": r["item"], "model": m, "output": " ".join(["correct"] * (5 - k))}
            for r in rows for k, m in enumerate(MODELS)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "subs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subs))


def config(folder: Path, url: str, reviewers: int, executor: dict[str, object]) -> Path:
    data = {"task": {"items": "items.jsonl", "submissions": "subs.jsonl"},
            "models": {f"judge-{r}": {"provider": "openai", "model": f"judge-{r}",
                                      "base_url": url, "concurrency": 64, "max_tokens": 8,
                                      "max_retries": 0}
                       for r in range(reviewers)},
            "reviewers": [f"judge-{r}" for r in range(reviewers)], "executor": executor,
            "chair": {"bootstrap": 0}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one ``python -m ...`` command in a
    fresh process; the peak is the process's own (``peak.py``), not ``ru_maxrss``, which
    counts this process's memory at the spawn."""
    assert cmd[1] == "-m", cmd
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        start = time.perf_counter()
        proc = subprocess.Popen([cmd[0], str(Path(__file__).parent / "peak.py"), peak.name,
                                 *cmd[1:]], stdout=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{cmd} exited {os.waitstatus_to_exitcode(status)}")
        return wall, usage.ru_utime + usage.ru_stime, float(Path(peak.name).read_text())


def run_cmd(path: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "peerreview.cli", "run", str(path), "--out", str(out),
            "--quiet", *extra]


def live_memory(url: str, calls: int) -> tuple[int, float, float, float]:
    """(calls made, peak RSS MB, CPU ms per call, wall s) of one live run of ``calls``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder, calls // PER_ITEM)
        path = config(folder, url, 1, {"kind": "local"})
        wall, cpu, rss = child(run_cmd(path, folder / "out"))
        made = json.loads((folder / "out" / "cost.json").read_text())["calls_made"]
        return made, rss, 1000 * cpu / max(made, 1), wall


def stored_calls(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return int(raw.execute("SELECT COUNT(response) FROM calls").fetchone()[0])


def interrupted(server: StubServer, calls: int, executor: dict[str, object],
                interrupt: Callable[[subprocess.Popen[bytes]], None]) -> tuple[int, int]:
    """(calls stored when ``interrupt`` was made, a third of the way into a run, calls
    the stub was sent more than once over that run and its resumption)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder, calls // PER_ITEM)
        path = config(folder, server.url, 1, executor)
        out = folder / "out"
        server.state.calls.clear()
        proc = subprocess.Popen(run_cmd(path, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 300
        kept = 0
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                kept = stored_calls(out / "run.sqlite")
            except sqlite3.Error:
                continue
            if kept >= calls // 3:
                break
        interrupt(proc)
        proc.wait(timeout=300)
        # The calls in flight used their one attempt (max_retries: 0): allowed again.
        subprocess.run(run_cmd(path, out, "--retry-failed"), check=True,
                       stdout=subprocess.DEVNULL)
        return kept, server.state.calls.total() - calls


def killed_driver(server: StubServer, calls: int, executor: dict[str, object]
                  ) -> tuple[int, int]:
    """:func:`interrupted` by a kill -9 of the driver (its process group)."""
    return interrupted(server, calls, executor,
                       lambda proc: os.killpg(proc.pid, signal.SIGKILL))


def _kill_node(cluster: Any, node: Any) -> None:
    """A node lost at once: its task workers killed (-9), then its raylet (a raylet
    killed alone lets a running worker finish and hand its answers in)."""
    raylet = node.all_processes["raylet"][0].process.pid
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == raylet:
            os.kill(int(entry), signal.SIGKILL)
    cluster.remove_node(node, allow_graceful=False)


def lost_node(server: StubServer, calls: int) -> tuple[int, int, int]:
    """:func:`interrupted` by the loss of a Ray worker node, and the calls one task
    holds in flight: a cluster of a head and two worker nodes on this machine
    (``ray.cluster_utils.Cluster``, three raylets), the run joined to it by ``address``."""
    from ray.cluster_utils import Cluster

    # The head runs no task: each of the two worker nodes runs one of the two tasks
    # in flight, so the node removed always holds one.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        kept, repeats = interrupted(server, calls, {"kind": "ray", "address": cluster.address},
                                    lambda _: _kill_node(cluster, worker))
        return kept, 64 // 2, repeats
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-calls", default="100000,300000")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    stub, url = start_stub(0.0)
    try:
        for n in (int(c) for c in args.memory_calls.split(",") if c):
            made, rss, cpu_ms, wall = live_memory(url, n)
            rows.append(("live run memory", f"{made:,}", f"{rss:.0f} MB peak RSS",
                         f"{wall:.1f}"))
            rows.append(("live CPU per call", f"{made:,}", f"{cpu_ms:.3f} ms", ""))
            print(rows[-2], rows[-1], file=sys.stderr, flush=True)  # a long run's progress
    finally:
        stub.terminate()
        stub.wait()
    with StubServer(StubState(latency_s=args.latency)) as server:  # counts what it is sent
        executors: list[tuple[str, dict[str, object]]] = [("local", {"kind": "local"})]
        if not args.no_ray:
            executors.append(("ray", {"kind": "ray", "num_cpus": 2}))
        for kind, executor in executors:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_inputs(folder, args.calls // PER_ITEM)
                path = config(folder, server.url, 1, executor)
                wall, _, rss = child(run_cmd(path, folder / "out"))
                rows.append((f"executor {kind}, {1000 * args.latency:.0f} ms stub",
                             f"{args.calls:,}", f"{rss:.0f} MB peak RSS", f"{wall:.2f}"))
            kept, repeats = killed_driver(server, args.calls * 3, executor)
            rows.append((f"{kind}: kill -9 of the driver mid-round", f"{args.calls * 3:,}",
                         f"{repeats} calls sent twice ({kept:,} answered before the kill; "
                         "64 in flight)", ""))
        if not args.no_ray:
            server.state.latency_s = 0.5  # a task in flight for half a second
            kept, task, repeats = lost_node(server, args.calls)
            server.state.latency_s = args.latency
            rows.append(("ray: a worker node lost mid-round (of 2), 500 ms stub",
                         f"{args.calls:,}", f"{repeats} calls sent twice ({kept:,} answered "
                         f"before; a task holds {task})", ""))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder, 1_000_000 // (2 * PER_ITEM))
        path = config(folder, "http://127.0.0.1:9/v1", 2, {"kind": "local"})
        wall, _, rss = child([sys.executable, "-m", "peerreview.cli", "run", str(path),
                              "--out", str(folder / "out"), "--dry-run"])
        rows.append(("`run --dry-run`, planned calls", "1,000,000", f"{rss:.0f} MB peak RSS",
                     f"{wall:.2f}"))
    print(f"# {machine()}; peak RSS of the peerreview process (stub apart)")
    print("| what | calls | measured | wall s |")
    print("|---|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    peak = [(int(r[1].replace(",", "")), float(r[2].split()[0]))
            for r in rows if r[0] == "live run memory"]
    if len(peak) >= 2:
        (n0, m0), (n1, m1) = peak[0], peak[-1]
        slope = (m1 - m0) / (n1 - n0)
        print(f"\nlive run memory, straight line through {n0:,} and {n1:,} calls: "
              f"{1024 * slope:.2f} KB a call; 1,000,000 calls ~ "
              f"{m1 + slope * (1_000_000 - n1):.0f} MB")


if __name__ == "__main__":
    main()
