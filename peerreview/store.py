"""The run store: one SQLite file that keeps every model call and the run's facts.

A call is keyed by :mod:`peerreview.callkey` (provider, endpoint, model and the
request as sent; never the API key). A call whose key is stored with a response is
never made again, so a run that is killed and started again resumes where it
stopped. Each call is committed as soon as it is answered (in a live run, by a
writer thread, with the calls answered at the same moment), so a kill at any moment
loses at most the calls in flight and the few answered in its last milliseconds.

The schema is versioned by named migrations (after simonw/llm's ``migrations.py``):
a store written by an older build is migrated when opened, one written by a newer
build is refused, never misread.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from peerreview.callkey import CallIdentity, call_key, canonical
from peerreview.errors import InputError

Migration = Callable[[sqlite3.Connection], None]


def _m001_initial(db: sqlite3.Connection) -> None:
    """The first schema (peerreview 0.1.0, before migrations were recorded)."""
    db.executescript("""
    CREATE TABLE IF NOT EXISTS calls (
        key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
        request BLOB NOT NULL, response TEXT, error TEXT, prompt_tokens INTEGER,
        completion_tokens INTEGER, latency_s REAL, cost_usd REAL, created REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, seq INTEGER NOT NULL,
        value BLOB NOT NULL, PRIMARY KEY (kind, seq));
    """)


def _m002_endpoint_in_call_key(db: sqlite3.Connection) -> None:
    """Keys gain the endpoint, and calls record the URL that answered them.

    Keys of 0.1.0 named provider, model and request only, so two servers serving
    the same model name shared answers. Each stored call is re-keyed with the
    endpoint of the model that made it (the run's recorded config says which);
    a call whose endpoint cannot be known moves to ``legacy_calls``, kept but never
    served as an answer.
    """
    from peerreview.config import ModelConfig  # the recorded config says the endpoints

    db.execute("ALTER TABLE calls ADD COLUMN endpoint TEXT")
    db.execute("CREATE TABLE legacy_calls AS SELECT * FROM calls WHERE 0")
    row = db.execute("SELECT value FROM facts WHERE name = 'config'").fetchone()
    models = (orjson.loads(row[0]).get("models") or {}) if row else {}
    endpoints: dict[str, str] = {}
    for name, raw in models.items():
        try:
            endpoints[name] = ModelConfig.model_validate(raw).identity().endpoint
        except ValueError:
            continue
    for key, provider, model, request in db.execute(
            "SELECT key, provider, model, request FROM calls").fetchall():
        old = orjson.loads(request)
        if model not in endpoints or not isinstance(old, dict):
            db.execute("INSERT INTO legacy_calls SELECT * FROM calls WHERE key = ?", (key,))
            db.execute("DELETE FROM calls WHERE key = ?", (key,))
            continue
        identity = CallIdentity(provider, endpoints[model], str(old.pop("model", model)))
        old.pop("provider", None)
        db.execute("UPDATE calls SET key = ?, request = ? WHERE key = ?",
                   (call_key(identity, old), canonical(identity, old), key))


def _m003_batches(db: sqlite3.Connection) -> None:
    """Provider batches submitted and not yet collected, so that a stopped run polls
    them again instead of submitting (and paying) twice."""
    db.execute("CREATE TABLE batches (id TEXT PRIMARY KEY, model TEXT NOT NULL, "
               "keys BLOB NOT NULL, submitted REAL NOT NULL, collected REAL)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", _m001_initial),
    ("m002_endpoint_in_call_key", _m002_endpoint_in_call_key),
    ("m003_batches", _m003_batches),
]


def migrate(db: sqlite3.Connection, path: Path) -> list[str]:
    """Apply the migrations this store lacks, each in its own transaction; returns
    their names.

    Raises:
        InputError: the store was written by a newer peerreview.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
               "applied REAL NOT NULL)")
    done = {name for (name,) in db.execute("SELECT name FROM _migrations")}
    unknown = done - {name for name, _ in MIGRATIONS}
    if unknown:
        raise InputError(f"this run store was written by a newer peerreview (migrations "
                         f"{sorted(unknown)} are unknown here): upgrade peerreview, or use "
                         "another --out", path)
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with db:
            db.execute("BEGIN IMMEDIATE")
            step(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
        applied.append(name)
    return applied


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A completed (or failed) model call as stored."""

    key: str
    provider: str
    model: str
    request: dict[str, Any]
    response: str | None
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    cost_usd: float | None
    endpoint: str | None


_PUT = ("INSERT INTO calls (key, provider, model, request, response, error, "
        "prompt_tokens, completion_tokens, latency_s, cost_usd, created, endpoint) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET response = excluded.response, "
        "error = excluded.error, prompt_tokens = excluded.prompt_tokens, "
        "completion_tokens = excluded.completion_tokens, latency_s = excluded.latency_s, "
        "cost_usd = excluded.cost_usd, created = excluded.created, "
        "endpoint = excluded.endpoint WHERE calls.response IS NULL")


class _Writer:
    """Commits calls on a thread of its own, with its own connection (WAL lets it
    write beside the readers), so that a live run's event loop never waits on SQLite.
    Calls that arrive together are committed together."""

    def __init__(self, path: Path) -> None:
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True,
                                        name="peerreview-store")
        self._thread.start()

    def put(self, row: tuple[Any, ...]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(row)

    def _run(self, path: Path) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                row = self._queue.get()
                rows = [row]
                while not self._queue.empty():  # what arrived meanwhile: one transaction
                    rows.append(self._queue.get_nowait())
                stop = None in rows
                batch = [r for r in rows if r is not None]
                try:
                    if batch:
                        with db:
                            db.execute("BEGIN")
                            db.executemany(_PUT, batch)
                except sqlite3.Error as exc:
                    self.error = exc
                for _ in rows:
                    self._queue.task_done()
                if stop:
                    return
        finally:
            db.close()

    def flush(self) -> None:
        """Wait until every call handed over is committed."""
        self._queue.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


class RunStore:
    """The SQLite file of one run folder.

    Args:
        path: the database file; created with its tables if missing, migrated if
            written by an older build.
        background: commit calls on a writer thread (a live run); every other
            method waits for the calls handed over before it reads.

    Raises:
        InputError: the file is not a run store, or one of a newer build.
    """

    def __init__(self, path: str | Path, *, background: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self.migrated = migrate(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise InputError(f"not a peerreview run store: {exc}", self.path) from exc
        except BaseException:
            self._db.close()
            raise
        self._writer = _Writer(self.path) if background else None

    def flush(self) -> None:
        """Wait until every call handed to the writer thread is committed."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Commit what is pending and close the database."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answered_keys(self) -> set[str]:
        """The keys of every call stored with a response (read once at a run's start,
        so that a fresh run looks nothing up)."""
        self.flush()
        return {key for (key,) in self._db.execute(
            "SELECT key FROM calls WHERE response IS NOT NULL")}

    def get(self, key: str) -> CallRecord | None:
        """The stored call with this key that has a response, if any. A call stored
        with only an error is not an answer: it will be made again."""
        self.flush()
        row = self._db.execute(
            "SELECT key, provider, model, request, response, error, prompt_tokens, "
            "completion_tokens, latency_s, cost_usd, endpoint FROM calls "
            "WHERE key = ? AND response IS NOT NULL", (key,)).fetchone()
        if row is None:
            return None
        return CallRecord(row[0], row[1], row[2], orjson.loads(row[3])["request"], *row[4:])

    def put(self, name: str, identity: CallIdentity, request: dict[str, Any], *,
            response: str | None = None, error: str | None = None,
            prompt_tokens: int | None = None, completion_tokens: int | None = None,
            latency_s: float | None = None, cost_usd: float | None = None,
            endpoint: str | None = None) -> str:
        """Store the outcome of model ``name``'s call; returns its key.

        A response replaces an earlier error for the same key; an error never
        replaces a response.
        """
        blob = canonical(identity, request)
        key = call_key(identity, request)
        row = (key, identity.provider, name, blob, response, error, prompt_tokens,
               completion_tokens, latency_s, cost_usd, time.time(), endpoint)
        if self._writer is not None:
            self._writer.put(row)
        else:
            self._db.execute(_PUT, row)
        return key

    def add_batch(self, batch_id: str, model: str, keys: list[str]) -> None:
        """Record a submitted provider batch and the calls it answers."""
        self._db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, NULL)",
                         (batch_id, model, orjson.dumps(keys), time.time()))

    def open_batches(self, model: str) -> dict[str, list[str]]:
        """The batches of ``model`` submitted and not collected: id -> call keys."""
        return {i: orjson.loads(k) for i, k in self._db.execute(
            "SELECT id, keys FROM batches WHERE model = ? AND collected IS NULL "
            "ORDER BY submitted", (model,))}

    def collected(self, batch_id: str) -> None:
        """A batch's results are in the store."""
        self._db.execute("UPDATE batches SET collected = ? WHERE id = ?",
                         (time.time(), batch_id))

    def set_fact(self, name: str, value: Any) -> None:
        """Record a fact of the run (versions, seeds, prompt hashes, config)."""
        self._db.execute("INSERT OR REPLACE INTO facts VALUES (?, ?)",
                         (name, orjson.dumps(value)))

    def set_records(self, kind: str, rows: list[dict[str, Any]]) -> None:
        """Keep a stage's outputs (submissions, judgments, exam results), replacing
        those of an earlier run, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM records WHERE kind = ?", (kind,))
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?)",
                                 [(kind, i, orjson.dumps(r)) for i, r in enumerate(rows)])

    def records(self, kind: str) -> list[dict[str, Any]]:
        """A stage's outputs as kept by :meth:`set_records`, in order."""
        return [orjson.loads(v) for (v,) in self._db.execute(
            "SELECT value FROM records WHERE kind = ? ORDER BY seq", (kind,))]

    def facts(self) -> dict[str, Any]:
        """Every recorded fact."""
        return {n: orjson.loads(v) for n, v in self._db.execute("SELECT name, value FROM facts")}

    def totals(self) -> dict[str, float]:
        """Calls answered and failed, tokens and cost, over the whole run."""
        rows = self.per_model()
        return {name: sum(row[name] for row in rows) for name in
                ("calls", "failed", "prompt_tokens", "completion_tokens", "cost_usd")}

    def per_endpoint(self) -> list[dict[str, Any]]:
        """Calls answered, model by model and replica by replica (the URL that answered)."""
        self.flush()
        rows = self._db.execute(
            "SELECT model, endpoint, COUNT(response) FROM calls WHERE endpoint IS NOT NULL "
            "GROUP BY model, endpoint ORDER BY model, endpoint").fetchall()
        return [{"model": m, "endpoint": e, "calls": n} for m, e, n in rows]

    def per_model(self) -> list[dict[str, Any]]:
        """Calls answered and failed, tokens, cost and mean latency, model by model."""
        self.flush()
        rows = self._db.execute(
            "SELECT model, provider, COUNT(response), COUNT(*) - COUNT(response), "
            "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0), COALESCE(AVG(latency_s), 0) FROM calls "
            "GROUP BY model, provider ORDER BY model").fetchall()
        names = ("model", "provider", "calls", "failed", "prompt_tokens", "completion_tokens",
                 "cost_usd", "latency_s")
        return [dict(zip(names, row, strict=True)) for row in rows]
