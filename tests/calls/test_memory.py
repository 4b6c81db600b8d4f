"""A live run in bounded memory: the caller keeps no answer past the call that made it
(a question asked again is read back from the store), the store holds attempt counts
only for calls without an answer, and the writer thread's backlog is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from peerreview.calls.caller import Caller
from peerreview.calls.key import CallIdentity
from peerreview.calls.store import RunStore
from peerreview.calls.writer import Writer
from peerreview.errors import Deferred
from peerreview.models import Response, make_backend
from peerreview.models.config import ModelConfig

REQUEST = {"messages": [{"role": "user", "content": "Which is better, A or B?"}],
           "max_tokens": 10}
WHO = CallIdentity("openai", "http://h:80/v1", "m")


def test_an_answer_asked_again_is_read_back_from_the_store(tmp_path: Path) -> None:
    """A batch answer is not held by the caller: the deferred call asked again gets a
    fresh Response read from the store, equal to the one ingested."""
    config = ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9/v1",
                         batch=True)

    async def ask() -> tuple[Response, Response, Response, int]:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite", background=True) as store:
            caller = Caller(store, {"judge": config}, {"judge": backend})
            with pytest.raises(Deferred):
                await caller.call("judge", REQUEST)
            given = Response("A is better", [{"A": -0.1}], 12, 3, "http://e")
            caller.ingest("judge", caller.key("judge", REQUEST), given)
            first = await caller.call("judge", REQUEST)
            again = await caller.call("judge", REQUEST)
            await backend.aclose()
            return given, first, again, caller.tally.cached

    given, first, again, cached = asyncio.run(ask())
    assert first is not given and again is not first  # none kept: each read back
    assert (first.text, first.top_logprobs, first.prompt_tokens, first.completion_tokens,
            first.endpoint) == ("A is better", [{"A": -0.1}], 12, 3, "http://e")
    assert again.text == "A is better" and cached == 1  # only the second use is "stored"


def test_attempts_are_held_only_for_calls_without_an_answer(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    with RunStore(db, background=True) as store:
        answered = store.put("m", WHO, {"i": 1}, response="x")
        failed = store.put("m", WHO, {"i": 2}, error="boom")
        for key in (answered, failed, failed):
            store.count_attempt(key)
        store.put("m", WHO, {"i": 1}, response="x")
        assert answered not in store._counts() and store.sent(failed) == 2
    with RunStore(db) as again:
        assert set(again._counts()) == {failed}  # the answered call's count stays on disk
        raw = again._db.execute("SELECT sent FROM attempts WHERE key = ?", (answered,))
        assert raw.fetchone()[0] == 1


def test_the_writer_backlog_is_bounded(tmp_path: Path) -> None:
    """A writer that falls behind makes put wait: never more than the backlog queued."""
    import sqlite3

    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as raw:
        raw.execute("CREATE TABLE t (x)")
    writer = Writer(db, backlog=3)
    gate = threading.Lock()
    gate.acquire()
    sizes: list[int] = []
    real = writer._queue.get

    def slow_get(*args: object, **kwargs: object) -> object:
        with gate:  # the thread is held here until the puts are done
            pass
        return real(*args, **kwargs)  # type: ignore[arg-type]

    writer._queue.get = slow_get  # type: ignore[method-assign]

    def fill() -> None:
        for i in range(10):
            writer.put("INSERT INTO t VALUES (?)", (i,))
            sizes.append(writer._queue.qsize())

    filler = threading.Thread(target=fill)
    filler.start()
    for _ in range(1000):  # until the backlog is full (or the filler is done: a failure)
        if writer._queue.qsize() >= 3 or not filler.is_alive():
            break
        time.sleep(0.01)
    filler.join(timeout=0.2)  # unbounded, the other seven puts would take microseconds
    assert filler.is_alive() and max(sizes) <= 3  # waiting on the bound, not growing
    gate.release()
    filler.join(timeout=10)
    writer.flush()
    writer.close()
    with sqlite3.connect(db) as raw:
        assert [x for (x,) in raw.execute("SELECT x FROM t ORDER BY x")] == list(range(10))


def test_a_hash_collision_in_the_answered_set_is_no_answer(tmp_path: Path) -> None:
    """The caller holds answered calls by hash; a hash that matches with no stored
    answer (a collision) is looked up, found missing, and the call goes on its way."""
    config = ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9/v1",
                         batch=True)

    async def ask() -> bool:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite", background=True) as store:
            caller = Caller(store, {"judge": config}, {"judge": backend})
            key = caller.key("judge", REQUEST)
            caller._answered.add(hash(key))  # as if another key had this hash
            try:
                with pytest.raises(Deferred):  # not answered: deferred to a batch
                    await caller.call("judge", REQUEST)
                return caller.answered(key)
            finally:
                await backend.aclose()

    assert asyncio.run(ask()) is False


def test_a_closed_caller_lets_its_answered_set_go_and_sends_nothing(tmp_path: Path) -> None:
    config = ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9/v1",
                         batch=True)

    async def ask() -> tuple[int, int]:
        backend = make_backend("judge", config)
        with RunStore(tmp_path / "run.sqlite", background=True) as store:
            caller = Caller(store, {"judge": config}, {"judge": backend})
            with pytest.raises(Deferred):
                await caller.call("judge", REQUEST)
            caller.ingest("judge", caller.key("judge", REQUEST), Response("A", None, 1, 1))
            held = len(caller._answered)
            caller.close()
            with pytest.raises(RuntimeError, match="the caller is closed"):
                await caller.call("judge", REQUEST)
            await backend.aclose()
            return held, len(caller._answered)

    assert asyncio.run(ask()) == (1, 0)
