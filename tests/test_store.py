"""The run store: stable keys, no secrets, responses survive a kill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peerreview.store import RunStore, call_key

REQUEST = {"provider": "openai", "model": "gpt-4o", "base_url": "http://127.0.0.1:8000/v1",
           "params": {"temperature": 0, "max_tokens": 8},
           "messages": [{"role": "user", "content": "Which is better, A or B?"}]}


def test_key_ignores_key_order_and_follows_content() -> None:
    reordered = dict(reversed(list(REQUEST.items())))
    assert call_key(reordered) == call_key(REQUEST)
    changed = REQUEST | {"params": {"temperature": 0.7, "max_tokens": 8}}
    assert call_key(changed) != call_key(REQUEST)
    assert len(call_key(REQUEST)) == 64


def test_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        call_key(REQUEST | {"api_key": "sk-secret"})


def test_put_get_and_errors_do_not_count_as_answers(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        key = store.put("openai", "gpt-4o", REQUEST, error="HTTP 500")
        assert store.get(key) is None  # an error is retried, not replayed
        store.put("openai", "gpt-4o", REQUEST, response="A", prompt_tokens=12,
                  completion_tokens=1, latency_s=0.05, cost_usd=0.001)
        store.put("openai", "gpt-4o", REQUEST, error="late error")  # never replaces
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
        "from peerreview.store import RunStore\n"
        "s = RunStore(sys.argv[1])\n"
        "for i in range(50):\n"
        "    s.put('p', 'm', {'i': i}, response=str(i))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    db = tmp_path / "run.sqlite"
    done = subprocess.run([sys.executable, "-c", script, str(db)], check=False,
                          env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == -9
    with RunStore(db) as store:
        assert store.totals()["calls"] == 50
        assert all(store.get(call_key({"i": i})) is not None for i in range(50))


def test_records_replace_a_kind_as_a_whole(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        store.set_records("judgments", [{"item": "t1"}, {"item": "t2"}])
        store.set_records("submissions", [{"item": "t1", "model": "A"}])
        store.set_records("judgments", [{"item": "t3"}])
        assert store.records("judgments") == [{"item": "t3"}]
        assert store.records("submissions") == [{"item": "t1", "model": "A"}]
        assert store.records("exam") == []
