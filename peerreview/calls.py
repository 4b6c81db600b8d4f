"""Model calls through the run store: a call whose key is stored is never made again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from peerreview.callkey import call_key
from peerreview.config import ModelConfig
from peerreview.errors import BudgetSpent as BudgetSpent
from peerreview.errors import Deferred
from peerreview.models import Backend, CallError, Response, estimate_tokens
from peerreview.redact import redact
from peerreview.store import RunStore


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
        budget_usd: no call starts once the run's cost reaches this.
    """

    def __init__(self, store: RunStore, models: dict[str, ModelConfig],
                 backends: dict[str, Backend], *, budget_calls: int | None = None,
                 budget_usd: float | None = None) -> None:
        self.store = store
        self.models = models
        self.backends = backends
        self.tally = Tally()
        self.budget_calls = budget_calls
        self.budget_usd = budget_usd
        self._reserved = 0
        self.spent = False  # a call was refused for the budget
        self._cost = 0.0  # of this run, stored calls included
        self._pending = 0.0  # estimated cost of the calls in flight
        self._secrets = [s for b in backends.values() for s in b.secrets()]
        self._identity = {name: config.identity() for name, config in models.items()}
        self.routed: set[str] = {n for n, m in models.items() if m.batch}  # see RunConfig
        self._answered = store.answered_keys()  # this store's answers, looked up in memory
        self._made: dict[str, Response] = {}  # answers of this run, for a question asked again
        # Calls of batch models not in the store yet: model -> key -> the request sent.
        self.deferred: dict[str, dict[str, dict[str, Any]]] = {}
        self.batch_errors: dict[str, list[str]] = {}  # key -> why each batch gave no answer
        self._fresh: set[str] = set()  # answered by a batch, counted already, not read yet

    def key(self, name: str, request: dict[str, Any]) -> str:
        """The store key of a request to model ``name`` (see :mod:`peerreview.callkey`)."""
        return call_key(self._identity[name], self.backends[name].prepare(request))

    def cost_of(self, name: str, response: Response) -> float:
        """What a call cost, in US dollars (at the batch price for a batch model)."""
        config = self.models[name]
        return config.price_factor * (
            response.prompt_tokens * config.price.input_per_mtok
            + response.completion_tokens * config.price.output_per_mtok) / 1e6

    def ingest(self, name: str, key: str, result: Response | str) -> None:
        """A batch's answer to a deferred call, into the store (or, if none, noted)."""
        sent = self.deferred.get(name, {}).get(key)
        if sent is None:
            return  # not asked in this pass
        if isinstance(result, str):
            self.batch_errors.setdefault(key, []).append(result)
            return
        result.text = redact(result.text, self._secrets)
        self.store.put(name, self._identity[name], sent,
                       response=orjson.dumps({"text": result.text,
                                              "top_logprobs": result.top_logprobs}).decode(),
                       prompt_tokens=result.prompt_tokens,
                       completion_tokens=result.completion_tokens,
                       cost_usd=self.cost_of(name, result), endpoint=result.endpoint)
        self._answered.add(key)
        self._made[key] = result
        self._fresh.add(key)
        self._cost += self.cost_of(name, result)
        self.tally.made += 1
        self.tally.prompt_tokens += result.prompt_tokens
        self.tally.completion_tokens += result.completion_tokens
        self.tally.cost_usd += self.cost_of(name, result)

    def exhausted(self) -> bool:
        """Whether the budget of calls is used up (stored calls count)."""
        return self.budget_calls is not None and \
            self.tally.made + self.tally.cached >= self.budget_calls

    async def call(self, name: str, request: dict[str, Any]) -> Response:
        """The model's answer: from the store if this exact request was answered before.

        Raises:
            CallError: the call failed for good; the failure is stored, and the call
                is made again on the next run.
        """
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
        identity = self._identity[name]
        sent = backend.prepare(request)
        key = call_key(identity, sent)
        if key in self._fresh:  # answered by a batch since the call was deferred
            self._fresh.discard(key)
            return self._made[key]
        if key in self._made:  # asked before in this run (an exam question, in review)
            self.tally.cached += 1
            made = self._made[key]
            self._cost += (made.prompt_tokens * config.price.input_per_mtok
                           + made.completion_tokens * config.price.output_per_mtok) / 1e6
            return made
        record = self.store.get(key) if key in self._answered else None
        if record is None and name in self.routed:
            self._reserved -= 1  # counted when the batch has answered it
            tried = self.batch_errors.get(key, [])
            if len(tried) > config.max_retries:
                raise CallError(f"model {name!r}: no answer in {len(tried)} batches: "
                                f"{tried[-1]}", name)
            self.deferred.setdefault(name, {})[key] = sent
            raise Deferred(f"model {name!r}: waits for a batch")
        if record is not None and record.response is not None:
            self.tally.cached += 1
            self._cost += record.cost_usd or 0.0
            data = orjson.loads(record.response)
            return Response(data["text"], data.get("top_logprobs"),
                            record.prompt_tokens or 0, record.completion_tokens or 0,
                            record.endpoint)
        start = time.perf_counter()
        self._pending += estimate
        try:
            response = await backend.complete(sent)
        except Exception as exc:
            self.tally.failed += 1
            backend.health.failed += 1
            self._reserved -= 1
            self._pending -= estimate
            message = redact(str(exc), self._secrets)
            self.store.put(name, identity, sent, error=message,
                           latency_s=time.perf_counter() - start)
            if isinstance(exc, CallError):
                raise CallError(message, name) from exc
            raise
        response.text = redact(response.text, self._secrets)
        self._made[key] = response
        cost = self.cost_of(name, response)
        self.store.put(name, identity, sent,
                       response=orjson.dumps({"text": response.text,
                                              "top_logprobs": response.top_logprobs}).decode(),
                       prompt_tokens=response.prompt_tokens,
                       completion_tokens=response.completion_tokens,
                       latency_s=time.perf_counter() - start, cost_usd=cost,
                       endpoint=response.endpoint)
        t = self.tally
        t.made += 1
        t.prompt_tokens += response.prompt_tokens
        t.completion_tokens += response.completion_tokens
        t.cost_usd += cost
        self._cost += cost
        self._pending -= estimate
        return response


def _estimate(config: ModelConfig, request: dict[str, Any]) -> float:
    """A call's cost before it is made: 4 characters a prompt token, and every answer
    token the request allows."""
    if config.provider == "python":
        return 0.0
    text = request.get("prompt") or "".join(m["content"] for m in request.get("messages", []))
    tokens_out = int(request.get("max_tokens") or config.answer_tokens)
    return (estimate_tokens(text) * config.price.input_per_mtok
            + tokens_out * config.price.output_per_mtok) / 1e6
