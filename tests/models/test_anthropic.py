"""Judges behind OpenAI and Anthropic in one run, against loopback fakes of both APIs
(peerreview.testing.stub serves /v1/chat/completions and /v1/messages as their docs spell them)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.models.anthropic import AnthropicBackend
from peerreview.models.config import ModelConfig
from peerreview.testing.stub import StubServer, StubState
from tests.livetask import EVALUATEES, write_config, write_task


def test_an_openai_and_an_anthropic_judge_in_one_run(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERREVIEW_CLAUDE_KEY", "sk-ant-test-0123456789")
    write_task(tmp_path)
    with StubServer(StubState()) as openai, StubServer(StubState()) as anthropic:
        anthropic.state.faults["claude-judge"] = "529"  # overloaded once: retried
        config = write_config(tmp_path, openai.url, reviewers={
            "gpt-judge": {},
            "claude-judge": {"provider": "anthropic", "base_url": anthropic.url,
                             "api_key_env": "PEERREVIEW_CLAUDE_KEY", "temperature": 0.0,
                             "price": {"input_per_mtok": 3, "output_per_mtok": 15}}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        sent = anthropic.state.bodies
        headers = anthropic.state.headers
    board = [r["model"] for r in json.loads((tmp_path / "out" / "leaderboard.json").read_text())]
    assert board == EVALUATEES
    rows = {r["reviewer"]: r for r in json.loads((tmp_path / "out" / "reviewers.json")
                                                 .read_text())}
    assert rows["claude-judge"]["exam_accuracy"] == 1.0 and rows["claude-judge"]["qualified"]
    assert len(sent) == 24 + 24  # every question once, and once more after the 529
    body = sent[0]
    assert set(body) == {"model", "messages", "max_tokens", "temperature"}
    assert body["max_tokens"] == 1024 and body["messages"][0]["role"] == "user"
    assert all(h["x-api-key"] == "sk-ant-test-0123456789" and
               h["anthropic-version"] == "2023-06-01" and "Authorization" not in h
               for h in headers)
    db = sqlite3.connect(tmp_path / "out" / "run.sqlite")
    tokens, cost = db.execute("SELECT SUM(prompt_tokens), SUM(cost_usd) FROM calls "
                              "WHERE model = 'claude-judge'").fetchone()
    assert tokens > 0 and cost == pytest.approx(
        sum(r[0] * 3 + r[1] * 15 for r in db.execute(
            "SELECT prompt_tokens, completion_tokens FROM calls WHERE model = 'claude-judge'"
        )) / 1e6)


def test_the_system_prompt_goes_apart_and_stop_is_spelled_the_anthropic_way() -> None:
    backend = AnthropicBackend("c", ModelConfig(provider="anthropic", model="claude-x",
                                                base_url="http://127.0.0.1:1/v1",
                                                params={"top_k": 5}))
    body = backend.prepare({"messages": [{"role": "system", "content": "Be terse."},
                                         {"role": "user", "content": "A or B?"}],
                            "max_tokens": 8, "stop": ["\n"], "seed": 3,
                            "response_format": {"type": "json_object"}})
    assert body == {"system": "Be terse.", "messages": [{"role": "user", "content": "A or B?"}],
                    "max_tokens": 8, "stop_sequences": ["\n"], "top_k": 5}
    answer = backend.read({"content": [{"type": "text", "text": "A"},
                                       {"type": "text", "text": "."}],
                           "usage": {"input_tokens": 12, "output_tokens": 2}})
    assert (answer.text, answer.prompt_tokens, answer.completion_tokens) == ("A.", 12, 2)


def test_anthropic_key_defaults_to_its_variable_on_its_own_api() -> None:
    assert ModelConfig(provider="anthropic", model="m").key_variable == "ANTHROPIC_API_KEY"
    assert ModelConfig(provider="anthropic", model="m").url == "https://api.anthropic.com/v1"
