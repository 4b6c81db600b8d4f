"""The run store: one SQLite file that keeps every model call and the run's facts.

A call is keyed by a hash of everything that changes its answer: provider, model,
endpoint, parameters and messages (never the API key). A call whose key is stored
with a response is never made again, so a run that is killed and started again
resumes where it stopped. Each call is committed on its own, so a kill at any
moment loses at most the calls still in flight.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    request BLOB NOT NULL,
    response TEXT,
    error TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    cost_usd REAL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (kind, seq)
);
"""

SECRET_FIELDS = frozenset({"api_key", "authorization", "headers"})


def _canonical(request: dict[str, Any]) -> bytes:
    """The request as key-sorted JSON, refusing secrets."""
    secret = SECRET_FIELDS & {k.lower() for k in request}
    if secret:
        raise ValueError(f"a request to store must not carry {sorted(secret)}")
    return orjson.dumps(request, option=orjson.OPT_SORT_KEYS)


def call_key(request: dict[str, Any]) -> str:
    """A stable hash of a request: the same content in any key order gives the same key.

    Raises:
        ValueError: the request carries a secret (an API key or headers), which must
            never reach the store.
    """
    return hashlib.sha256(_canonical(request)).hexdigest()


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


class RunStore:
    """The SQLite file of one run folder.

    Args:
        path: the database file; created with its tables if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str) -> CallRecord | None:
        """The stored call with this key that has a response, if any. A call stored
        with only an error is not an answer: it will be made again."""
        row = self._db.execute(
            "SELECT key, provider, model, request, response, error, prompt_tokens, "
            "completion_tokens, latency_s, cost_usd FROM calls "
            "WHERE key = ? AND response IS NOT NULL", (key,)).fetchone()
        if row is None:
            return None
        return CallRecord(row[0], row[1], row[2], orjson.loads(row[3]), *row[4:])

    def put(self, provider: str, model: str, request: dict[str, Any], *,
            response: str | None = None, error: str | None = None,
            prompt_tokens: int | None = None, completion_tokens: int | None = None,
            latency_s: float | None = None, cost_usd: float | None = None) -> str:
        """Store a call's outcome under the key of its request; returns the key.

        A response replaces an earlier error for the same key; an error never
        replaces a response.
        """
        canonical = _canonical(request)
        key = hashlib.sha256(canonical).hexdigest()
        self._db.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET response = excluded.response, "
            "error = excluded.error, prompt_tokens = excluded.prompt_tokens, "
            "completion_tokens = excluded.completion_tokens, latency_s = excluded.latency_s, "
            "cost_usd = excluded.cost_usd, created = excluded.created "
            "WHERE calls.response IS NULL",
            (key, provider, model, canonical, response, error, prompt_tokens,
             completion_tokens, latency_s, cost_usd, time.time()))
        return key

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

    def per_model(self) -> list[dict[str, Any]]:
        """Calls answered and failed, tokens, cost and mean latency, model by model."""
        rows = self._db.execute(
            "SELECT model, provider, COUNT(response), COUNT(*) - COUNT(response), "
            "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0), COALESCE(AVG(latency_s), 0) FROM calls "
            "GROUP BY model, provider ORDER BY model").fetchall()
        names = ("model", "provider", "calls", "failed", "prompt_tokens", "completion_tokens",
                 "cost_usd", "latency_s")
        return [dict(zip(names, row, strict=True)) for row in rows]
