"""Soft verdicts and strong ones end to end: a chat reviewer with ``logprobs: true``
records p_first from its answer's first token; ``rank --soft`` and ``--strength N``
(and ``chair.soft`` / ``chair.strength`` in a run config) reach the chair."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from peerreview.cli import main
from peerreview.live.config import ModelConfig, RunConfig
from peerreview.live.inputs import rank_options
from peerreview.review.asker import first_share
from tests.conftest import pw, served, write_jsonl
from tests.livetask import EVALUATEES, write_config, write_task

# The fake reviewer's first-token probabilities when it picks A (mirrored for B):
# p_first = (.7 + .1 / 2) / 1 = .75, and .25 when it picks B.
PICK_A = {"A": 0.7, "B": 0.2, "tie": 0.1}


def test_first_share_by_hand() -> None:
    top = {" A": math.log(0.3), "A": math.log(0.2), "B": math.log(0.3), "Tie": math.log(0.2),
           " C": math.log(0.9)}
    assert first_share(top) == pytest.approx((0.5 + 0.1) / 1.0)  # (P(A) + P(tie)/2) / sum
    assert first_share({"A": math.log(0.1), "B": math.log(0.3)}) == pytest.approx(0.25)
    assert first_share({" C": 0.0, "**": math.log(0.5)}) is None
    # a chat answer must start with its verdict: here it starts with a newline
    newline_first = {"\n": math.log(0.6), "A": math.log(0.01), "B": math.log(0.03)}
    assert first_share(newline_first) == pytest.approx(0.25)
    assert first_share(newline_first, verdict_first=True) is None
    assert first_share({" tie": math.log(0.5), "A": math.log(0.5)},
                       verdict_first=True) == pytest.approx(0.75)


class _Chat(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint: evaluatees answer by their name's length,
    the reviewer picks the longer answer and, when asked, sends top_logprobs."""

    bodies: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": m, "object": "model"} for m in
                                               [*EVALUATEES, "judge", "blurt"]]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        logprobs = None
        if "[Answer A]" in prompt:
            type(self).bodies.append(body)
            a = prompt.split("[Answer A]\n")[1].split("\n\n[Answer B]")[0]
            b = prompt.split("[Answer B]\n")[1].split("\n\nWhich answer")[0]
            text = "A" if len(a) > len(b) else "B"
            probs = PICK_A if text == "A" else {"A": 0.2, "B": 0.7, "tie": 0.1}
            if body["model"] == "blurt":  # starts with a newline, the verdict second
                text, probs = "\n" + text, {"\n": 0.6, "A": 0.01, "B": 0.03}
            if body.get("logprobs"):
                top = [{"token": t, "logprob": math.log(p)} for t, p in probs.items()]
                logprobs = {"content": [{"token": text[0], "logprob": math.log(0.6),
                                         "top_logprobs": top}]}
        else:
            text = {"strong": "a long and careful answer", "medium": "an answer",
                    "weak": "no"}[body["model"]]
        self._send({"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 1,
                              "total_tokens": 11}})


@pytest.fixture
def chat() -> Iterator[str]:
    _Chat.bodies = []
    with served(_Chat) as url:
        yield url


def _judgments(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("logprobs", [True, False])
def test_a_chat_reviewer_with_logprobs_records_p_first(chat: str, tmp_path: Path,
                                                       logprobs: bool) -> None:
    write_task(tmp_path, n_items=2)
    config = write_config(tmp_path, chat, reviewers={"judge": {"logprobs": logprobs}},
                          exam=False)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    judgments = _judgments(tmp_path / "out")
    assert len(judgments) == 2 * 6
    asked = [(b.get("logprobs"), b.get("top_logprobs")) for b in _Chat.bodies]
    if logprobs:
        assert set(asked) == {(True, 20)}
        assert sorted((j["winner"], j["p_first"]) for j in judgments) == \
            [("first", 0.75)] * 6 + [("second", 0.25)] * 6
    else:
        assert set(asked) == {(None, None)}
        assert all("p_first" not in j for j in judgments)
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [row["model"] for row in board] == EVALUATEES


def test_an_answer_not_starting_with_its_verdict_stays_hard(chat: str, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    write_task(tmp_path, n_items=2)
    config = write_config(tmp_path, chat, reviewers={"blurt": {"logprobs": True}}, exam=False)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    judgments = _judgments(tmp_path / "out")
    assert len(judgments) == 12 and all("p_first" not in j for j in judgments)
    assert sorted(j["winner"] for j in judgments) == ["first"] * 6 + ["second"] * 6
    warned = [r.getMessage() for r in caplog.records if "likeliest first token" in
              r.getMessage()]
    assert len(warned) == 1 and "'blurt'" in warned[0]


def test_logprobs_is_for_chat_endpoints_without_structured_output() -> None:
    ModelConfig(provider="openai", model="m", logprobs=True)
    for bad in ({"provider": "anthropic", "model": "m"}, {"provider": "local"},
                {"provider": "openai", "model": "m", "structured_output": True}):
        with pytest.raises(ValueError, match="logprobs: true reads the first answer token"):
            ModelConfig(**bad, logprobs=True)  # type: ignore[arg-type]


def test_a_run_configs_chair_passes_strength_and_soft() -> None:
    python = {"provider": "python", "function": "m:f"}
    base = {"task": {"items": "items.jsonl"}, "models": {"a": python, "b": python},
            "evaluatees": ["a", "b"], "reviewers": ["a"]}
    default = rank_options(RunConfig.model_validate(base))
    assert (default.strength, default.soft) == (3, False)
    given = rank_options(RunConfig.model_validate({**base, "chair": {"strength": 1,
                                                                     "soft": True}}))
    assert (given.strength, given.soft) == (1, True)
    with pytest.raises(ValueError, match="strength"):
        RunConfig.model_validate({**base, "chair": {"strength": 0}})


# t1: A>>B with A shown first, and B>A with B shown first: a tie unless A>>B counts
# more than once. t2: A wins with p_first .6 (A first); B wins with p_first .9 (B first):
# a tie hard, B ahead soft (.2 - .8 < 0).
RANKED = [{**pw("t1", "r", "A", "B", "first"), "strength": 2}, pw("t1", "r", "B", "A", "first"),
          {**pw("t2", "r", "A", "B", "first"), "p_first": 0.6},
          {**pw("t2", "r", "B", "A", "first"), "p_first": 0.9}]


@pytest.mark.parametrize(("flags", "scores"), [
    ([], {"A": 0.75, "B": 0.25}),  # t1 to A (3 - 1 > 0), t2 a tie
    (["--strength", "1"], {"A": 0.5, "B": 0.5}),  # both ties
    (["--soft"], {"A": 0.5, "B": 0.5}),  # t1 to A, t2 to B
    (["--soft", "--strength", "1"], {"A": 0.25, "B": 0.75}),  # t1 a tie, t2 to B
])
def test_rank_strength_and_soft(tmp_path: Path, flags: list[str], scores: dict[str, float],
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", RANKED)
    out = tmp_path / "out"
    assert main(["rank", "--judgments", str(path), "--out", str(out), "--quiet", *flags]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert {row["model"]: row["score"] for row in board} == scores
    said = capsys.readouterr().err
    assert ("1 strong verdict(s) (strength 2, arena-hard's >>) counted 3 times each"
            in said) == ("1" not in flags)
    assert ("--soft: 2 of 4 pairwise judgment(s) vote by their p_first" in said) == \
        ("--soft" in flags)
    options = json.loads((out / "run.json").read_text())["rank"]["options"]
    assert (options["strength"], options["soft"]) == \
        (1 if "1" in flags else 3, "--soft" in flags)


def test_rank_refuses_strength_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", RANKED)
    assert main(["rank", "--judgments", str(path), "--out", str(tmp_path / "o"),
                 "--strength", "0"]) == 2
    assert "--strength must be a whole number >= 1, got 0" in capsys.readouterr().err
