"""The command line (or a test's function) in a process of its own, forked from a
server that has imported peerreview's run once: a fresh ``python -m peerreview.cli``
spends most of a second importing before it sends anything. For the tests that end a
run from outside (SIGKILL) or at a fault point (``os._exit``), or need it in another
process only, where how the interpreter would have shut down does not matter; tests of
how a process ends (SIGINT, SIGTERM, warnings at exit) start the real command instead.

    proc = start_cli(["run", str(config), "--out", str(out), "--quiet"], env=env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # -9, as subprocess says it
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Imported once by the fork server (what a run, a rank and a report load).
PRELOAD = ["peerreview.cli", "peerreview.commands", "peerreview.live.pipeline",
           "peerreview.ranking", "peerreview.report"]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)
_outputs: list[tempfile.TemporaryDirectory[str]] = []  # the starting process's, removed at exit


def _child(target: Callable[..., object], args: tuple[object, ...], env: dict[str, str],
           cwd: str, stdout: str, stderr: str) -> None:
    """The child: ``target(*args)`` with this environment, folder and output files."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)
    # Line-buffered: what a test waits for (a URL served) is in the file once printed.
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target(*args)


def _cli(argv: list[str]) -> None:
    """The command line's ``main``, as ``python -m peerreview.cli`` runs it."""
    from peerreview.cli import main

    sys.exit(main(argv))


@dataclass
class Spawned:
    """A command line running in a forked process (a small part of ``Popen``)."""

    process: multiprocessing.process.BaseProcess
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status; minus the signal's number if a signal ended it."""
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def first_line(self, timeout: float = 30) -> str:
        """Its first line of stdout, once written ("" if it ended first or the time is
        up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stdout
            if "\n" in text:
                return text.split("\n", 1)[0] + "\n"
            if self.process.exitcode is not None:
                return ""
            time.sleep(0.02)
        return ""

    def wait(self, timeout: float = 120) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(10)
            raise TimeoutError(f"the command did not end within {timeout:g} s")
        return self.process.exitcode

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")


def start_cli(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None) -> Spawned:
    """Start ``peerreview ARGV`` in a process forked from the fork server (environment
    ``env``, default this one; folder ``cwd``, default this one); its stdout and stderr
    are kept in files, read once it has ended."""
    return start(_cli, list(argv), env=env, cwd=cwd)


def start(target: Callable[..., object], *args: object,
          env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> Spawned:
    """Start ``target(*args)`` (a module-level function, found by its name) in a process
    forked from the fork server, as :func:`start_cli` starts the command line; it exits
    0 when ``target`` returns."""
    if not _outputs:  # made here, not at import: every child imports this module too
        _outputs.append(tempfile.TemporaryDirectory(prefix="peerreview-cli-"))
    folder = Path(tempfile.mkdtemp(dir=_outputs[0].name))
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    out.touch()
    err.touch()
    process = _CONTEXT.Process(target=_child, args=(
        target, args, dict(os.environ if env is None else env), str(cwd or Path.cwd()),
        str(out), str(err)), daemon=True)
    process.start()
    return Spawned(process, out, err)


def run_cli(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            cwd: str | Path | None = None, timeout: float = 120) -> Spawned:
    """``peerreview ARGV`` in a forked process, to its end (see :func:`start_cli`)."""
    spawned = start_cli(argv, env=env, cwd=cwd)
    spawned.wait(timeout)
    return spawned


def run(target: Callable[..., object], *args: object, env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None, timeout: float = 120) -> Spawned:
    """``target(*args)`` in a forked process, to its end (see :func:`start`)."""
    spawned = start(target, *args, env=env, cwd=cwd)
    spawned.wait(timeout)
    return spawned
