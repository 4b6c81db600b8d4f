"""Shared helpers: writing small judgment files, and the real data sets."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

DATA = Path(os.environ.get("PEERREVIEW_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(
    not HAS_LLAMA or os.environ.get("PEERREVIEW_SKIP_LOCAL") == "1",
    reason="needs the [local] extra (llama-cpp-python): pip install -e '.[local]'"
    if not HAS_LLAMA else "PEERREVIEW_SKIP_LOCAL=1")
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="needs the [ray] extra: pip install -e '.[ray]'")
PAYLOAD = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           '</pre></div><svg onload="window.__pwned = 3">')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_backoff: the test measures the retries' "
                            "backoff or the breaker's first pause: keep them as shipped")
    config.addinivalue_line("markers", "slow: a file of seconds (a real model, server or "
                            "cluster): run first; -m 'not slow' leaves them out")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow files first, each in its order: with ``make test``'s two workers (a file
    to a worker, in this order) neither is left running one long file at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def quick_retries(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off for a millisecond and an opened breaker probes after 10 ms, so
    that a test that retries takes milliseconds, not the seconds a real server is given
    (the pauses are the shipped ones under ``@pytest.mark.real_backoff``, for tests
    whose claim depends on them). Retry-After and timeouts stay as the test sets them."""
    if request.node.get_closest_marker("real_backoff") is None:
        monkeypatch.setattr("peerreview.models.endpoint.BACKOFF_S", 0.001)
        monkeypatch.setattr("peerreview.models.breaker.FIRST_PROBE_S", 0.01)


RAY_KEY_ENV = "PEERREVIEW_RAY_TEST_KEY"


@dataclass
class RayCluster:
    """A local Ray: the API key its workers hold in their environment, and
    the file that took the stderr of its start (and of its processes since)."""

    secret: str
    stderr: Path

    def said(self) -> str:
        """What Ray wrote to stderr so far (nothing, when it is quiet)."""
        return self.stderr.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """One local Ray (2 CPUs) for a module's Ray tests: started once, as a run starts it
    (the executor's own start), instead of a start and a shutdown (seconds each) per
    test, and shut down with the module (its idle processes take CPU from the tests
    after). Runs join it, as a run in a process that already started Ray does. The API
    key is in the environment before the start, so that every worker inherits it."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the [ray] extra: pip install -e '.[ray]'")
    import ray

    from peerreview.calls.executors import ExecutorConfig, _ray

    if ray.is_initialized():
        pytest.fail("Ray was started outside the ray_cluster fixture")
    cluster = RayCluster("sk-test-" + secrets.token_hex(12),
                         tmp_path_factory.mktemp("ray") / "stderr.txt")
    patch = pytest.MonkeyPatch()
    patch.setenv(RAY_KEY_ENV, cluster.secret)
    saved = os.dup(2)
    with open(cluster.stderr, "ab", buffering=0) as raw, \
            open(cluster.stderr, "a", encoding="utf-8", buffering=1) as text:
        try:  # Ray's own processes keep this stderr; Python's too while it starts
            os.dup2(raw.fileno(), 2)
            with redirect_stderr(text):
                _ray(ExecutorConfig(kind="ray", num_cpus=2))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        try:
            yield cluster
        finally:
            ray.shutdown()
            patch.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if os.environ.get("PEERREVIEW_SKIP_BROWSER") == "1":
        pytest.skip("PEERREVIEW_SKIP_BROWSER=1")
    if importlib.util.find_spec("playwright") is None or not Path(CHROMIUM).exists():
        pytest.skip("needs Playwright and Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@contextmanager
def served(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stdlib HTTP handler served on 127.0.0.1 by a background thread: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Polled every 10 ms for shutdown (the default, half a second, is each test's wait).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSON Lines and return the path."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pw(item: str, reviewer: str, first: str, second: str, winner: str | None) -> dict[str, Any]:
    """A pairwise judgment record."""
    return {"item": item, "reviewer": reviewer, "first": first, "second": second,
            "winner": winner}


def pt(item: str, reviewer: str, model: str, score: float | None,
       scale: tuple[int, int] = (1, 5)) -> dict[str, Any]:
    """A pointwise judgment record."""
    return {"item": item, "reviewer": reviewer, "model": model, "score": score,
            "scale": list(scale)}


# The worked example of the vote chair (tests/chair/test_vote.py computes it by hand):
# two reviewers, models A, B, C, items t1 and t2.
VOTE_EXAMPLE = [
    pw("t1", "r1", "A", "B", "first"),    # A
    pw("t1", "r1", "B", "A", "second"),   # A
    pw("t1", "r2", "A", "B", "second"),   # B
    pw("t1", "r2", "B", "A", "tie"),
    pw("t1", "r1", "A", "C", None),       # abstention
    pw("t1", "r2", "C", "A", "first"),    # C
    pw("t1", "r1", "B", "C", "tie"),
    pw("t2", "r2", "A", "B", "second"),   # B
]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real data sets; tests that need them skip where they are absent."""
    if not (DATA / "README.md").exists():
        pytest.skip(f"real data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def imported(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three real sets imported once into the exchange format."""
    from peerreview.importers import importer

    out = {}
    for name in ("summeval", "vicuna80", "pandalm"):
        folder = tmp_path_factory.mktemp(name)
        importer(name)(data_dir / name).write(folder / "set")
        out[name] = folder / "set"
    return out
