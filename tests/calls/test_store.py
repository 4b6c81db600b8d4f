"""The run store: stable keys, no secrets, responses survive a kill."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peerreview.calls.key import CallIdentity, call_key, identity_of, normalize_url
from peerreview.calls.store import MIGRATIONS, RunStore
from peerreview.errors import InputError
from peerreview.models.config import ModelConfig

WHO = CallIdentity("openai", "http://127.0.0.1:8000/v1", "gpt-4o")
REQUEST = {"temperature": 0, "max_tokens": 8,
           "messages": [{"role": "user", "content": "Which is better, A or B?"}]}


def test_key_ignores_key_order_and_follows_content() -> None:
    reordered = dict(reversed(list(REQUEST.items())))
    assert call_key(WHO, reordered) == call_key(WHO, REQUEST)
    assert len(call_key(WHO, REQUEST)) == 64


@pytest.mark.parametrize("change", [
    {"provider": "anthropic"}, {"endpoint": "http://127.0.0.1:8001/v1"},
    {"model": "gpt-4o-mini"}])
def test_each_identity_part_changes_the_key(change: dict[str, str]) -> None:
    other = CallIdentity(**{"provider": WHO.provider, "endpoint": WHO.endpoint,
                            "model": WHO.model, **change})
    assert call_key(other, REQUEST) != call_key(WHO, REQUEST)


@pytest.mark.parametrize("change", [
    {"temperature": 0.7}, {"max_tokens": 9}, {"seed": 1}, {"stop": ["\n"]},
    {"messages": [{"role": "user", "content": "Which is better, B or A?"}]},
    {"response_format": {"type": "json_object"}}])
def test_each_sent_parameter_changes_the_key(change: dict[str, object]) -> None:
    assert call_key(WHO, REQUEST | change) != call_key(WHO, REQUEST)


def test_endpoint_part_is_the_normalized_url_or_the_cache_id() -> None:
    assert normalize_url("HTTP://LocalHost:8000/v1/") == "http://localhost:8000/v1"
    assert normalize_url("https://api.openai.com/v1") == "https://api.openai.com:443/v1"
    assert normalize_url("https://u:secret@h/v1?b=1&a=2") == "https://h:443/v1?a=2&b=1"
    one = ModelConfig(provider="openai", model="default", base_url="http://127.0.0.1:1/v1")
    two = one.model_copy(update={"base_url": "http://127.0.0.1:2/v1"})
    assert identity_of(one) != identity_of(two)
    assert identity_of(one).endpoint == "http://127.0.0.1:1/v1"
    moved = two.model_copy(update={"cache_id": "my-vllm"})
    kept = one.model_copy(update={"cache_id": "my-vllm"})
    assert identity_of(moved) == identity_of(kept)  # a server that moved keeps its cache
    keyed = one.model_copy(update={"api_key_env": "OTHER_KEY", "headers": {"api-key": "x"}})
    assert identity_of(keyed) == identity_of(one)  # credentials never name a call


def test_a_model_in_this_process_is_named_by_its_weights_or_its_function() -> None:
    """The identities stored keys were made with: a change here loses every cache."""
    python = ModelConfig(provider="python", function="json:dumps")
    assert identity_of(python) == CallIdentity("python", "python", "json:dumps")
    local = ModelConfig(provider="local", model="/a/b/w.gguf")
    assert identity_of(local) == CallIdentity("local", "local", "w.gguf")
    assert identity_of(ModelConfig(provider="local", cache_id="x")) == \
        CallIdentity("local", "x", "gemma-3-270m-q4_k_m")
    assert identity_of(ModelConfig(provider="openai", model="gpt-4o")) == \
        CallIdentity("openai", "https://api.openai.com:443/v1", "gpt-4o")


def test_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        call_key(WHO, REQUEST | {"api_key": "sk-secret"})
    with pytest.raises(ValueError, match="headers"):
        call_key(WHO, REQUEST | {"headers": {"api-key": "x"}})


def test_put_get_and_errors_do_not_count_as_answers(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        key = store.put("gpt-4o", WHO, REQUEST, error="HTTP 500")
        assert store.get(key) is None  # an error is retried, not replayed
        store.put("gpt-4o", WHO, REQUEST, response="A", prompt_tokens=12,
                  completion_tokens=1, latency_s=0.05, cost_usd=0.001)
        store.put("gpt-4o", WHO, REQUEST, error="late error")  # never replaces
        record = store.get(key)
        assert record is not None and record.response == "A" and record.error is None
        assert record.request == REQUEST
        assert store.totals() == {"calls": 1, "failed": 0, "prompt_tokens": 12,
                                  "completion_tokens": 1, "cost_usd": 0.001}
        store.set_fact("seed", 7)
        store.set_fact("versions", {"peerreview": "0.1.0"})
    with RunStore(tmp_path / "run.sqlite") as again:
        assert again.get(key) is not None
        assert again.facts() == {"seed": 7, "versions": {"peerreview": "0.1.0"}}


def test_committed_calls_survive_kill_9(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from peerreview.calls.store import RunStore\n"
        "s = RunStore(sys.argv[1])\n"
        "from peerreview.calls.key import CallIdentity\n"
        "who = CallIdentity('p', 'e', 'm')\n"
        "for i in range(50):\n"
        "    s.put('m', who, {'i': i}, response=str(i))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    db = tmp_path / "run.sqlite"
    done = subprocess.run([sys.executable, "-c", script, str(db)], check=False,
                          env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == -9
    with RunStore(db) as store:
        assert store.totals()["calls"] == 50
        who = CallIdentity("p", "e", "m")
        assert all(store.get(call_key(who, {"i": i})) is not None for i in range(50))


def test_records_replace_a_kind_as_a_whole(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        store.set_records("judgments", [{"item": "t1"}, {"item": "t2"}])
        store.set_records("submissions", [{"item": "t1", "model": "A"}])
        store.set_records("judgments", [{"item": "t3"}])
        assert store.records("judgments") == [{"item": "t3"}]
        assert store.records("submissions") == [{"item": "t1", "model": "A"}]
        assert store.records("exam") == []


def _old_store(path: Path, models: dict[str, dict[str, str]]) -> None:
    """A store as peerreview 0.1.0 wrote it: no migrations table, keys without the
    endpoint; two judges serving model "default" shared one key."""
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE calls (key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
        request BLOB NOT NULL, response TEXT, error TEXT, prompt_tokens INTEGER,
        completion_tokens INTEGER, latency_s REAL, cost_usd REAL, created REAL NOT NULL);
    CREATE TABLE facts (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE records (kind TEXT NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY (kind, seq));
    """)
    config = {"models": {n: {"provider": "openai", **m} for n, m in models.items()}}
    db.execute("INSERT INTO facts VALUES ('config', ?)", (json.dumps(config),))
    for i, (name, model) in enumerate([("judge-1", "default"), ("ghost", "default")]):
        old = {"provider": "openai", "model": model, "messages": [{"role": "user",
                                                                    "content": f"q{i}"}]}
        db.execute("INSERT INTO calls VALUES (?, 'openai', ?, ?, 'A', NULL, 1, 1, 0.1, 0, 0)",
                   (f"old{i}", name, json.dumps(old, sort_keys=True)))
    db.commit()
    db.close()


def test_an_old_store_is_migrated_with_the_endpoint_in_every_key(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    _old_store(db, {"judge-1": {"model": "default", "base_url": "http://127.0.0.1:9/v1"}})
    with RunStore(db) as store:
        assert store.migrated == ["m001_initial", "m002_endpoint_in_call_key", "m003_batches",
                                  "m004_attempts_and_batch_intents"]
        who = CallIdentity("openai", "http://127.0.0.1:9/v1", "default")
        record = store.get(call_key(who, {"messages": [{"role": "user", "content": "q0"}]}))
        assert record is not None and record.model == "judge-1" and record.response == "A"
        assert store.totals()["calls"] == 1  # the ghost's call has no known endpoint ...
    raw = sqlite3.connect(db)
    legacy = raw.execute("SELECT model FROM legacy_calls").fetchall()
    assert legacy == [("ghost",)]  # ... and is kept aside, never served
    names = [n for (n,) in raw.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    raw.close()
    with RunStore(db) as again:
        assert again.migrated == []


def test_a_store_of_a_newer_build_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    RunStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', 0)")
    raw.commit()
    raw.close()
    with pytest.raises(InputError, match=r"newer peerreview.*m999_from_the_future"):
        RunStore(db)


def test_a_file_that_is_no_store_is_an_input_error(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    db.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="not a peerreview run store"):
        RunStore(db)


def test_the_background_writer_commits_every_call_and_reads_wait_for_it(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    store = RunStore(db, background=True)
    keys = [store.put("m", WHO, {"i": i}, response=str(i)) for i in range(500)]
    record = store.get(keys[-1])  # a read waits for what was handed over
    assert record is not None and record.response == "499"
    assert store.totals()["calls"] == 500
    store.put("m", WHO, {"i": 500}, response="500")
    store.close()  # closing commits what is pending
    with RunStore(db) as again:
        assert len(again.answered_keys()) == 501


def test_a_store_of_batches_before_attempts_counts_one_attempt_a_batch(tmp_path: Path) -> None:
    """m004 on a store whose calls went into batches before attempts were counted: each
    batch a call went into is one attempt, so the bound holds for old runs too."""
    db = tmp_path / "run.sqlite"
    with RunStore(db):
        pass
    raw = sqlite3.connect(db)
    raw.execute("DROP TABLE attempts")
    raw.execute("DROP TABLE batch_intents")
    raw.execute("DROP TABLE run_token")
    raw.execute("ALTER TABLE batches DROP COLUMN note")
    raw.execute("DELETE FROM _migrations WHERE name = 'm004_attempts_and_batch_intents'")
    raw.execute("INSERT INTO batches VALUES ('b1', 'judge', ?, 0, 1)", (json.dumps(["k1", "k2"]),))
    raw.execute("INSERT INTO batches VALUES ('b2', 'judge', ?, 1, NULL)", (json.dumps(["k2"]),))
    raw.commit()
    raw.close()
    with RunStore(db) as store:
        assert store.migrated == ["m004_attempts_and_batch_intents"]
        assert (store.sent("k1"), store.sent("k2"), store.sent("k3")) == (1, 2, 0)
        assert store.keys_in_open_batches() == {"k2"}


def test_attempts_are_counted_across_processes_and_a_round_can_be_granted(
        tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    store = RunStore(db, background=True)
    for _ in range(3):
        store.count_attempt("k")
    store.count_attempts(["k", "other"])
    store.close()  # what the writer thread holds is committed on close
    with RunStore(db, background=True) as again:
        assert (again.sent("k"), again.attempts("k"), again.sent("other")) == (4, 4, 1)
        again.grant_round("k")
        again.count_attempt("k")
    with RunStore(db) as third:
        assert (third.sent("k"), third.attempts("k")) == (5, 1)  # all sends stay counted


def test_a_batch_is_intended_with_its_attempts_then_created_or_abandoned(
        tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    with RunStore(db, background=True) as store:
        token = store.run_token()
        first = store.intend_batch("judge", ["k1", "k2"])
        second = store.intend_batch("judge", ["k3"])
    raw = sqlite3.connect(db)  # committed before the provider is asked
    assert raw.execute("SELECT key, sent FROM attempts ORDER BY key").fetchall() == \
        [("k1", 1), ("k2", 1), ("k3", 1)]
    raw.close()
    with RunStore(db) as store:
        assert store.run_token() == token and len(token) == 16
        assert [i.intent for i in store.unresolved_intents("judge")] == \
            [first.intent, second.intent]
        assert store.keys_in_open_batches() == {"k1", "k2", "k3"}
        store.batch_created(first, "batch_9")
        store.abandon_intent(second, "never created")
        assert store.unresolved_intents("judge") == []
        assert store.open_batches("judge") == {"batch_9": ["k1", "k2"]}
        assert store.batch_ids() == {"batch_9"} and store.last_batch_end("judge") is None
        store.collected("batch_9")
        assert store.open_batches("judge") == {} and store.last_batch_end("judge") is not None
