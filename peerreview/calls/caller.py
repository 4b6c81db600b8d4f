"""Model calls through the run store: a call whose key is stored is never made again,
and no call is sent more than its model's ``max_retries + 1`` times over every run
(attempts are counted in the store before each send; ``retry_failed`` grants an
exhausted call one more round)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from peerreview.calls.key import call_key, identity_of
from peerreview.calls.shard import NotInShard, Shard
from peerreview.calls.store import RunStore
from peerreview.errors import BudgetSpent as BudgetSpent
from peerreview.errors import Deferred
from peerreview.models import Backend, CallError, Response, estimate_tokens
from peerreview.models.config import ModelConfig
from peerreview.redact import redact


@dataclass(slots=True)
class Tally:
    """Calls of this process: made, answered from the store, failed; tokens and cost."""

    made: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    truncated: int = 0


class Caller:
    """Sends requests to the configured models, through the store.

    Args:
        budget_calls: at most this many calls in the run (made or answered from the
            store); a call past it raises :class:`BudgetSpent` before it is sent.
        budget_usd: no call starts (or goes into a batch) once the run's cost, with
            what the calls in flight and in batches may cost, reaches this.
        retry_failed: a call that used all its attempts in earlier runs gets one more
            round of ``max_retries + 1`` (the user decided so).
        routed: the models whose calls are deferred to a round past this process
            (provider batches or an executor: ``RunConfig.routed``); default: the batch
            models.
        shard: ``run --shard``: only this shard's calls are made, once
            :meth:`keep_to_shard` is called (before the review).
        stored_only: ``merge``: every answer is in the store; a call without one fails,
            none is sent.
    """

    def __init__(self, store: RunStore, models: dict[str, ModelConfig],
                 backends: dict[str, Backend], *, budget_calls: int | None = None,
                 budget_usd: float | None = None, retry_failed: bool = False,
                 routed: set[str] | None = None, shard: Shard | None = None,
                 stored_only: bool = False) -> None:
        self.store = store
        self.models = models
        self.backends = backends
        self.tally = Tally()
        self.budget_calls = budget_calls
        self.budget_usd = budget_usd
        self.retry_failed = retry_failed
        self._granted: set[str] = set()  # keys given another round in this process
        self._reserved = 0
        self.spent = False  # a call was refused for the budget
        self._cost = 0.0  # of this run, stored calls included
        self._pending = 0.0  # estimated cost of the calls in flight and in batches
        self._held: dict[str, float] = {}  # deferred key -> its estimate, in _pending
        self._secrets = [s for b in backends.values() for s in b.secrets()]
        self._identity = {name: identity_of(config) for name, config in models.items()}
        self.routed = {n for n, m in models.items() if m.batch} if routed is None else routed
        # This store's answers, looked up in memory; an answer itself is re-read from the
        # store when asked again (an exam question in review): a million-call run keeps
        # no answer in memory past the call that made it.
        # A key's 64-bit hash stands for it (about 60 bytes a call, not 170): a hit is
        # confirmed by the store's exact key, so a collision costs one look-up, no error.
        self._answered = store.answered_hashes()
        self._closed = False
        # Calls out now, by key: the same call asked again meanwhile (two questions
        # whose prompts are the same text) waits for that answer instead of a second
        # send, so that a call's attempts never exceed max_retries + 1.
        self._in_flight: dict[str, asyncio.Future[Response]] = {}
        # Calls of batch models not in the store yet: model -> key -> the request sent.
        self.deferred: dict[str, dict[str, dict[str, Any]]] = {}
        self.batch_errors: dict[str, list[str]] = {}  # key -> why each batch gave no answer
        self._fresh: set[str] = set()  # answered by a batch, counted already, not read yet
        # In batches that earlier runs created and nobody collected: deferred to be
        # collected, whatever their attempts say (they were counted when submitted).
        self._in_batches = store.keys_in_open_batches()
        self.shard = shard
        self._sharding = False  # see keep_to_shard
        self.stored_only = stored_only

    def keep_to_shard(self) -> None:
        """From here on only the shard's calls are made; another raises
        :class:`NotInShard`. A sharded run calls it before the review: the submissions
        and the exam decide which review calls exist, so every shard makes them
        (:mod:`peerreview.calls.shard`). Without a shard it changes nothing."""
        self._sharding = self.shard is not None

    def close(self) -> None:
        """The run's calls are over: the answered set (60 bytes a call) is let go
        before the chair runs, and a call after this is an error, never a send."""
        self._answered = set()
        self._closed = True

    def key(self, name: str, request: dict[str, Any]) -> str:
        """The store key of a request to model ``name`` (see :mod:`peerreview.calls.key`)."""
        return call_key(self._identity[name], self.backends[name].prepare(request))

    def cost_of(self, name: str, response: Response) -> float:
        """What a call cost, in US dollars (at the batch price for a batch model)."""
        config = self.models[name]
        return config.price_factor * (
            response.prompt_tokens * config.price.input_per_mtok
            + response.completion_tokens * config.price.output_per_mtok) / 1e6

    @property
    def run_cost(self) -> float:
        """What the run's calls have cost so far, in US dollars, as ``--budget-usd``
        counts it: stored answers included, each use of an answer counted."""
        return self._cost

    def answered(self, key: str) -> bool:
        """Whether the call has an answer in the store."""
        return _prefix(key) in self._answered and self.store.get(key) is not None

    def attempts_left(self, name: str, key: str) -> int:
        """How many more times the call may be sent (or put in a batch): its model's
        ``max_retries + 1`` less the attempts the store counts over every run."""
        allowed = self.models[name].max_retries + 1
        left = allowed - self.store.attempts(key)
        if left <= 0 and self.retry_failed and key not in self._granted:
            self._granted.add(key)  # one more round per run that asks, never more
            self.store.grant_round(key)
            return allowed
        return left

    def ingest(self, name: str, key: str, result: Response | str) -> None:
        """A batch's (or an executor's) answer to a deferred call, into the store; a
        string says why there is none: a failed attempt, stored as the call's error."""
        self._in_batches.discard(key)
        sent = self.deferred.get(name, {}).get(key)
        if sent is None:
            return  # not asked in this pass
        self._pending -= self._held.pop(key, 0.0)
        if isinstance(result, str):
            result = redact(result, self._secrets)
            self.batch_errors.setdefault(key, []).append(result)
            self.store.put(name, self._identity[name], sent, error=result)
            return
        self._record(name, key, sent, result)
        self._fresh.add(key)

    def _record(self, name: str, key: str, sent: dict[str, Any], response: Response,
                latency_s: float | None = None) -> None:
        """An answer into the store and the run's tally, whichever path it came by
        (a live call, a provider batch, an executor): one place prices it."""
        response.text = redact(response.text, self._secrets)
        cost = self.cost_of(name, response)
        self.store.put(name, self._identity[name], sent,
                       response=orjson.dumps({"text": response.text,
                                              "top_logprobs": response.top_logprobs}).decode(),
                       prompt_tokens=response.prompt_tokens,
                       completion_tokens=response.completion_tokens, latency_s=latency_s,
                       cost_usd=cost, endpoint=response.endpoint)
        self._answered.add(_prefix(key))
        t = self.tally
        t.made += 1
        t.prompt_tokens += response.prompt_tokens
        t.completion_tokens += response.completion_tokens
        t.cost_usd += cost
        self._cost += cost

    def exhausted(self) -> bool:
        """Whether the budget of calls is used up (stored calls count)."""
        return self.budget_calls is not None and \
            self.tally.made + self.tally.cached >= self.budget_calls

    def _out_of_attempts(self, name: str, key: str) -> CallError:
        config = self.models[name]
        tried = self.batch_errors.get(key) or []
        last = tried[-1] if tried else self.store.last_error(key)
        return CallError(
            f"model {name!r}: no answer after {self.store.sent(key)} attempts over every "
            f"run (max_retries: {config.max_retries} allows {config.max_retries + 1}); "
            f"nothing was sent. Run again with --retry-failed to allow "
            f"{config.max_retries + 1} more, or raise max_retries"
            + (f". Last: {last}" if last else ""), name)

    async def call(self, name: str, request: dict[str, Any]) -> Response:
        """The model's answer: from the store if this exact request was answered before.

        Raises:
            CallError: the call failed for good; the failure is stored, and the call
                is made again on the next run while it has attempts left.
        """
        if self._closed:
            raise RuntimeError("the caller is closed: the run's calls are over")
        if self.budget_calls is not None and self._reserved >= self.budget_calls:
            self.spent = True
            raise BudgetSpent(f"the budget of {self.budget_calls} calls is spent")
        config = self.models[name]
        estimate = _estimate(config, request)
        if self.budget_usd is not None and self._cost + self._pending + estimate > \
                self.budget_usd:
            self.spent = True
            raise BudgetSpent(f"the budget of ${self.budget_usd:g} is spent")
        self._reserved += 1  # reserved before any await: concurrent calls never overshoot
        backend = self.backends[name]
        sent = backend.prepare(request)
        key = call_key(self._identity[name], sent)
        if self._sharding and self.shard is not None and not self.shard.holds(key):
            self._reserved -= 1
            raise NotInShard(f"call {key[:12]} is not in shard {self.shard}")
        record = self.store.get(key) if _prefix(key) in self._answered else None
        if record is not None and record.response is not None:
            if key in self._fresh:  # answered by a batch since deferred: counted then
                self._fresh.discard(key)
            else:  # stored by an earlier run, or asked before in this one
                self.tally.cached += 1
                self._cost += record.cost_usd or 0.0
            data = orjson.loads(record.response)
            return Response(data["text"], data.get("top_logprobs"),
                            record.prompt_tokens or 0, record.completion_tokens or 0,
                            record.endpoint)
        out = self._in_flight.get(key)
        if out is not None:
            return await self._same_call(name, out)
        if self.stored_only:
            self._reserved -= 1
            self.tally.failed += 1
            raise CallError(f"model {name!r}: no shard answered call {key[:12]} (the "
                            "merged stores lack it: run that shard again, then merge)", name)
        left = self.attempts_left(name, key)
        if left <= 0 and key not in self._in_batches:  # failed for good: nothing is sent
            self._reserved -= 1
            self.tally.failed += 1
            backend.health.failed += 1
            raise self._out_of_attempts(name, key)
        if name in self.routed:
            self._reserved -= 1  # counted when the batch has answered it
            if key not in self._held:  # what the batch may cost counts against the budget
                self._held[key] = estimate
                self._pending += estimate
            self.deferred.setdefault(name, {})[key] = sent
            raise Deferred(f"model {name!r}: waits for a batch")
        out = self._in_flight[key] = asyncio.get_running_loop().create_future()
        try:
            response = await self._send(name, key, sent, left, estimate)
        except Exception as exc:
            out.set_exception(exc)
            out.exception()  # retrieved: no one else may be waiting
            raise
        except BaseException:
            out.cancel()
            raise
        finally:
            del self._in_flight[key]
        out.set_result(response)
        return response

    async def _same_call(self, name: str, out: asyncio.Future[Response]) -> Response:
        """The answer of the same call, already out: counted as an answer from the store
        (it is one, a moment later), or its failure."""
        try:
            response = await asyncio.shield(out)
        except CallError as exc:
            self._reserved -= 1
            self.tally.failed += 1
            raise CallError(str(exc), name) from exc
        self.tally.cached += 1
        self._cost += self.cost_of(name, response)
        return response

    async def _send(self, name: str, key: str, sent: dict[str, Any], left: int,
                    estimate: float) -> Response:
        """Send a call, at most ``left`` times, each attempt counted in the store just
        before it goes out."""
        backend = self.backends[name]
        start = time.perf_counter()
        self._pending += estimate
        try:
            response = await backend.complete(
                sent, attempts=left, on_attempt=partial(self.store.count_attempt, key))
        except Exception as exc:
            self.tally.failed += 1
            backend.health.failed += 1
            self._reserved -= 1
            self._pending -= estimate
            message = redact(str(exc), self._secrets)
            self.store.put(name, self._identity[name], sent, error=message,
                           latency_s=time.perf_counter() - start)
            if isinstance(exc, CallError):
                raise CallError(message, name) from exc
            raise
        self._pending -= estimate
        self._record(name, key, sent, response, time.perf_counter() - start)
        return response


def _prefix(key: str) -> int:
    """A call key as the caller's set of answered calls holds it: its hash (the same
    in one process, which is all the set lives)."""
    return hash(key)


def _estimate(config: ModelConfig, request: dict[str, Any]) -> float:
    """A call's cost before it is made: 4 characters a prompt token, and every answer
    token the request allows (at the batch price for a batch model)."""
    if config.style == "call":
        return 0.0
    text = request.get("prompt") or "".join(m["content"] for m in request.get("messages", []))
    tokens_out = int(request.get("max_tokens") or config.answer_tokens)
    return config.price_factor * (estimate_tokens(text) * config.price.input_per_mtok
                                  + tokens_out * config.price.output_per_mtok) / 1e6
