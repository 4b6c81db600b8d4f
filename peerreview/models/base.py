"""One async interface for every model backend.

A request (:class:`Request`) is a plain JSON-able dict built by
:mod:`peerreview.review.asker` in the backend's :attr:`Backend.style`: ``messages``
(chat) or ``prompt`` (completion), or ``call`` (a python model's arguments), plus
the parameters the user set or the mode needs (``max_tokens``, ``temperature``,
``seed``, ``stop``, ``top_logprobs``, ``response_format``). Each backend turns it
into exactly what it sends (:meth:`Backend.prepare`); that, with the model's
identity, is what keys the call in the run store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

from peerreview.errors import PeerReviewError

# How a model is asked: chat messages, a text to complete (a base model, read by its
# next token's probabilities) or a Python function's arguments.
Style = Literal["chat", "completion", "call"]


class Request(TypedDict, total=False):
    """What is asked of a model, before its backend spells it (only the keys set are
    sent: an endpoint's own defaults stand for the rest).

    ``messages`` is a chat model's, ``prompt`` a completion model's, ``call`` a python
    model's arguments; the rest are parameters.
    """

    messages: list[dict[str, str]]
    prompt: str
    call: dict[str, Any]
    max_tokens: int
    temperature: float
    seed: int
    stop: list[str]
    top_logprobs: int
    response_format: dict[str, Any]


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` where no tokenizer is at hand: 4 characters a token, rounded up."""
    return -(-len(text) // 4)


class CallError(PeerReviewError):
    """A model call that failed for good (after its retries).

    Args:
        message: what failed, naming the model and the endpoint.
        model: the configured name of the model whose call failed.
    """

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


@dataclass(slots=True)
class Response:
    """What a model answered."""

    text: str
    top_logprobs: dict[str, float] | None = None  # first answer token -> log-probability
    prompt_tokens: int = 0
    completion_tokens: int = 0
    endpoint: str | None = None  # the URL that answered, where there is one


@dataclass(slots=True)
class Health:
    """A backend's trouble so far, shown live: retried attempts, calls failed for
    good, and why it is paused or stopped."""

    retries: int = 0
    failed: int = 0
    down: str | None = None  # set while the endpoint is paused or after it was refused


class Backend(Protocol):
    """A model behind one async call."""

    context_tokens: int | None  # prompt and answer must fit in this; None: no known limit
    health: Health
    style: Style  # how it is asked: chat messages, a prompt to complete, a call's arguments

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        """Exactly what will be sent for ``request`` (without the model's name and
        credentials): the call's key is computed from it."""
        ...

    async def check(self) -> None:
        """A cheap look at the endpoint before the first call; raise
        :class:`CallError` when it cannot serve this model at all."""
        ...

    async def complete(self, request: dict[str, Any], *, attempts: int | None = None,
                       on_attempt: Callable[[], None] | None = None) -> Response:
        """Answer one prepared request; raise :class:`CallError` when it fails for good.

        Args:
            request: what :meth:`prepare` returned.
            attempts: send it at most this many times (default: the model's
                ``max_retries + 1``). The caller passes what the run store says is left
                of the call's attempts, so that no call is sent more often than the
                config allows across processes.
            on_attempt: called just before each time the request is sent, so that the
                caller can count the attempt in the store before it can cost anything.
                A send again after a refused parameter (a reasoning model's
                ``max_tokens``, a ``response_format`` the endpoint does not take) is an
                attempt too. What is sent may be adapted so (remembered per
                endpoint); the call's key stays that of ``request``.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """The number of tokens of ``text`` (an estimate where no tokenizer is at hand)."""
        ...

    def secrets(self) -> list[str]:
        """Values that must never be stored or printed (keys, header values)."""
        ...

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> str:
        """Submit prepared requests ``(call key, body)`` to a batch API; its id."""
        ...

    async def batch_ended(self, batch_id: str) -> bool:
        """Whether a submitted batch has ended."""
        ...

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        """An ended batch's answers by call key: a response, or why there is none."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...


class InProcess:
    """What a model run in this process (llama.cpp, a Python function) needs of the
    interface: nothing to connect to or check, nothing secret, the request sent as
    built."""

    health: Health
    style: Style

    def prepare(self, request: dict[str, Any]) -> dict[str, Any]:
        return request

    async def check(self) -> None:
        return None

    def secrets(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None

    async def submit_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> str:
        raise CallError("a model run in this process has no batch API")

    async def batch_ended(self, batch_id: str) -> bool:
        raise CallError("a model run in this process has no batch API")

    async def batch_results(self, batch_id: str) -> dict[str, Response | str]:
        raise CallError("a model run in this process has no batch API")
