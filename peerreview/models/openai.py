"""Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, SGLang, Ollama,
llama.cpp's server, LiteLLM, Gemini's, Mistral's, Together's and Groq's OpenAI
endpoints. How requests and answers are spelled; the rest is
:class:`~peerreview.models.endpoint.EndpointBackend`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import aiohttp
import orjson

from peerreview.models.base import CallError, Response
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
from peerreview.models.config import ModelConfig
from peerreview.models.endpoint import EndpointBackend, Malformed, count
from peerreview.models.http import mend, words
from peerreview.redact import redact

log = logging.getLogger("peerreview")

# Parameters a reasoning model rejects, and what it takes instead.
_REASONING_RENAMES = {"max_tokens": "max_completion_tokens"}
_REASONING_DROPS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def read_completion(payload: Any) -> Response:
    """The answer of a chat-completions body.

    Raises:
        Malformed: the body lacks the choice, the message or its content.
    """
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Malformed("no choices in the answer")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise Malformed("the choice has no message")
    text = message.get("content")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise Malformed(f"the message content is {type(text).__name__}, not text")
    text = mend(text)  # no half surrogate pair leaves models/
    top = None
    logprobs = choices[0].get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        try:
            top = {mend(str(t["token"])): float(t["logprob"])
                   for t in content[0].get("top_logprobs") or []}
        except (KeyError, TypeError, ValueError) as exc:
            raise Malformed(f"unreadable logprobs: {exc}") from exc
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Response(text, top, count(usage.get("prompt_tokens")),
                    count(usage.get("completion_tokens")))


CHAT_PATH = "/chat/completions"


def batch_lines(calls: Iterable[tuple[str, dict[str, Any]]], model: str | None) -> bytes:
    """An OpenAI batch's input file (and ``vllm run-batch``'s, the same format): a chat
    completion request a line, the call's key its ``custom_id``, ``model`` (the name the
    endpoint knows) in its body."""
    return b"".join(orjson.dumps({"custom_id": key, "method": "POST", "url": "/v1" + CHAT_PATH,
                                  "body": {**body, "model": model}}) + b"\n"
                    for key, body in calls)


def batch_answer(record: dict[str, Any]) -> Response | str:
    """One line of an OpenAI batch's output (and of ``vllm run-batch``'s, the same
    format): the answer of a 200, else the error (or the response's body).

    Raises:
        Malformed: a 200 whose body is not an answer.
    """
    answer = record.get("response")
    if isinstance(answer, dict) and answer.get("status_code") == 200:
        return read_completion(answer.get("body"))
    error = record.get("error") or (answer.get("body") if isinstance(answer, dict) else None)
    return str(error)[:300]


def _rejects_parameter(status: int, text: str) -> bool:
    """Whether a 400 says the model takes max_completion_tokens or no temperature."""
    return status == 400 and ("max_completion_tokens" in text or (
        "temperature" in text and "support" in text))


def _rejects_format(status: int, text: str) -> bool:
    """Whether an error refuses the asked response_format: a 400 or 422 naming it, or
    llama-cpp-python's server, which takes ``json_object`` with a schema but answers
    ``json_schema`` with a 500 whose validation error names ``response_format``."""
    return status in (400, 422, 500) and any(
        word in text for word in ("response_format", "json_schema", "json_object"))


# What structured_output falls back to, once per endpoint, when it is refused: the
# schema as json_object's, then plain text (read by the tolerant reader).
SCHEMA, OBJECT, TEXT = 0, 1, 2


def _with_format(body: dict[str, Any], level: int) -> dict[str, Any]:
    """``body`` with its JSON-schema response_format taken down to ``level``."""
    spec = body.get("response_format")
    kind = spec.get("type") if isinstance(spec, dict) else None
    if level == SCHEMA or kind not in ("json_schema", "json_object"):
        return body
    if level == TEXT:
        return {k: v for k, v in body.items() if k != "response_format"}
    if kind == "json_object":
        return body
    schema = spec.get("json_schema") if isinstance(spec, dict) else None
    schema = schema.get("schema") if isinstance(schema, dict) else None
    return {**body, "response_format": {"type": "json_object",
                                        **({"schema": schema} if schema else {})}}


class OpenAIBackend(EndpointBackend):
    """Chat completions (``/chat/completions``), with ``Authorization: Bearer``."""

    path = CHAT_PATH
    batch_limits = (50_000, 200_000_000)  # one batch file: requests, bytes (200 MB)

    def __init__(self, name: str, config: ModelConfig) -> None:
        super().__init__(name, config)
        self._reasoning = config.reasoning
        self._format = SCHEMA  # what this endpoint takes of a structured response_format
        self._batch_files: dict[str, list[str]] = {}  # batch -> its output and error files

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request's fields, then the user's ``params``, which win over all."""
        body: dict[str, Any] = {"messages": request["messages"]}
        for key in ("max_tokens", "temperature", "seed", "stop", "response_format"):
            if request.get(key) is not None:
                body[key] = request[key]
        if request.get("top_logprobs"):
            body["logprobs"] = True
            body["top_logprobs"] = request["top_logprobs"]
        if self.config.reasoning:
            body = _for_reasoning(body)
        body.update(self.config.params)
        return body

    def read(self, payload: Any) -> Response:
        return read_completion(payload)

    def adapted(self, body: dict[str, Any]) -> dict[str, Any]:
        """As the endpoint takes it: a reasoning model's parameters, and the structured
        answer it accepts (the call key stays that of the prepared body)."""
        return _with_format(_for_reasoning(body) if self._reasoning else body, self._format)

    def adapt(self, body: dict[str, Any], status: int, text: str) -> bool:
        """The endpoint refused the response_format: fall back a step (json_object with
        the schema, then plain text), said once per step. A reasoning model refused
        max_tokens or temperature: send what it takes."""
        spec = body.get("response_format")
        if isinstance(spec, dict) and _rejects_format(status, text):
            step = OBJECT if spec.get("type") == "json_schema" else TEXT
            if step > self._format:  # calls in flight may learn it together: said once
                self._format = step
                then = "json_object with the schema" if step == OBJECT else \
                    "plain text (answers read as text)"
                log.warning(f"model {self.name!r}: the endpoint refused response_format "
                            f"{spec.get('type')} (HTTP {status}: {words(text)}); asking "
                            f"for {then} from now on")
            return True
        if not _rejects_parameter(status, text) or _for_reasoning(body) == body:
            return False
        if not self._reasoning:
            self._reasoning = True
            log.warning(f"model {self.name!r} rejected a parameter; sending "
                        "max_completion_tokens and no temperature from now on (set "
                        "reasoning: true)")
        return True


    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]], *,
                           tag: BatchTag | None = None) -> str:
        """Upload the batch's JSON Lines (``/files``), then create it (``/batches``) with
        the run's tag in its ``metadata``.

        Raises:
            NotCreated: the upload failed, or the create request was refused (4xx).
            CallError: the create request failed otherwise (the batch may exist).
        """
        lines = batch_lines(((key, self.adapted(body)) for key, body in calls),
                            self.config.model)
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", lines, filename="peerreview-batch.jsonl",
                       content_type="application/jsonl")
        url = self.base + "/files"
        try:
            file_id = text_field(await self._api("POST", url, data=form), "id", url,
                                 self._fail)
        except CallError as exc:
            raise NotCreated(str(exc), self.name) from exc
        url = self.base + "/batches"
        spec: dict[str, Any] = {"input_file_id": file_id, "endpoint": "/v1" + self.path,
                                "completion_window": "24h"}
        if tag is not None:
            spec["metadata"] = tag.metadata()
        try:
            batch = await self._api("POST", url, json=spec)
        except BatchHTTPError as exc:
            if 400 <= exc.status < 500 and exc.status not in (408, 409, 429):
                raise NotCreated(str(exc), self.name) from exc
            raise
        return text_field(batch, "id", url, self._fail)

    async def find_batch(self, tag: BatchTag, count: int, known: set[str]) -> str | None:
        """The batch created with ``tag`` in its metadata, if the provider lists one
        (``GET /batches``, newest first, paged with ``after``)."""
        after = ""
        for _ in range(MAX_LIST_PAGES):
            url = f"{self.base}/batches?limit=100" + (f"&after={after}" if after else "")
            page = await self._api("GET", url)
            batches = listed(page, url, self._fail)
            for batch in batches:
                metadata = batch.get("metadata")
                if isinstance(metadata, dict) and metadata == {**metadata, **tag.metadata()} \
                        and isinstance(batch.get("id"), str):
                    return str(batch["id"])
            created = [t for b in batches if (t := epoch(b.get("created_at"))) is not None]
            if not batches or not page.get("has_more") or \
                    (created and min(created) < tag.created - CLOCK_SLACK_S):
                return None
            after = str(batches[-1].get("id") or "")
            if not after:
                return None
        return None

    async def batch_ended(self, batch_id: str) -> bool:
        """Whether the batch has ended; a batch that failed or expired has ended too
        (with whatever files it has, maybe none).

        Raises:
            BatchGone: the provider does not know the batch.
            CallError: the answer is not a batch.
        """
        url = f"{self.base}/batches/{batch_id}"
        batch = batch_object(await self._api("GET", url), url, self._fail)
        status = batch.get("status")
        if status not in ("completed", "failed", "expired", "cancelled"):
            return False
        self._batch_files[batch_id] = [f for f in (batch.get("output_file_id"),
                                                   batch.get("error_file_id"))
                                       if isinstance(f, str) and f]
        if status != "completed":
            log.warning(f"model {self.name!r}: batch {batch_id} ended {status}: "
                        f"{redact(str(batch.get('errors')), self._secrets)[:300]}")
        return True

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        if batch_id not in self._batch_files:
            await self.batch_ended(batch_id)
        results: dict[str, Response | str] = {}
        for file_id in self._batch_files.get(batch_id, []):
            text = await self._api("GET", f"{self.base}/files/{file_id}/content", text=True)
            if isinstance(text, str):
                results.update(read_results(text, model=self.name, batch=f"batch {batch_id}",
                                            answer=batch_answer))
        return results


def _for_reasoning(body: dict[str, Any]) -> dict[str, Any]:
    """A body as reasoning models take it."""
    return {_REASONING_RENAMES.get(k, k): v for k, v in body.items()
            if k not in _REASONING_DROPS}
