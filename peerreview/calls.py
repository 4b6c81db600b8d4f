"""Model calls through the run store: a call whose key is stored is never made again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from peerreview.config import ModelConfig
from peerreview.models import Backend, Response
from peerreview.store import RunStore, call_key


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
    """Sends requests to the configured models, through the store."""

    def __init__(self, store: RunStore, models: dict[str, ModelConfig],
                 backends: dict[str, Backend]) -> None:
        self.store = store
        self.models = models
        self.backends = backends
        self.tally = Tally()

    def key(self, name: str, request: dict[str, Any]) -> str:
        """The store key of a request to model ``name``."""
        return call_key(self._stored(name, request))

    def _stored(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        config = self.models[name]
        return {"provider": config.provider, "model": config.identity(), **request}

    async def call(self, name: str, request: dict[str, Any]) -> Response:
        """The model's answer: from the store if this exact request was answered before.

        Raises:
            CallError: the call failed for good; the failure is stored, and the call
                is made again on the next run.
        """
        config = self.models[name]
        stored = self._stored(name, request)
        record = self.store.get(call_key(stored))
        if record is not None and record.response is not None:
            self.tally.cached += 1
            data = orjson.loads(record.response)
            return Response(data["text"], data.get("top_logprobs"),
                            record.prompt_tokens or 0, record.completion_tokens or 0)
        start = time.perf_counter()
        try:
            response = await self.backends[name].complete(request)
        except Exception as exc:
            self.tally.failed += 1
            self.store.put(config.provider, name, stored, error=str(exc),
                           latency_s=time.perf_counter() - start)
            raise
        cost = (response.prompt_tokens * config.price.input_per_mtok
                + response.completion_tokens * config.price.output_per_mtok) / 1e6
        self.store.put(config.provider, name, stored,
                       response=orjson.dumps({"text": response.text,
                                              "top_logprobs": response.top_logprobs}).decode(),
                       prompt_tokens=response.prompt_tokens,
                       completion_tokens=response.completion_tokens,
                       latency_s=time.perf_counter() - start, cost_usd=cost)
        t = self.tally
        t.made += 1
        t.prompt_tokens += response.prompt_tokens
        t.completion_tokens += response.completion_tokens
        t.cost_usd += cost
        return response
