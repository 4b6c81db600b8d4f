"""Prompt templates (Jinja2 files beside this module) and fitting them into a context.

``chat/`` holds the reviewer prompts for instruction-following chat models,
``completion/`` those for base models read through next-token probabilities.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache, wraps
from importlib.resources import files
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from peerreview.errors import InputError

TRUNCATION_MARK = "\n[... truncated ...]\n"
# auto_reload off: the package's templates do not change under a run, and checking the
# file's date on every call cost a stat per prompt (a sixth of a live run's CPU).
_ENV = jinja2.Environment(loader=jinja2.PackageLoader("peerreview", "prompts"),
                          undefined=jinja2.StrictUndefined, autoescape=False,
                          auto_reload=False)


def reviewer_template(style: str, mode: str) -> jinja2.Template:
    """The reviewer prompt for a ``chat`` or ``completion`` model in a review mode."""
    return _ENV.get_template(f"{style}/{mode}.j2")


def reask_template() -> jinja2.Template:
    return _ENV.get_template("chat/reask.j2")


@cache
def template_hash(name: str) -> str:
    """A short hash of a shipped template's text, for the run's provenance."""
    text = files("peerreview").joinpath("prompts", name).read_bytes()
    return hashlib.sha256(text).hexdigest()[:12]


MAX_TEXT = 1_000_000  # characters (or sequence items) a task prompt may make
MAX_WORK = 1_000_000  # range() items and multiplied sequence items in one rendering
MAX_POWER_BITS = 10_000  # the size of a ** result
_WORK: ContextVar[list[int] | None] = ContextVar("_WORK", default=None)
# %-format and str.format widths or precisions of 7 digits and more, or taken from an
# argument (a width is an allocation).
_PERCENT_WIDTH = re.compile(r"%[#0\- +]*(\*|\d{7,}|\d*\.(\*|\d{7,}))")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*\d{7,}")


def _work(amount: int, what: str) -> None:
    """Count ``amount`` items of work against this rendering's budget."""
    if amount > MAX_TEXT:
        raise SecurityError(f"the task prompt asks for {what} of {amount:,} items, more "
                            f"than the {MAX_TEXT:,} allowed")
    spent = _WORK.get()
    if spent is not None:
        spent[0] += amount
        if spent[0] > MAX_WORK:
            raise SecurityError(f"the task prompt does more than {MAX_WORK:,} items of work "
                                "(ranges and repeated text, loops within loops)")


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    _work(len(numbers), "a range()")
    return numbers


def _check_args(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a call that would allocate more than allowed, before it does."""
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_TEXT:
            raise SecurityError(f"the task prompt passes {arg:,} to {name}(), more than the "
                                f"{MAX_TEXT:,} allowed")
    if not isinstance(value, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[1], str):
        old, new = str(args[0]), args[1]
        hits = value.count(old) if old else len(value) + 1
        _work(len(value) + hits * max(0, len(new) - len(old)), "a replace()")
    elif name == "indent" and args and isinstance(args[0], int):
        _work(len(value) + (value.count("\n") + 1) * args[0], "an indent()")
    elif name in ("format", "format_map") and _FORMAT_WIDTH.search(value):
        raise SecurityError("the task prompt formats with a width of a million characters "
                            "or more")


def _checked_size(result: Any, what: str) -> Any:
    if isinstance(result, str | list | tuple | bytes):
        _work(len(result), what)
    return result


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)  # keeps jinja_pass_arg: the filter still gets its context
    def bounded(*args: Any, **kwargs: Any) -> Any:
        first = next((a for a in args if not isinstance(a, Context | jinja2.Environment)),
                     None)
        rest = args[args.index(first) + 1:] if first is not None else ()
        if name == "format" and isinstance(first, str) and _PERCENT_WIDTH.search(first):
            raise SecurityError("the task prompt formats with a width of a million "
                                "characters or more")
        _check_args(name, first, rest, kwargs)
        return _checked_size(function(*args, **kwargs), f"the {name} filter's result")
    return bounded


class _BoundedTemplate(jinja2.Template):
    """A template whose rendering counts its work and caps its output."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        token = _WORK.set([0])
        try:
            pieces, size = [], 0
            for piece in self.generate(*args, **kwargs):
                size += len(piece)
                if size > MAX_TEXT:
                    raise SecurityError(f"the task prompt renders to more than {MAX_TEXT:,} "
                                        "characters")
                pieces.append(piece)
            return "".join(pieces)
        finally:
            _WORK.reset(token)


class TaskSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox with its resources bounded: ``range()``, sequence ``*``, ``**``,
    ``%``-formatting, method calls and filters are refused (a
    :class:`jinja2.exceptions.SecurityError`) before they make more than
    :data:`MAX_TEXT` items, one rendering does at most :data:`MAX_WORK` such items
    of work, and its output is at most :data:`MAX_TEXT` characters. (A loop within a
    loop over text the template did not make is bounded by the items' own sizes.)"""

    intercepted_binops = frozenset({"*", "**", "%"})
    template_class = _BoundedTemplate

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``*``, ``**`` and ``%`` with their results bounded before they are made."""
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _work(len(seq) * max(0, times), "repeated text")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and \
                right > 0 and max(1, abs(left).bit_length()) * right > MAX_POWER_BITS:
            raise SecurityError(f"the task prompt raises {left} to {right}: a number of more "
                                f"than {MAX_POWER_BITS:,} bits")
        elif operator == "%" and isinstance(left, str) and _PERCENT_WIDTH.search(left):
            raise SecurityError("the task prompt formats with a width of a million "
                                "characters or more")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        """A method or function call, refused if it would make too much."""
        bound = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped
        name = "range" if __obj is _bounded_range else getattr(__obj, "__name__", "?")
        _check_args(name, getattr(bound, "__self__", None),
                    args, kwargs)
        return _checked_size(super().call(__context, __obj, *args, **kwargs),
                             "a call's result")


def task_template(source: str) -> jinja2.Template:
    """The task prompt of a config, checked for syntax at load time. Configs are
    shared, so the prompt is rendered in a sandbox (:class:`TaskSandbox`): it can read
    the item's fields and nothing of Python's, and its time and memory are bounded.

    Raises:
        InputError: a syntax error, naming the template's line.
    """
    try:
        return TaskSandbox(undefined=jinja2.StrictUndefined,
                           autoescape=False).from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"bad Jinja2 template: {exc.message} (template line {exc.lineno})",
                         field="task.prompt") from exc


def fit(render: Callable[[dict[str, str]], str], fields: dict[str, str], shrinkable: list[str],
        count: Callable[[str], int], budget: int) -> tuple[str, bool]:
    """Render, cutting the middle of the longest ``shrinkable`` fields until the
    prompt has at most ``budget`` tokens. Returns the prompt and whether it was cut.

    Raises:
        ValueError: even with those fields emptied the prompt does not fit.
    """
    text = render(fields)
    if count(text) <= budget:
        return text, False
    fields = dict(fields)
    for _ in range(12):
        excess = count(text) - budget
        if excess <= 0:
            return text, True
        name = max(shrinkable, key=lambda k: len(fields[k]))
        value = fields[name]
        if len(value) <= len(TRUNCATION_MARK):
            break
        # Characters to drop: the token excess at the text's own chars/token, plus slack.
        ratio = max(1.0, len(text) / max(1, count(text)))
        keep = max(0, len(value) - int(excess * ratio * 1.1) - len(TRUNCATION_MARK) - 8)
        fields[name] = value[: keep // 2] + TRUNCATION_MARK + value[len(value) - keep // 2:]
        text = render(fields)
    if count(text) <= budget:
        return text, True
    raise ValueError(f"the prompt needs {count(text)} tokens even with the answers cut, "
                     f"more than the {budget} the context allows")
