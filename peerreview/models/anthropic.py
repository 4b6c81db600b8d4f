"""Anthropic's Messages API (``/v1/messages``): the system prompt apart from the
messages, content as blocks, ``x-api-key`` and ``anthropic-version`` headers, usage
as ``input_tokens``/``output_tokens``. Retries (429 and 529 included, with
``retry-after``), limits, the breaker and the store are
:class:`~peerreview.models.endpoint.EndpointBackend`'s, as for every endpoint.
"""

from __future__ import annotations

from typing import Any

from peerreview.models.base import Response
from peerreview.models.batchapi import (
    CLOCK_SLACK_S,
    MAX_LIST_PAGES,
    BatchHTTPError,
    BatchTag,
    NotCreated,
    batch_object,
    epoch,
    listed,
    read_results,
    text_field,
)
from peerreview.models.endpoint import EndpointBackend, Malformed, count
from peerreview.models.http import mend

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the API requires max_tokens; the rest is sent only when set


class AnthropicBackend(EndpointBackend):
    """Messages with ``x-api-key``."""

    path = "/messages"
    batch_limits = (100_000, 256_000_000)  # one message batch: requests, bytes (256 MB)

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

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]], *,
                           tag: BatchTag | None = None) -> str:
        """``/messages/batches`` with the requests inline. The API takes no metadata:
        the tag's intent time and the number of requests find the batch again
        (:meth:`find_batch`).

        Raises:
            NotCreated: the create request was refused (4xx).
            CallError: it failed otherwise (the batch may exist).
        """
        url = self.base + "/messages/batches"
        try:
            batch = await self._api("POST", url, json={
                "requests": [{"custom_id": key, "params": {**body, "model": self.config.model}}
                             for key, body in calls]})
        except BatchHTTPError as exc:
            if 400 <= exc.status < 500 and exc.status not in (408, 409, 429):
                raise NotCreated(str(exc), self.name) from exc
            raise
        return text_field(batch, "id", url, self._fail)

    async def find_batch(self, tag: BatchTag, count: int, known: set[str]) -> str | None:
        """The batch a killed process created for the intent, if the provider lists
        one: created within :data:`CLOCK_SLACK_S` of the intent, with ``count``
        requests, and not already another intent's (``known``). The nearest in time
        wins. (The API takes no metadata, and its batches show their custom_ids only
        once ended.)"""
        after, best, best_gap = "", None, CLOCK_SLACK_S
        for _ in range(MAX_LIST_PAGES):
            url = f"{self.base}/messages/batches?limit=100" + \
                (f"&after_id={after}" if after else "")
            page = await self._api("GET", url)
            batches = listed(page, url, self._fail)
            for batch in batches:
                created = epoch(batch.get("created_at"))
                counts = batch.get("request_counts")
                total = sum(v for v in counts.values() if isinstance(v, int)) \
                    if isinstance(counts, dict) else -1
                ident = batch.get("id")
                if created is None or not isinstance(ident, str) or ident in known or \
                        total != count:
                    continue
                if abs(created - tag.created) <= best_gap:
                    best, best_gap = ident, abs(created - tag.created)
            times = [t for b in batches if (t := epoch(b.get("created_at"))) is not None]
            if not batches or not page.get("has_more") or \
                    (times and min(times) < tag.created - CLOCK_SLACK_S):
                break
            after = str(page.get("last_id") or batches[-1].get("id") or "")
            if not after:
                break
        return best

    async def batch_ended(self, batch_id: str) -> bool:
        """Whether the batch's processing has ended.

        Raises:
            BatchGone: the provider does not know the batch.
            CallError: the answer is not a batch.
        """
        url = f"{self.base}/messages/batches/{batch_id}"
        batch = batch_object(await self._api("GET", url), url, self._fail)
        return bool(batch.get("processing_status") == "ended")

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        text = await self._api("GET", f"{self.base}/messages/batches/{batch_id}/results",
                               text=True)
        return read_results(text if isinstance(text, str) else "", model=self.name,
                            batch=f"batch {batch_id}", answer=self.batch_answer)

    def batch_answer(self, record: dict[str, Any]) -> Response | str:
        """One line of a batch's results: the message of a ``succeeded`` result, else
        its type and error.

        Raises:
            Malformed: a succeeded result whose message is not an answer.
        """
        result = record.get("result")
        result = result if isinstance(result, dict) else {}
        if result.get("type") == "succeeded":
            return self.read(result.get("message"))
        return f"{result.get('type') or 'no result'}: " + str(result.get("error", ""))[:300]

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
