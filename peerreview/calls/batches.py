"""The batch round (:func:`collect_batches`): every call a stage deferred for a batch
model goes to that provider's batch API in one batch per model (the call key as
``custom_id``), which is polled and read back by ``custom_id`` into the run store.
The calls of an executor model run in the executor round
(:func:`peerreview.calls.executors.run_executor_round`), before this one.

Money is bounded by construction:

- A batch is recorded in the store as *intended*, with one attempt of each of its
  calls, before it is created; the provider's batch carries the run folder's token
  (OpenAI's ``metadata``; Anthropic's create takes none, so its batch is found by the
  intent's time and request count). A process killed before it recorded the batch's
  id leaves the intent unresolved: the next run finds the batch and adopts it, and
  never creates it again.
- A call that a batch does not answer (a failed, expired or missing line, a batch
  that failed or that the provider forgot) is a failed attempt: it goes into the next
  round's batch while its ``max_retries + 1`` attempts last, over every run.
- A batch round with calls sent before waits ``batch_poll_s`` after the model's last
  batch ended: no storm of resubmissions.

``PEERREVIEW_FAULT=<point>`` ends the process at a named point, as a kill would (for
tests): ``before-batch-create``, ``after-batch-create``, ``after-batch-record``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson

from peerreview.calls.caller import Caller
from peerreview.calls.store import RunStore
from peerreview.errors import BatchesPending
from peerreview.models import Backend, CallError, Response
from peerreview.models.batchapi import BatchGone, BatchTag, NotCreated

log = logging.getLogger("peerreview")

FAULT_VARIABLE = "PEERREVIEW_FAULT"
FAULT_EXIT = 86


def fault_point(point: str) -> None:
    """End the process here, as ``kill -9`` would, when ``PEERREVIEW_FAULT`` names
    this point (the tests' way to kill between two steps)."""
    if os.environ.get(FAULT_VARIABLE) == point:
        logging.shutdown()
        os._exit(FAULT_EXIT)


@runtime_checkable
class BatchAPI(Protocol):
    """What a provider's batch API offers (the OpenAI and Anthropic backends)."""

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]], *,
                           tag: BatchTag | None = None) -> str: ...

    async def find_batch(self, tag: BatchTag, count: int, known: set[str]) -> str | None: ...

    async def batch_ended(self, batch_id: str) -> bool: ...

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]: ...


@dataclass(slots=True)
class _Batch:
    """A batch at the provider that this round waits for."""

    model: str
    batch_id: str
    keys: list[str]
    api: BatchAPI
    failures: int = 0  # polls in a row that failed


async def collect_batches(caller: Caller, backends: dict[str, Backend], store: RunStore, *,
                          wait: bool, out: str) -> None:
    """Put the answers of the batch models' deferred calls in the store: submit (or
    find already submitted) provider batches and collect them.

    With ``wait`` false, look at the open batches once, collect those that ended and
    submit the next round; then, while anything is pending, raise.

    Raises:
        BatchesPending: ``wait`` is false and batches (or calls waiting for the next
            round) are pending; the message says when to come back.
        CallError: a batch API failed in a way that leaves it unknown whether a batch
            exists (the run stops rather than risk paying twice).
    """
    names = sorted(n for n, calls in caller.deferred.items()
                   if calls and caller.models[n].batch)
    if not names:
        return
    apis = {name: _batch_api(name, backends[name]) for name in names}
    opened: list[_Batch] = []
    for name in names:
        await _adopt(name, apis[name], caller, store)
        pending = set(caller.deferred[name])
        for batch_id, keys in store.open_batches(name).items():
            if pending & set(keys):  # submitted by an earlier run: polled, never again
                opened.append(_Batch(name, batch_id, keys, apis[name]))
    if not wait:
        opened = [b for b in opened if not await _look(b, caller, store)]
    paced: dict[str, float] = {}
    for name in names:
        keys = _unsent(name, caller, opened)
        if not keys:
            continue
        delay = _pace(name, keys, caller, store)
        if delay > 0 and not wait:
            paced[name] = delay
            continue
        if delay > 0:
            log.info(f"model {name!r}: next batch round in {delay:.1f} s (batch_poll_s)")
            await asyncio.sleep(delay)
        # Each part a batch of its own: intended, created, adopted and collected alone.
        for part in split_batch(keys, caller.deferred[name], limits_of(apis[name])):
            batch = await _submit(name, apis[name], part, caller, store)
            if batch is not None:
                opened.append(batch)
    if not wait:
        if opened or paced:
            raise BatchesPending(_pending_message(opened, paced, caller, out))
        return
    await _wait_for(opened, caller, store)


# One batch's limits where a provider states none (OpenAI's: 50,000 requests and 200 MB
# a file; Anthropic's: 100,000 requests or 256 MB, set on the backends as batch_limits).
DEFAULT_LIMITS = (50_000, 200_000_000)
LINE_ENVELOPE = 512  # bytes a batch line adds around its body (custom_id, url, model, ...)


def limits_of(api: BatchAPI) -> tuple[int, int]:
    """The requests and bytes one batch of this provider may hold."""
    limits = getattr(api, "batch_limits", DEFAULT_LIMITS)
    return int(limits[0]), int(limits[1])


def split_batch(keys: list[str], calls: dict[str, dict[str, Any]],
                limits: tuple[int, int]) -> list[list[str]]:
    """The calls in order, cut into parts under ``limits`` (requests, bytes: each line
    counted as its JSON body and :data:`LINE_ENVELOPE`). A line alone past the byte
    limit goes in a part of its own (the provider then refuses it: a failed attempt)."""
    most, room = limits
    parts: list[list[str]] = []
    part: list[str] = []
    size = 0
    for key in keys:
        line = len(orjson.dumps(calls[key])) + LINE_ENVELOPE
        if part and (len(part) >= most or size + line > room):
            parts.append(part)
            part, size = [], 0
        part.append(key)
        size += line
    if part:
        parts.append(part)
    return parts


def _batch_api(name: str, backend: Backend) -> BatchAPI:
    if not isinstance(backend, BatchAPI):
        raise CallError(f"model {name!r}: its provider has no batch API", name)
    return backend


async def _adopt(name: str, api: BatchAPI, caller: Caller, store: RunStore) -> None:
    """Resolve the batches an earlier process intended and never recorded: the one the
    provider lists for the intent is adopted; with none, the intent was never created.

    Raises:
        CallError: the provider's batches cannot be listed (it stays unknown whether
            the batch exists: nothing is submitted again).
    """
    for intent in store.unresolved_intents(name):
        tag = BatchTag(store.run_token(), intent.intent, intent.created)
        try:
            found = await api.find_batch(tag, len(intent.keys), store.batch_ids())
        except CallError as exc:
            raise CallError(f"{exc}; a batch of {len(intent.keys)} calls was about to be "
                            f"created when peerreview stopped, and without the list it "
                            f"cannot tell whether it exists: nothing is submitted again "
                            f"until it can (run again later)", name) from exc
        if found is None:
            store.abandon_intent(intent, "not created: the provider lists no such batch")
            log.warning(f"model {name!r}: a batch intended by an earlier run was never "
                        f"created; its {len(intent.keys)} calls go into a new batch")
        else:
            store.batch_created(intent, found)
            log.warning(f"model {name!r}: adopted batch {found}, created by an earlier "
                        f"run that stopped before recording it")


def _unsent(name: str, caller: Caller, opened: list[_Batch]) -> list[str]:
    """The model's deferred calls that no open batch holds and no batch answered."""
    held = {k for b in opened if b.model == name for k in b.keys}
    return sorted(k for k in caller.deferred[name]
                  if k not in held and not caller.answered(k))


def _pace(name: str, keys: list[str], caller: Caller, store: RunStore) -> float:
    """Seconds to wait before a round that sends calls again (none for a first round)."""
    if not any(store.sent(k) for k in keys):
        return 0.0
    last = store.last_batch_end(name)
    return 0.0 if last is None else last + caller.models[name].batch_poll_s - time.time()


async def _submit(name: str, api: BatchAPI, keys: list[str], caller: Caller,
                  store: RunStore) -> _Batch | None:
    """Create a batch of the calls that have attempts left, recorded as intended (with
    their attempts) first. A failed create is a failed attempt of each call."""
    calls = caller.deferred[name]
    spent = {k for k in keys if caller.attempts_left(name, k) <= 0}
    for key in sorted(spent):  # a safety net: a call out of attempts is never sent
        caller.ingest(name, key, "no attempts left")
    keys = [k for k in keys if k not in spent]
    if not keys:
        return None
    intent = store.intend_batch(name, keys)
    fault_point("before-batch-create")
    try:
        batch_id = await api.submit_batch([(k, calls[k]) for k in keys],
                                          tag=BatchTag(store.run_token(), intent.intent,
                                                       intent.created))
    except CallError as exc:
        if isinstance(exc, NotCreated):
            store.abandon_intent(intent, str(exc))
        log.warning(f"{exc}; {len(keys)} calls wait for the next batch round")
        for key in keys:
            caller.ingest(name, key, str(exc))
        return None
    fault_point("after-batch-create")
    store.batch_created(intent, batch_id)
    fault_point("after-batch-record")
    log.warning(f"model {name!r}: submitted batch {batch_id} of {len(keys)} calls")
    return _Batch(name, batch_id, keys, api)


async def _look(batch: _Batch, caller: Caller, store: RunStore) -> bool:
    """Poll a batch once; collect it if it ended. Whether it is done with (ended, or
    abandoned because the provider no longer knows it).

    Raises:
        CallError: polling failed ``max_retries + 1`` times in a row.
    """
    try:
        ended = await batch.api.batch_ended(batch.batch_id)
        results = await batch.api.batch_results(batch.batch_id) if ended else {}
    except BatchGone as exc:
        note = f"abandoned: the provider no longer knows batch {batch.batch_id} ({exc})"
        log.warning(f"model {batch.model!r}: {note}; its {len(batch.keys)} calls go into "
                    "a new batch")
        _close(batch, {}, note, caller, store)
        return True
    except CallError as exc:
        batch.failures += 1
        if batch.failures > caller.models[batch.model].max_retries:
            raise
        log.warning(f"{exc}; batch {batch.batch_id} is polled again")
        return False
    batch.failures = 0
    if ended:
        _close(batch, results, None, caller, store)
    return ended


def _close(batch: _Batch, results: dict[str, Response | str], note: str | None,
           caller: Caller, store: RunStore) -> None:
    """A batch's answers into the store; each call it did not answer, a failed attempt."""
    why = note or f"not in the results of batch {batch.batch_id}"
    for key in batch.keys:
        caller.ingest(batch.model, key, results.get(key, why))
    store.collected(batch.batch_id, note)


async def _wait_for(opened: list[_Batch], caller: Caller, store: RunStore) -> None:
    """Poll the batches every ``batch_poll_s`` until each has ended or is abandoned."""
    start = time.monotonic()
    waiting = list(opened)
    while waiting:
        waiting = [b for b in waiting if not await _look(b, caller, store)]
        if waiting:
            log.info(f"{len(waiting)} batch(es) not ended after "
                     f"{time.monotonic() - start:.0f} s")
            await asyncio.sleep(min(caller.models[b.model].batch_poll_s for b in waiting))


def _pending_message(opened: list[_Batch], paced: dict[str, float], caller: Caller,
                     out: str) -> str:
    """What ``--no-wait`` says when it exits with something pending."""
    come_back = max([caller.models[b.model].batch_poll_s for b in opened]
                    + list(paced.values()))
    parts = []
    if opened:
        parts.append(f"{len(opened)} batch(es) submitted or waiting "
                     f"({', '.join(b.batch_id for b in opened)})")
    if paced:
        calls = sum(len(_unsent(n, caller, opened)) for n in paced)
        parts.append(f"{calls} calls wait for the next batch round")
    return (f"{'; '.join(parts)}: run the same command again after ~{math.ceil(come_back)} s "
            f"to collect them (or 'peerreview status {out}')")


__all__ = ["FAULT_VARIABLE", "BatchAPI", "CallError", "collect_batches", "fault_point"]
