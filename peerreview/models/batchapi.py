"""What the providers' batch APIs share: how a batch is tagged as this run's, how a
batch the provider forgot is told apart, how an answer is read without trusting
it (an answer without ``id``, or of the wrong type, is a named failure), and how a
batch's result lines become answers by ``custom_id`` (:func:`read_results`: OpenAI's
and Anthropic's batch APIs and ``vllm run-batch``'s output, each provider saying only
how one record becomes an answer).
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from peerreview.models.base import CallError, Response
from peerreview.models.http import Malformed, mend

log = logging.getLogger("peerreview")

# How one result record (a JSON object with a custom_id) becomes an answer: a
# Response, or why there is none (text). Raises Malformed for an answer it cannot read.
ResultReader = Callable[[dict[str, Any]], Response | str]

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


def result_records(text: str, model: str, batch: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``(custom_id, record)`` of each line of a batch's results. A line that is
    not a JSON object with a custom_id is said and skipped: its call stays missing
    and goes into the next round.

    Lines end at ``\n`` only (a ``\r`` before it is JSON whitespace): an answer may
    hold a raw U+2028 or form feed, which :meth:`str.splitlines` would cut at. A line
    with half a surrogate pair escaped (``"\\ud83d"``), which orjson refuses, is read
    by the standard library as a live answer is; the readers mend its text.
    """
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # orjson stops deep nesting; json may not
                record = None
        if not isinstance(record, dict) or record.get("custom_id") is None:
            log.warning(f"model {model!r}: {batch}: line {number} of its results is not "
                        "a result; its call will be asked again")
            continue
        records.append((mend(str(record["custom_id"])), record))
    return records


def read_results(text: str, *, model: str, batch: str,
                 answer: ResultReader) -> dict[str, Response | str]:
    """A batch's answers by call key (``custom_id``), from its result lines.

    Args:
        text: the result lines (JSON Lines).
        model: the model's configured name, for warnings.
        batch: what messages call the batch (``batch <id>``, ``vllm run-batch``).
        answer: the provider's reading of one record: a response, or why there is
            none; :class:`Malformed` for an answer it cannot read.

    Returns:
        By call key, a response or why there is none (``<batch>: <why>``, ``bad answer
        in <batch>: <what>``); a line that is not a result is left out.
    """
    results: dict[str, Response | str] = {}
    for key, record in result_records(text, model, batch):
        try:
            got = answer(record)
        except Malformed as exc:
            results[key] = mend(f"bad answer in {batch}: {exc}")
            continue
        results[key] = got if isinstance(got, Response) else mend(f"{batch}: {got}")
    return results
