"""What the providers' batch APIs share: how a batch is tagged as this run's, how a
batch the provider forgot is told apart, and how an answer is read without trusting
it (an answer without ``id``, or of the wrong type, is a named failure).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from peerreview.models.base import CallError

# A batch created more than this before or after its intent was recorded is not it
# (clocks of this machine and the provider's may differ by this much).
CLOCK_SLACK_S = 300.0
MAX_LIST_PAGES = 20  # pages of 100 batches looked through to adopt one


class BatchHTTPError(CallError):
    """A batch API answered with an HTTP status other than 200."""

    def __init__(self, message: str, model: str | None, status: int) -> None:
        super().__init__(message, model)
        self.status = status


class BatchGone(BatchHTTPError):
    """The provider does not know the batch (404): it cannot be polled any more."""


class NotCreated(CallError):
    """A batch request failed before the batch could have been created (the upload
    failed, or the create request was refused with a 4xx)."""


@dataclass(frozen=True, slots=True)
class BatchTag:
    """What marks a batch as this run's: the run folder's token, the intent's id and
    when the intent was recorded (Unix seconds)."""

    run: str
    intent: str
    created: float

    def metadata(self) -> dict[str, str]:
        """The ``metadata`` a batch is created with (where the API takes it)."""
        return {"peerreview_run": self.run, "peerreview_intent": self.intent}


def text_field(payload: Any, name: str, url: str,
               fail: Callable[[str], CallError]) -> str:
    """``payload[name]`` as a non-empty string.

    Raises:
        CallError: the answer is not an object, or lacks the field (named with the URL).
    """
    value = payload.get(name) if isinstance(payload, dict) else None
    if not isinstance(value, str) or not value:
        shown = type(payload).__name__ if not isinstance(payload, dict) else \
            f"an object without a text {name!r}"
        raise fail(f"unreadable answer from {url}: {shown}")
    return value


def batch_object(payload: Any, url: str, fail: Callable[[str], CallError]) -> dict[str, Any]:
    """An answer that must be a JSON object.

    Raises:
        CallError: it is not one (named with the URL).
    """
    if not isinstance(payload, dict):
        raise fail(f"unreadable answer from {url}: {type(payload).__name__}, not an object")
    return payload


def epoch(value: Any) -> float | None:
    """A creation time as Unix seconds: a number (OpenAI) or RFC 3339 text (Anthropic)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def listed(page: Any, url: str, fail: Callable[[str], CallError]) -> list[dict[str, Any]]:
    """The batches of one page of a provider's batch list (``data``)."""
    data = batch_object(page, url, fail).get("data")
    if not isinstance(data, list):
        raise fail(f"unreadable answer from {url}: no list of batches")
    return [b for b in data if isinstance(b, dict)]
