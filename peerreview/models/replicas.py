"""Which server of a model takes the next attempt: each replica has its own breaker
and never more than ``concurrency`` calls in flight (even when the others are
dead); a retry goes to another replica than the one that just failed, where one
is free; a paused replica gets one probe at a time."""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass

from peerreview.models.breaker import Breaker

COOLDOWN_S = 30.0  # a paused replica is probed again after this


@dataclass(slots=True, eq=False)
class Replica:
    """One server of a model: its base URL, its breaker, its calls in flight."""

    base: str
    breaker: Breaker
    in_flight: int = 0


class Unavailable(Exception):
    """No replica can take the call, now or after a probe: the reasons, joined."""


class Replicas:
    """The replicas of one model and their slots.

    Args:
        urls: the base URLs.
        concurrency: calls in flight per replica, at most.
    """

    def __init__(self, urls: list[str], concurrency: int) -> None:
        self.all = [Replica(url, Breaker(cooldown_s=COOLDOWN_S)) for url in urls]
        self.concurrency = concurrency
        self._changed: asyncio.Event | None = None  # set when a slot or a breaker changes
        self._retries = 0  # retries waiting: a probe is one of them where it can be

    async def take(self, avoid: Replica | None = None) -> tuple[Replica, bool]:
        """A replica for one attempt, its slot taken, and whether the attempt is its
        breaker's probe; waits for a slot or for a probe to tell. ``avoid``: the
        replica the call just failed on.

        Raises:
            Unavailable: every replica is stopped or paused after a failed probe.
        """
        while True:
            got = self._choose(avoid)
            if isinstance(got, tuple):
                got[0].in_flight += 1
                return got
            if got is None:
                raise Unavailable("; ".join(dict.fromkeys(
                    str(r.breaker.reason) for r in self.all if not r.breaker.closed)))
            self._retries += avoid is not None
            try:
                await self._wait(got)
            finally:
                self._retries -= avoid is not None

    def give_back(self, replica: Replica) -> None:
        """An attempt on ``replica`` ended (its breaker already told how)."""
        replica.in_flight -= 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def another(self, replica: Replica) -> bool:
        """Whether a retry can go to another replica that is not paused."""
        return any(r is not replica and r.breaker.closed for r in self.all)

    def down(self) -> bool:
        """Whether every replica is paused or stopped."""
        return not any(r.breaker.closed for r in self.all)

    def _choose(self, avoid: Replica | None) -> tuple[Replica, bool] | float | None:
        """A replica and whether it is a probe; else seconds to wait (``inf``: until a
        slot frees or a probe tells), or None: fail now."""
        closed = [r for r in self.all if r.breaker.closed]
        # A probe is a retry where one waits (a request sent once and sent again is
        # what tells a burst of faults from a server down), and a retry goes where
        # calls are answered while any replica answers.
        if (avoid is None and not self._retries) if closed else \
                (avoid is not None or not self._retries):
            for r in self.all:
                if not r.breaker.closed and r.in_flight < self.concurrency and \
                        r.breaker.allow():
                    return r, True
        # A retry waits for another replica rather than go back to the one it failed on.
        closed = [r for r in closed if r is not avoid] or closed
        free = [r for r in closed if r.in_flight < self.concurrency]
        if free:
            return min(free, key=lambda r: r.in_flight), False
        if closed:
            return math.inf
        waits = [w if r.in_flight < self.concurrency else math.inf  # a slot first
                 for r in self.all if (w := r.breaker.wait_s()) is not None]
        return min(waits) if waits else None

    async def _wait(self, seconds: float) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        changed = self._changed
        with contextlib.suppress(TimeoutError):  # a probe's time came
            await asyncio.wait_for(changed.wait(), None if math.isinf(seconds) else seconds)
