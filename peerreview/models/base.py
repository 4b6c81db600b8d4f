"""One async interface for every model backend.

A request is a plain JSON-able dict: it is both what the backend sends and,
with the provider and model, what keys the call in the run store. Its keys:
``messages`` (chat) or ``prompt`` (completion), or ``call`` (a python model's
arguments), plus ``max_tokens``, ``temperature``, ``seed``, ``stop``,
``top_logprobs`` and ``response_format`` where they apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from peerreview.errors import PeerReviewError


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` where no tokenizer is at hand: 4 characters a token, rounded up."""
    return -(-len(text) // 4)


class CallError(PeerReviewError):
    """A model call that failed for good (after its retries)."""


@dataclass(slots=True)
class Response:
    """What a model answered."""

    text: str
    top_logprobs: dict[str, float] | None = None  # first answer token -> log-probability
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Backend(Protocol):
    """A model behind one async call."""

    context_tokens: int | None  # prompt and answer must fit in this; None: no known limit

    async def complete(self, request: dict[str, Any]) -> Response:
        """Answer one request; raise :class:`CallError` when it fails for good."""
        ...

    def count_tokens(self, text: str) -> int:
        """The number of tokens of ``text`` (an estimate where no tokenizer is at hand)."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...
