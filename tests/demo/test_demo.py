"""The built-in demo on the real embedded model (Gemma 3 270M through llama.cpp).

CI installs the [local] extra; without llama-cpp-python (or with
PEERREVIEW_SKIP_LOCAL=1) these tests skip and say why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from peerreview.cli import main
from tests.conftest import needs_llama

pytestmark = [needs_llama, pytest.mark.slow]


def test_demo_runs_the_embedded_model_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert board[0]["model"] == "reference-answer"
    assert {row["model"] for row in board} == {"gemma-fewshot", "gemma-hot",
                                               "reference-answer", "echo-question"}
    reviewers = {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}
    assert set(reviewers) == {"gemma-judge", "overlap", "longer"}
    assert reviewers["overlap"]["qualified"] and reviewers["overlap"]["exam_accuracy"] == 1.0
    assert not reviewers["longer"]["qualified"]  # the exam drops the verbosity heuristic
    # The embedded reviewer was read from next-token probabilities.
    gemma = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()
             if '"gemma-judge"' in line]
    assert len(gemma) == 24 and all(j["raw"].startswith("P(A)=") for j in gemma)
    outputs = [json.loads(line) for line in (out / "submissions.jsonl").read_text().splitlines()]
    assert sum(s["model"] == "gemma-fewshot" for s in outputs) == 12
    assert all(s["output"] for s in outputs if s["model"] == "gemma-fewshot")
    for name in ("report.html", "summary.md", "verdicts.jsonl", "cost.json", "run.json"):
        assert (out / name).exists(), name
    capsys.readouterr()
    # Again: everything from the store, the same ranking.
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    summary = next(line for line in capsys.readouterr().out.splitlines()
                   if "calls made" in line)
    made, stored = re.match(r"(\d+) calls made, (\d+) answered from the store", summary).groups()
    assert int(made) == 0 and int(stored) > 0
    assert json.loads((out / "leaderboard.json").read_text()) == board


def test_embedded_model_scores_pointwise_from_rating_probabilities(tmp_path: Path) -> None:
    from tests.conftest import write_jsonl

    write_jsonl(tmp_path / "items.jsonl", [{"item": "q", "input": "What is 3 + 3?"}])
    write_jsonl(tmp_path / "subs.jsonl", [{"item": "q", "model": "right", "output": "6"},
                                          {"item": "q", "model": "wrong", "output": "9"}])
    (tmp_path / "run.yaml").write_text(
        "task: {items: items.jsonl, submissions: subs.jsonl}\n"
        "models: {tiny: {provider: local}, right: {provider: local}, wrong: {provider: local}}\n"
        "evaluatees: [right, wrong]\nreviewers: [tiny]\nreview: {mode: 5-level}\n"
        "chair: {bootstrap: 0}\n")
    assert main(["run", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    scores = [json.loads(line) for line in
              (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()]
    assert len(scores) == 2
    for s in scores:
        assert s["scale"] == [1, 5] and 1 <= s["score"] <= 5 and s["raw"].startswith("P(1)=")


def test_sampling_is_seeded_per_call_whatever_ran_before() -> None:
    """A sampled answer (temperature 1.5, as the demo's gemma-hot) depends on its own
    request only: the same call gives the same text after other calls, and another
    run seed gives another sample."""
    import asyncio

    from peerreview.models.config import ModelConfig
    from peerreview.models.local import LocalBackend, call_seed

    backend = LocalBackend("hot", ModelConfig(provider="local"))
    request = {"prompt": "Q: Name a colour.\nA:", "temperature": 1.5, "max_tokens": 12,
               "seed": 0}
    other = {"prompt": "Q: Name an animal.\nA:", "temperature": 1.5, "max_tokens": 12,
             "seed": 0}

    async def ask(*requests: dict[str, object]) -> list[str]:
        return [(await backend.complete(r)).text for r in requests]

    first = asyncio.run(ask(request))[0]
    after_other = asyncio.run(ask(other, request))[1]
    assert after_other == first
    assert call_seed(request) != call_seed({**request, "seed": 1})
    assert call_seed(request) == call_seed(dict(reversed(list(request.items()))))
