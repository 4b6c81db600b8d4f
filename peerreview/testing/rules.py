"""What the stub knows: the state a test reads and sets (what it was asked, the faults
it injects), and the rules by which its models answer, shared by its chat, Messages and
batch APIs (:mod:`peerreview.testing.stub`, :mod:`peerreview.testing.batches`)."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

QUALITY = {"strong": 3, "medium": 2, "weak": 1}
FAULTS = ("429", "500", "stall", "drop", "garbage", "garbage-once", "echo-key",
          "empty-choices", "null-message", "list-body", "retry-after-long", "reasoning",
          "off-scale")


@dataclass
class StubState:
    """What the server was asked, and how it misbehaves."""

    latency_s: float = 0.0
    faults: dict[str, str] = field(default_factory=dict)  # model -> fault
    fault_attempts: int = 1  # how many attempts per request the fault hits
    max_context: int | None = None
    stall_s: float = 30.0  # a stall's length (or until the server stops)
    retry_after: str = "1"  # what the 429 fault's Retry-After header says
    # Chat completions answered so far; once hold_after are, the next ones wait (a client
    # to be killed mid-run, with calls in flight) until it is raised or set to None.
    answered: int = 0
    hold_after: int | None = None
    calls: Counter[str] = field(default_factory=Counter)  # model -> requests received
    attempts: Counter[str] = field(default_factory=Counter)  # request hash -> attempts
    invert: bool = False  # reviewers prefer the worse answer (a second, different server)
    served: list[str] | None = None  # what GET /models lists; None: 404 there
    models_status: int | None = None  # GET /models answers this status instead
    # Batch APIs: polls before a batch ends; in a batch's first submission, its first
    # line errors and its second expires; results come in reverse order.
    batch_polls: int = 2
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    batch_lines: Counter[str] = field(default_factory=Counter)  # custom_id -> submissions
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every request body
    headers: list[dict[str, str]] = field(default_factory=list)  # and its headers


STATE = web.AppKey("state", StubState)
# Set when the server stops: a stalled request stops waiting (so the server stops at once).
STOPPING = web.AppKey("stopping", asyncio.Event)


def _long_judge(prompt: str, first: str, second: str) -> str:
    """A reviewer named ``long...`` is length-biased (benchmarks/style.py): it prefers A
    with probability sigmoid(1.5 (c_A - c_B) + 4 (l_A - l_B) / (l_A + l_B)), c counting
    "correct" and l the characters, by a coin seeded with the prompt (a call asked again
    gets the same answer)."""
    first, second = first.strip(), second.strip()
    d = 1.5 * (first.count("correct") - second.count("correct")) + \
        4.0 * (len(first) - len(second)) / max(len(first) + len(second), 1)
    coin = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big") / 2.0 ** 64
    return "A" if coin < 1.0 / (1.0 + math.exp(-d)) else "B"


def answer(model: str, prompt: str) -> str:
    """What ``model`` answers to ``prompt`` (see the stub's docstring)."""
    if "Response A:" in prompt and '"winner"' in prompt:  # peereval's judge prompt
        a = prompt.split("Response A:", 1)[1].split("Response B:", 1)
        first, second = a[0].count("correct"), a[1].split("Which response", 1)[0].count("correct")
        winner = "A" if first > second else "B" if second > first else "tie"
        return f'{{"winner": "{winner}", "confidence": 0.9, "reason": "stub"}}'
    if "[Answer A]" in prompt:
        a = prompt.split("[Answer A]", 1)[1].split("[Answer B]", 1)
        if model.startswith("long"):
            return _long_judge(prompt, a[0], a[1].split("Which answer", 1)[0])
        first, second = a[0].count("correct"), a[1].split("Which answer", 1)[0].count("correct")
        return "A" if first > second else "B" if second > first else "tie"
    if "[Answer]" in prompt:
        n = prompt.split("[Answer]", 1)[1].count("correct")
        if "0 to 100" in prompt:
            return str(min(100, 25 * n + 10))
        return str(min(5, n + 1))
    return " ".join(["correct"] * QUALITY.get(model, 0) + [f"answer by {model}"])


def chat_body(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A chat completion's JSON body: ``model``'s answer to the first message."""
    prompt = str(messages[0].get("content", "")) if messages else ""
    text = answer(model, prompt)
    return {"id": "stub", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()),
                      "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())}}
