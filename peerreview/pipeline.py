"""PRE's pipeline with live models: submissions -> exam -> review -> chair.

Every model call goes through the run store in ``DIR/run.sqlite``; a run that is
killed and started again makes no call twice and ends with the same outputs as an
uninterrupted one. Outputs are written all at once at the end.
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import orjson

import peerreview
from peerreview.calls import BudgetSpent, Caller, Tally
from peerreview.config import RunConfig
from peerreview.errors import InputError, PeerReviewError
from peerreview.exam import Weighting, run_exam
from peerreview.gold import Gold, gold_from_judgments
from peerreview.models import CallError, make_backend
from peerreview.output import write_files
from peerreview.panel import full_calls, review_jobs, unsettled_pairs
from peerreview.plan import plan
from peerreview.progress import StageProgress
from peerreview.prompts import task_template, template_hash
from peerreview.rank import Qualification, RankOptions, RankResult, rank
from peerreview.records import (
    Item,
    Judgment,
    JudgmentSet,
    Submission,
    dumps_jsonl,
    judgment_to_dict,
    read_items,
    read_submissions,
)
from peerreview.report import ReportInputs, render
from peerreview.review import Asker, Question, item_fields
from peerreview.schedule import Schedule, one_order_first, separated
from peerreview.store import RunStore
from peerreview.votes import build_table

STORE = "run.sqlite"
T = TypeVar("T")


def rank_options(config: RunConfig) -> RankOptions:
    """The chair's options of a run config."""
    exam = config.exam
    return RankOptions(threshold=exam.threshold if exam else 0.6,
                       weighting=exam.weighting if exam else Weighting.LINEAR,
                       qualification=Qualification(exam.qualification)
                       if exam and exam.qualification else None,
                       latent_model=exam.latent_model if exam else "dawid-skene",
                       method=config.chair.method, bootstrap=config.chair.bootstrap,
                       seed=config.seed,
                       exclude_exam_items=bool(exam and exam.by_gold and exam.items))


def report_inputs(config: RunConfig, result: RankResult, submissions: list[Submission],
                  judgments: list[Judgment], facts: dict[str, Any]) -> ReportInputs:
    """What the report of a run shows: the task's and the exam's texts too."""
    items = {i.item: i for i in read_items(config.task.items)}
    subs = list(submissions)
    if config.exam is not None and config.exam.by_gold:
        if config.exam.items:
            items.update({i.item: i for i in read_items(config.exam.items)})
        if config.exam.submissions:
            subs += read_submissions(config.exam.submissions)
    gold_path = config.gold or (config.exam.gold if config.exam else None)
    gold = gold_from_judgments(gold_path).pairs if gold_path else {}
    return ReportInputs(result, title="peerreview run", threshold=rank_options(config).threshold,
                        items=items, submissions=subs, judgments=judgments, gold=gold,
                        facts=facts)


class RunFailed(PeerReviewError):
    """Some model calls failed for good; the completed ones are kept for the next run."""


@dataclass(slots=True)
class RunResult:
    """What a run produced."""

    out: Path
    submissions: list[Submission]
    judgments: list[Judgment]
    rank: RankResult
    tally: Tally
    seconds: float
    facts: dict[str, Any]


def exam_questions(gold: Gold, items: dict[str, Item], submissions: list[Submission],
                   pairwise: bool) -> list[Question]:
    """The exam: the gold pairs (both orders) or the submissions the gold is about."""
    known = {(s.item, s.model): s for s in submissions}
    wanted = sorted(gold.pairs)
    for item_id, a, b in wanted:
        if item_id not in items:
            raise InputError(f"exam gold is about item {item_id!r}, which is not among the "
                             "exam items", gold.path, field="item")
        for model in (a, b):
            if (item_id, model) not in known:
                raise InputError(f"exam gold pairs {a!r} and {b!r} on item {item_id!r}, but "
                                 f"there is no submission of {model!r} for it", gold.path,
                                 field="item")
    if pairwise:
        return [Question(items[t], known[t, x], known[t, y])
                for t, a, b in wanted for x, y in ((a, b), (b, a))]
    scored = sorted({(t, m) for t, a, b in wanted for m in (a, b)})
    return [Question(items[t], known[t, m]) for t, m in scored]


class Pipeline:
    """One run of a config into an output folder."""

    def __init__(self, config: RunConfig, out: str | Path, *, show_progress: bool = True,
                 budget_calls: int | None = None, budget_usd: float | None = None):
        self.config = config
        self.out = Path(out)
        self.show_progress = show_progress
        self.budget_calls = budget_calls
        self.budget_usd = budget_usd

    def _backends(self) -> dict[str, Any]:
        names = sorted(set(self.config.evaluatees) | set(self.config.reviewers))
        # Built (and API keys read) before any call: a missing key fails at once.
        return {n: make_backend(n, self.config.models[n]) for n in names}

    def run(self) -> RunResult:
        """Run every stage; see :func:`run`."""
        return asyncio.run(self._run())

    async def _run(self) -> RunResult:
        start = time.perf_counter()
        cfg = self.config
        items = {i.item: i for i in read_items(cfg.task.items)}
        given = read_submissions(cfg.task.submissions) if cfg.task.submissions else None
        self._check_budget()
        _check_prompt(cfg, items)
        backends = self._backends()
        self.out.mkdir(parents=True, exist_ok=True)
        store = self._store = RunStore(self.out / STORE)
        caller = Caller(store, cfg.models, backends, budget_calls=self.budget_calls,
                        budget_usd=self.budget_usd)
        asker = Asker(caller, task_prompt=cfg.task.prompt, mode=cfg.review.mode,
                      rubric=cfg.task.rubric, reasks=cfg.review.reasks, seed=cfg.seed)
        try:
            return await self._stages(store, caller, asker, backends, items, given, start)
        finally:
            store.close()

    async def _stages(self, store: RunStore, caller: Caller, asker: Asker,
                      backends: dict[str, Any], items: dict[str, Item],
                      given: list[Submission] | None, start: float) -> RunResult:
        cfg = self.config
        facts = self._facts()
        for name, value in facts.items():
            store.set_fact(name, value)
        try:
            with StageProgress(caller.tally, enabled=self.show_progress) as bars:
                self._bars = bars
                submissions = await self._submissions(asker, items, given)
                exam_judgments, qualified = await self._exam(asker, items, submissions)
                before = caller.tally.made + caller.tally.cached
                review = await self._review(asker, items, submissions, qualified,
                                            exam_judgments)
                asked = caller.tally.made + caller.tally.cached - before
                if not review and caller.spent:
                    raise RunFailed("the budget was spent before the review asked anything: "
                                    "raise --budget or --budget-usd")
        finally:
            for backend in backends.values():
                await backend.aclose()
        judgments = _unique(exam_judgments + review)
        result = rank(JudgmentSet(judgments, [], []),
                      exam_gold=cfg.exam.gold if cfg.exam and cfg.exam.by_gold else None,
                      gold=cfg.gold, options=rank_options(cfg))
        full = full_calls(len(qualified), items, submissions, cfg.review.mode == "pairwise")
        facts["review"] = {"schedule": cfg.review.schedule, "calls": asked,
                           "full_schedule_calls": full, "calls_saved": max(0, full - asked)}
        facts["calls"] = store.totals()
        facts["truncated_prompts"] = caller.tally.truncated
        seconds = time.perf_counter() - start
        facts["seconds"] = round(seconds, 3)
        store.set_fact("truncated_prompts", caller.tally.truncated)
        run = RunResult(self.out, submissions, judgments, result, caller.tally, seconds, facts)
        files = run_files(run, cfg)
        # The store keeps the run's records exactly as the output files hold them.
        for kind in ("submissions", "judgments"):
            store.set_records(kind, [orjson.loads(line)
                                     for line in files[f"{kind}.jsonl"].splitlines()])
        store.set_records("reviewers", orjson.loads(files["reviewers.json"]))
        write_files(self.out, files)
        return run

    def _check_budget(self) -> None:
        """A budget that the submissions and the exam would spend is an error, before
        any call."""
        if self.budget_calls is None:
            return
        before = sum(p.calls for p in plan(self.config) if p.stage != "review")
        if self.budget_calls <= before:
            raise InputError(f"a budget of {self.budget_calls} calls leaves nothing for the "
                             f"review: the submissions and the exam need {before}",
                             field="--budget")

    async def _review(self, asker: Asker, items: dict[str, Item],
                      submissions: list[Submission], reviewers: list[str],
                      exam_judgments: list[Judgment]) -> list[Judgment]:
        """The qualified reviewers judge under the configured schedule."""
        cfg = self.config
        schedule = Schedule(cfg.review.schedule)
        pairwise = cfg.review.mode == "pairwise"
        if schedule is not Schedule.ADAPTIVE:
            done = await self._stage("review", review_jobs(
                asker, schedule, reviewers, items, submissions, pairwise=pairwise,
                seed=cfg.seed))
            return [j for batch in done for j in batch]
        # Adaptive: items in batches; on each, only the pairs still unsettled.
        order = sorted(items, key=lambda t: one_order_first(t, "", "", "", cfg.seed))
        size = max(1, len(order) // 20)
        got: list[Judgment] = []
        unsettled: set[tuple[str, str]] | None = None
        for k in range(0, len(order), size):
            batch = set(order[k:k + size])
            done = await self._stage(f"review {k // size + 1}", review_jobs(
                asker, schedule, reviewers, {t: items[t] for t in batch},
                [s for s in submissions if s.item in batch], pairwise=pairwise,
                seed=cfg.seed, pairs=unsettled))
            got += [j for jobs in done for j in jobs]
            if not got:
                continue
            unsettled = unsettled_pairs(got)
            if not unsettled or self._settled(exam_judgments + got) or (
                    asker.caller.budget_calls is not None
                    and asker.caller.tally.made + asker.caller.tally.cached
                    >= asker.caller.budget_calls):
                break
        return got

    def _settled(self, judgments: list[Judgment]) -> bool:
        """Whether the bootstrap rank intervals of adjacent models separate."""
        options = rank_options(self.config)
        options.bootstrap, options.per_reviewer = 200, False
        exam = self.config.exam
        return separated(rank(JudgmentSet(_unique(judgments), [], []),
                              exam_gold=exam.gold if exam and exam.by_gold else None,
                              options=options).leaderboard)

    async def _stage(self, name: str, jobs: list[Awaitable[T]]) -> list[T]:
        """Run a stage's questions concurrently; fail after all ran if any call failed.

        A pool of workers, as many as the models' concurrency together, takes the jobs
        in order: started all at once, thousands of jobs would each do their first
        steps (store look-up, prompt) before the first request goes out.
        """
        self._bars.stage(name, len(jobs))
        self._store.set_fact(f"stage.{name}", {"done": 0, "total": len(jobs)})
        start = time.perf_counter()
        failed: list[CallError] = []
        results: list[T | None] = [None] * len(jobs)
        queue = iter(enumerate(jobs))

        async def worker() -> None:
            for i, job in queue:
                try:
                    results[i] = await job
                except CallError as exc:
                    failed.append(exc)
                except BudgetSpent as exc:  # review jobs stop themselves; others cannot
                    failed.append(CallError(f"{exc} before the review: raise --budget"))
                finally:
                    self._bars.advance()

        workers = min(len(jobs), sum(m.concurrency for m in self.config.models.values()))
        await asyncio.gather(*(worker() for _ in range(workers)))
        self._store.set_fact(f"stage.{name}", {"done": len(jobs) - len(failed),
                                               "total": len(jobs),
                                               "seconds": time.perf_counter() - start})
        if failed:
            raise RunFailed(f"{len(failed)} of {len(jobs)} {name} calls failed; the first: "
                            f"{failed[0]}. Completed calls are kept in "
                            f"{self.out / STORE}: run again to retry the rest.")
        return [r for r in results if r is not None]

    async def _submissions(self, asker: Asker, items: dict[str, Item],
                           given: list[Submission] | None) -> list[Submission]:
        cfg = self.config
        if given is not None:
            kept = [s for s in given if s.model in cfg.evaluatees and s.item in items]
            missing = set(cfg.evaluatees) - {s.model for s in kept}
            if missing:
                raise InputError(f"no submission of evaluatee(s) {sorted(missing)} on the "
                                 "task's items", cfg.task.submissions, field="model")
            return sorted(kept, key=lambda s: (s.item, s.model))
        return await self._stage("submissions", [
            asker.submit(e, items[t]) for t in sorted(items) for e in cfg.evaluatees])

    async def _exam(self, asker: Asker, items: dict[str, Item],
                    submissions: list[Submission]) -> tuple[list[Judgment], list[str]]:
        """Every candidate sits the exam; returns the exam judgments and who qualified."""
        cfg = self.config
        if cfg.exam is None or cfg.exam.gold is None or not cfg.exam.by_gold:
            return [], list(cfg.reviewers)  # qualified after the review, without labels
        exam_items = {i.item: i for i in read_items(cfg.exam.items)} if cfg.exam.items else items
        exam_subs = read_submissions(cfg.exam.submissions) if cfg.exam.submissions \
            else submissions
        gold = gold_from_judgments(cfg.exam.gold,
                                   known_models=sorted({s.model for s in exam_subs}))
        asked = exam_questions(gold, exam_items, exam_subs, cfg.review.mode == "pairwise")
        judgments = await self._stage("exam", [asker.judge(r, q) for q in asked
                                               for r in cfg.reviewers])
        results = run_exam(build_table(judgments), gold, threshold=cfg.exam.threshold,
                           weighting=cfg.exam.weighting, seed=cfg.seed)
        ranked = sorted((r for r in results if r.qualified),
                        key=lambda r: (-(r.exam_accuracy or 0.0), r.reviewer))
        return judgments, [r.reviewer for r in ranked]  # the cascade's order

    def _facts(self) -> dict[str, Any]:
        cfg = self.config
        style = {"openai": "chat", "local": "completion"}
        prompts = {f"{style[m.provider]}/{cfg.review.mode}.j2":
                   template_hash(f"{style[m.provider]}/{cfg.review.mode}.j2")
                   for n, m in cfg.models.items() if n in cfg.reviewers and m.provider in style}
        versions = {"peerreview": peerreview.__version__, "python": platform.python_version()}
        try:
            import llama_cpp
            versions["llama_cpp_python"] = llama_cpp.__version__
        except ImportError:
            pass
        return {"config": cfg.model_dump(mode="json"), "versions": versions, "seed": cfg.seed,
                "prompt_hashes": prompts, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _check_prompt(config: RunConfig, items: dict[str, Item]) -> None:
    """Render the task prompt for every item before any call: a field the template
    names and an item lacks is a config error, not a failed run."""
    template = task_template(config.task.prompt)
    for item in items.values():
        try:
            template.render(item_fields(item))
        except jinja2.TemplateError as exc:
            raise InputError(f"the task prompt cannot be rendered for item {item.item!r}: "
                             f"{exc}", field="task.prompt") from exc


def _unique(judgments: list[Judgment]) -> list[Judgment]:
    """Drop repeats: an exam question asked again in review is the same stored call."""
    seen: set[bytes] = set()
    kept = []
    for j in judgments:
        key = orjson.dumps(judgment_to_dict(j))
        if key not in seen:
            seen.add(key)
            kept.append(j)
    return kept


def run_files(run: RunResult, config: RunConfig) -> dict[str, bytes]:
    """The files of a run: rank's, plus the submissions, judgments and run facts."""
    files = run.rank.files()
    t = run.tally
    cost = orjson.loads(files["cost.json"])
    review = run.facts.get("review", {})
    cost.update(calls_made=t.made, calls_stored=t.cached, prompt_tokens=t.prompt_tokens,
                completion_tokens=t.completion_tokens, cost_usd=round(t.cost_usd, 6),
                truncated_prompts=t.truncated, review_calls=review.get("calls"),
                review_calls_full_schedule=review.get("full_schedule_calls"),
                calls_saved=review.get("calls_saved"))
    files["cost.json"] = orjson.dumps(cost, option=orjson.OPT_INDENT_2) + b"\n"
    files["submissions.jsonl"] = dumps_jsonl([asdict(s) for s in run.submissions])
    files["judgments.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in run.judgments])
    files["run.json"] = orjson.dumps(run.facts, option=orjson.OPT_INDENT_2) + b"\n"
    files.update(render(report_inputs(config, run.rank, run.submissions, run.judgments,
                                      run.facts)))
    return files


def run(config: RunConfig, out: str | Path, *, show_progress: bool = True,
        budget_calls: int | None = None, budget_usd: float | None = None) -> RunResult:
    """Run the whole pipeline of ``config`` into ``out`` (resuming what is stored there).

    Raises:
        InputError: bad config or input files (before any call where it can be known).
        RunFailed: some calls failed for good; run again to retry them.
    """
    return Pipeline(config, out, show_progress=show_progress, budget_calls=budget_calls,
                    budget_usd=budget_usd).run()
