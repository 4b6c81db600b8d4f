"""``peerreview merge DIR... --out DIR``: the stores of a run's shards joined into one
(:mod:`peerreview.calls.shard`), which :mod:`peerreview.live.merge` then ranks with no
call sent.

Checked first: every folder holds a finished shard of the same run (the same config,
seed and prompts, the same N), and together they are shards 0 ... N-1, each once. A
call in several stores (the submissions and exam every shard makes) is kept once; two
different answers under one key are a conflict, reported (the first folder's kept).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerreview.calls.store import RunStore
from peerreview.errors import InputError

STORE = "run.sqlite"
SAME = ("config", "seed", "prompt_hashes")  # facts every shard of one run shares

_COLUMNS = ("key, provider, model, request, response, error, prompt_tokens, "
            "completion_tokens, latency_s, cost_usd, created, endpoint")
# An answer fills a key that has none; an answer is never replaced.
_COPY = (f"INSERT INTO main.calls ({_COLUMNS}) SELECT {_COLUMNS} FROM shard.calls WHERE 1 "
         "ON CONFLICT(key) DO UPDATE SET response = excluded.response, "
         "error = excluded.error, prompt_tokens = excluded.prompt_tokens, "
         "completion_tokens = excluded.completion_tokens, latency_s = excluded.latency_s, "
         "cost_usd = excluded.cost_usd, created = excluded.created, "
         "endpoint = excluded.endpoint "
         "WHERE main.calls.response IS NULL AND excluded.response IS NOT NULL")
# Every send of every shard stays counted.
_ATTEMPTS = ("INSERT INTO main.attempts (key, sent, base) SELECT key, sent, base "
             "FROM shard.attempts WHERE 1 ON CONFLICT(key) DO UPDATE SET "
             "sent = sent + excluded.sent, base = base + excluded.base")


@dataclass(slots=True)
class Merged:
    """What a merge joined: the shards, calls kept, calls found in several stores, and
    the keys answered differently by two stores."""

    shards: list[str]
    calls: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def shard_facts(folder: Path) -> dict[str, Any]:
    """The facts of a shard's store, checked to be a finished shard.

    Raises:
        InputError: no store, not a shard, or a shard not finished.
    """
    path = folder / STORE
    if not path.is_file():
        raise InputError(f"no run store here ({STORE} is missing): not a shard's folder",
                         path)
    with RunStore(path) as store:
        facts = store.facts()
        open_batches = store.keys_in_open_batches()
    shard = facts.get("shard")
    if not isinstance(shard, dict):
        raise InputError("not a shard: this folder was not run with --shard I/N", path,
                         field="shard")
    if not facts.get("shard.done") or open_batches:
        raise InputError(f"shard {shard['index']}/{shard['count']} has not finished "
                         "(calls missing or batches open): run it again to the end", path,
                         field="shard")
    return facts


def check_shards(folders: list[Path]) -> list[dict[str, Any]]:
    """The shards' facts, checked to be every shard of one run, each once.

    Raises:
        InputError: naming the folder and the fact that differs, or the shards missing.
    """
    if not folders:
        raise InputError("merge needs the folders of a run's shards", field="DIR")
    facts = [shard_facts(f) for f in folders]
    first = facts[0]
    count = first["shard"]["count"]
    for folder, these in zip(folders, facts, strict=True):
        for name in SAME:
            if these.get(name) != first.get(name):
                raise InputError(f"not a shard of the same run as {folders[0]}: its {name} "
                                 "differs (every shard must run the same config)",
                                 folder / STORE, field=name)
        if these["shard"]["count"] != count:
            raise InputError(f"shard {these['shard']['index']}/{these['shard']['count']} "
                             f"is not one of {count} like {folders[0]}'s", folder / STORE,
                             field="shard")
    seen: dict[int, Path] = {}
    for folder, these in zip(folders, facts, strict=True):
        index = these["shard"]["index"]
        if index in seen:
            raise InputError(f"shard {index}/{count} given twice: {seen[index]} and "
                             f"{folder}", folder / STORE, field="shard")
        seen[index] = folder
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise InputError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing: "
                         "merge needs every shard", field="DIR")
    return facts


def merge_stores(folders: list[Path], out: Path) -> Merged:
    """Join the shards' stores into ``out``'s (checked by :func:`check_shards`).

    Raises:
        InputError: the shards do not make one run, or ``out`` is one of them.
    """
    facts = check_shards(folders)
    if any(out.resolve() == f.resolve() for f in folders):
        raise InputError("--out must be a folder of its own, not one of the shards",
                         field="--out")
    target = out / STORE
    with RunStore(target) as store:  # created (or migrated) with every table
        if store.facts().get("shard") is not None:
            raise InputError("--out holds a shard: merge into a folder of its own", target,
                             field="--out")
    merged = Merged([str(f) for f in folders])
    db = sqlite3.connect(target, isolation_level=None)
    try:
        for folder in folders:
            db.execute("ATTACH DATABASE ? AS shard", (str(folder / STORE),))
            try:
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    merged.duplicates += db.execute(
                        "SELECT COUNT(*) FROM shard.calls s JOIN main.calls m USING (key) "
                        "WHERE s.response IS NOT NULL AND m.response IS NOT NULL"
                    ).fetchone()[0]
                    merged.conflicts += [k for (k,) in db.execute(
                        "SELECT key FROM shard.calls s JOIN main.calls m USING (key) "
                        "WHERE s.response IS NOT NULL AND m.response IS NOT NULL "
                        "AND s.response != m.response ORDER BY key")]
                    db.execute(_COPY)
                    db.execute(_ATTEMPTS)
            finally:
                db.execute("DETACH DATABASE shard")
        merged.calls = db.execute("SELECT COUNT(response) FROM calls").fetchone()[0]
    finally:
        db.close()
    merged.facts = {name: facts[0][name] for name in SAME if name in facts[0]}
    with RunStore(target) as store:
        store.set_fact("merged", {"shards": merged.shards, "count": len(folders),
                                  "calls": merged.calls, "duplicates": merged.duplicates,
                                  "conflicts": merged.conflicts})
    return merged

