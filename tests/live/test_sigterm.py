"""SIGTERM stops a command as SIGINT does: the run cancels its calls, keeps the
completed ones, leaves nothing half-written, exits 143, and the next run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.testing.stub import StubServer
from tests.livetask import expected_calls, write_config, write_task

ROOT = Path(__file__).resolve().parents[2]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell does for a background job


def _terminate_mid_run(tmp_path: Path, server: StubServer, *, sigint_ignored: bool
                       ) -> tuple[int, str]:
    """Start a run, SIGTERM it once 10 calls are answered and the next ones wait in
    flight (the stub holds them); its exit status and stderr."""
    server.state.hold_after = 10
    write_task(tmp_path, n_items=20)
    config = write_config(tmp_path, server.url, model={"concurrency": 2})
    proc = subprocess.Popen([sys.executable, "-m", "peerreview.cli", "run", str(config),
                             "--out", str(tmp_path / "out"), "--quiet"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT)},
                            preexec_fn=_ignore_sigint if sigint_ignored else None)
    deadline = time.time() + 30
    while not (server.state.answered >= 10 and server.state.calls.total() > 10) and \
            time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, err


def test_sigterm_stops_a_run_like_sigint_and_the_next_run_resumes(tmp_path: Path) -> None:
    with StubServer() as server:
        code, err = _terminate_mid_run(tmp_path, server, sigint_ignored=False)
        assert code == 143, err
        assert "terminated; completed calls are kept" in err and "Traceback" not in err
        out = tmp_path / "out"
        assert not (out / "leaderboard.json").exists()  # nothing half-written
        assert not [p for p in out.iterdir() if p.name.startswith((".peerreview-staging",
                                                                    ".peerreview-journal"))]
        with RunStore(out / "run.sqlite") as store:
            kept = len(store.answered_keys())
        before = server.state.calls.total()
        assert 1 <= kept <= before < expected_calls(20, 2)
        server.state.hold_after = None
        # The next run (in this process: nothing is stopped there).
        assert main(["run", str(tmp_path / "run.yaml"), "--out", str(out), "--quiet"]) == 0
        # The second run asks only what the first had no answer to.
        assert server.state.calls.total() - before == expected_calls(20, 2) - kept


def test_sigterm_stops_a_run_whose_sigint_is_ignored(tmp_path: Path) -> None:
    with StubServer() as server:
        code, err = _terminate_mid_run(tmp_path, server, sigint_ignored=True)
    assert code == 143, err
    assert "terminated" in err
