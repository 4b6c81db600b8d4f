"""The run store's schema, versioned by named migrations (after simonw/llm's
``migrations.py``): a store written by an older build is migrated when opened, one
written by a newer build is refused, never misread. A new table or column is a new
named migration, appended to :data:`MIGRATIONS`; a migration never changes once
released.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from peerreview.calls.key import CallIdentity, call_key, canonical, identity_of
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
    from peerreview.models.config import ModelConfig  # the recorded config says the endpoints

    db.execute("ALTER TABLE calls ADD COLUMN endpoint TEXT")
    db.execute("CREATE TABLE legacy_calls AS SELECT * FROM calls WHERE 0")
    row = db.execute("SELECT value FROM facts WHERE name = 'config'").fetchone()
    models = (orjson.loads(row[0]).get("models") or {}) if row else {}
    endpoints: dict[str, str] = {}
    for name, raw in models.items():
        try:
            endpoints[name] = identity_of(ModelConfig.model_validate(raw)).endpoint
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


def _m004_attempts_and_batch_intents(db: sqlite3.Connection) -> None:
    """Attempts counted per call key (every send, each batch a call went into), so that
    no call is sent more than ``max_retries + 1`` times across processes and rounds;
    batches recorded as intended before they are created, so that a batch created by a
    process killed before it could record the id is found again (adopted), never
    created twice; a run token that the provider's batch metadata carries.

    A store of an older build counts one attempt for each batch a call went into.
    """
    # One statement at a time: executescript would commit the migration's transaction.
    db.execute("CREATE TABLE attempts (key TEXT PRIMARY KEY, sent INTEGER NOT NULL, "
               "base INTEGER NOT NULL DEFAULT 0)")
    db.execute("CREATE TABLE batch_intents (intent TEXT PRIMARY KEY, model TEXT NOT NULL, "
               "keys BLOB NOT NULL, created REAL NOT NULL, batch_id TEXT, resolved REAL, "
               "note TEXT)")
    db.execute("CREATE TABLE run_token (token TEXT NOT NULL)")
    db.execute("ALTER TABLE batches ADD COLUMN note TEXT")
    for (keys,) in db.execute("SELECT keys FROM batches").fetchall():
        db.executemany("INSERT INTO attempts (key, sent) VALUES (?, 1) ON CONFLICT(key) "
                       "DO UPDATE SET sent = sent + 1", [(k,) for k in orjson.loads(keys)])


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", _m001_initial),
    ("m002_endpoint_in_call_key", _m002_endpoint_in_call_key),
    ("m003_batches", _m003_batches),
    ("m004_attempts_and_batch_intents", _m004_attempts_and_batch_intents),
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
