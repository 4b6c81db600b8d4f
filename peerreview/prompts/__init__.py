"""Prompt templates (Jinja2 files beside this module) and fitting them into a context.

``chat/`` holds the reviewer prompts for instruction-following chat models,
``completion/`` those for base models read through next-token probabilities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from importlib.resources import files

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from peerreview.errors import InputError

TRUNCATION_MARK = "\n[... truncated ...]\n"
_ENV = jinja2.Environment(loader=jinja2.PackageLoader("peerreview", "prompts"),
                          undefined=jinja2.StrictUndefined, autoescape=False)


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


def task_template(source: str) -> jinja2.Template:
    """The task prompt of a config, checked for syntax at load time. Configs are
    shared, so the prompt is rendered in Jinja2's sandbox: it can read the item's
    fields and nothing of Python's."""
    try:
        return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined,
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
