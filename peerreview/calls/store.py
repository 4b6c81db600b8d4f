"""The run store: one SQLite file that keeps every model call and the run's facts.

A call is keyed by :mod:`peerreview.calls.key` (provider, endpoint, model and the
request as sent; never the API key). A call whose key is stored with a response is
never made again, so a run that is killed and started again resumes where it
stopped. Each call is committed as soon as it is answered (in a live run, by a
writer thread, with the calls answered at the same moment), so a kill at any moment
loses at most the calls in flight and the few answered in its last milliseconds.

The store also counts every attempt of a call (each time it is sent, each batch it
goes into) before it can cost anything, so that no call is sent more than its
``max_retries + 1`` times across processes and rounds, and it records provider
batches as intended before they are created (:mod:`peerreview.calls.batches`).

The schema is versioned by named migrations (:mod:`peerreview.calls.migrations`): a store
written by an older build is migrated when opened, one written by a newer build is
refused, never misread.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from peerreview.calls.key import CallIdentity, canonical, key_of
from peerreview.calls.migrations import MIGRATIONS as MIGRATIONS
from peerreview.calls.migrations import migrate
from peerreview.calls.writer import Writer


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


# An attempt counted (``sent`` more sends of a key), and a round of attempts granted.
_ATTEMPT = ("INSERT INTO attempts (key, sent) VALUES (?, ?) ON CONFLICT(key) "
            "DO UPDATE SET sent = sent + excluded.sent")
_GRANT = ("INSERT INTO attempts (key, sent, base) VALUES (?, ?, ?) ON CONFLICT(key) "
          "DO UPDATE SET base = excluded.base")

@dataclass(frozen=True, slots=True)
class Intent:
    """A provider batch recorded before it is created: its calls, and when."""

    intent: str
    model: str
    keys: list[str]
    created: float


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

    # How long a statement waits for another process's lock before it is said (SQLite's
    # busy timeout, its default; a test lowers it rather than wait).
    LOCK_WAIT_S = 5.0

    def __init__(self, path: str | Path, *, background: bool = False) -> None:
        from peerreview.output import run_store_error  # said as what it is (read-only, ...)

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=self.LOCK_WAIT_S)
        except (OSError, sqlite3.Error) as exc:
            raise run_store_error(exc, self.path) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self.migrated = migrate(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise run_store_error(exc, self.path) from exc
        except BaseException:
            self._db.close()
            raise
        self._writer = Writer(self.path) if background else None
        self._attempts: dict[str, list[int]] | None = None  # key -> [sent, base]

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

    def answered_hashes(self) -> set[int]:
        """The hash of every answered call's key (what a caller holds in memory: a
        million calls in about 60 MB; a hit is confirmed with :meth:`get`)."""
        self.flush()
        return {hash(key) for (key,) in self._db.execute(
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
        key = key_of(blob)
        row = (key, identity.provider, name, blob, response, error, prompt_tokens,
               completion_tokens, latency_s, cost_usd, time.time(), endpoint)
        self._write(_PUT, row)
        if response is not None and self._attempts is not None:
            self._attempts.pop(key, None)  # never sent again: its count stays on disk only
        return key

    def _write(self, sql: str, row: tuple[Any, ...]) -> None:
        """A write through the writer thread (a live run), else at once."""
        if self._writer is not None:
            self._writer.put(sql, row)
        else:
            self._db.execute(sql, row)

    # --- Attempts: every send of a call, counted before it is sent. Read once into
    # memory (one process holds the folder's lock), written through the writer thread.
    # Only calls without an answer are held (an answered call is never sent again), so
    # the memory is the calls in flight and the failed ones, not the run's size.

    def _counts(self) -> dict[str, list[int]]:
        if self._attempts is None:
            self.flush()
            self._attempts = {k: [n, b] for k, n, b in self._db.execute(
                "SELECT key, sent, base FROM attempts WHERE key NOT IN "
                "(SELECT key FROM calls WHERE response IS NOT NULL)")}
        return self._attempts

    def sent(self, key: str) -> int:
        """How many times a call without an answer was sent (or put in a batch), over
        every run (an answered call's count is on disk, not asked for)."""
        counts = self._counts().get(key)
        return counts[0] if counts else 0

    def attempts(self, key: str) -> int:
        """The attempts of the call in its current round: all of them, unless
        ``--retry-failed`` granted it another round (:meth:`grant_round`)."""
        counts = self._counts().get(key)
        return counts[0] - counts[1] if counts else 0

    def count_attempt(self, key: str) -> None:
        """One more send of the call (called just before it is sent)."""
        self._counts().setdefault(key, [0, 0])[0] += 1
        self._write(_ATTEMPT, (key, 1))

    def count_attempts(self, keys: list[str]) -> None:
        """One more attempt of each call, committed before this returns (before a batch
        that holds them can be created)."""
        counts = self._counts()
        self.flush()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(_ATTEMPT, [(k, 1) for k in keys])
        for key in keys:
            counts.setdefault(key, [0, 0])[0] += 1

    def grant_round(self, key: str) -> None:
        """Start a new round of attempts for the call: its earlier sends stay counted
        (in :meth:`sent`), its round starts at zero."""
        counts = self._counts().setdefault(key, [0, 0])
        counts[1] = counts[0]
        self._write(_GRANT, (key, counts[0], counts[0]))

    def last_error(self, key: str) -> str | None:
        """The error stored for a call that has no answer, if any."""
        self.flush()
        row = self._db.execute("SELECT error FROM calls WHERE key = ? AND response IS NULL",
                               (key,)).fetchone()
        return row[0] if row else None

    # --- Provider batches: intended (with their calls' attempts), created, collected.

    def run_token(self) -> str:
        """A random id of this run folder, made once: batches carry it, so that a batch
        created by a killed process can be recognised as this run's."""
        row = self._db.execute("SELECT token FROM run_token").fetchone()
        if row is not None:
            return str(row[0])
        token = secrets.token_hex(8)
        self._db.execute("INSERT INTO run_token VALUES (?)", (token,))
        return token

    def intend_batch(self, model: str, keys: list[str]) -> Intent:
        """Record a batch about to be created, and one attempt of each of its calls, in
        one transaction, before the provider is asked."""
        intent = Intent(secrets.token_hex(8), model, list(keys), time.time())
        counts = self._counts()
        self.flush()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO batch_intents (intent, model, keys, created) "
                             "VALUES (?, ?, ?, ?)", (intent.intent, model,
                                                     orjson.dumps(intent.keys), intent.created))
            self._db.executemany(_ATTEMPT, [(k, 1) for k in keys])
        for key in keys:
            counts.setdefault(key, [0, 0])[0] += 1
        return intent

    def unresolved_intents(self, model: str) -> list[Intent]:
        """Batches intended whose creation was never recorded (a kill, a failed or
        unreadable answer to the create request): created or not, nobody knows yet."""
        return [Intent(i, model, orjson.loads(k), c) for i, k, c in self._db.execute(
            "SELECT intent, keys, created FROM batch_intents WHERE model = ? AND "
            "resolved IS NULL ORDER BY created", (model,))]

    def batch_created(self, intent: Intent, batch_id: str) -> None:
        """The intended batch exists at the provider under ``batch_id``."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR IGNORE INTO batches (id, model, keys, submitted) "
                             "VALUES (?, ?, ?, ?)", (batch_id, intent.model,
                                                     orjson.dumps(intent.keys), time.time()))
            self._db.execute("UPDATE batch_intents SET batch_id = ?, resolved = ? "
                             "WHERE intent = ?", (batch_id, time.time(), intent.intent))

    def abandon_intent(self, intent: Intent, note: str) -> None:
        """The intended batch was never created (its attempts stay counted)."""
        self._db.execute("UPDATE batch_intents SET resolved = ?, note = ? WHERE intent = ?",
                         (time.time(), note, intent.intent))

    def keys_in_open_batches(self) -> set[str]:
        """The calls of every batch not collected yet, or intended and not resolved."""
        rows = self._db.execute(
            "SELECT keys FROM batches WHERE collected IS NULL UNION ALL "
            "SELECT keys FROM batch_intents WHERE resolved IS NULL").fetchall()
        return {k for (keys,) in rows for k in orjson.loads(keys)}

    def batch_ids(self) -> set[str]:
        """Every batch id this store knows (none is adopted twice)."""
        return {i for (i,) in self._db.execute("SELECT id FROM batches")}

    def last_batch_end(self, model: str) -> float | None:
        """When the model's last batch was collected or abandoned (paces the rounds)."""
        row = self._db.execute("SELECT MAX(collected) FROM batches WHERE model = ?",
                               (model,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def add_batch(self, batch_id: str, model: str, keys: list[str]) -> None:
        """Record a submitted provider batch and the calls it answers."""
        self._db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, NULL)",
                         (batch_id, model, orjson.dumps(keys), time.time()))

    def open_batches(self, model: str) -> dict[str, list[str]]:
        """The batches of ``model`` submitted and not collected: id -> call keys."""
        return {i: orjson.loads(k) for i, k in self._db.execute(
            "SELECT id, keys FROM batches WHERE model = ? AND collected IS NULL "
            "ORDER BY submitted", (model,))}

    def collected(self, batch_id: str, note: str | None = None) -> None:
        """A batch's results are in the store (or, with a note, it was abandoned)."""
        self.flush()  # its answers first: a kill now never loses a paid batch's answers
        self._db.execute("UPDATE batches SET collected = ?, note = ? WHERE id = ?",
                         (time.time(), note, batch_id))

    def set_fact(self, name: str, value: Any) -> None:
        """Record a fact of the run (versions, seeds, prompt hashes, config)."""
        self._db.execute("INSERT OR REPLACE INTO facts VALUES (?, ?)",
                         (name, orjson.dumps(value)))

    def set_records(self, kind: str, rows: Iterable[dict[str, Any]]) -> None:
        """Keep a stage's outputs (submissions, judgments, exam results), replacing
        those of an earlier run, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM records WHERE kind = ?", (kind,))
            # A generator, not a list: a million judgments are encoded one at a time.
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?)",
                                 ((kind, i, orjson.dumps(r)) for i, r in enumerate(rows)))

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
