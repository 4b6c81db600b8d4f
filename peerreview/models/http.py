"""The small pieces of talking HTTP to a model's endpoint: the key from its variable,
Retry-After, rate limits, and error bodies read with care (a few KB at most,
redacted before they are cut) and read for what the server said."""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from typing import Any

import aiohttp
import orjson

from peerreview.errors import InputError
from peerreview.models.config import ModelConfig
from peerreview.redact import redact_cut

ERROR_BYTES = 4096  # of an error body, at most this much is read (a body can be huge)
SHOWN_CHARS = 300  # of an error body, at most this much is put in a message


class Malformed(ValueError):
    """A 200 answer that is not what the provider's protocol says."""


def count(value: Any) -> int:
    """A token count from a usage field (0 where missing or odd)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def api_key(name: str, config: ModelConfig) -> str | None:
    """The key from the variable the config names; an unset variable is an error
    raised before any call is made."""
    variable = config.key_variable
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise InputError(f"model {name!r} reads its API key from ${variable}, which is "
                         "not set", field=f"models.{name}.api_key_env")
    return key


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits, as evenly spaced starts."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self, tokens: int) -> None:
        if self.rpm is None and self.tpm is None:
            return
        gap = max(60.0 / self.rpm if self.rpm else 0.0,
                  60.0 * tokens / self.tpm if self.tpm else 0.0)
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + gap
        if start > now:
            await asyncio.sleep(start - now)


async def read_error(resp: aiohttp.ClientResponse, secrets: list[str]) -> str:
    """The beginning of an error body: at most :data:`ERROR_BYTES` read (the rest is
    never read: the connection is closed instead), decoded leniently, redacted.

    Raises:
        aiohttp.ClientError: the connection broke while reading.
    """
    chunks: list[bytes] = []
    size = 0
    while size < ERROR_BYTES:
        chunk = await resp.content.read(ERROR_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    more = size >= ERROR_BYTES and not resp.content.at_eof()
    return redact_cut(b"".join(chunks).decode("utf-8", errors="replace"), secrets,
                      ERROR_BYTES, more)


_SURROGATE = re.compile("[\ud800-\udfff]")


def mend(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD. JSON may escape half a
    pair (``"\\ud83d"``), which decodes to a str that cannot be encoded: stored,
    printed or hashed, it would crash the run."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def shown(text: str) -> str:
    """An error body (already redacted) as a message shows it: cut, on one line."""
    text = " ".join(mend(text).split())
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def words(text: str) -> str:
    """What the server said in an error body: its ``error.message`` (OpenAI, vLLM,
    Ollama, Anthropic, litellm all put it there or at ``message``), else the body."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        return shown(text)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, str):
        return shown(error)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return shown(error["message"])
    return shown(text)


_NOT_FOUND = re.compile(r"(?i)\bmodel\b.{0,120}\b(not found|does not exist|not exist|"
                        r"no such model|unknown model)|invalid model name|"
                        r"model_not_found|not_found_error")


def model_not_found(status: int, text: str) -> bool:
    """Whether a completion's error says the model is not served there: a 404, or a
    provider's model-not-found error (OpenAI's ``code: model_not_found``, litellm's
    400 "Invalid model name")."""
    return status == 404 or (status in (400, 422) and _NOT_FOUND.search(text) is not None)
