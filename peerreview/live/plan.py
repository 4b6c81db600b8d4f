"""``--dry-run``: the calls each model would get, with estimated tokens and cost.

Nothing is called. Tokens are estimated at 4 characters a token; a submission not
yet written counts as its evaluatee's ``max_tokens``; a reviewer's answer as 4
tokens (it is asked for one word or number). The review stage assumes every
candidate passes the exam. Under ``one-order`` each pair is asked once per reviewer;
under ``cascade`` (and ``adaptive``, an upper bound) the k-th reviewer in line is
expected to get the pairs the first k-1 left undecided, taken as 30% at each step
(measured on Vicuna80's recorded reviews: 31% of the first reviewer's pairs flip
with the order).
"""

from __future__ import annotations

from dataclasses import dataclass

from peerreview.live.config import RunConfig
from peerreview.live.inputs import (
    RunInputs,
    called_models,
    config_folder,
    load_functions,
    load_run_inputs,
)
from peerreview.models.base import estimate_tokens
from peerreview.options import ReviewMode
from peerreview.prompts import reviewer_template, task_template
from peerreview.records.exchange import Item
from peerreview.review.asker import item_fields

ANSWER_TOKENS = 4
UNDECIDED = 0.3  # share of pairs a cascade step is expected to leave undecided


@dataclass(slots=True)
class PlannedCalls:
    """One model's calls in one stage."""

    model: str
    stage: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def plan(config: RunConfig, inputs: RunInputs | None = None) -> list[PlannedCalls]:
    """The calls a fresh run of ``config`` would make, model by model and stage by stage
    (``inputs``: its files, if read already). Every python model's function is
    imported, as the run would, so that one that cannot be is said before any call.

    Raises:
        InputError: an input file or a python model's function is at fault.
    """
    cfg = config
    inputs = inputs or load_run_inputs(cfg)
    load_functions(cfg, called_models(cfg), config_folder(cfg))
    items = list(inputs.items.values())
    evaluatees = inputs.evaluatees
    rows: list[PlannedCalls] = []

    def add(model: str, stage: str, calls: int, prompt: int, completion: int) -> None:
        m = cfg.models[model]
        if m.style == "call":
            prompt = completion = 0
        cost = m.price_factor * (prompt * m.price.input_per_mtok
                                 + completion * m.price.output_per_mtok) / 1e6
        rows.append(PlannedCalls(model, stage, calls, prompt, completion, cost))

    given = inputs.given
    task = task_template(cfg.task.prompt)
    answer_chars: dict[str, float] = {}
    if given is None:
        answer_chars = {e: 4 * cfg.models[e].answer_tokens for e in evaluatees}
        for e in evaluatees:
            prompt = sum(estimate_tokens(cfg.models[e].preamble + task.render(item_fields(i)))
                         for i in items)
            add(e, "submissions", len(items), prompt, len(items) * cfg.models[e].answer_tokens)
    else:
        for s in given:
            answer_chars[s.model] = len(s.output)
    mean_answer = sum(answer_chars.values()) / len(answer_chars)
    pairwise = cfg.review.mode == ReviewMode.PAIRWISE
    n = len(evaluatees)
    per_item = (2 * (n - 1) if cfg.review.pairs == "baseline" else n * (n - 1)) \
        if pairwise else n
    asked: list[tuple[str, list[Item], float]] = [("review", items, per_item)]
    gold = inputs.exam_gold
    if gold is not None:
        exam_items = list(inputs.exam_items.values())
        known = inputs.exam_submissions
        questions = 2 * len(gold.pairs) if pairwise else \
            len({(t, m) for t, a, b in gold.pairs for m in (a, b)})
        exam_list = [i for i in exam_items if i.item in gold.items]
        asked.insert(0, ("exam", exam_list, questions / max(1, len(exam_list))))
        if known:
            mean_answer = sum(len(s.output) for s in known) / len(known)
    schedule = cfg.review.schedule
    for k, reviewer in enumerate(cfg.reviewers):
        style = cfg.models[reviewer].style  # a call model's prompt is counted as none
        template = reviewer_template("completion" if style == "completion" else "chat",
                                     cfg.review.mode)
        blank = {"input": "", "reference": None, "rubric": cfg.task.rubric,
                 "first": "", "second": "", "output": ""}
        overhead = estimate_tokens(template.render(blank))
        answers = (2 if pairwise else 1) * estimate_tokens("x" * int(mean_answer))
        for stage, stage_items, per in asked:
            if stage == "review" and schedule == "one-order" and pairwise:
                per = per / 2
            elif stage == "review" and schedule in ("cascade", "adaptive"):
                per = per * UNDECIDED ** k
            calls = round(per * len(stage_items))
            prompt = round(sum(per * (overhead + answers + estimate_tokens(i.input))
                               for i in stage_items))
            add(reviewer, stage, calls, prompt, calls * ANSWER_TOKENS)
    return rows
