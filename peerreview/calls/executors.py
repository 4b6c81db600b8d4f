"""Where a round of deferred calls runs, past this process (see :mod:`peerreview.calls.batches`):

- ``ray``: the calls become a Ray Dataset processed by ``map_batches``, each worker
  running peerreview's own async caller over its batch (Ray's built-in HTTP
  processor keeps about one request in flight per worker); answers stream back to
  the driver, which alone writes the run store. A model's ``concurrency`` holds for
  the cluster: it is split across the tasks that run at once. ``address`` joins a
  running cluster; without it a local Ray starts.
- ``vllm-batch``: the calls are written as OpenAI batch JSON Lines and handed to
  ``vllm run-batch`` (or the command given) as a subprocess, whose output lines are
  read back by ``custom_id``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field

from peerreview.errors import InputError
from peerreview.models import CallError, Response
from peerreview.models.config import ModelConfig, Strict

Calls = dict[str, dict[str, dict[str, Any]]]  # model -> call key -> prepared request


class ExecutorConfig(Strict):
    """Where calls run: in this process (``local``), on Ray workers, or through
    ``vllm run-batch`` (see :mod:`peerreview.calls.executors`)."""

    kind: Literal["local", "ray", "vllm-batch"] = "local"
    address: str | None = None  # ray: a running cluster to join (default: a local Ray)
    num_cpus: int | None = Field(None, ge=1)  # ray: CPUs of a local Ray
    command: list[str] = Field(default_factory=lambda: ["vllm", "run-batch"])  # vllm-batch
    models: list[str] | None = None  # the models it runs (default: every endpoint model)


def run_ray(calls: Calls, models: dict[str, ModelConfig],
            executor: ExecutorConfig) -> dict[str, dict[str, Response | str]]:
    """Run the calls on Ray; the answers by model and call key."""
    try:
        import ray
    except ImportError as exc:
        raise InputError("executor kind ray needs Ray: pip install 'peerreview[ray]'",
                         field="executor.kind") from exc
    if not ray.is_initialized():
        secrets = {v: os.environ[v] for m in models.values()
                   if (v := m.key_variable) and v in os.environ}
        ray.init(address=executor.address, num_cpus=executor.num_cpus,
                 include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": secrets} if secrets else None)
    import ray.data

    # The cluster holds each model's limit: at most `tasks` Ray tasks run at once (the
    # CPUs, no more than the smallest concurrency), each with concurrency // tasks of
    # every model (per replica), so no model has more than its concurrency in flight.
    smallest = min(models[n].concurrency for n in calls) if calls else 1
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    tasks = max(1, min(cpus, smallest))
    shares = {n: models[n].model_copy(update={"concurrency": models[n].concurrency // tasks})
              for n in calls}
    rows = [{"model": name, "key": key, "body": orjson.dumps(body).decode(),
             "config": shares[name].model_dump_json()}
            for name, by_key in sorted(calls.items()) for key, body in by_key.items()]
    dataset = ray.data.from_items(rows).map_batches(_ray_batch, batch_size=smallest,
                                                    batch_format="numpy", concurrency=tasks)
    out: dict[str, dict[str, Response | str]] = {}
    for row in dataset.iter_rows():  # the driver alone ingests, as answers stream in
        answer: Response | str = row["error"] if row["error"] else Response(
            row["text"], orjson.loads(row["top"]), row["prompt_tokens"],
            row["completion_tokens"], row["endpoint"])
        out.setdefault(row["model"], {})[row["key"]] = answer
    return out


def _ray_batch(columns: dict[str, Any]) -> dict[str, Any]:
    """A Ray worker's batch (as columns): every call at once through peerreview's async
    backends."""
    names = list(columns)
    rows = [dict(zip(names, values, strict=True))
            for values in zip(*(columns[n].tolist() for n in names), strict=True)]
    answers = asyncio.run(_ask_all(rows))
    return {name: [a[name] for a in answers] for name in answers[0]} if answers else {}


async def _ask_all(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from peerreview.models import make_backend

    backends = {}
    for row in rows:
        if row["model"] not in backends:
            config = ModelConfig.model_validate_json(row["config"])
            backends[row["model"]] = make_backend(row["model"], config)

    async def one(row: dict[str, Any]) -> dict[str, Any]:
        base = {"model": row["model"], "key": row["key"], "text": "", "top": "null",
                "prompt_tokens": 0, "completion_tokens": 0, "endpoint": None, "error": ""}
        try:
            answer = await backends[row["model"]].complete(orjson.loads(row["body"]))
        except CallError as exc:
            return {**base, "error": str(exc)}
        return {**base, "text": answer.text, "top": orjson.dumps(answer.top_logprobs).decode(),
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens, "endpoint": answer.endpoint}

    try:
        return list(await asyncio.gather(*(one(row) for row in rows)))
    finally:
        for backend in backends.values():
            await backend.aclose()


def run_vllm_batch(calls: Calls, models: dict[str, ModelConfig],
                   executor: ExecutorConfig) -> dict[str, dict[str, Response | str]]:
    """Hand the calls to ``vllm run-batch`` (one run a model) and read its output.

    Raises:
        CallError: the command failed or wrote no output.
    """
    from peerreview.models.openai import read_completion

    out: dict[str, dict[str, Response | str]] = {}
    for name, by_key in sorted(calls.items()):
        with tempfile.TemporaryDirectory() as tmp:
            given, got = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
            given.write_bytes(b"".join(orjson.dumps({
                "custom_id": key, "method": "POST", "url": "/v1/chat/completions",
                "body": {**body, "model": models[name].model}}) + b"\n"
                for key, body in by_key.items()))
            command = [*executor.command, "-i", str(given), "-o", str(got), "--model",
                       str(models[name].model)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not got.exists():
                raise CallError(f"model {name!r}: {' '.join(executor.command)} failed "
                                f"(exit {done.returncode}): {done.stderr[-300:]}", name)
            answers: dict[str, Response | str] = {}
            for line in got.read_bytes().splitlines():
                if not line.strip():
                    continue
                record = orjson.loads(line)
                response = record.get("response") or {}
                key = str(record.get("custom_id"))
                try:
                    answers[key] = read_completion(response.get("body")) \
                        if response.get("status_code") == 200 else \
                        f"vllm run-batch: {str(record.get('error') or response)[:300]}"
                except ValueError as exc:
                    answers[key] = f"vllm run-batch: bad answer: {exc}"
            out[name] = answers
    return out
