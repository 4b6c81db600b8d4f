"""Non-LLM evaluatees and reviewers of the demo (``provider: python``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style word-overlap F1 between an answer and the reference."""
    a, r = Counter(_words(answer)), Counter(_words(reference))
    common = sum((a & r).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def reference_answer(item: dict[str, Any], prompt: str) -> str:
    """An evaluatee that answers with the reference: the ceiling."""
    return f"{item['reference']}."


def echo_question(item: dict[str, Any], prompt: str) -> str:
    """An evaluatee that repeats the question: the floor."""
    return str(item["input"])


def overlap(item: dict[str, Any], first: str, second: str) -> str:
    """A reviewer that prefers the answer with the higher word-overlap F1 against the
    reference (a classic non-LLM metric)."""
    reference = item.get("reference") or ""
    f1, f2 = token_f1(first, reference), token_f1(second, reference)
    return "first" if f1 > f2 else "second" if f2 > f1 else "tie"


def longer(item: dict[str, Any], first: str, second: str) -> str:
    """A reviewer that prefers the longer answer: verbosity bias in its purest form."""
    n1, n2 = len(first.split()), len(second.split())
    return "first" if n1 > n2 else "second" if n2 > n1 else "tie"
