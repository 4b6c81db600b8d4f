"""The run configuration: a YAML file validated with pydantic.

Paths in the file are relative to it. A bad key is reported with its YAML path
and line (``run.yaml:12: field 'models.gpt-4o.concurrency': ...``), and unknown
keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from peerreview.calls.executors import ExecutorConfig
from peerreview.errors import InputError
from peerreview.models.config import ModelConfig as ModelConfig
from peerreview.models.config import Price as Price
from peerreview.models.config import Strict as _Strict
from peerreview.options import (
    LATENT_MODELS,
    METHOD_NAMES,
    Control,
    Qualification,
    Recusal,
    ReviewMode,
    Schedule,
    Shrink,
    Weighting,
)
from peerreview.prompts import task_template
from peerreview.records.exchange import OffScale


def _one_of(value: Any, names: tuple[str, ...]) -> Any:
    """``value`` if it is one of ``names`` (or None), else pydantic's own message for a
    choice (the names live in :mod:`peerreview.options`, once)."""
    if value is None or (isinstance(value, str) and value in names):
        return value
    listed = ", ".join(f"'{n}'" for n in names[:-1]) + f" or '{names[-1]}'"
    raise ValueError(f"Input should be {listed}")


class TaskConfig(_Strict):
    items: Path
    prompt: str = "{{ input }}"
    submissions: Path | None = None
    rubric: str | None = None  # the task's own review criteria, shown to reviewers

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str) -> str:
        """Checked for Jinja2 syntax when the config is read, not at the first call."""
        try:
            task_template(prompt)
        except InputError as exc:
            raise ValueError(exc.message) from exc
        return prompt


class ReviewConfig(_Strict):
    mode: ReviewMode = ReviewMode.PAIRWISE
    schedule: Schedule = Schedule.FULL
    reasks: int = Field(2, ge=0, le=2)  # re-asks of a reviewer whose answer cannot be read
    off_scale: OffScale = OffScale.KEEP  # a rating read outside the scale
    pairs: Literal["all", "baseline"] = "all"  # baseline: every model against one
    baseline: str | None = None  # the evaluatee every other is compared with

    @model_validator(mode="after")
    def _baseline(self) -> ReviewConfig:
        if self.pairs == "baseline" and not self.baseline:
            raise ValueError("pairs: baseline needs 'baseline: MODEL'")
        if self.pairs == "baseline" and self.mode != ReviewMode.PAIRWISE:
            raise ValueError("pairs: baseline is for the pairwise mode (scores are given "
                             "one submission at a time)")
        return self


class ExamConfig(_Strict):
    gold: Path | None = None
    qualification: Qualification | None = None
    latent_model: str = "dawid-skene"  # one of options.LATENT_MODELS
    threshold: float = Field(0.6, ge=0, le=1)
    weighting: Weighting = Weighting.LINEAR
    items: Path | None = None  # exam items of its own (default: the task's items)
    submissions: Path | None = None  # the submissions the gold labels are about

    @field_validator("latent_model", mode="before")
    @classmethod
    def _latent_model(cls, value: Any) -> Any:
        return _one_of(value, LATENT_MODELS)

    @model_validator(mode="after")
    def _gold_or_not(self) -> ExamConfig:
        if self.qualification is None:
            self.qualification = Qualification.GOLD if self.gold is not None \
                else Qualification.NONE
        if self.qualification is Qualification.GOLD and self.gold is None:
            raise ValueError("qualification 'gold' needs 'gold: FILE' (human exam labels)")
        return self

    @property
    def by_gold(self) -> bool:
        """Whether candidates sit PRE's exam against gold labels."""
        return self.qualification is Qualification.GOLD


class ChairConfig(_Strict):
    method: str | None = None  # one of options.METHOD_NAMES; None: by the review's mode
    bootstrap: int = Field(0, ge=0)  # as rank's --bootstrap: no intervals unless asked
    strength: int = Field(3, ge=1)  # as rank's --strength: a strong verdict counts N times
    soft: bool = False  # as rank's --soft: judgments with p_first vote by probability
    control: list[Control] = Field(default_factory=list)  # --control
    calibrate_bias: bool = False  # as rank's --calibrate-bias
    recuse: Recusal = Recusal.NONE  # as rank's --recuse
    shrink: Shrink = Shrink.NONE  # as rank's --shrink: item verdicts shrunk
    # as rank's --target-agreement and --delta; a cascade also escalates below it
    target_agreement: float | None = Field(None, gt=0, lt=1)
    delta: float = Field(0.1, gt=0, lt=1)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return _one_of(value, METHOD_NAMES)


class RunConfig(_Strict):
    """A whole run: the task, the models, who is evaluatee and reviewer, and how."""

    task: TaskConfig
    models: dict[str, ModelConfig]
    # Optional with task.submissions: then the models found there.
    evaluatees: list[str] | None = Field(None, min_length=1)
    reviewers: list[str] = Field(min_length=1)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    exam: ExamConfig | None = None
    chair: ChairConfig = Field(default_factory=ChairConfig)
    gold: Path | None = None  # human labels to measure agreement against
    families: dict[str, str] = Field(default_factory=dict)  # model name -> family (--recuse)
    seed: int = 0
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

    def routed(self) -> set[str]:
        """The models whose calls go through provider batches or the executor."""
        names = {n for n, m in self.models.items() if m.batch}
        if self.executor.kind != "local":
            names |= set(self.executor.models or [
                n for n, m in self.models.items()
                if m.over_http and not m.batch])
        return names

    _source: Path | None = PrivateAttr(None)
    _root: Any = PrivateAttr(None)

    @field_validator("evaluatees", "reviewers")
    @classmethod
    def _names(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if names is None:
            return None
        if "models" not in info.data:  # models failed to validate: its error says why
            return names
        models = info.data["models"]
        task = info.data.get("task")
        given = info.field_name == "evaluatees" and task is not None and task.submissions
        unknown = [n for n in names if n not in models]
        if unknown and not given:  # with given outputs, an evaluatee is only a name
            raise ValueError(f"names {unknown}, not defined under 'models'")
        if len(set(names)) != len(names):
            raise ValueError("lists a model twice")
        return names

    def locate(self, error: InputError) -> InputError:
        """``error`` (about a config field) with the config file and the field's line."""
        if self._source is None or error.field is None or error.path is not None:
            return error
        loc = tuple(int(k) if k.isdigit() else k for k in error.field.split("."))
        return InputError(error.message, self._source, _line_of(self._root, loc),
                          error.field)

    @model_validator(mode="after")
    def _whole(self) -> RunConfig:
        if self.task.submissions is None and len(self.evaluatees or []) < 2:
            raise ValueError("at least two evaluatees are needed to rank (or task.submissions: "
                             "the outputs to rank)")
        if self.review.schedule in (Schedule.CASCADE, Schedule.ADAPTIVE) and not (
                self.exam is not None and self.exam.by_gold):
            raise ValueError(f"review.schedule '{self.review.schedule}' asks reviewers in "
                             "order of exam accuracy: it needs exam: gold: FILE")
        return self

    def resolve(self, base: Path) -> RunConfig:
        """The same config with its file paths made relative to ``base``."""
        def fix(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else base / p)
        task = self.task.model_copy(update={"items": fix(self.task.items),
                                            "submissions": fix(self.task.submissions)})
        exam = None if self.exam is None else self.exam.model_copy(update={
            "gold": fix(self.exam.gold), "items": fix(self.exam.items),
            "submissions": fix(self.exam.submissions)})
        models = {n: m.model_copy(update={"model": str(fix(Path(m.model)))})
                  if m.embedded and m.model else m for n, m in self.models.items()}
        return self.model_copy(update={"task": task, "exam": exam, "models": models,
                                       "gold": fix(self.gold)})


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc``, or of its nearest parent."""
    node, line = root, None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
            if node is None:  # a missing or unknown key: point at its parent
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(
                node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1 if node is not None else line


class ConfigErrors(InputError):
    """Every problem of a config at once (``problems``, in the file's order); the first
    is the error's file, line and field, the others follow in its message."""

    def __init__(self, problems: list[InputError]) -> None:
        first, rest = problems[0], problems[1:]
        more = "".join(f"\n  also {p}" for p in rest)
        super().__init__(first.message + more, first.path, first.line, first.field)
        self.problems = problems


def _duplicate_keys(root: yaml.Node | None, path: Path, where: tuple[str, ...] = ()
                    ) -> list[InputError]:
    """A key given twice in one mapping (YAML would silently keep the last)."""
    found: list[InputError] = []
    if isinstance(root, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in root.value:
            name = str(key.value)
            if name in seen and name != "<<":
                found.append(InputError(
                    f"given twice (first at line {seen[name]}); YAML would keep only this "
                    "one: remove one of them", path, key.start_mark.line + 1,
                    ".".join((*where, name))))
            seen.setdefault(name, key.start_mark.line + 1)
            found += _duplicate_keys(value, path, (*where, name))
    elif isinstance(root, yaml.SequenceNode):
        for number, value in enumerate(root.value):
            found += _duplicate_keys(value, path, (*where, str(number)))
    return found


def _problems(exc: ValidationError, root: yaml.Node | None, path: Path) -> list[InputError]:
    """Every pydantic error as an InputError at its YAML line."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the documented config)"
        problems.append(InputError(message, path, _line_of(root, loc),
                                   ".".join(str(k) for k in loc) or None))
    return problems


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run config; paths in it become relative to its folder.

    Raises:
        InputError: unreadable YAML; or bad keys (:class:`ConfigErrors`: all of them,
            each with its YAML path and line), keys given twice among them.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise InputError(f"cannot read the config: {exc.strerror}", path) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path,
                         mark.line + 1 if mark else None) from exc
    if not isinstance(data, dict):
        raise InputError("the config must be a YAML mapping (task:, models:, ...)", path, 1)
    problems = _duplicate_keys(root, path)
    config = None
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        problems += _problems(exc, root, path)
    if problems or config is None:
        raise ConfigErrors(sorted(problems, key=lambda p: (p.line or 0, p.field or "")))
    resolved = config.resolve(path.parent)
    resolved._source, resolved._root = path, root
    return resolved
