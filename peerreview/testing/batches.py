"""The stub's batch APIs, from their documented shapes: OpenAI's /v1/files and
/v1/batches, Anthropic's /v1/messages/batches. A batch ends after
:attr:`StubState.batch_polls` polls; in a batch's first submission its first line errors
and its second expires; results come in reverse order."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from peerreview.testing.rules import STATE, StubState, answer, chat_body


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
                                             "body": chat_body(line["body"]["model"],
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
            text = answer(params["model"], str(params["messages"][0]["content"]))
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


def add_batch_routes(app: web.Application) -> None:
    """Serve the batch APIs on ``app`` (which holds the :data:`STATE`)."""
    app.router.add_post("/v1/files", _upload)
    app.router.add_get("/v1/files/{id}/content", _file_content)
    app.router.add_post("/v1/batches", _create_batch)
    app.router.add_get("/v1/batches/{id}", _get_batch)
    app.router.add_post("/v1/messages/batches", _create_message_batch)
    app.router.add_get("/v1/messages/batches/{id}", _get_batch)
    app.router.add_get("/v1/messages/batches/{id}/results", _message_batch_results)
