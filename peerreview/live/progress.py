"""Progress of a run's stages on stderr: live bars on a terminal, and elsewhere (a
log, CI, a pipe) a plain line when a stage starts and ends and every 10 s between.
Both show retries and failures per model as they happen; model names and the reasons
an endpoint is down come from outside, so they are printed inert, never as markup."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from peerreview.calls.caller import Tally
from peerreview.live.console import STDERR, plain
from peerreview.models import Health
from peerreview.text import inert


class StageProgress:
    """One bar (or line) per pipeline stage; silent when ``enabled`` is false.

    Args:
        tally: the run's call counts.
        health: each model's retries, failures and state.
        interval: seconds between plain progress lines.
    """

    def __init__(self, tally: Tally, health: dict[str, Health], *, enabled: bool = True,
                 console: Console | None = None, interval: float = 10.0) -> None:
        self.tally = tally
        self.health = health
        self.console = console or STDERR
        self.live = enabled and self.console.is_terminal
        self.plain = enabled and not self.live
        self.interval = interval
        self._bars = Progress(
            TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8}"), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            TextColumn("{task.fields[trouble]}", style="red", markup=False),
            console=self.console, disable=not self.live)
        self._task: TaskID | None = None
        self._name = ""
        self._done = self._total = 0
        self._start = 0.0
        self._made0 = 0

    def __enter__(self) -> StageProgress:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bars.stop()

    def stage(self, name: str, total: int) -> None:
        """Start the bar of a new stage."""
        self._name, self._done, self._total = name, 0, total
        self._task = self._bars.add_task(name, total=total, rate="", info="", trouble="")
        self._start = time.perf_counter()
        self._made0 = self.tally.made
        self.line()

    def _rate(self) -> float:
        return (self.tally.made - self._made0) / max(time.perf_counter() - self._start, 1e-9)

    def trouble(self) -> str:
        """Retries, failures and paused endpoints per model, where there are any, on one
        line with control characters escaped."""
        parts = []
        for name, h in sorted(self.health.items()):
            if h.retries or h.failed or h.down:
                parts.append(f"{name}: {h.retries} retries, {h.failed} failed"
                             + (f" ({h.down})" if h.down else ""))
        return inert("; ".join(parts))

    def advance(self) -> None:
        """One question of the current stage is answered (or failed for good)."""
        self._done += 1
        if self._task is None or not self.live:
            return
        t = self.tally
        self._bars.update(
            self._task, advance=1, rate=f"{self._rate():.1f}/s",
            info=f"{t.made} calls, {t.cached} stored, "
                 f"{t.prompt_tokens + t.completion_tokens:,} tok, ${t.cost_usd:.4f}",
            trouble=self.trouble())

    def line(self) -> None:
        """A plain progress line (off a terminal)."""
        if not self.plain:
            return
        t = self.tally
        trouble = self.trouble()
        self.console.print(plain(
            f"{self._name}: {self._done}/{self._total} done, {self._rate():.1f} calls/s, "
            f"{t.made} calls made, {t.cached} from the store, {t.failed} failed"
            + (f"; {trouble}" if trouble else "")), soft_wrap=True)

    async def ticking(self) -> None:
        """Print a line every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.line()
