"""Errors a user can act on: each names the file, the line and the field at fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class PeerReviewError(Exception):
    """Base of every error peerreview raises on purpose."""


class InputError(PeerReviewError):
    """Bad input or bad usage (exit status 2).

    Args:
        message: what is wrong and what was expected.
        path: the file at fault, if any.
        line: the 1-based line number in that file, if any.
        field: the record field at fault, if any.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        field = f"field '{self.field}': " if self.field is not None else ""
        return f"{where}{field}{self.message}"


class NoQualifiedReviewer(InputError):
    """No candidate passed the exam; ``results`` holds the exam table to show."""

    def __init__(self, message: str, results: list[Any]) -> None:
        super().__init__(message)
        self.results = results


class RunFailed(PeerReviewError):
    """Some model calls failed for good; the completed ones are kept for the next run.

    ``partial`` is the run ranked with the reviewers that answered, when there was
    enough to rank (its outputs are written), else None (nothing is written).
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class Deferred(PeerReviewError):
    """A call that waits for a provider batch: asked again once the batch is in."""


class BatchesPending(PeerReviewError):
    """Batches were submitted and the run was asked not to wait for them."""


class BudgetSpent(PeerReviewError):
    """The run's budget of calls or dollars is spent: no further call is made."""
