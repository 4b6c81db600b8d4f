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
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import Any, TypeVar

import orjson

import peerreview
from peerreview.calls import Caller, Tally
from peerreview.config import RunConfig
from peerreview.errors import InputError, PeerReviewError
from peerreview.exam import Weighting, run_exam
from peerreview.gold import Gold, gold_from_judgments
from peerreview.models import CallError, make_backend
from peerreview.output import write_files
from peerreview.progress import StageProgress
from peerreview.prompts import template_hash
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
from peerreview.review import Asker, Question
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


def questions(items: dict[str, Item], submissions: list[Submission],
              pairwise: bool) -> list[Question]:
    """Every question of the full schedule: each pair in both orders, or each submission."""
    by_item: dict[str, list[Submission]] = {}
    for s in submissions:
        by_item.setdefault(s.item, []).append(s)
    asked: list[Question] = []
    for item_id in sorted(by_item):
        subs = sorted(by_item[item_id], key=lambda s: s.model)
        if pairwise:
            asked += [Question(items[item_id], a, b) for a, b in permutations(subs, 2)]
        else:
            asked += [Question(items[item_id], s) for s in subs]
    return asked


def exam_questions(gold: Gold, items: dict[str, Item], submissions: list[Submission],
                   pairwise: bool) -> list[Question]:
    """The exam: the gold pairs (both orders) or the submissions the gold is about."""
    known = {(s.item, s.model): s for s in submissions}
    wanted = sorted(gold.pairs)
    needed: list[Submission] = []
    for item_id, a, b in wanted:
        if item_id not in items:
            raise InputError(f"exam gold is about item {item_id!r}, which is not among the "
                             "exam items", gold.path, field="item")
        for model in (a, b):
            if (item_id, model) not in known:
                raise InputError(f"exam gold pairs {a!r} and {b!r} on item {item_id!r}, but "
                                 f"there is no submission of {model!r} for it", gold.path,
                                 field="item")
    for item_id, a, b in wanted:
        needed += [known[item_id, a], known[item_id, b]]
    if pairwise:
        return [Question(items[t], known[t, x], known[t, y])
                for t, a, b in wanted for x, y in ((a, b), (b, a))]
    unique = sorted({(s.item, s.model) for s in needed})
    return [Question(items[t], known[t, m]) for t, m in unique]


class Pipeline:
    """One run of a config into an output folder."""

    def __init__(self, config: RunConfig, out: str | Path, *, show_progress: bool = True):
        self.config = config
        self.out = Path(out)
        self.show_progress = show_progress

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
        backends = self._backends()
        self.out.mkdir(parents=True, exist_ok=True)
        store = self._store = RunStore(self.out / STORE)
        caller = Caller(store, cfg.models, backends)
        asker = Asker(caller, task_prompt=cfg.task.prompt, mode=cfg.review.mode,
                      rubric=cfg.task.rubric, reasks=cfg.review.reasks, seed=cfg.seed)
        facts = self._facts()
        for name, value in facts.items():
            store.set_fact(name, value)
        try:
            with StageProgress(caller.tally, enabled=self.show_progress) as bars:
                self._bars = bars
                submissions = await self._submissions(asker, items, given)
                exam_judgments, qualified = await self._exam(asker, items, submissions)
                pairwise = cfg.review.mode == "pairwise"
                # Reviewers interleaved, so that every model's concurrency is used at once.
                review = await self._stage("review", [
                    asker.judge(r, q) for q in questions(items, submissions, pairwise)
                    for r in qualified])
        finally:
            for backend in backends.values():
                await backend.aclose()
        judgments = _unique(exam_judgments + review)
        result = rank(JudgmentSet(judgments, [], []),
                      exam_gold=cfg.exam.gold if cfg.exam and cfg.exam.by_gold else None,
                      gold=cfg.gold, options=rank_options(cfg))
        facts["calls"] = store.totals()
        facts["truncated_prompts"] = caller.tally.truncated
        store.set_fact("truncated_prompts", caller.tally.truncated)
        store.close()
        run = RunResult(self.out, submissions, judgments, result, caller.tally,
                        time.perf_counter() - start, facts)
        write_files(self.out, run_files(run))
        return run

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
        return judgments, [r.reviewer for r in results if r.qualified]

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


def run_files(run: RunResult) -> dict[str, bytes]:
    """The files of a run: rank's, plus the submissions, judgments and run facts."""
    files = run.rank.files()
    t = run.tally
    cost = orjson.loads(files["cost.json"])
    cost.update(calls_made=t.made, calls_stored=t.cached, prompt_tokens=t.prompt_tokens,
                completion_tokens=t.completion_tokens, cost_usd=round(t.cost_usd, 6),
                truncated_prompts=t.truncated)
    files["cost.json"] = orjson.dumps(cost, option=orjson.OPT_INDENT_2) + b"\n"
    files["submissions.jsonl"] = dumps_jsonl(
        [{"item": s.item, "model": s.model, "output": s.output} for s in run.submissions])
    files["judgments.jsonl"] = dumps_jsonl([judgment_to_dict(j) for j in run.judgments])
    files["run.json"] = orjson.dumps(run.facts, option=orjson.OPT_INDENT_2) + b"\n"
    files.update(render(report_inputs(RunConfig.model_validate(run.facts["config"]), run.rank,
                                      run.submissions, run.judgments, run.facts)))
    return files


def run(config: RunConfig, out: str | Path, *, show_progress: bool = True) -> RunResult:
    """Run the whole pipeline of ``config`` into ``out`` (resuming what is stored there).

    Raises:
        InputError: bad config or input files (before any call where it can be known).
        RunFailed: some calls failed for good; run again to retry them.
    """
    return Pipeline(config, out, show_progress=show_progress).run()
