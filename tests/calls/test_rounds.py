"""The two rounds of deferred calls are two functions: the executor round
(``run_executor_round``) runs the calls of executor models and nothing else, the batch
round (``collect_batches``) sends the calls of batch models to their provider's batch
API and nothing else. Real caller and store; a batch API and a ``vllm run-batch``
that answer from this file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from peerreview.calls.batches import collect_batches
from peerreview.calls.caller import Caller
from peerreview.calls.executors import ExecutorConfig, run_executor_round
from peerreview.calls.store import RunStore
from peerreview.errors import Deferred
from peerreview.models import Backend, Response, make_backend
from peerreview.models.batchapi import BatchTag
from peerreview.models.config import ModelConfig
from peerreview.models.openai import OpenAIBackend

URL = "http://127.0.0.1:9/v1"  # never reached: the batch API and the executor are faked

# A stand-in for `vllm run-batch -i IN -o OUT --model M`: answers each request with
# "ran <its question>", leaves out the one asking "skip me", and writes a line that is
# not JSON first (vllm's reader crashed on it before it shared the providers').
FAKE_RUN_BATCH = '''
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
lines = ["not json"]
for line in open(args["-i"], encoding="utf-8"):
    request = json.loads(line)
    asked = request["body"]["messages"][0]["content"]
    if asked == "skip me":
        continue
    body = {"choices": [{"message": {"content": "ran " + asked}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 3}}
    lines.append(json.dumps({"custom_id": request["custom_id"],
                             "response": {"status_code": 200, "body": body}}))
open(args["-o"], "w", encoding="utf-8").write("\\n".join(lines) + "\\n")
'''


class FakeBatchAPI(OpenAIBackend):
    """An OpenAI backend whose batch API answers at once: "batched <question>"."""

    submitted: list[list[tuple[str, dict[str, Any]]]]

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]], *,
                           tag: BatchTag | None = None) -> str:
        self.submitted = [*getattr(self, "submitted", []), calls]
        return f"batch-{len(self.submitted)}"

    async def find_batch(self, tag: BatchTag, count: int, known: set[str]) -> str | None:
        return None

    async def batch_ended(self, batch_id: str) -> bool:
        return True

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        calls = self.submitted[int(batch_id.split("-")[1]) - 1]
        return {key: Response("batched " + body["messages"][0]["content"], None, 1, 1)
                for key, body in calls}


def ask(question: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], "max_tokens": 8}


def answer_of(store: RunStore, key: str) -> str | None:
    store.flush()
    record = store.get(key)
    return None if record is None or record.response is None else \
        orjson.loads(record.response)["text"]


async def deferred_run(store: RunStore) -> tuple[Caller, dict[str, str]]:
    """A caller with two calls deferred for the batch model ``b`` and two for the
    executor model ``e``; the keys by question."""
    models = {"b": ModelConfig(provider="openai", model="mb", base_url=URL, batch=True,
                               batch_poll_s=0.01),
              "e": ModelConfig(provider="openai", model="me", base_url=URL)}
    backends: dict[str, Backend] = {"b": FakeBatchAPI("b", models["b"]),
                                    "e": make_backend("e", models["e"])}
    caller = Caller(store, models, backends,
                    routed={"b", "e"})  # as RunConfig.routed() says for an executor run
    keys = {}
    for name, question in (("b", "b1"), ("b", "b2"), ("e", "e1"), ("e", "skip me")):
        with pytest.raises(Deferred):
            await caller.call(name, ask(question))
        keys[question] = caller.key(name, ask(question))
    return caller, keys


def test_the_batch_round_sends_batch_models_only(tmp_path: Path) -> None:
    async def run() -> None:
        with RunStore(tmp_path / "run.sqlite") as store:
            caller, keys = await deferred_run(store)
            await collect_batches(caller, caller.backends, store, wait=True, out="out")
            batch_api = caller.backends["b"]
            assert isinstance(batch_api, FakeBatchAPI)
            assert [sorted(k for k, _ in calls) for calls in batch_api.submitted] == \
                [sorted([keys["b1"], keys["b2"]])]
            assert [answer_of(store, keys[q]) for q in ("b1", "b2", "e1", "skip me")] == \
                ["batched b1", "batched b2", None, None]
            assert store.sent(keys["e1"]) == 0  # the executor's calls were not touched

    asyncio.run(run())


def test_the_executor_round_runs_executor_models_only(tmp_path: Path) -> None:
    script = tmp_path / "fake_run_batch.py"
    script.write_text(FAKE_RUN_BATCH)
    executor = ExecutorConfig(kind="vllm-batch", command=[sys.executable, str(script)])

    async def run() -> None:
        with RunStore(tmp_path / "run.sqlite") as store:
            caller, keys = await deferred_run(store)
            await run_executor_round(caller, store, executor)
            assert [answer_of(store, keys[q]) for q in ("b1", "b2", "e1", "skip me")] == \
                [None, None, "ran e1", None]
            # One attempt counted before the run (the store keeps counts of calls
            # without an answer only); the call left out is a failed attempt.
            assert [store.sent(keys[q]) for q in ("b1", "skip me")] == [0, 1]
            assert caller.batch_errors[keys["skip me"]] == \
                ["no answer from executor vllm-batch"]
            assert keys["b1"] not in caller.batch_errors

    asyncio.run(run())


def test_the_executor_round_does_nothing_for_calls_run_here(tmp_path: Path) -> None:
    async def run() -> None:
        with RunStore(tmp_path / "run.sqlite") as store:
            caller, keys = await deferred_run(store)
            await run_executor_round(caller, store, ExecutorConfig())
            assert [store.sent(k) for k in keys.values()] == [0, 0, 0, 0]
            assert caller.batch_errors == {}

    asyncio.run(run())
