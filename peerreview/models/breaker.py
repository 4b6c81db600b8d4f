"""A circuit breaker per endpoint (per replica of a model): a server that cannot be
reached, does not answer in time, or answers 5xx again and again is paused, so
that the calls queued for it fail at once instead of each retrying for minutes.

What it counts, in a row (any other answer, 4xx included, resets the count):
refused or dropped connections, timeouts, and 5xx answers. 429 (and Anthropic's
529, overloaded) are back-pressure: the server is there and asks to slow down,
which the retries honour; they are not failures.

When it opens, the calls already queued wait for one probe: the first call after
a short pause goes out alone. A probe that is answered closes it (a burst of
faults, say every first attempt stalling, costs nothing); a probe that fails keeps
it open for the cooldown, during which every call fails at once, and one call
probes again after it. :meth:`stop` opens it for good.
"""

from __future__ import annotations

import math
import time

FIRST_PROBE_S = 0.5  # after opening, the queued calls wait this long for the probe


class Breaker:
    """Opens after ``threshold`` consecutive failures; see the module.

    Args:
        threshold: failures in a row that open it.
        cooldown_s: how long a failed probe keeps it open before the next probe.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.reason: str | None = None  # why it is open
        self._until = 0.0  # no probe before this
        self._stopped = False
        self._probing = False  # a probe is out
        self._tested = False  # a probe failed since it opened: calls fail at once
        self._kinds: set[str] = set()  # what failed in the current run of failures

    @property
    def closed(self) -> bool:
        """Whether calls go out as usual."""
        return self.reason is None

    def allow(self) -> bool:
        """Whether a call may go out now; an open breaker lets one probe through per
        cooldown (and this call is it)."""
        if self.reason is None:
            return True
        if self._stopped or self._probing or time.monotonic() < self._until:
            return False
        self._probing = True
        self._until = time.monotonic() + self.cooldown_s
        return True

    def wait_s(self) -> float | None:
        """How long a queued call should wait for the probe to tell (``inf``: until
        the probe out now answers), or None when it should fail now: stopped, or
        open after a failed probe."""
        if self.reason is None:
            return 0.0
        if self._stopped or self._tested:
            return None
        if self._probing:
            return math.inf
        return max(0.0, self._until - time.monotonic())

    def success(self) -> None:
        """A call was answered (any status but 5xx): the server works."""
        if not self._stopped:
            self.failures, self.reason = 0, None
            self._probing = self._tested = False
            self._kinds.clear()

    def failure(self, reason: str, kind: str = "connection failures",
                probe: bool = False) -> bool:
        """A call failed (``kind``: connection failures, timeouts, 5xx answers);
        returns whether that opened the breaker."""
        self.failures += 1
        self._kinds.add(kind)
        if self._stopped:
            return False
        if self.reason is not None:  # already open; calls in flight when it opened fail too
            if probe:  # the probe failed: calls fail at once until the next one
                self._probing, self._tested = False, True
                self._until = time.monotonic() + self.cooldown_s
            return False
        if self.failures < self.threshold:
            return False
        what = kind if len(self._kinds) == 1 else "failures"
        self.reason = f"paused after {self.failures} {what} in a row: {reason}"
        self._probing = self._tested = False
        self._until = time.monotonic() + min(FIRST_PROBE_S, self.cooldown_s)
        return True

    def done(self, probe: bool) -> None:
        """An attempt ended that says nothing of the server (cancelled, say): a probe
        it was leaves the way to the next."""
        if probe and self._probing:
            self._probing = False
            self._until = time.monotonic()

    def suspect(self, reason: str) -> None:
        """Open now, untested: the next call is a probe and the others wait for it (an
        endpoint whose model list did not come in time may be hung)."""
        if not self._stopped and self.reason is None:
            self.reason = f"paused: {reason}"
            self._probing = self._tested = False
            self._until = time.monotonic()

    def trip(self, reason: str) -> None:
        """Open now, as after a failed probe (a replica found dead before the first
        call); probed again after the cooldown."""
        if not self._stopped:
            self.failures = max(self.failures, self.threshold)
            self.reason = f"paused: {reason}"
            self._tested = True
            self._until = time.monotonic() + self.cooldown_s

    def stop(self, reason: str) -> None:
        """Refuse every further call (the endpoint cannot serve this model)."""
        self._stopped = True
        self.reason = reason

    @property
    def stopped(self) -> bool:
        """Whether it is open for good."""
        return self._stopped
