"""Where a round of deferred calls runs, past this process (:func:`run_executor_round`;
the provider batch round is :func:`peerreview.calls.batches.collect_batches`):

- ``ray``: the calls become small Ray tasks (one model's share of its concurrency
  each), each worker running peerreview's own async caller over its task; the driver
  keeps at most ``T`` tasks running (the cluster's CPUs, no more than the smallest
  concurrency), counts a task's attempts in the run store just before submitting it,
  and writes its answers to the store as it ends. So a killed driver repeats only the
  tasks in flight, and a lost node only its tasks (Ray does not retry a task: its
  calls are failed attempts, asked again in the next round only while attempts are
  left, and an answered call is never in a task). A model's ``concurrency`` and
  ``requests_per_minute`` hold for the cluster: each of the ``T`` tasks has
  ``1/T`` of them. API keys are never in ``runtime_env`` (whose agent logs them):
  workers read them by name from their own environment (a local Ray's inherit the
  driver's; set them on every node of a cluster); headers travel in the task's
  arguments, in memory. ``address`` joins a running cluster (checked reachable within
  seconds); without it a local Ray starts.
- ``vllm-batch``: the calls are written as OpenAI batch JSON Lines and handed to
  ``vllm run-batch`` (or the command given) as a subprocess, whose output lines are
  read back by ``custom_id`` as a provider batch's are (:mod:`peerreview.models.runbatch`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from peerreview import eventloop
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

    @model_validator(mode="after")
    def _ray_options(self) -> ExecutorConfig:
        # Checked at config load (exit 2 with the YAML line), not at the first round.
        if self.kind != "ray" and (self.address is not None or self.num_cpus is not None):
            raise ValueError(f"address and num_cpus are options of kind ray, not "
                             f"{self.kind!r}")
        if self.address is not None and self.num_cpus is not None:
            raise ValueError("num_cpus sizes a local Ray; a cluster joined by address "
                             "has the CPUs it has: give one or the other")
        if self.address is not None and self.address != "auto" and \
                _host_port(self.address) is None:
            raise ValueError(f"address {self.address!r}: expected HOST:PORT, "
                             "ray://HOST:PORT or auto")
        return self


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
    if executor.kind == "ray":
        await _ray_round(caller, store, executor, ran)
        return
    store.count_attempts([k for calls in ran.values() for k in calls])
    answers = await asyncio.to_thread(run_vllm_batch, ran, caller.models, executor)
    for name, calls in ran.items():
        got = answers.get(name, {})
        for key in calls:
            caller.ingest(name, key, got.get(key, f"no answer from executor {executor.kind}"))


async def _ray_round(caller: Caller, store: RunStore, executor: ExecutorConfig,
                     ran: Calls) -> None:
    """Ray's round: the driver thread waits on Ray; each task's attempts are counted,
    and its answers ingested, on the event loop's thread (which owns the store)."""
    loop = asyncio.get_running_loop()
    ingested: set[str] = set()

    def on_loop(work: Callable[[], None]) -> None:
        async def go() -> None:
            work()
        asyncio.run_coroutine_threadsafe(go(), loop).result()

    def answered(name: str, got: dict[str, Response | str]) -> None:
        for key, answer in got.items():
            caller.ingest(name, key, answer)
            ingested.add(key)

    await asyncio.to_thread(
        run_ray, ran, caller.models, executor,
        on_submit=lambda keys: on_loop(partial(store.count_attempts, keys)),
        on_answers=lambda name, got: on_loop(partial(answered, name, got)))
    for name, calls in ran.items():  # a task that never ended (none, unless Ray failed)
        for key in sorted(set(calls) - ingested):
            caller.ingest(name, key, "no answer from executor ray")


def _host_port(address: str) -> tuple[str, int] | None:
    """The host and port of ``HOST:PORT`` or ``ray://HOST:PORT``, if it is one."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def _reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail at once, naming ``executor.address``, when nothing listens there (Ray would
    retry for minutes).

    Raises:
        InputError: the address does not answer a TCP connection within ``timeout_s``.
    """
    where = _host_port(address)
    if where is None:
        return  # "auto": Ray finds the cluster, or says it found none
    try:
        socket.create_connection(where, timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(f"executor.address {address!r}: no Ray cluster answers there "
                         f"({exc})", field="executor.address") from exc


def run_ray(calls: Calls, models: dict[str, ModelConfig], executor: ExecutorConfig, *,
            on_submit: Callable[[list[str]], None] | None = None,
            on_answers: Callable[[str, dict[str, Response | str]], None] | None = None
            ) -> dict[str, dict[str, Response | str]]:
    """Run the calls on Ray as small tasks, at most ``T`` at once (see the module's
    docstring); ``on_submit`` is told a task's keys just before it is submitted,
    ``on_answers`` its answers as it ends. The answers by model and call key."""
    ray = _ray(executor)
    smallest = min(models[n].concurrency for n in calls) if calls else 1
    cpus = int(ray.cluster_resources().get("CPU", 1))
    tasks = max(1, min(cpus, smallest))
    shares = {n: _share(models[n], tasks) for n in calls}
    parts: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
    for name, by_key in sorted(calls.items()):
        size = shares[name].concurrency * len(shares[name].urls)  # one task: all in flight
        items = list(by_key.items())
        parts += [(name, items[i:i + size]) for i in range(0, len(items), size)]
    # Ray never retries a task: its calls come back failed, and the next round asks
    # them again only while they have attempts left (an answered call is in no task).
    remote = ray.remote(max_retries=0, num_cpus=1)(_ray_task)
    running: dict[Any, tuple[str, list[str]]] = {}
    out: dict[str, dict[str, Response | str]] = {}
    todo = iter(parts)
    while True:
        while len(running) < tasks and (part := next(todo, None)) is not None:
            name, items = part
            keys = [k for k, _ in items]
            if on_submit is not None:
                on_submit(keys)  # counted before it can cost anything
            running[remote.remote(name, shares[name], items)] = (name, keys)
        if not running:
            return out
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            name, keys = running.pop(ref)
            try:
                got: dict[str, Response | str] = ray.get(ref)
            except ray.exceptions.RayError as exc:  # a lost node or worker
                got = {k: f"lost with its Ray task ({type(exc).__name__})" for k in keys}
            out.setdefault(name, {}).update(got)
            if on_answers is not None:
                on_answers(name, got)


def _ray(executor: ExecutorConfig) -> Any:
    """Ray, started or joined once per process, quiet (no progress bar, no notices),
    with nothing secret in ``runtime_env``.

    Raises:
        InputError: Ray is not installed, or ``executor.address`` does not answer.
    """
    try:
        import ray
    except ImportError as exc:
        raise InputError("executor kind ray needs Ray: pip install 'peerreview[ray]'",
                         field="executor.kind") from exc
    if not ray.is_initialized():
        if executor.address is not None:
            _reachable(executor.address)
        # "local": a Ray of its own, never one that happens to run here (ray.init
        # without an address joins it, and refuses num_cpus then).
        ray.init(address=executor.address or "local", num_cpus=executor.num_cpus,
                 include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)  # its notices are not the run's
    return ray


def _share(config: ModelConfig, tasks: int) -> ModelConfig:
    """A model's config for one of ``tasks`` tasks running at once: its concurrency and
    rate divided, so that the cluster holds the model's limits."""
    rate = config.requests_per_minute
    return config.model_copy(update={
        "concurrency": max(1, config.concurrency // tasks),
        "requests_per_minute": None if rate is None else rate / tasks})


def _ray_task(name: str, config: ModelConfig, items: list[tuple[str, dict[str, Any]]]
              ) -> dict[str, Response | str]:
    """A Ray task: one model's calls at once through peerreview's async backend (the
    config arrives whole, headers included, in the task's arguments; the API key is
    read from this worker's environment)."""
    return eventloop.run(_ask_all(name, config, items))


async def _ask_all(name: str, config: ModelConfig, items: list[tuple[str, dict[str, Any]]]
                   ) -> dict[str, Response | str]:
    from peerreview.models import make_backend

    backend = make_backend(name, config)

    async def one(body: dict[str, Any]) -> Response | str:
        try:
            return await backend.complete(body, attempts=1)
        except CallError as exc:
            return str(exc)

    try:
        answers = await asyncio.gather(*(one(body) for _, body in items))
        return {key: answer for (key, _), answer in zip(items, answers, strict=True)}
    finally:
        await backend.aclose()


def run_vllm_batch(calls: Calls, models: dict[str, ModelConfig],
                   executor: ExecutorConfig) -> dict[str, dict[str, Response | str]]:
    """Hand the calls to ``vllm run-batch`` (one run a model) and read its output as an
    OpenAI batch's: a line that is not a result is said and skipped (its call is a
    failed attempt), an unreadable answer is a named failure.

    Raises:
        CallError: the command failed or wrote no output.
    """
    from peerreview.models.runbatch import read_answers, request_lines

    out: dict[str, dict[str, Response | str]] = {}
    for name, by_key in sorted(calls.items()):
        with tempfile.TemporaryDirectory() as tmp:
            given, got = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
            given.write_bytes(request_lines(by_key, models[name].model))
            command = [*executor.command, "-i", str(given), "-o", str(got), "--model",
                       str(models[name].model)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not got.exists():
                raise CallError(f"model {name!r}: {' '.join(executor.command)} failed "
                                f"(exit {done.returncode}): {done.stderr[-300:]}", name)
            # Undecodable bytes are mended, not fatal: the line's answer is then
            # text a model wrote, or the line is not a result.
            out[name] = read_answers(got.read_text("utf-8", errors="replace"), name)
    return out
