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
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from peerreview.testing.serve import AppThread

QUALITY = {"strong": 3, "medium": 2, "weak": 1}
FAULTS = ("429", "500", "stall", "drop", "garbage", "garbage-once", "echo-key",
          "empty-choices", "null-message", "list-body", "retry-after-long", "reasoning",
          "off-scale")


@dataclass
class StubState:
    """What the server was asked, and how it misbehaves."""

    latency_s: float = 0.0
    faults: dict[str, str] = field(default_factory=dict)  # model -> fault
    fault_attempts: int = 1  # how many attempts per request the fault hits
    max_context: int | None = None
    stall_s: float = 30.0
    calls: Counter[str] = field(default_factory=Counter)  # model -> requests received
    attempts: Counter[str] = field(default_factory=Counter)  # request hash -> attempts
    invert: bool = False  # reviewers prefer the worse answer (a second, different server)
    served: list[str] | None = None  # what GET /models lists; None: 404 there
    models_status: int | None = None  # GET /models answers this status instead
    # Batch APIs: polls before a batch ends; in a batch's first submission, its first
    # line errors and its second expires; results come in reverse order.
    batch_polls: int = 2
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    batch_lines: Counter[str] = field(default_factory=Counter)  # custom_id -> submissions
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every request body
    headers: list[dict[str, str]] = field(default_factory=list)  # and its headers


STATE = web.AppKey("state", StubState)


def _long_judge(prompt: str, first: str, second: str) -> str:
    """A reviewer named ``long...`` is length-biased (benchmarks/style.py): it prefers A
    with probability sigmoid(1.5 (c_A - c_B) + 4 (l_A - l_B) / (l_A + l_B)), c counting
    "correct" and l the characters, by a coin seeded with the prompt (a call asked again
    gets the same answer)."""
    first, second = first.strip(), second.strip()
    d = 1.5 * (first.count("correct") - second.count("correct")) + \
        4.0 * (len(first) - len(second)) / max(len(first) + len(second), 1)
    coin = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big") / 2.0 ** 64
    return "A" if coin < 1.0 / (1.0 + math.exp(-d)) else "B"


def _answer(model: str, prompt: str) -> str:
    if "Response A:" in prompt and '"winner"' in prompt:  # peereval's judge prompt
        a = prompt.split("Response A:", 1)[1].split("Response B:", 1)
        first, second = a[0].count("correct"), a[1].split("Which response", 1)[0].count("correct")
        winner = "A" if first > second else "B" if second > first else "tie"
        return f'{{"winner": "{winner}", "confidence": 0.9, "reason": "stub"}}'
    if "[Answer A]" in prompt:
        a = prompt.split("[Answer A]", 1)[1].split("[Answer B]", 1)
        if model.startswith("long"):
            return _long_judge(prompt, a[0], a[1].split("Which answer", 1)[0])
        first, second = a[0].count("correct"), a[1].split("Which answer", 1)[0].count("correct")
        return "A" if first > second else "B" if second > first else "tie"
    if "[Answer]" in prompt:
        n = prompt.split("[Answer]", 1)[1].count("correct")
        if "0 to 100" in prompt:
            return str(min(100, 25 * n + 10))
        return str(min(5, n + 1))
    return " ".join(["correct"] * QUALITY.get(model, 0) + [f"answer by {model}"])


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
    if fault == "429" and faulty:
        return web.json_response({"error": {"message": "rate limited"}}, status=429,
                                 headers={"Retry-After": "1"})
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
        await asyncio.sleep(state.stall_s)
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
    text = _answer(model, messages[0].get("content", "") if messages else "")
    if fault == "off-scale" and text.isdigit():  # "0" to a 1-5 prompt, as real judges do
        text = "Score: 0"
    if state.invert:
        text = {"A": "B", "B": "A"}.get(text, text)
    if fault == "garbage" or (fault == "garbage-once" and "could not be read" not in last):
        text = "Hmm, both have merit; hard to say."
    if body.get("response_format") and re.fullmatch(r"A|B|tie", text):
        text = f'{{"winner": "{text}"}}'
    words = len(prompt.split())
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
    text = _answer(model, prompt)
    return web.json_response({
        "id": "msg_stub", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": len(prompt.split()), "output_tokens": len(text.split())}})


def _chat_body(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = str(messages[0].get("content", "")) if messages else ""
    text = _answer(model, prompt)
    return {"id": "stub", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()),
                      "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())}}


def _fate(state: StubState, custom_id: str, position: int) -> str:
    """succeeded, errored or expired: a line's first submission may fail."""
    state.batch_lines[custom_id] += 1
    if state.batch_lines[custom_id] > 1:
        return "succeeded"
    return {0: "errored", 1: "expired"}.get(position, "succeeded")


async def _upload(request: web.Request) -> web.StreamResponse:
    """OpenAI's POST /v1/files (multipart: purpose, file)."""
    state = request.app[STATE]
    form = await request.post()
    upload = form.get("file")
    if form.get("purpose") != "batch" or not hasattr(upload, "file"):
        return web.json_response({"error": {"message": "purpose batch and a file"}}, status=400)
    data = upload.file.read()  # type: ignore[union-attr]
    file_id = f"file-{len(state.files) + 1}"
    state.files[file_id] = data
    return web.json_response({"id": file_id, "object": "file", "bytes": len(data),
                              "created_at": 0, "filename": "batch.jsonl", "purpose": "batch"})


async def _create_batch(request: web.Request) -> web.StreamResponse:
    """OpenAI's POST /v1/batches: runs the file's lines, to be read after some polls."""
    state = request.app[STATE]
    spec = await request.json()
    lines = [json.loads(x) for x in state.files[spec["input_file_id"]].splitlines() if x]
    out, errors = [], []
    for k, line in enumerate(lines):
        fate = _fate(state, line["custom_id"], k)
        base = {"id": f"batch_req_{k}", "custom_id": line["custom_id"]}
        if fate == "succeeded":
            out.append({**base, "response": {"status_code": 200, "request_id": f"r{k}",
                                             "body": _chat_body(line["body"]["model"],
                                                                line["body"]["messages"])},
                        "error": None})
        elif fate == "errored":
            out.append({**base, "response": {"status_code": 500, "request_id": f"r{k}",
                                             "body": {"error": {"message": "server error"}}},
                        "error": None})
        else:
            errors.append({**base, "response": None, "error": {
                "code": "batch_expired", "message": "This request could not be executed "
                "before the completion window expired."}})
    batch_id = f"batch_{len(state.batches) + 1}"
    state.files[f"{batch_id}-out"] = "".join(json.dumps(x) + "\n" for x in out[::-1]).encode()
    state.files[f"{batch_id}-err"] = "".join(json.dumps(x) + "\n" for x in errors).encode()
    state.batches[batch_id] = {"polls": 0, "kind": "openai", "lines": len(lines)}
    return web.json_response(_openai_batch(batch_id, state))


def _openai_batch(batch_id: str, state: StubState) -> dict[str, Any]:
    done = state.batches[batch_id]["polls"] >= state.batch_polls
    return {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions",
            "status": "completed" if done else "in_progress", "completion_window": "24h",
            "output_file_id": f"{batch_id}-out" if done else None,
            "error_file_id": f"{batch_id}-err" if done else None,
            "request_counts": {"total": state.batches[batch_id]["lines"]}}


async def _get_batch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    batch_id = request.match_info["id"]
    if batch_id not in state.batches:
        return web.json_response({"error": {"message": "no such batch"}}, status=404)
    state.batches[batch_id]["polls"] += 1
    if state.batches[batch_id]["kind"] == "anthropic":
        return web.json_response(_anthropic_batch(batch_id, state, str(request.url.origin())))
    return web.json_response(_openai_batch(batch_id, state))


async def _file_content(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].files.get(request.match_info["id"])
    if data is None:
        return web.json_response({"error": {"message": "no such file"}}, status=404)
    return web.Response(body=data, content_type="application/jsonl")


async def _create_message_batch(request: web.Request) -> web.StreamResponse:
    """Anthropic's POST /v1/messages/batches."""
    state = request.app[STATE]
    if not request.headers.get("x-api-key"):
        return web.json_response({"type": "error", "error": {
            "type": "authentication_error", "message": "invalid x-api-key"}}, status=401)
    spec = await request.json()
    results = []
    for k, line in enumerate(spec["requests"]):
        fate = _fate(state, line["custom_id"], k)
        if fate == "succeeded":
            params = line["params"]
            text = _answer(params["model"], str(params["messages"][0]["content"]))
            result: dict[str, Any] = {"type": "succeeded", "message": {
                "id": f"msg_{k}", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": text}], "model": params["model"],
                "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 1}}}
        elif fate == "errored":
            result = {"type": "errored", "error": {"type": "error", "error": {
                "type": "api_error", "message": "Internal server error"}}}
        else:
            result = {"type": "expired"}
        results.append({"custom_id": line["custom_id"], "result": result})
    batch_id = f"msgbatch_{len(state.batches) + 1}"
    state.files[f"{batch_id}-results"] = "".join(json.dumps(x) + "\n"
                                                for x in results[::-1]).encode()
    state.batches[batch_id] = {"polls": 0, "kind": "anthropic", "lines": len(results)}
    return web.json_response(_anthropic_batch(batch_id, state, str(request.url.origin())))


def _anthropic_batch(batch_id: str, state: StubState, origin: str) -> dict[str, Any]:
    done = state.batches[batch_id]["polls"] >= state.batch_polls
    return {"id": batch_id, "type": "message_batch",
            "processing_status": "ended" if done else "in_progress",
            "request_counts": {"processing": 0 if done else state.batches[batch_id]["lines"]},
            "results_url": f"{origin}/v1/messages/batches/{batch_id}/results" if done
            else None}


async def _message_batch_results(request: web.Request) -> web.StreamResponse:
    data = request.app[STATE].files.get(f"{request.match_info['id']}-results")
    if data is None:
        return web.json_response({"type": "error", "error": {"type": "not_found_error"}},
                                 status=404)
    return web.Response(body=data, content_type="application/jsonl")


def make_app(state: StubState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", _complete)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/files", _upload)
    app.router.add_get("/v1/files/{id}/content", _file_content)
    app.router.add_post("/v1/batches", _create_batch)
    app.router.add_get("/v1/batches/{id}", _get_batch)
    app.router.add_post("/v1/messages/batches", _create_message_batch)
    app.router.add_get("/v1/messages/batches/{id}", _get_batch)
    app.router.add_get("/v1/messages/batches/{id}/results", _message_batch_results)
    return app


class StubServer(AppThread):
    """The stub in a background thread of this process, on 127.0.0.1."""

    def __init__(self, state: StubState | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.state = state or StubState()

    def make_app(self) -> web.Application:
        return make_app(self.state)

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
