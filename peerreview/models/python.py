"""A Python function as a model: a custom evaluatee, a scorer, a heuristic
baseline or a classifier, so anything can sit the exam.

``function: module:function`` is called with keyword arguments by role:

- evaluatee: ``fn(item=dict, prompt=str) -> str`` (the submission);
- pairwise reviewer: ``fn(item=dict, first=str, second=str)`` returns which is better:
  ``"first"``, ``"second"`` or ``"tie"``; or ``"A"``, ``"B"``, ``"tie"`` (any case);
  or ``1``/``2``; or ``None`` to abstain;
- pointwise reviewer: ``fn(item=dict, output=str, scale=(low, high))`` returns a
  number (or a string holding one), or ``None`` to abstain.

Anything else a reviewer returns (``True``, ``"yes"``, ``0.7`` for a pair) is a failed
call whose message quotes the value and the contract: read as an abstention, a
reviewer that answers in its own words would seem to say nothing.

``item`` holds the item's fields (``item``, ``input``, ``reference``, ``meta``). A
plain function runs in a worker thread; an ``async def`` runs on the event loop.

``module`` is looked for in the config file's folder first, then on ``sys.path``
(:func:`load_function`).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.machinery
import inspect
import math
import numbers
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.models.base import CallError, Health, InProcess, Response, Style
from peerreview.models.config import ModelConfig

PAIRWISE_CONTRACT = ("a pairwise reviewer returns 'first', 'second' or 'tie' ('A', 'B' "
                     "or 'tie' in any case, or 1 or 2), or None to abstain")
POINTWISE_CONTRACT = "a pointwise reviewer returns a number, or None to abstain"
_VERDICTS = {"first": "first", "second": "second", "tie": "tie", "a": "first",
             "b": "second", "1": "first", "2": "second"}
_PATH_LOCK = threading.Lock()  # sys.path is shared by every thread of the process
_FROM_FOLDER: dict[str, Path] = {}  # top-level module -> the config folder it came from


def load_function(spec: str, field: str, folder: Path | None = None) -> Callable[..., Any]:
    """Import ``module:function``, naming the config field when it cannot be found.

    With ``folder`` (the config file's), ``module`` is looked for there first, then on
    ``sys.path``. The folder is on ``sys.path`` only while the module is imported: what
    the module imports at its top level may sit beside it, but an ``import`` run later,
    inside a function, sees ``sys.path`` as it was.

    Raises:
        InputError: the module or the function is not found, or importing it failed.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = _import(module_name, folder)
    except InputError as exc:
        raise InputError(exc.message, field=field) from exc
    except Exception as exc:  # a user's module may raise anything while it loads
        raise InputError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}",
                         field=field) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(f"module {module_name!r} has no function {attr!r}", field=field)
    return fn  # type: ignore[no-any-return]


def _import(module_name: str, folder: Path | None) -> Any:
    top = module_name.partition(".")[0]
    importlib.invalidate_caches()  # a module written since the last import is seen
    if folder is None or importlib.machinery.PathFinder.find_spec(top, [str(folder)]) is None:
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            where = f" (looked in {folder}, then on sys.path)" if folder else ""
            raise InputError(f"cannot import module {module_name!r}: {exc}{where}") from exc
    loaded = sys.modules.get(top)
    if loaded is not None and not _inside(loaded, folder):
        if top not in _FROM_FOLDER:  # an installed module of that name is in use
            raise InputError(f"module {top!r} in {folder} has the name of a module already "
                             f"imported from {getattr(loaded, '__file__', None) or '?'}: "
                             "rename the file")
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]  # another config's module of that name: this one's now
    with _first_on_path(folder):
        module = importlib.import_module(module_name)
    _FROM_FOLDER[top] = folder
    return module


def _inside(module: Any, folder: Path) -> bool:
    paths = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    return any(p and Path(p).resolve().is_relative_to(folder.resolve()) for p in paths)


@contextmanager
def _first_on_path(folder: Path) -> Iterator[None]:
    """``folder`` first on ``sys.path`` while a module is imported, then removed."""
    entry = str(folder)
    with _PATH_LOCK:
        sys.path.insert(0, entry)
        try:
            yield
        finally:
            sys.path.remove(entry)  # the first occurrence: the one inserted


def pairwise_answer(value: Any) -> str:
    """A pairwise reviewer function's answer as ``first``, ``second``, ``tie`` or ``""``
    (an abstention).

    Raises:
        ValueError: the value is outside the contract.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        key = value.strip().lower()
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        key = str(int(value))
    else:
        key = None
    if key not in _VERDICTS:
        raise ValueError(f"returned {_quoted(value)}; {PAIRWISE_CONTRACT}")
    return _VERDICTS[key]


def pointwise_answer(value: Any) -> str:
    """A pointwise reviewer function's score as text, or ``""`` (an abstention).

    Raises:
        ValueError: the value is not a finite number (a bool is not one).
    """
    if value is None:
        return ""
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"returned {_quoted(value)}; {POINTWISE_CONTRACT}")
    return repr(number)


def _quoted(value: Any, limit: int = 80) -> str:
    text = repr(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{text} ({type(value).__name__})"


class PythonBackend(InProcess):
    """Calls a Python function; the request's ``call`` holds its keyword arguments."""

    style: Style = "call"

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.context_tokens: int | None = None
        self.health = Health()
        # A run imports its functions from the config's folder first (load_functions):
        # they are in sys.modules by the time the backend is made.
        self.fn = load_function(str(config.function), f"models.{name}.function")

    def count_tokens(self, text: str) -> int:
        return 0

    async def complete(self, request: dict[str, Any], *, attempts: int | None = None,
                       on_attempt: Callable[[], None] | None = None) -> Response:
        kwargs = request["call"]
        try:
            if inspect.iscoroutinefunction(self.fn):
                value = await self.fn(**kwargs)
            else:
                value = await asyncio.to_thread(self.fn, **kwargs)
        except Exception as exc:  # a user's function may raise anything; report it as a failed call
            raise CallError(f"model {self.name!r}: {type(exc).__name__}: {exc}",
                            self.name) from exc
        try:
            return Response(_answer(kwargs, value))
        except ValueError as exc:
            raise CallError(f"model {self.name!r}: {exc}", self.name) from exc


def _answer(kwargs: dict[str, Any], value: Any) -> str:
    """What the function returned, read by its role (the arguments it was given)."""
    if "first" in kwargs:
        return pairwise_answer(value)
    if "scale" in kwargs:
        return pointwise_answer(value)
    return "" if value is None else str(value)  # a submission
