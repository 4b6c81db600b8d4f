"""A small OpenAI-compatible chat-completions server for tests, benchmarks and
trying a config without paying: ``python -m peerreview.testing.stub --port 8000``.

Its models answer by simple rules so that a run has a known right ranking:
an evaluatee named ``strong``/``medium``/``weak`` (or anything else) writes an
answer with 3/2/1/0 times the word "correct"; a reviewer prefers (or rates higher)
the answer that says "correct" more often. Faults can be injected per model: a
first attempt answered 429 with Retry-After, 500, a stall past the client's
timeout, a dropped connection, or unreadable text; prompts longer than
``max_context`` tokens (4 characters a token) get a 400 like OpenAI's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
from typing import Any

from aiohttp import web

from peerreview.testing.batches import add_batch_routes
from peerreview.testing.rules import FAULTS, QUALITY, STATE, STOPPING, StubState, answer
from peerreview.testing.serve import AppThread

__all__ = ["FAULTS", "QUALITY", "STATE", "StubServer", "StubState", "main", "make_app"]

async def _held(request: web.Request, state: StubState) -> None:
    """While :attr:`StubState.hold_after` completions are answered, wait: until it is
    raised or cleared, or the server stops."""
    stopping = request.app.get(STOPPING)
    for _ in range(60 * 100):  # a minute at most
        if state.hold_after is None or state.answered < state.hold_after or (
                stopping is not None and stopping.is_set()):
            return
        await asyncio.sleep(0.01)


async def _complete(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    raw = await request.read()
    body: dict[str, Any] = json.loads(raw)
    model = str(body.get("model"))
    state.calls[model] += 1
    state.bodies.append(body)
    state.headers.append(dict(request.headers))
    fault = state.faults.get(model)
    faulty = False
    if fault:  # count attempts per distinct request only where a fault needs it
        digest = hashlib.sha256(raw).hexdigest()
        state.attempts[digest] += 1
        faulty = state.attempts[digest] <= state.fault_attempts
    if state.latency_s:
        await asyncio.sleep(state.latency_s)
    await _held(request, state)
    if fault == "429" and faulty:
        return web.json_response({"error": {"message": "rate limited"}}, status=429,
                                 headers={"Retry-After": state.retry_after})
    if fault == "500" and faulty:
        return web.json_response({"error": {"message": "server error"}}, status=500)
    if fault == "echo-key" and faulty:  # a misconfigured proxy that echoes the headers
        return web.json_response({"error": {"message": "unauthorized", "headers": dict(
            request.headers)}}, status=401)
    if fault == "retry-after-long" and faulty:
        return web.json_response({"error": {"message": "slow down"}}, status=429,
                                 headers={"Retry-After": "86400"})
    if fault == "reasoning" and ("max_tokens" in body or "temperature" in body):
        bad = "max_tokens" if "max_tokens" in body else "temperature"
        return web.json_response({"error": {"message": f"Unsupported parameter: '{bad}' is "
                                             "not supported with this model. Use "
                                             "'max_completion_tokens' instead.",
                                             "type": "invalid_request_error"}}, status=400)
    malformed = {"empty-choices": {"choices": []},
                 "null-message": {"choices": [{"index": 0, "message": None}]},
                 "list-body": [{"choices": "none"}]}
    if fault in malformed and faulty:
        return web.json_response(malformed[fault])
    if fault == "stall" and faulty:
        stopping = request.app.get(STOPPING)
        if stopping is None:
            await asyncio.sleep(state.stall_s)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), state.stall_s)
    if fault == "drop" and faulty:
        assert request.transport is not None
        request.transport.close()
        return web.Response()
    messages = body.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    if state.max_context is not None and len(prompt) / 4 + int(body.get("max_tokens") or 0) \
            > state.max_context:
        return web.json_response({"error": {"code": "context_length_exceeded", "message":
                                            "This model's maximum context length is "
                                            f"{state.max_context} tokens."}}, status=400)
    last = str(messages[-1].get("content", "")) if messages else ""
    text = answer(model, messages[0].get("content", "") if messages else "")
    if fault == "off-scale" and text.isdigit():  # "0" to a 1-5 prompt, as real judges do
        text = "Score: 0"
    if state.invert:
        text = {"A": "B", "B": "A"}.get(text, text)
    if fault == "garbage" or (fault == "garbage-once" and "could not be read" not in last):
        text = "Hmm, both have merit; hard to say."
    if body.get("response_format") and re.fullmatch(r"A|B|tie", text):
        text = f'{{"winner": "{text}"}}'
    words = len(prompt.split())
    state.answered += 1
    return web.json_response({
        "id": "stub", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": words, "completion_tokens": len(text.split()),
                  "total_tokens": words + len(text.split())}})


async def _models(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.models_status is not None:
        return web.json_response({"error": {"message": "no"}}, status=state.models_status)
    served = state.served
    if served is None:
        return web.json_response({"error": {"message": "not found"}}, status=404)
    return web.json_response({"object": "list", "data": [
        {"id": m, "object": "model", "owned_by": "stub"} for m in served]})


async def _messages(request: web.Request) -> web.StreamResponse:
    """Anthropic's Messages API, as its documentation spells it."""
    state = request.app[STATE]
    body: dict[str, Any] = json.loads(await request.read())
    model = str(body.get("model"))
    state.calls[model] += 1
    state.bodies.append(body)
    state.headers.append(dict(request.headers))
    if not request.headers.get("x-api-key") or not request.headers.get("anthropic-version"):
        return web.json_response({"type": "error", "error": {
            "type": "authentication_error", "message": "invalid x-api-key"}}, status=401)
    if "max_tokens" not in body or not isinstance(body.get("messages"), list):
        return web.json_response({"type": "error", "error": {
            "type": "invalid_request_error", "message": "max_tokens: Field required"}},
            status=400)
    fault = state.faults.get(model)
    if fault in ("429", "529"):
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        state.attempts[digest] += 1
        if state.attempts[digest] <= state.fault_attempts:
            kind = "rate_limit_error" if fault == "429" else "overloaded_error"
            return web.json_response({"type": "error", "error": {"type": kind,
                                                                 "message": kind}},
                                     status=int(fault), headers={"retry-after": "0"})
    first = body["messages"][0]
    content = first.get("content")
    prompt = content if isinstance(content, str) else "".join(
        block.get("text", "") for block in content if isinstance(block, dict))
    text = answer(model, prompt)
    return web.json_response({
        "id": "msg_stub", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": len(prompt.split()), "output_tokens": len(text.split())}})


def make_app(state: StubState) -> web.Application:
    """The stub's app: chat completions, Messages, the model list and the batch APIs."""
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", _complete)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_get("/v1/models", _models)
    add_batch_routes(app)
    return app


class StubServer(AppThread):
    """The stub in a background thread of this process, on 127.0.0.1."""

    def __init__(self, state: StubState | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.state = state or StubState()

    def on_loop(self) -> None:
        self._stopping = asyncio.Event()

    def make_app(self) -> web.Application:
        app = make_app(self.state)
        app[STOPPING] = self._stopping
        return app

    def before_stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)  # stalled requests end

    def __enter__(self) -> StubServer:
        return super().__enter__()  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args()
    web.run_app(make_app(StubState(latency_s=args.latency)), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
