"""A model is asked in its backend's style (chat, completion, call), never by its
provider's name: the asker builds a typed request by the style, and nothing outside
models/ compares a provider's name."""

from __future__ import annotations

import ast
import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from peerreview.calls.caller import Tally
from peerreview.models import Request, Response, Style, make_backend
from peerreview.models.config import STYLES, ModelConfig
from peerreview.records.exchange import Item, PairwiseJudgment, Submission
from peerreview.review.asker import TOP_LOGPROBS, Asker, Question

PACKAGE = Path(__file__).resolve().parents[2] / "peerreview"
# Where providers are named by design: the backends, the importers of providers'
# files, and the stub that plays the providers' APIs.
OWN_PROVIDERS = ("models", "importers", "testing")
PROVIDER_NAMES = ("openai", "anthropic")  # "local" and "python" name other things too


def provider_branches(source: str) -> list[int]:
    """The lines of ``source`` that compare a provider's name or look up by it."""
    def names_provider(node: ast.AST) -> bool:
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(names_provider(n) for n in node.elts)
        return (isinstance(node, ast.Attribute) and node.attr == "provider") or (
            isinstance(node, ast.Constant) and node.value in PROVIDER_NAMES)

    def branches(node: ast.AST) -> bool:
        if isinstance(node, ast.Compare):
            return any(names_provider(n) for n in (node.left, *node.comparators))
        return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Attribute) \
            and node.slice.attr == "provider"

    return sorted(node.lineno for node in ast.walk(ast.parse(source)) if branches(node))


def test_the_check_sees_a_branch_on_a_provider() -> None:
    source = ('if m.provider == "local":\n    pass\n'
              'style = {"openai": "chat"}[m.provider]\n'
              'ok = kind in ("openai", "x")\n'
              'fine = executor.kind == "local"\n')
    assert provider_branches(source) == [1, 3, 4]


def test_nothing_outside_models_branches_on_a_providers_name() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.split("/")[0] in OWN_PROVIDERS:
            continue
        lines = provider_branches(path.read_text(encoding="utf-8"))
        if lines:
            found[relative] = lines
    assert found == {}


def test_each_backend_has_its_configs_style(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PR_TEST_KEY", "k")
    configs = {
        "openai": ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9"),
        "anthropic": ModelConfig(provider="anthropic", model="m", api_key_env="PR_TEST_KEY"),
        "local": ModelConfig(provider="local"),
        "python": ModelConfig(provider="python", function="json:dumps"),
    }
    styles = {p: (make_backend("x", c).style, c.style) for p, c in configs.items()}
    assert styles == {"openai": ("chat", "chat"), "anthropic": ("chat", "chat"),
                      "local": ("completion", "completion"), "python": ("call", "call")}
    assert set(STYLES) == set(configs)


class StyledBackend:
    """A backend of a given style that counts nothing against a context."""

    context_tokens = None

    def __init__(self, style: Style) -> None:
        self.style = style

    def count_tokens(self, text: str) -> int:
        return len(text)


class RecordingCaller:
    """What the asker needs of a caller; it records each request and answers ``text``
    with the first token's log-probabilities ``top``."""

    def __init__(self, config: ModelConfig, style: Style, text: str,
                 top: dict[str, float] | None = None) -> None:
        self.models = {"m": config}
        self.backends = {"m": StyledBackend(style)}
        self.tally = Tally()
        self.requests: list[dict[str, Any]] = []
        self.answer = Response(text, top)

    async def call(self, name: str, request: dict[str, Any]) -> Response:
        self.requests.append(request)
        return self.answer


ITEM = Item("i1", "Say hi", None, {})
ONE, TWO = Submission("i1", "e1", "hi"), Submission("i1", "e2", "hello")


def asker(caller: RecordingCaller) -> Asker:
    return Asker(caller, task_prompt="Task: {{ input }}", mode="pairwise",  # type: ignore[arg-type]
                 rubric=None, reasks=0, seed=7)


# An openai config throughout: the request follows the backend's style, not it.
CONFIG = ModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:9",
                     max_tokens=5, temperature=0.0)


@pytest.mark.parametrize(("style", "expected"), [
    ("chat", {"max_tokens": 5, "temperature": 0.0,
              "messages": [{"role": "user", "content": "Task: Say hi"}]}),
    ("completion", {"max_tokens": 5, "temperature": 0.0, "prompt": "Task: Say hi"}),
    ("call", {"call": {"item": {"item": "i1", "input": "Say hi", "reference": None,
                                "meta": {}}, "prompt": "Task: Say hi"}}),
])
def test_a_submission_is_asked_in_the_backends_style(style: Style,
                                                     expected: dict[str, Any]) -> None:
    caller = RecordingCaller(CONFIG, style, " hi there ")
    got = asyncio.run(asker(caller).submit("m", ITEM))
    assert got == Submission("i1", "m", "hi there")
    assert caller.requests == [expected] and list(caller.requests[0]) == list(expected)


def test_the_embedded_model_always_gets_a_seed() -> None:
    caller = RecordingCaller(ModelConfig(provider="local", stop=["\n"]), "completion", "x")
    asyncio.run(asker(caller).submit("m", ITEM))
    assert caller.requests == [{"stop": ["\n"], "prompt": "Task: Say hi", "seed": 7}]


def test_a_completion_reviewer_is_read_by_its_next_token_whatever_its_provider() -> None:
    top = {"A": math.log(0.6), "B": math.log(0.2), "x": math.log(0.2)}
    caller = RecordingCaller(CONFIG, "completion", "[[A>>B]]", top)
    judged = asyncio.run(asker(caller).judge("m", Question(ITEM, ONE, TWO)))
    (request,) = caller.requests
    assert list(request) == ["prompt", "top_logprobs"] and request["top_logprobs"] == \
        TOP_LOGPROBS
    assert isinstance(judged, PairwiseJudgment)
    # P(A) 0.6 against P(B) 0.2; no strength read from a completion model's text.
    assert (judged.winner, judged.raw, judged.strength) == ("first", "P(A)=0.6000 P(B)=0.2000",
                                                           None)
    assert judged.confidence == pytest.approx(0.75) and judged.p_first == pytest.approx(0.75)


def test_a_chat_reviewer_is_read_by_its_text_and_strength() -> None:
    caller = RecordingCaller(CONFIG, "chat", "[[A>>B]]")
    judged = asyncio.run(asker(caller).judge("m", Question(ITEM, ONE, TWO)))
    (request,) = caller.requests
    assert list(request) == ["max_tokens", "temperature", "messages"]
    assert isinstance(judged, PairwiseJudgment)
    assert (judged.winner, judged.strength, judged.p_first) == ("first", 2, None)


def test_a_request_is_a_plain_dict() -> None:
    """What the store keys and orjson dumps: a TypedDict is a dict at run time."""
    request = Request(prompt="p", top_logprobs=3)
    assert type(request) is dict and request == {"prompt": "p", "top_logprobs": 3}
