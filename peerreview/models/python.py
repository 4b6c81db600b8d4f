"""A Python function as a model: a custom evaluatee, a scorer, a heuristic
baseline or a classifier, so anything can sit the exam.

``function: module:function`` is called with keyword arguments by role:

- evaluatee: ``fn(item=dict, prompt=str) -> str`` (the submission);
- pairwise reviewer: ``fn(item=dict, first=str, second=str) -> "first" | "second" |
  "tie" | None``;
- pointwise reviewer: ``fn(item=dict, output=str, scale=(low, high)) -> float | None``.

``item`` holds the item's fields (``item``, ``input``, ``reference``, ``meta``). A
plain function runs in a worker thread; an ``async def`` runs on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from peerreview.config import ModelConfig
from peerreview.errors import InputError
from peerreview.models.base import CallError, Health, InProcess, Response


def load_function(spec: str, field: str) -> Callable[..., Any]:
    """Import ``module:function``, naming the config field when it cannot be found."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import module {module_name!r}: {exc}", field=field) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(f"module {module_name!r} has no function {attr!r}", field=field)
    return fn  # type: ignore[no-any-return]


class PythonBackend(InProcess):
    """Calls a Python function; the request's ``call`` holds its keyword arguments."""

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.context_tokens: int | None = None
        self.health = Health()
        self.fn = load_function(str(config.function), f"models.{name}.function")

    def count_tokens(self, text: str) -> int:
        return 0


    async def complete(self, request: dict[str, Any]) -> Response:
        kwargs = request["call"]
        try:
            if inspect.iscoroutinefunction(self.fn):
                value = await self.fn(**kwargs)
            else:
                value = await asyncio.to_thread(self.fn, **kwargs)
        except Exception as exc:  # a user's function may raise anything; report it as a failed call
            raise CallError(f"model {self.name!r}: {type(exc).__name__}: {exc}",
                            self.name) from exc
        return Response("" if value is None else str(value))
