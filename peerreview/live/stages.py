"""How a live stage runs its jobs: the state the stages share, and a pool of workers
per model, so that a model that hangs holds only its own workers.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from peerreview.calls.batches import collect_batches
from peerreview.calls.caller import BudgetSpent, Caller
from peerreview.calls.executors import run_executor_round
from peerreview.calls.shard import NotInShard
from peerreview.calls.store import RunStore
from peerreview.errors import Deferred
from peerreview.live.config import RunConfig
from peerreview.live.files import Failures
from peerreview.live.inputs import RunInputs
from peerreview.live.progress import StageProgress
from peerreview.models import Backend, CallError

T = TypeVar("T")


@dataclass(slots=True)
class RunState:
    """What the stages of one run share, made before the first stage and handed to
    each (the pipeline's attributes are its settings only, never set mid-run)."""

    inputs: RunInputs
    store: RunStore
    caller: Caller
    backends: dict[str, Backend]
    failures: Failures  # calls that failed for good, per model and stage
    bars: StageProgress



async def run_stage(state: RunState, config: RunConfig, name: str,
                    jobs: Sequence[Callable[[], Awaitable[T]]], *, wait: bool,
                    out: Path) -> list[T]:
    """Run a stage's jobs concurrently; a call that fails for good is counted
    against its model, and the others go on.

    Each model has its own pool of workers, as many as its concurrency over its
    replicas, taking its jobs in order, so that a model that hangs holds only its
    own workers; jobs that ask several models in turn (the cascade's) share one
    pool as large as all of them. Started all at once, thousands of jobs would
    each do their first steps (store look-up, prompt) before the first request
    goes out: a job is started only when a worker takes it (and ``jobs`` may make
    it only then, as :class:`~peerreview.review.stage.ReviewJobs` does). A job's
    result None is no result. Jobs that wait for provider batches run again once
    a round of batches is in (:mod:`peerreview.calls.batches`).
    """
    state.bars.stage(name, len(jobs))
    state.store.set_fact(f"stage.{name}", {"done": 0, "total": len(jobs)})
    start = time.perf_counter()
    failed = 0
    results: list[T | None] = [None] * len(jobs)
    todo: Sequence[int] = range(len(jobs))
    models = config.models

    def lane(job: Callable[[], Awaitable[object]]) -> str | None:
        # The one model a job asks, where its shape names it: partial(asker.submit
        # or asker.judge, model, ...), panel's partial(_one, asker, model, ...). A
        # job handed a list of reviewers (the cascade's) asks several: shared.
        for arg in job.args if isinstance(job, partial) else ():
            if isinstance(arg, str):
                return arg if arg in models else None
            if isinstance(arg, list | tuple | dict | set):
                return None
        return None

    def width(model: str | None) -> int:
        chosen = models.values() if model is None else [models[model]]
        return sum(m.concurrency * len(m.urls) for m in chosen)

    async def worker(queue: Iterator[int], waiting: list[int]) -> None:
        nonlocal failed
        for i in queue:
            try:
                results[i] = await jobs[i]()
            except Deferred:
                waiting.append(i)
                continue
            except NotInShard:
                pass  # another shard's call: no result, no failure
            except CallError as exc:
                failed += 1
                state.failures.add(name, exc)
            except BudgetSpent as exc:  # review jobs stop themselves; others cannot
                failed += 1
                state.failures.add(name, CallError(f"{exc} before the review: raise "
                                                   "--budget"))
            state.bars.advance()

    while todo:
        waiting: list[int] = []
        state.caller.deferred.clear()
        lanes: dict[str | None, array[int]] = {}  # 8 bytes a job, for a million
        for i in todo:
            lanes.setdefault(lane(jobs[i]), array("q")).append(i)
        workers = []
        for model, indices in lanes.items():
            queue = iter(indices)
            workers += [worker(queue, waiting)
                        for _ in range(min(len(indices), width(model)))]
        ticker = asyncio.create_task(state.bars.ticking())
        try:
            await asyncio.gather(*workers)
        finally:
            ticker.cancel()
        if waiting:
            await run_executor_round(state.caller, state.store, config.executor)
            await collect_batches(state.caller, state.backends, state.store,
                                  wait=wait, out=str(out))
        todo = sorted(waiting)
    state.bars.line()
    state.store.set_fact(f"stage.{name}", {"done": len(jobs) - failed,
                                           "total": len(jobs),
                                           "seconds": time.perf_counter() - start})
    return [r for r in results if r is not None]
