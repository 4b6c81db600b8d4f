"""Progress bars per stage: done/total, ETA, calls per second, tokens and cost."""

from __future__ import annotations

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

from peerreview.calls import Tally


class StageProgress:
    """One bar per pipeline stage; silent when ``enabled`` is false."""

    def __init__(self, tally: Tally, *, enabled: bool = True, console: Console | None = None):
        self.tally = tally
        self._bars = Progress(
            TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8}"), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console or Console(stderr=True), disable=not enabled)
        self._task: TaskID | None = None
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
        self._task = self._bars.add_task(name, total=total, rate="", info="")
        self._start = time.perf_counter()
        self._made0 = self.tally.made

    def advance(self) -> None:
        """One question of the current stage is answered."""
        if self._task is None:
            return
        t = self.tally
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._bars.update(
            self._task, advance=1, rate=f"{(t.made - self._made0) / elapsed:.1f}/s",
            info=f"{t.made} calls, {t.cached} stored, "
                 f"{t.prompt_tokens + t.completion_tokens:,} tok, ${t.cost_usd:.4f}")
