"""Anthropic's Messages API (``/v1/messages``): the system prompt apart from the
messages, content as blocks, ``x-api-key`` and ``anthropic-version`` headers, usage
as ``input_tokens``/``output_tokens``. Retries (429 and 529 included, with
``retry-after``), limits, the breaker and the store are
:class:`~peerreview.models.endpoint.EndpointBackend`'s, as for every endpoint.
"""

from __future__ import annotations

from typing import Any

from peerreview.models.base import Response
from peerreview.models.endpoint import EndpointBackend, Malformed, count
from peerreview.models.http import mend

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the API requires max_tokens; the rest is sent only when set


class AnthropicBackend(EndpointBackend):
    """Messages with ``x-api-key``."""

    path = "/messages"

    def auth(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": VERSION}

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """System messages go to ``system``; ``stop`` is ``stop_sequences``; a structured
        answer or logprobs, which the API does not offer, are not asked for. The
        user's ``params`` win over everything."""
        system = [m["content"] for m in request["messages"] if m["role"] == "system"]
        body: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m["content"]}
                         for m in request["messages"] if m["role"] != "system"],
            "max_tokens": request.get("max_tokens") or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = "\n\n".join(system)
        if request.get("temperature") is not None:
            body["temperature"] = request["temperature"]
        if request.get("stop"):
            body["stop_sequences"] = request["stop"]
        body.update(self.config.params)
        return body

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> str:
        """``/messages/batches`` with the requests inline."""
        batch = await self._api("POST", self.base + "/messages/batches", json={
            "requests": [{"custom_id": key, "params": {**body, "model": self.config.model}}
                         for key, body in calls]})
        return str(batch["id"])

    async def batch_ended(self, batch_id: str) -> bool:
        batch = await self._api("GET", f"{self.base}/messages/batches/{batch_id}")
        return bool(batch.get("processing_status") == "ended")

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        text = await self._api("GET", f"{self.base}/messages/batches/{batch_id}/results",
                               text=True)
        results: dict[str, Response | str] = {}
        for key, record in self.batch_records(text, batch_id):
            result = record.get("result")
            result = result if isinstance(result, dict) else {}
            if result.get("type") == "succeeded":
                try:
                    results[key] = self.read(result.get("message"))
                except Malformed as exc:
                    results[key] = f"bad answer in batch {batch_id}: {exc}"
            else:
                results[key] = f"batch {batch_id}: {result.get('type') or 'no result'}: " + \
                    str(result.get("error", ""))[:300]
        return results

    def read(self, payload: Any) -> Response:
        content = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(content, list):
            raise Malformed("no content in the answer")
        text = mend("".join(str(block.get("text", "")) for block in content
                            if isinstance(block, dict) and block.get("type") == "text"))
        usage = payload.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Response(text, None, count(usage.get("input_tokens")),
                        count(usage.get("output_tokens")))
