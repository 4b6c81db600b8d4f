"""A run's inputs, read once: the task's items and given submissions, the exam's
items, submissions and gold, and the agreement gold; and the Study a finished run
ranks. ``run`` reads them before any call; ``report DIR`` reads them again from the
recorded config, and both rank the same Study."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from peerreview.errors import InputError
from peerreview.live.config import RunConfig
from peerreview.models.python import load_function
from peerreview.options import Weighting
from peerreview.prompts import task_template
from peerreview.ranking import Qualification, RankOptions
from peerreview.records.exchange import (
    Item,
    Judgment,
    Submission,
    iter_jsonl,
    read_items,
    read_submissions,
)
from peerreview.records.gold import Gold, gold_from_judgments
from peerreview.records.study import Study, study_of
from peerreview.review.asker import item_fields


@dataclass(slots=True)
class RunInputs:
    """The files a run config names, read."""

    items: dict[str, Item]
    evaluatees: list[str]  # as configured, or the models of the given submissions
    given: list[Submission] | None  # task.submissions: outputs to use, generating none
    exam_items: dict[str, Item]  # the exam's own items, or the task's
    exam_submissions: list[Submission] | None  # the exam's own submissions, if any
    exam_gold: Gold | None  # with exam: gold: (PRE's exam)
    gold: Gold | None  # human labels to measure agreement against


def config_folder(config: RunConfig) -> Path:
    """The folder of the config's file, absolute (the current folder for a config made
    in code): its paths and its python models' modules are found from there."""
    source = config._source  # set by load_config; None for a RunConfig made in code
    return (Path.cwd() if source is None else source.parent).resolve()


def called_models(config: RunConfig) -> list[str]:
    """The models a run of ``config`` calls: its reviewer candidates, and its evaluatees
    unless the submissions are given."""
    names = set(config.reviewers)
    if config.task.submissions is None:
        names |= set(config.evaluatees or [])
    return sorted(names)


def load_run_inputs(config: RunConfig) -> RunInputs:
    """Read every input file of a run config.

    Raises:
        InputError: a file is missing or malformed, or gold names an unknown model.
    """
    items = {i.item: i for i in read_items(config.task.items)}
    given = read_submissions(config.task.submissions) if config.task.submissions else None
    evaluatees = config.evaluatees or sorted({s.model for s in given or []})
    if given is not None:
        _check_items(given, items, config)
        given = [s for s in given if s.model in evaluatees]
        missing = set(evaluatees) - {s.model for s in given}
        if missing:
            raise InputError(f"no submission of evaluatee(s) {sorted(missing)} on the task's "
                             "items", config.task.submissions, field="model")
        if len(evaluatees) < 2:
            raise InputError(f"the submissions name {len(evaluatees)} model(s) on the task's "
                             "items; at least two are needed to rank",
                             config.task.submissions, field="model")
        given.sort(key=lambda s: (s.item, s.model))
    review = config.review
    if review.pairs == "baseline" and review.baseline not in evaluatees:
        raise InputError(f"the baseline {review.baseline!r} is not an evaluatee "
                         f"({', '.join(evaluatees)})", config.task.submissions,
                         field="review.baseline")
    exam = config.exam
    exam_items, exam_subs, exam_gold = items, None, None
    if exam is not None and exam.by_gold and exam.gold is not None:
        if exam.items:
            exam_items = {i.item: i for i in read_items(exam.items)}
        if exam.submissions:
            exam_subs = read_submissions(exam.submissions)
        known = set(evaluatees) | {s.model for s in exam_subs or given or []}
        exam_gold = gold_from_judgments(exam.gold, known_models=sorted(known))
    gold = gold_from_judgments(config.gold, known_models=evaluatees) if config.gold else None
    return RunInputs(items, evaluatees, given, exam_items, exam_subs, exam_gold, gold)


def _check_items(given: list[Submission], items: dict[str, Item], config: RunConfig) -> None:
    """A submission for an item the task lacks is an error (a wrong file, or a stale
    one), not silently dropped.

    Raises:
        InputError: naming the first such submission's line, and how many there are.
    """
    unknown = sum(1 for s in given if s.item not in items)
    if not unknown:
        return
    path = config.task.submissions
    assert path is not None
    line, item = next((n, obj.get("item")) for n, obj in iter_jsonl(path)
                      if obj.get("item") not in items)
    raise InputError(f"item {item!r} is not in the task's items ({config.task.items}): "
                     f"{unknown} submission(s) name items it lacks", path, line, "item")


def check_prompt(config: RunConfig, items: dict[str, Item]) -> None:
    """Render the task prompt for every item before any call: a field the template
    names and an item lacks is a config error, not a failed run.

    Raises:
        InputError: the prompt cannot be rendered for an item.
    """
    template = task_template(config.task.prompt)
    for item in items.values():
        try:
            template.render(item_fields(item))
        except jinja2.TemplateError as exc:
            raise InputError(f"the task prompt cannot be rendered for item {item.item!r}: "
                             f"{exc}", field="task.prompt") from exc


def rank_options(config: RunConfig) -> RankOptions:
    """The chair's options of a run config."""
    exam = config.exam
    return RankOptions(threshold=exam.threshold if exam else 0.6,
                       weighting=exam.weighting if exam else Weighting.LINEAR,
                       qualification=Qualification(exam.qualification)
                       if exam and exam.qualification else None,
                       latent_model=exam.latent_model if exam else "dawid-skene",
                       method=config.chair.method, bootstrap=config.chair.bootstrap,
                       strength=config.chair.strength, soft=config.chair.soft,
                       control=tuple(config.chair.control),
                       calibrate_bias=config.chair.calibrate_bias,
                       recuse=config.chair.recuse, families=dict(config.families),
                       shrink=config.chair.shrink,
                       target_agreement=config.chair.target_agreement,
                       delta=config.chair.delta,
                       seed=config.seed,
                       exclude_exam_items=bool(exam and exam.by_gold and exam.items),
                       off_scale=config.review.off_scale,
                       baseline=config.review.baseline if config.review.pairs == "baseline"
                       else None)


def sitting_out(failures: dict[str, dict[str, Any]]) -> set[str]:
    """The candidates that sit a run's ranking out, from its failures as run.json
    records them: one whose exam calls failed for good cannot be graded fairly."""
    return {model for model, f in failures.items() if "exam" in f.get("stages", ())}


def run_study(inputs: RunInputs, judgments: list[Judgment], submissions: list[Submission],
              failures: dict[str, dict[str, Any]]) -> Study:
    """What a run ranks and reports, the one study of a run (``run`` and ``report DIR``
    both build it here): its judgments but those of the candidates that sat out
    (:func:`sitting_out` of its ``failures``), the exam gold, the gold, and the texts
    of the task and of the exam."""
    items = {**inputs.items, **inputs.exam_items}
    out = sitting_out(failures)
    return study_of([j for j in judgments if j.reviewer not in out],
                    exam_gold=inputs.exam_gold, gold=inputs.gold, items=items,
                    submissions=submissions + (inputs.exam_submissions or []))


def load_functions(config: RunConfig, names: list[str],
                   folder: Path | None) -> dict[str, Callable[..., Any]]:
    """Import the function of every python model among ``names`` (``--dry-run`` and a
    run do it before any call), the modules looked for in ``folder`` first.

    Raises:
        InputError: a function cannot be imported, located at its config line.
    """
    found = {}
    for name in names:
        model = config.models[name]
        if model.style == "call":
            try:
                found[name] = load_function(str(model.function), f"models.{name}.function",
                                            folder)
            except InputError as exc:
                raise config.locate(exc) from exc
    return found
