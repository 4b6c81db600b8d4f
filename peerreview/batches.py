"""A round of provider batches: every call a stage deferred for a batch model goes to
that provider's batch API in one batch per model (the call key as ``custom_id``),
which is polled and read back by ``custom_id`` into the run store. A batch is
recorded in the store when submitted, so a stopped run polls it again instead of
submitting (and paying) twice. Lines that failed or expired are deferred again by
the next pass of the stage, and so go into the next round's batch.
"""

from __future__ import annotations

import asyncio
import logging
import time

from peerreview.calls import Caller
from peerreview.config import ExecutorConfig
from peerreview.errors import BatchesPending
from peerreview.executors import run_ray, run_vllm_batch
from peerreview.models import Backend, CallError
from peerreview.store import RunStore

log = logging.getLogger("peerreview")


async def collect(caller: Caller, backends: dict[str, Backend], store: RunStore, *,
                  wait: bool, out: str, executor: ExecutorConfig | None = None) -> None:
    """Submit (or find already submitted) batches for every deferred call, wait for
    them, and put their answers in the store.

    Raises:
        BatchesPending: ``wait`` is false: the batches were submitted, nothing else.
        CallError: a batch API refused a request.
    """
    if executor is not None and executor.kind != "local":
        ran = {n: c for n, c in caller.deferred.items() if not caller.models[n].batch}
        if ran:
            run = run_ray if executor.kind == "ray" else run_vllm_batch
            answers = await asyncio.to_thread(run, ran, caller.models, executor)
            for name, by_key in answers.items():
                for key, answer in by_key.items():
                    caller.ingest(name, key, answer)
    batches: list[tuple[str, str]] = []  # (model, batch id) to wait for
    for name, calls in sorted(caller.deferred.items()):
        if not caller.models[name].batch:
            continue  # run by the executor above
        backend = backends[name]
        pending = set(calls)
        for batch_id, keys in store.open_batches(name).items():
            if pending & set(keys):  # submitted by an earlier run: poll, never resubmit
                batches.append((name, batch_id))
                pending -= set(keys)
        if pending:
            keys = sorted(pending)
            batch_id = await backend.submit_batch([(k, calls[k]) for k in keys])
            store.add_batch(batch_id, name, keys)
            log.warning(f"model {name!r}: submitted batch {batch_id} of {len(keys)} calls")
            batches.append((name, batch_id))
    if not wait:
        raise BatchesPending(f"{len(batches)} batch(es) submitted or waiting "
                             f"({', '.join(b for _, b in batches)}): run the same command "
                             f"again to collect them (or 'peerreview status {out}')")
    for name, batch_id in batches:
        backend = backends[name]
        start = time.monotonic()
        while not await backend.batch_ended(batch_id):
            log.info(f"model {name!r}: batch {batch_id} not ended after "
                     f"{time.monotonic() - start:.0f} s")
            await asyncio.sleep(caller.models[name].batch_poll_s)
        results = await backend.batch_results(batch_id)
        for key in caller.deferred.get(name, {}):
            if key in results:
                caller.ingest(name, key, results[key])
        store.collected(batch_id)


__all__ = ["CallError", "collect"]
