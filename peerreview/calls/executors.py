"""Where a round of deferred calls runs, past this process (:func:`run_executor_round`;
the provider batch round is :func:`peerreview.calls.batches.collect_batches`):

- ``ray``: the calls become a Ray Dataset processed by ``map_batches``, each worker
  running peerreview's own async caller over its batch (Ray's built-in HTTP
  processor keeps about one request in flight per worker); answers stream back to
  the driver, which alone writes the run store. A model's ``concurrency`` holds for
  the cluster: it is split across the tasks that run at once. ``address`` joins a
  running cluster; without it a local Ray starts.
- ``vllm-batch``: the calls are written as OpenAI batch JSON Lines and handed to
  ``vllm run-batch`` (or the command given) as a subprocess, whose output lines are
  read back by ``custom_id`` as a provider batch's are
  (:func:`peerreview.models.batchapi.read_results`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import Field

from peerreview.errors import InputError
from peerreview.models import CallError, Response
from peerreview.models.config import ModelConfig, Strict

if TYPE_CHECKING:  # the run config reads ExecutorConfig without the store's sqlite3
    from peerreview.calls.caller import Caller
    from peerreview.calls.store import RunStore

Calls = dict[str, dict[str, dict[str, Any]]]  # model -> call key -> prepared request


class ExecutorConfig(Strict):
    """Where calls run: in this process (``local``), on Ray workers, or through
    ``vllm run-batch`` (see :mod:`peerreview.calls.executors`)."""

    kind: Literal["local", "ray", "vllm-batch"] = "local"
    address: str | None = None  # ray: a running cluster to join (default: a local Ray)
    num_cpus: int | None = Field(None, ge=1)  # ray: CPUs of a local Ray
    command: list[str] = Field(default_factory=lambda: ["vllm", "run-batch"])  # vllm-batch
    models: list[str] | None = None  # the models it runs (default: every endpoint model)


async def run_executor_round(caller: Caller, store: RunStore,
                             executor: ExecutorConfig) -> None:
    """Run the deferred calls of executor models (those not sent to a provider batch)
    on the executor and put their answers in the store: one attempt of each counted
    before they run, and a call the executor did not answer a failed attempt. Nothing
    to do when calls run in this process (``kind: local``).

    Raises:
        CallError: the executor failed as a whole (its command failed).
        InputError: the executor's extra is not installed.
    """
    if executor.kind == "local":
        return
    ran = {n: c for n, c in caller.deferred.items() if c and not caller.models[n].batch}
    if not ran:
        return
    store.count_attempts([k for calls in ran.values() for k in calls])
    run = run_ray if executor.kind == "ray" else run_vllm_batch
    answers = await asyncio.to_thread(run, ran, caller.models, executor)
    for name, calls in ran.items():
        got = answers.get(name, {})
        for key in calls:
            caller.ingest(name, key, got.get(key, f"no answer from executor {executor.kind}"))


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
    """Hand the calls to ``vllm run-batch`` (one run a model) and read its output as an
    OpenAI batch's: a line that is not a result is said and skipped (its call is a
    failed attempt), an unreadable answer is a named failure.

    Raises:
        CallError: the command failed or wrote no output.
    """
    from peerreview.models.batchapi import read_results
    from peerreview.models.openai import batch_answer

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
            # Undecodable bytes are mended, not fatal: the line's answer is then
            # text a model wrote, or the line is not a result.
            out[name] = read_results(got.read_text("utf-8", errors="replace"), model=name,
                                     batch="vllm run-batch", answer=batch_answer)
    return out
