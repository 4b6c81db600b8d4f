"""Asking models: evaluatees for submissions, reviewers for judgments.

Each model is asked in its backend's style. Chat models get the chat prompts and
answer in text, read tolerantly, re-asked at most twice when the answer cannot be
read. Completion models (base models) get completion prompts and are read
through the probabilities of the next token: the preference is P(A) against P(B),
a rating is the expected value over the rating tokens. A chat model with
``logprobs: true`` is asked for the first answer token's top log-probabilities as
well: its pairwise verdict is still read from its text (the prompt asks for the
verdict alone, so that token is the verdict), and the probability that the answer
shown first is better, P(A) + P(tie) / 2 over the A, B and tie tokens, is recorded
beside it as ``p_first`` (the embedded model's too). Call models (Python functions)
get the item and the texts as arguments. What still cannot be read is an abstention
kept with its raw answer.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

from peerreview.calls.caller import Caller
from peerreview.models import CallError, Request, Style
from peerreview.models.config import ModelConfig
from peerreview.options import ReviewMode
from peerreview.prompts import fit, reask_template, reviewer_template, task_template
from peerreview.records.exchange import (
    Item,
    Judgment,
    OffScale,
    PairwiseJudgment,
    PointwiseJudgment,
    Submission,
    off_scale_score,
)
from peerreview.review.answers import parse_rating, parse_verdict, parse_winner

log = logging.getLogger("peerreview")

SCALES = {ReviewMode.FIVE_LEVEL: (1.0, 5.0), ReviewMode.HUNDRED_LEVEL: (0.0, 100.0)}
TOP_LOGPROBS = 20  # OpenAI's most; vLLM's default cap
_SCHEMAS = {
    ReviewMode.PAIRWISE: {
        "type": "object", "properties": {"winner": {"enum": ["A", "B", "tie"]}},
        "required": ["winner"], "additionalProperties": False},
    ReviewMode.FIVE_LEVEL: {
        "type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["score"], "additionalProperties": False},
    ReviewMode.HUNDRED_LEVEL: {
        "type": "object",
        "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 100}},
        "required": ["score"], "additionalProperties": False},
}


@dataclass(frozen=True, slots=True)
class Question:
    """One thing a reviewer is asked: a pair in an order, or a single submission."""

    item: Item
    first: Submission
    second: Submission | None = None


class Answer(NamedTuple):
    """What a reviewer's answer was read as: the verdict or rating (None: unreadable),
    the raw answer, and for a pairwise one read with probabilities, ``p_first``."""

    value: Any
    raw: str
    p_first: float | None = None


def item_fields(item: Item) -> dict[str, Any]:
    return {"item": item.item, "input": item.input, "reference": item.reference,
            "meta": item.meta}


class Asker:
    """Builds each model's requests, sends them through the caller, reads the answers."""

    def __init__(self, caller: Caller, *, task_prompt: str, mode: ReviewMode,
                 rubric: str | None, reasks: int, seed: int,
                 off_scale: OffScale = OffScale.KEEP) -> None:
        self.caller = caller
        self.task = task_template(task_prompt)
        self.mode = ReviewMode(mode)
        self.rubric = rubric
        self.reasks = reasks
        self.seed = seed
        self._cut: set[tuple[str, str]] = set()
        self.off_scale = off_scale
        self.off_scale_counts: Counter[str] = Counter()  # reviewer -> ratings off the scale
        self._no_logprobs: set[str] = set()  # reviewers warned that none came back

    def _config(self, name: str) -> ModelConfig:
        return self.caller.models[name]

    def _style(self, name: str) -> Style:
        return self.caller.backends[name].style

    def _params(self, config: ModelConfig) -> Request:
        """Only what the user set: an endpoint's own defaults stand for the rest. The
        embedded model samples here, so it always gets a seed (the run's by default)."""
        params = Request()
        if config.max_tokens is not None:
            params["max_tokens"] = config.max_tokens
        if config.temperature is not None:
            params["temperature"] = config.temperature
        if config.seed is not None:
            params["seed"] = config.seed
        if config.stop is not None:
            params["stop"] = config.stop
        if config.embedded:
            params.setdefault("seed", self.seed)
        return params

    def _fit(self, name: str, render: Any, fields: dict[str, Any], shrink: list[str],
             reserve: int | None = None) -> str:
        """Render a prompt, cutting the named fields if the model's context is too small
        to hold it and ``reserve`` answer tokens (default: the model's answer_tokens)."""
        config = self._config(name)
        backend = self.caller.backends[name]
        budget = backend.context_tokens
        if budget is None:
            return str(render(fields))
        budget -= config.answer_tokens if reserve is None else reserve
        if config.on_overflow == "error":
            text = str(render(fields))
            if backend.count_tokens(text) > budget:
                raise CallError(f"model {name!r}: the prompt needs {backend.count_tokens(text)} "
                                f"tokens, more than the {budget} its context leaves", name)
            return text
        try:
            text, cut = fit(render, fields, shrink, backend.count_tokens, budget)
        except ValueError as exc:
            raise CallError(f"model {name!r}: {exc}", name) from exc
        if cut:  # counted once per distinct prompt: the exam's are asked again in review
            self._cut.add((name, text))
            self.caller.tally.truncated = len(self._cut)
        return text

    async def submit(self, evaluatee: str, item: Item) -> Submission:
        """The evaluatee's submission for one item."""
        config = self._config(evaluatee)
        fields = item_fields(item)
        style = self._style(evaluatee)
        if style == "call":
            request = Request(call={"item": fields, "prompt": self.task.render(fields)})
        else:
            prompt = self._fit(evaluatee, lambda f: config.preamble + self.task.render(f),
                               fields, ["input"])
            request = self._params(config)
            if style == "completion":  # a base model completes text
                request["prompt"] = prompt
            else:
                request["messages"] = [{"role": "user", "content": prompt}]
        response = await self.caller.call(evaluatee, dict(request))
        return Submission(item.item, evaluatee, response.text.strip())

    async def judge(self, reviewer: str, question: Question) -> Judgment:
        """The reviewer's judgment of one question."""
        style = self._style(reviewer)
        fields = {**item_fields(question.item), "rubric": self.rubric}
        if question.second is None:
            fields["output"] = question.first.output
        else:
            fields["first"], fields["second"] = question.first.output, question.second.output
        if style == "call":
            value, raw, p_first = await self._ask_python(reviewer, question, fields)
        elif style == "completion":
            value, raw, p_first = await self._ask_completion(reviewer, fields)
        else:
            value, raw, p_first = await self._ask_chat(reviewer, fields)
        if question.second is None:
            score = self._score(reviewer, None if value is None else float(value))
            return PointwiseJudgment(question.item.item, reviewer, question.first.model, score,
                                     SCALES[self.mode], raw)
        strength = parse_verdict(raw)[1] if style == "chat" and ">" in raw \
            else None  # arena-hard's [[A>>B]]
        return PairwiseJudgment(question.item.item, reviewer, question.first.model,
                                question.second.model, value, raw, confidence_of(raw),
                                strength if strength and strength > 1 else None,
                                p_first=p_first if value is not None else None)

    def _read(self, text: str) -> str | float | None:
        if self.mode is ReviewMode.PAIRWISE:
            return parse_winner(text)
        low, high = SCALES[self.mode]
        return parse_rating(text, low, high)

    def _score(self, reviewer: str, value: float | None) -> float | None:
        """A rating under the off-scale rule, counted per reviewer when off the scale.

        Raises:
            CallError: off the scale under ``error``.
        """
        if value is None:
            return None
        scale = SCALES[self.mode]
        if not scale[0] <= value <= scale[1]:
            self.off_scale_counts[reviewer] += 1
        try:
            return off_scale_score(value, scale, self.off_scale)
        except ValueError as exc:
            raise CallError(f"model {reviewer!r}: {exc}", reviewer) from exc

    async def _ask_chat(self, name: str, fields: dict[str, Any]) -> Answer:
        config = self._config(name)
        template = reviewer_template("chat", self.mode)
        shrink = ["output"] if self.mode is not ReviewMode.PAIRWISE else ["first", "second"]
        prompt = self._fit(name, template.render, fields, [*shrink, "input"])
        request = self._params(config)
        request["messages"] = [{"role": "user", "content": prompt}]
        with_logprobs = config.logprobs and self.mode is ReviewMode.PAIRWISE
        if with_logprobs:  # the prompt and the reask ask for the verdict alone, first
            request["top_logprobs"] = TOP_LOGPROBS
        if config.structured_output:
            request["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "verdict", "strict": True, "schema": _SCHEMAS[self.mode]}}
        answers = []
        for _ in range(self.reasks + 1):
            response = await self.caller.call(name, dict(request))
            text = response.text
            answers.append(text)
            value = self._read(text)
            if value is not None:
                return Answer(value, text, self._p_first(name, response.top_logprobs)
                              if with_logprobs else None)
            request = request.copy()  # the answer so far, and the reask, after the prompt
            request["messages"] = [
                *request["messages"], {"role": "assistant", "content": text},
                {"role": "user", "content": reask_template().render(mode=self.mode)}]
        return Answer(None, "\n---\n".join(answers))

    def _p_first(self, name: str, top: dict[str, float] | None) -> float | None:
        """``p_first`` from an answer's first-token probabilities; None (and a warning
        once per reviewer) when the endpoint sent none or none of A, B and tie."""
        p = first_share(top or {}, verdict_first=True)
        if p is None and name not in self._no_logprobs:
            self._no_logprobs.add(name)
            log.warning(f"model {name!r}: logprobs: true, but an answer's likeliest first "
                        "token was not A, B or tie (or no probabilities came back); such "
                        "verdicts count as hard votes (is the verdict the answer's first "
                        "token?)")
        return p

    async def _ask_completion(self, name: str, fields: dict[str, Any]) -> Answer:
        config = self._config(name)
        template = reviewer_template("completion", self.mode)
        shrink = ["output"] if self.mode is not ReviewMode.PAIRWISE else ["first", "second"]
        reserve = 4 if self.mode is ReviewMode.HUNDRED_LEVEL else 1
        prompt = self._fit(name, template.render, fields, [*shrink, "input"], reserve)
        if self.mode is ReviewMode.HUNDRED_LEVEL:  # past 9 a number spans tokens: read the text
            request = self._params(config)
            request["prompt"], request["max_tokens"], request["stop"] = prompt, reserve, ["\n"]
            text = (await self.caller.call(name, dict(request))).text
            return Answer(self._read(text), text)
        request = Request(prompt=prompt, top_logprobs=TOP_LOGPROBS)
        top = (await self.caller.call(name, dict(request))).top_logprobs or {}
        if self.mode is ReviewMode.PAIRWISE:
            return Answer(*preference(top), first_share(top))
        return Answer(*expected_rating(top, 1, 5))

    async def _ask_python(self, name: str, question: Question,
                          fields: dict[str, Any]) -> Answer:
        args: dict[str, Any] = {"item": item_fields(question.item)}
        if question.second is None:
            args.update(output=fields["output"], scale=list(SCALES[self.mode]))
        else:
            args.update(first=fields["first"], second=fields["second"])
        text = (await self.caller.call(name, dict(Request(call=args)))).text
        if self.mode is ReviewMode.PAIRWISE:
            return Answer(text if text in ("first", "second", "tie") else None, text)
        try:
            value = float(text)
        except ValueError:
            return Answer(None, text)
        return Answer(value, text)


def confidence_of(raw: str | None) -> float | None:
    """The probability a next-token preference put on its verdict, from its raw text."""
    if not raw or not raw.startswith("P(A)="):
        return None
    pa, pb = (float(part.split("=")[1]) for part in raw.split())
    return max(pa, pb) / (pa + pb) if pa + pb > 0 else None


def _mass(top: dict[str, float], token: str) -> float:
    return sum(math.exp(lp) for t, lp in top.items() if t.strip() == token)


def _is_verdict(token: str) -> bool:
    return token.strip() in ("A", "B") or token.strip().lower() == "tie"


def first_share(top: dict[str, float], *, verdict_first: bool = False) -> float | None:
    """The probability that the answer shown first is better, from the next token's
    probabilities: (P(A) + P(tie) / 2) / (P(A) + P(B) + P(tie)), a tie counting half
    each way, so that 2 p_first - 1 = P(A) - P(B) over the three. None when none of
    them is among the top tokens, or with ``verdict_first`` when the likeliest token
    is none of them (a chat answer that starts with something else: "\n", "**", "The")
    where a little mass on A and B says nothing of the verdict."""
    if verdict_first and (not top or not _is_verdict(max(top, key=top.__getitem__))):
        return None
    pa, pb = _mass(top, "A"), _mass(top, "B")
    pt = sum(math.exp(lp) for t, lp in top.items() if t.strip().lower() == "tie")
    total = pa + pb + pt
    if total <= 0:
        return None
    return (pa + pt / 2) / total


def preference(top: dict[str, float]) -> tuple[str | None, str]:
    """The winner by next-token probabilities of the options ``A`` and ``B``."""
    pa, pb = _mass(top, "A"), _mass(top, "B")
    raw = f"P(A)={pa:.4f} P(B)={pb:.4f}"
    if pa == 0 and pb == 0:
        return None, raw
    return ("first" if pa > pb else "second" if pb > pa else "tie"), raw


def expected_rating(top: dict[str, float], low: int, high: int) -> tuple[float | None, str]:
    """The expected rating over the rating tokens ``low``..``high``."""
    mass = {r: _mass(top, str(r)) for r in range(low, high + 1)}
    total = sum(mass.values())
    raw = " ".join(f"P({r})={p:.4f}" for r, p in mass.items())
    if total == 0:
        return None, raw
    return sum(r * p for r, p in mass.items()) / total, raw
