"""Helpers for live runs against the local stub endpoint: a small task and its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import pw, write_jsonl

EVALUATEES = ["strong", "medium", "weak"]


def write_task(folder: Path, n_items: int = 4, input_chars: int = 40) -> None:
    """Items, and exam gold saying strong > medium > weak on the first two items."""
    write_jsonl(folder / "items.jsonl", [
        {"item": f"t{i}", "input": f"Question {i}: " + "x" * input_chars}
        for i in range(n_items)])
    gold = []
    for i in range(2):
        gold += [pw(f"t{i}", "human", "strong", "medium", "first"),
                 pw(f"t{i}", "human", "medium", "weak", "first"),
                 pw(f"t{i}", "human", "strong", "weak", "first")]
    write_jsonl(folder / "gold.jsonl", gold)


def write_config(folder: Path, url: str, *, reviewers: dict[str, dict[str, Any]] | None = None,
                 model: dict[str, Any] | None = None, exam: bool = True,
                 mode: str = "pairwise", **top: Any) -> Path:
    """A run config over the stub: three evaluatees and the given reviewers."""
    base = {"provider": "openai", "base_url": url, "concurrency": 4, "timeout_s": 5,
            "max_retries": 3, **(model or {})}
    reviewers = reviewers if reviewers is not None else {"judge-1": {}, "judge-2": {}}
    models = {e: {**base, "model": e} for e in EVALUATEES}
    models.update({r: {**base, "model": r, **extra} for r, extra in reviewers.items()})
    config: dict[str, Any] = {
        "task": {"items": "items.jsonl", "prompt": "Answer: {{ input }}"},
        "models": models, "evaluatees": EVALUATEES, "reviewers": list(reviewers),
        "review": {"mode": mode}, "chair": {"bootstrap": 50}, **top}
    if exam:
        config["exam"] = {"gold": "gold.jsonl"}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def expected_calls(n_items: int, reviewers: int, mode: str = "pairwise") -> int:
    """Calls of a full run with every reviewer qualifying (exam questions are the same
    calls as the review's on those items, so they are not made twice)."""
    n = len(EVALUATEES)
    per_item = n * (n - 1) if mode == "pairwise" else n
    return n * n_items + reviewers * per_item * n_items
