"""A circuit breaker per endpoint: a server that cannot be reached is paused, so
that the calls queued for it fail at once instead of each retrying for minutes."""

from __future__ import annotations

import time


class Breaker:
    """Opens after ``threshold`` consecutive connection failures; after ``cooldown_s``
    one call may try again (half-open), and a success closes it. Back-pressure
    (429) is not a failure here. :meth:`stop` opens it for good.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.reason: str | None = None  # why it is open
        self._until = 0.0
        self._stopped = False

    def allow(self) -> bool:
        """Whether a call may go out now."""
        if self.reason is None:
            return True
        if self._stopped or time.monotonic() < self._until:
            return False
        self._until = time.monotonic() + self.cooldown_s  # one probe per cooldown
        return True

    def success(self) -> None:
        """A call reached the server."""
        if not self._stopped:
            self.failures, self.reason = 0, None

    def failure(self, reason: str) -> bool:
        """A call could not reach the server; returns whether that opened the breaker."""
        self.failures += 1
        if self._stopped or self.failures < self.threshold:
            return False
        self._until = time.monotonic() + self.cooldown_s
        if self.reason is not None:
            return False  # already open: calls in flight when it opened fail too
        self.reason = f"paused after {self.failures} connection failures in a row: {reason}"
        return True

    def trip(self, reason: str) -> None:
        """Open now (a replica found dead before the first call); retried after the
        cooldown like any paused endpoint."""
        if not self._stopped:
            self.failures = max(self.failures, self.threshold)
            self.reason = f"paused: {reason}"
            self._until = time.monotonic() + self.cooldown_s

    def stop(self, reason: str) -> None:
        """Refuse every further call (the endpoint cannot serve this model)."""
        self._stopped = True
        self.reason = reason
