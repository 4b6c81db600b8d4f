"""What every HTTP endpoint backend shares: per-replica concurrency, rate limits,
timeouts, retries (exponential backoff with jitter, honouring Retry-After up to a
cap), a circuit breaker per replica that sees refused connections, timeouts and 5xx
(:mod:`peerreview.models.breaker`, :mod:`peerreview.models.replicas`), a look at
the endpoint before the first call, and secrets kept out of every message. A
provider's module says only how its requests and answers are spelled
(:mod:`peerreview.models.openai`, :mod:`peerreview.models.anthropic`).

Endpoints are taken as they are: a model missing from ``GET /models`` is a warning
(llama.cpp's and llama-cpp-python's servers list the weights file and answer any
name; Ollama lists ``llama3.2:latest`` and answers ``llama3.2``); only a completion
that answers "model not found" stops the model, in the server's own words.

aiohttp rather than httpx or the providers' SDKs: measured here at 64 requests in
flight against a local stub, httpx spent about 8.7 ms of CPU per call and aiohttp
about 0.3 ms, which on two cores decides whether a run is bound by the endpoint or
by the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import orjson

from peerreview.models.base import CallError, Health, Response, Style, estimate_tokens
from peerreview.models.batchapi import BatchGone, BatchHTTPError
from peerreview.models.config import ModelConfig
from peerreview.models.http import Malformed as Malformed
from peerreview.models.http import RateLimiter as RateLimiter
from peerreview.models.http import api_key, model_not_found, read_error, shown, words
from peerreview.models.http import count as count
from peerreview.models.http import retry_after as retry_after
from peerreview.models.replicas import Replica, Replicas, Unavailable
from peerreview.redact import redact

log = logging.getLogger("peerreview")

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
BACK_PRESSURE = frozenset({429, 529})  # the server is there and asks to slow down
MAX_BACKOFF_S = 60.0
MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is cut to this (and said so)
CHECK_TIMEOUT_S = 10.0
# The first retry waits about this long, doubling after; tests set it near 0.
BACKOFF_S = 0.5
sleep = asyncio.sleep  # the retries' pause (tests make it instant)

_JSON = {"Content-Type": "application/json"}


@dataclass(slots=True)
class Outcome:
    """An attempt that gave no answer: what to say, and what the call does next."""

    message: str
    final: bool = False  # fail the call now
    again: bool = False  # send again at once, as the endpoint takes it (no pause)
    wait: float | None = None  # the pause the server asked for (Retry-After)


class EndpointBackend(ABC):
    """A model behind an HTTP API, on one server or on several replicas. An attempt
    goes to the replica with the fewest calls in flight (never more than
    ``concurrency`` on any), a retry to another one than the one that just failed; a
    replica whose breaker opened is paused (and probed later) while the others
    answer. Subclasses say how requests and answers are spelled.

    Args:
        name: the model's name in the config.
        config: its settings.
    """

    path: ClassVar[str]  # where a request is posted, below the base URL
    style: Style = "chat"  # every endpoint here speaks chat

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.context_tokens = config.context_tokens
        self._pool = Replicas(config.urls, config.concurrency)
        self.replicas: list[Replica] = self._pool.all
        self.base = self.replicas[0].base  # what messages name when it is one server
        key = api_key(name, config)
        self._headers = {**(self.auth(key) if key else {}), **config.headers}
        self._secrets = list(self._headers.values())
        if key:
            self._secrets.append(key)
        self._rate = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self._session: aiohttp.ClientSession | None = None
        self.health = Health()

    @abstractmethod
    def auth(self, key: str) -> dict[str, str]:
        """The headers that carry the API key."""

    @abstractmethod
    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """The body sent, less the model's name (the call key is computed from it)."""

    @abstractmethod
    def read(self, payload: Any) -> Response:
        """The answer in a 200 body.

        Raises:
            Malformed: the body is not an answer.
        """

    def adapt(self, body: dict[str, Any], status: int, text: str) -> bool:
        """Learn from a refusal of ``body`` (a parameter the endpoint does not take):
        whether :meth:`adapted` now sends something else, at once."""
        return False

    def adapted(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body as what earlier refusals taught makes it. The call key stays that
        of the prepared body: what this endpoint refuses is its own trait, and a run
        resumed finds the answer under the key it asked with."""
        return body

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)  # no tokenizer for an arbitrary endpoint

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=self.config.concurrency *
                                               len(self.replicas)),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _fail(self, message: str) -> CallError:
        return CallError(redact(f"model {self.name!r}: {message}", self._secrets), self.name)

    async def check(self) -> None:
        """GET /models on each replica once. A refused connection or a DNS failure
        pauses that replica (and stops the model if it is the only one left); 401/403
        stops the model before any call. A model list without this model is only
        said: many servers answer names they do not list."""
        unreachable = []
        for replica in self.replicas:
            reason = await self._check(replica)
            if reason is not None:
                replica.breaker.trip(reason)
                unreachable.append(reason)
        if len(unreachable) == len(self.replicas):
            raise self._stopped("; ".join(unreachable))
        for reason in unreachable:
            log.warning(f"model {self.name!r}: replica paused, the others answer: {reason}")

    async def _check(self, replica: Replica) -> str | None:
        """Why a replica cannot be reached, if it cannot; raises where the model can
        never be served."""
        url = replica.base + "/models"
        timeout = min(CHECK_TIMEOUT_S, self.config.timeout_s)
        try:
            async with self._open().get(url, timeout=aiohttp.ClientTimeout(
                    total=timeout)) as resp:
                if resp.status in (401, 403):
                    text = await read_error(resp, self._secrets)
                    raise self._stopped(f"{url} refused the credentials (HTTP "
                                        f"{resp.status}): {shown(text)}")
                if resp.status != 200:
                    return None  # not every server lists its models: nothing to conclude
                payload = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            return f"cannot connect to {replica.base}: {exc.os_error or exc}"
        except TimeoutError:  # hung, maybe: one call goes first, the others wait for it
            replica.breaker.suspect(f"{url} gave no answer within {timeout:g} s")
            log.warning(f"model {self.name!r}: {url} gave no answer within {timeout:g} s; "
                        "its first call goes alone, and if that times out too the "
                        "model is paused")
            return None
        except (aiohttp.ClientError, ValueError):
            return None  # odd: the calls' own retries will tell
        self._listed(replica, payload)
        return None

    def _listed(self, replica: Replica, payload: Any) -> None:
        """Say where the model list lacks the model (its calls go ahead)."""
        data = payload.get("data") if isinstance(payload, dict) else None
        served = [str(m.get("id")) for m in data if isinstance(m, dict)] \
            if isinstance(data, list) else []
        model = str(self.config.model)
        if not served or model in served or f"{model}:latest" in served:
            return
        listed = ", ".join(served[:8]) + (", ..." if len(served) > 8 else "")
        log.warning(redact(f"model {self.name!r}: {replica.base} lists {shown(listed)}, not "
                           f"{model!r}; asking for it anyway (llama.cpp's and "
                           "llama-cpp-python's servers answer any name). A completion that "
                           "answers 'model not found' will stop it.", self._secrets))

    def _stopped(self, reason: str, replica: Replica | None = None) -> CallError:
        """Stop ``replica`` (default: all of them) for good; the error to raise."""
        error = self._fail(reason)
        for r in self.replicas if replica is None else [replica]:
            r.breaker.stop(str(error))
        if all(r.breaker.stopped for r in self.replicas):
            self.health.down = str(error)
        return error

    async def complete(self, request: dict[str, Any], *, attempts: int | None = None,
                       on_attempt: Callable[[], None] | None = None) -> Response:
        """Answer one prepared request: see :meth:`peerreview.models.base.Backend.complete`.
        Every POST is an attempt, a re-send after a refused parameter included."""
        allowed = self.config.max_retries + 1 if attempts is None else attempts
        body = {**request, "model": self.config.model}
        tokens = sum(self.count_tokens(str(m.get("content")))
                     for m in request.get("messages") or []) \
            + int(request.get("max_tokens") or request.get("max_completion_tokens") or 0)
        last = "no attempt left of this call (an earlier run spent them)"
        avoid: Replica | None = None
        sent = 0
        while sent < allowed:
            try:
                replica, probe = await self._pool.take(avoid)
            except Unavailable as exc:
                self.health.down = str(exc)
                raise self._fail(f"{exc}" + (f" (this call: {last})" if sent else "")) \
                    from None
            try:
                outcome = await self._attempt(replica, probe, body, tokens, on_attempt)
            finally:
                self._pool.give_back(replica)
            sent += 1
            if isinstance(outcome, Response):
                return outcome
            last, avoid = outcome.message, replica
            if outcome.final:
                raise self._fail(last)
            if sent >= allowed or outcome.again:
                continue
            self.health.retries += 1
            if not self._pool.another(replica):  # another replica is tried at once
                backoff = min(MAX_BACKOFF_S, BACKOFF_S * 2 ** (sent - 1)) * \
                    random.uniform(0.5, 1.5)
                await sleep(outcome.wait if outcome.wait is not None else backoff)
        raise self._fail(f"{last} (gave up after {sent} attempts)")

    async def _attempt(self, replica: Replica, probe: bool, body: dict[str, Any],
                       tokens: int, on_attempt: Callable[[], None] | None
                       ) -> Response | Outcome:
        """One POST to ``replica``; its breaker hears how it went."""
        url = replica.base + self.path
        breaker = replica.breaker
        try:
            await self._rate.wait(tokens)
            sending = self.adapted(body)
            if on_attempt is not None:
                on_attempt()
            async with self._open().post(url, data=orjson.dumps(sending),
                                         headers=_JSON) as resp:
                status = resp.status
                if status == 200:
                    payload = _loads(await resp.read())
                else:
                    text = await read_error(resp, self._secrets)
        except TimeoutError:
            return self._failed(replica, probe, f"no answer from {url} within "
                                f"{self.config.timeout_s:g} s", "timeouts")
        except aiohttp.ClientConnectorError as exc:
            return self._failed(replica, probe, f"cannot connect to {url}: "
                                f"{exc.os_error or exc}", "connection failures")
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            return self._failed(replica, probe, f"the connection to {url} broke: "
                                f"{type(exc).__name__}: {exc}", "connection failures")
        except (aiohttp.ClientError, ValueError) as exc:
            self._answered(replica)  # it answered, with something unreadable
            return Outcome(f"bad answer from {url}: {type(exc).__name__}: {exc}")
        except BaseException:
            breaker.done(probe)  # cancelled: it says nothing of the server
            raise
        if status == 200:
            self._answered(replica)
            try:
                response = self.read(payload)
            except Malformed as exc:
                return Outcome(f"bad answer from {url}: Malformed: {exc}")
            response.endpoint = replica.base
            return response
        message = f"HTTP {status} from {url}: {shown(text)}"
        # A refused parameter first: llama-cpp-python's server refuses json_schema
        # with a 500 that names it.
        if status not in BACK_PRESSURE and self.adapt(sending, status, text) and \
                self.adapted(body) != sending:
            self._answered(replica)
            return Outcome(message, again=True)
        if status >= 500 and status not in BACK_PRESSURE:
            return self._failed(replica, probe, message, "5xx answers",
                                self._retry_after(resp.headers.get("Retry-After")))
        self._answered(replica)
        return self._refused(replica, status, text, url) or Outcome(
            message, final=status not in RETRY_STATUS,
            wait=self._retry_after(resp.headers.get("Retry-After")))

    def _refused(self, replica: Replica, status: int, text: str, url: str) -> Outcome | None:
        """What a 4xx means past a plain failed attempt: the credentials or the model
        refused (stopped)."""
        if status in (401, 403):
            raise self._stopped(f"{url} refused the credentials (HTTP {status}): "
                                f"{shown(text)}")
        if model_not_found(status, text):
            error = self._stopped(f"{url} answered HTTP {status}: {words(text)} (is "
                                  f"{self.config.model!r} a model it serves, and "
                                  f"{replica.base} its base_url?)", replica)
            if all(r.breaker.stopped for r in self.replicas):
                raise error
            log.warning(f"{error}; that replica is stopped, the others answer")
            return Outcome(str(error))
        return None

    def _answered(self, replica: Replica) -> None:
        replica.breaker.success()
        if not self._pool.down():
            self.health.down = None

    def _failed(self, replica: Replica, probe: bool, message: str, kind: str,
                wait: float | None = None) -> Outcome:
        """A failure its breaker counts; said when that pauses the replica."""
        if replica.breaker.failure(message, kind, probe):
            if self._pool.down():
                self.health.down = replica.breaker.reason
            others = " (the other replicas answer)" if not self._pool.down() else ""
            log.warning(f"{self._fail(str(replica.breaker.reason))}{others}")
        return Outcome(message, wait=wait)

    # --- Provider batch APIs (half price, their own limits). A call's key is its
    # custom_id: results are matched by it, never by line order.

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> str:
        """Submit prepared requests ``(call key, body)`` as one batch; its id.

        Raises:
            CallError: this provider has no batch API, or it refused the batch.
        """
        raise self._fail("this provider has no batch API")

    async def batch_ended(self, batch_id: str) -> bool:
        """Whether the batch has ended (its results can be read)."""
        raise self._fail("this provider has no batch API")

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        """An ended batch's answers by call key: a response, or why there is none."""
        raise self._fail("this provider has no batch API")

    async def _api(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request of a batch API: its JSON answer (or text, ``text=True``).

        Raises:
            CallError: the request failed (the message names the URL, secrets redacted).
        """
        as_text = kwargs.pop("text", False)
        try:
            async with self._open().request(method, url, **kwargs) as resp:
                if resp.status != 200:
                    error = self._fail(f"HTTP {resp.status} from {url}: "
                                       f"{shown(await read_error(resp, self._secrets))}")
                    kind = BatchGone if resp.status == 404 else BatchHTTPError
                    raise kind(str(error), self.name, resp.status)
                return await (resp.text() if as_text else resp.json(content_type=None))
        except ValueError as exc:  # not JSON, or not text
            raise self._fail(f"unreadable answer from {url}: not JSON "
                             f"({type(exc).__name__}: {exc})") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._fail(f"batch request to {url} failed: {type(exc).__name__}: "
                             f"{exc}") from exc

    def _retry_after(self, header: str | None) -> float | None:
        wait = retry_after(header)
        if wait is not None and wait > MAX_RETRY_AFTER_S:
            log.warning(f"model {self.name!r}: {self.base} asked to wait {wait:.0f} s "
                        f"(Retry-After); waiting {MAX_RETRY_AFTER_S:.0f} s, one retry of "
                        f"{self.config.max_retries}")
            return MAX_RETRY_AFTER_S
        return wait


def _loads(body: bytes) -> Any:
    """An answer's JSON: orjson (a sixth of the stdlib's time, which showed in a
    profile), the stdlib where orjson refuses what JSON allows (a lone surrogate
    escaped, ``"\\ud800"``).

    Raises:
        ValueError: not JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
