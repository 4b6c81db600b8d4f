"""PRE's pipeline with live models: submissions -> exam -> review -> chair.

Every model call goes through the run store in ``DIR/run.sqlite``; a run that is
killed and started again makes no call twice and ends with the same outputs as an
uninterrupted one. Outputs are written all at once at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from peerreview import eventloop
from peerreview.calls.caller import Caller
from peerreview.calls.shard import Shard, finish_shard, start_shard
from peerreview.calls.store import RunStore
from peerreview.chair import make_chair
from peerreview.errors import InputError, NoQualifiedReviewer, RunFailed
from peerreview.exam.grade import ExamResult, run_exam
from peerreview.live.config import RunConfig, load_config
from peerreview.live.files import (
    Failures,
    NoRanking,
    RunResult,
    Unranked,
    end_unranked,
    run_facts,
    run_files,
)
from peerreview.live.inputs import (
    RunInputs,
    called_models,
    check_prompt,
    config_folder,
    load_functions,
    load_run_inputs,
    rank_options,
    run_study,
)
from peerreview.live.plan import plan
from peerreview.live.progress import StageProgress
from peerreview.live.stages import RunState, run_stage
from peerreview.models import Backend, CallError, make_backend
from peerreview.options import ReviewMode
from peerreview.output import locked, write_files
from peerreview.ranking import rank, settled_by
from peerreview.records.exchange import (
    Item,
    Judgment,
    Submission,
    off_scale_note,
)
from peerreview.records.readable import unreadable_reviewers
from peerreview.records.table import build_table
from peerreview.review.asker import Asker
from peerreview.review.escalate import Escalation, escalation_for
from peerreview.review.schedule import Schedule, adaptive, cascade_jobs
from peerreview.review.stage import Live, ReviewJobs, exam_questions, full_calls

STORE = "run.sqlite"
T = TypeVar("T")
log = logging.getLogger("peerreview")


class Pipeline:
    """One run of a config into an output folder."""

    def __init__(self, config: RunConfig, out: str | Path, *, show_progress: bool = True,
                 budget_calls: int | None = None, budget_usd: float | None = None,
                 progress_interval: float = 10.0, wait_for_batches: bool = True,
                 retry_failed: bool = False, shard: Shard | None = None,
                 stored_only: bool = False):
        self.config = config
        self.shard = shard  # run --shard: only this shard's review calls, then stop
        self.stored_only = stored_only  # merge: every answer from the store, none sent
        self.retry_failed = retry_failed  # calls out of attempts get one more round
        self.out = Path(out)
        self.show_progress = show_progress
        self.progress_interval = progress_interval
        self.wait_for_batches = wait_for_batches  # False: submit batches and stop
        self.budget_calls = budget_calls
        self.budget_usd = budget_usd

    def _backends(self) -> dict[str, Backend]:
        cfg = self.config  # with given submissions, no evaluatee is called
        names = sorted(set(cfg.reviewers) | set(cfg.evaluatees or [])
                       if cfg.task.submissions is None else cfg.reviewers)
        # Built (and API keys read) before any call: a missing key fails at once.
        backends = {}
        for name in names:
            try:
                backends[name] = make_backend(name, self.config.models[name])
            except InputError as exc:
                raise self.config.locate(exc) from exc
        return backends

    def run(self) -> RunResult:
        """Run every stage; see :func:`run`."""
        return eventloop.run(self._run())

    async def _run(self) -> RunResult:
        start = time.perf_counter()
        cfg = self.config
        inputs = load_run_inputs(cfg)
        self._check_budget(inputs)
        check_prompt(cfg, inputs.items)
        # From the config's folder first: the backends then find them by name.
        load_functions(cfg, called_models(cfg), config_folder(cfg))
        backends = self._backends()
        with locked(self.out):
            store = RunStore(self.out / STORE, background=True)
            caller = Caller(store, cfg.models, backends, budget_calls=self.budget_calls,
                            budget_usd=self.budget_usd, retry_failed=self.retry_failed,
                            routed=cfg.routed(), shard=self.shard,
                            stored_only=self.stored_only)
            asker = Asker(caller, task_prompt=cfg.task.prompt, mode=cfg.review.mode,
                          rubric=cfg.task.rubric, reasks=cfg.review.reasks, seed=cfg.seed,
                          off_scale=cfg.review.off_scale)
            try:
                return await self._stages(inputs, store, caller, asker, backends, start)
            finally:
                store.close()
                for backend in backends.values():
                    await backend.aclose()

    async def _stages(self, inputs: RunInputs, store: RunStore, caller: Caller, asker: Asker,
                      backends: dict[str, Backend], start: float) -> RunResult:
        cfg = self.config
        items = inputs.items
        facts = run_facts(cfg)
        for name, value in facts.items():
            store.set_fact(name, value)
        failures = Failures(Counter(), {}, {})
        start_shard(store, self.shard, cfg.review.schedule)
        if not self.stored_only:  # a merge sends nothing: no endpoint is looked at
            await _check_endpoints(backends)
        health = {name: b.health for name, b in backends.items()}
        with StageProgress(caller.tally, health, enabled=self.show_progress,
                           interval=self.progress_interval) as bars:
            state = RunState(inputs, store, caller, backends, failures, bars)
            submissions = await self._submissions(state, asker, items, inputs.given)
            if len({s.model for s in submissions}) < 2 and failures.calls:
                raise self._unranked(state, "fewer than two evaluatees have submissions: "
                                     "nothing to rank", [], submissions, [], facts)
            exam_judgments, qualified, weights, nobody = await self._exam(state, asker,
                                                                          submissions)
            if nobody is not None:
                raise self._unranked(state, *nobody, submissions, exam_judgments, facts)
            before = caller.tally.made + caller.tally.cached
            caller.keep_to_shard()
            review, escalation = await self._review(state, asker, items, submissions,
                                                    qualified, weights, exam_judgments)
            if escalation is not None:
                facts["escalation"] = escalation.facts()
            if self.shard is not None:  # the merge ranks (peerreview.calls.shard)
                raise finish_shard(store, self.shard, failures.summary()
                                   if failures.calls else
                                   "the budget was spent" if caller.spent else None)
            asked = caller.tally.made + caller.tally.cached - before
            if not review and caller.spent:
                raise self._unranked(state, "the budget was spent before the review asked "
                                     "anything: raise --budget or --budget-usd", [],
                                     submissions, exam_judgments, facts)
        caller.close()  # the calls are over; what only sending needed is let go
        for note in off_scale_note(asker.off_scale_counts, cfg.review.off_scale):
            log.warning(note)
        facts["off_scale"] = dict(asker.off_scale_counts)
        judgments = _unique(exam_judgments + review)
        del exam_judgments, review  # one list of the judgments from here on
        try:  # a candidate whose exam calls failed sits out (run_study)
            result = rank(run_study(inputs, judgments, submissions, failures.to_dict()),
                          options=rank_options(cfg))
        except NoQualifiedReviewer as exc:  # e.g. no reviewer said anything readable
            raise self._unranked(state, exc.message, exc.results, submissions, judgments,
                                 facts) from exc
        except InputError as exc:
            if not failures.calls:
                raise
            raise self._unranked(state, f"nothing could be ranked with the models that "
                                 f"answered ({exc})", [], submissions, judgments,
                                 facts) from exc
        for said in unreadable_reviewers(result.exam, (result.study or result).table):
            log.warning(said.message)
        full = full_calls(len(qualified), items, submissions,
                          cfg.review.mode == ReviewMode.PAIRWISE)
        facts["review"] = {"schedule": cfg.review.schedule, "calls": asked,
                           "full_schedule_calls": full, "calls_saved": max(0, full - asked)}
        facts["calls"] = store.totals()
        replicas = [r for r in store.per_endpoint()
                    if len(cfg.models[r["model"]].urls) > 1]
        if replicas:  # shown in the report's run facts
            facts["calls_by_replica"] = {f"{r['model']} @ {r['endpoint']}": r["calls"]
                                         for r in replicas}
        facts["truncated_prompts"] = caller.tally.truncated
        seconds = time.perf_counter() - start
        facts["seconds"] = round(seconds, 3)
        store.set_fact("truncated_prompts", caller.tally.truncated)
        if failures.calls:
            facts["failures"] = failures.to_dict()
        store.set_fact("failures", facts.get("failures", {}))
        run = RunResult(self.out, submissions, judgments, result, caller.tally, seconds, facts)
        files, records = run_files(run, cfg)
        for kind, rows in records.items():  # the store keeps exactly what the files hold
            store.set_records(kind, rows)
        write_files(self.out, files)
        if failures.calls:
            raise RunFailed(f"{failures.summary()}. The outputs rank with the models that "
                            "answered; run again to retry only the missing calls.", run)
        return run

    def _unranked(self, state: RunState, cause: str, exam: list[ExamResult],
                  submissions: list[Submission], judgments: list[Judgment],
                  facts: dict[str, Any]) -> NoRanking:
        """Write what a run that ranks nothing can show; the error that ends it."""
        facts["calls"] = state.store.totals()
        return end_unranked(self.out, state.store, self.config, state.failures,
                            Unranked(cause, exam, submissions, _unique(judgments),
                                     state.caller.tally, facts))

    def _check_budget(self, inputs: RunInputs) -> None:
        """A budget that the submissions and the exam would spend is an error, before
        any call."""
        if self.budget_calls is None:
            return
        before = sum(p.calls for p in plan(self.config, inputs) if p.stage != "review")
        if self.budget_calls <= before:
            raise InputError(f"a budget of {self.budget_calls} calls leaves nothing for the "
                             f"review: the submissions and the exam need {before}",
                             field="--budget")

    async def _review(self, state: RunState, asker: Asker, items: dict[str, Item],
                      submissions: list[Submission], reviewers: list[str],
                      weights: dict[str, float], exam: list[Judgment]
                      ) -> tuple[list[Judgment], Escalation | None]:
        """The qualified reviewers (most accurate first) judge under the schedule;
        ``weights``, the exam's, are the adaptive schedule's stopping rule's. With
        ``chair.target_agreement``, the cascade escalates a pair below the threshold
        calibrated on the ``exam`` judgments (returned, with the pairs it escalated)."""
        cfg = self.config
        schedule = Schedule(cfg.review.schedule)
        pairwise = cfg.review.mode == ReviewMode.PAIRWISE
        baseline = cfg.review.baseline if cfg.review.pairs == "baseline" else None
        if schedule in (Schedule.FULL, Schedule.ONE_ORDER):
            done = await self._stage(state, "review", ReviewJobs(
                asker, schedule, reviewers, items, submissions, pairwise=pairwise,
                seed=cfg.seed, baseline=baseline))
            # run_stage drops a job's None (the budget was spent): no copy to filter it
            return cast(list[Judgment], done), None
        live = Live(asker, items, submissions, pairwise, baseline)
        chair = make_chair(cfg.chair.method or ("vote" if pairwise else "mean"), seed=cfg.seed)
        target = cfg.chair.target_agreement
        escalation = None if target is None else escalation_for(
            build_table(exam), weights, state.inputs.exam_gold, target, cfg.chair.delta,
            by_mean=chair.by_mean, baseline=baseline)
        if schedule is Schedule.CASCADE:
            await self._stage(state, "review", cascade_jobs(
                live, reviewers, live.pairs_of, live.models_of, escalation=escalation))
        else:
            await adaptive(live, reviewers, live.pairs_of, live.models_of, seed=cfg.seed,
                           run=lambda jobs, k: self._stage(state, f"review {k + 1}", jobs),
                           so_far=lambda: build_table(live.got) if live.got else None,
                           settled=settled_by(weights, chair, cfg.seed),
                           exhausted=asker.caller.exhausted, escalation=escalation)
        if escalation is not None:
            log.info(escalation.describe())
        return live.judgments(), escalation

    async def _stage(self, state: RunState, name: str,
                     jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        return await run_stage(state, self.config, name, jobs, wait=self.wait_for_batches,
                               out=self.out)

    async def _submissions(self, state: RunState, asker: Asker, items: dict[str, Item],
                           given: list[Submission] | None) -> list[Submission]:
        if given is not None:  # checked and sorted when read
            return given
        return await self._stage(state, "submissions", [
            partial(asker.submit, e, items[t]) for t in sorted(items)
            for e in state.inputs.evaluatees])

    async def _exam(self, state: RunState, asker: Asker, submissions: list[Submission]
                    ) -> tuple[list[Judgment], list[str], dict[str, float],
                               tuple[str, list[ExamResult]] | None]:
        """Every candidate sits the exam; returns the exam judgments, who qualified (in
        the cascade's order), their weights, and if nobody did why, with the exam's
        table."""
        cfg, inputs = self.config, state.inputs
        gold = inputs.exam_gold
        if cfg.chair.target_agreement is not None and gold is None:  # before the review
            raise cfg.locate(InputError("chair.target_agreement calibrates on the exam: it "
                                        "needs exam: gold: FILE",
                                        field="chair.target_agreement"))
        if cfg.exam is None or gold is None:  # qualified after the review, unlabelled
            return [], list(cfg.reviewers), {}, None
        exam_subs = inputs.exam_submissions or submissions
        missing = state.failures.in_stage("submissions")
        asked = exam_questions(gold, inputs.exam_items, exam_subs,
                               cfg.review.mode == ReviewMode.PAIRWISE, missing)
        judgments = await self._stage(state, "exam", [partial(asker.judge, r, q)
                                                      for q in asked for r in cfg.reviewers])
        failed = state.failures.in_stage("exam")
        if len(failed) == len(cfg.reviewers):
            return judgments, [], {}, ("no reviewer candidate could be graded: every one "
                                       "had exam calls fail for good", [])
        try:
            results = run_exam(build_table([j for j in judgments if j.reviewer not in failed]),
                               gold, threshold=cfg.exam.threshold,
                               weighting=cfg.exam.weighting, seed=cfg.seed)
        except NoQualifiedReviewer as exc:
            return judgments, [], {}, (exc.message, exc.results)
        ranked = sorted((r for r in results if r.qualified),
                        key=lambda r: (-(r.exam_accuracy or 0.0), r.reviewer))
        return (judgments, [r.reviewer for r in ranked],
                {r.reviewer: r.weight for r in results}, None)


async def _check_endpoints(backends: dict[str, Backend]) -> None:
    """Look at every endpoint once before the first call: a model that cannot be
    served is said at once, and its calls will fail without being sent."""
    results = await asyncio.gather(*(b.check() for b in backends.values()),
                                   return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, CallError):
            log.warning(f"{outcome}; its calls will fail and the run goes on without it")
        elif isinstance(outcome, BaseException):
            raise outcome


def _unique(judgments: list[Judgment]) -> list[Judgment]:
    """Drop repeats: an exam question asked again in review is the same stored call
    (judgments are frozen records: equal ones hash alike)."""
    return list(dict.fromkeys(judgments))


def run(config: RunConfig | str | Path, out: str | Path, *, show_progress: bool = True,
        budget_calls: int | None = None, budget_usd: float | None = None,
        wait: bool = True, retry_failed: bool = False, shard: Shard | None = None,
        stored_only: bool = False) -> RunResult:
    """Run the whole pipeline of ``config`` (or the YAML file it names) into ``out``,
    resuming what is stored there. Inside a running event loop (a notebook), await
    :func:`run_async` instead. With ``shard``, only that shard's review calls are made
    and the run stops (:class:`~peerreview.calls.shard.ShardStored`); ``stored_only``
    answers every call from the store and sends none (``peerreview merge``).

    Raises:
        InputError: bad config or input files (before any call where it can be known).
        RunFailed: some calls failed for good; run again to retry them (a call that
            used its ``max_retries + 1`` attempts over every run is retried only with
            ``retry_failed``, which grants it one more round).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running: the usual case
        return eventloop.run(run_async(config, out, show_progress=show_progress,
                                       budget_calls=budget_calls, budget_usd=budget_usd,
                                       wait=wait, retry_failed=retry_failed, shard=shard,
                                       stored_only=stored_only))
    raise RuntimeError("peerreview.run() cannot be called from a running event loop (a "
                       "notebook): await peerreview.run_async(...) instead")


async def run_async(config: RunConfig | str | Path, out: str | Path, *,
                    show_progress: bool = True, budget_calls: int | None = None,
                    budget_usd: float | None = None, wait: bool = True,
                    retry_failed: bool = False, shard: Shard | None = None,
                    stored_only: bool = False) -> RunResult:
    """:func:`run` for code already inside an event loop: ``await run_async(...)``.
    ``wait=False``: submit provider batches and stop (raising BatchesPending)."""
    if not isinstance(config, RunConfig):
        config = load_config(config)
    return await Pipeline(config, out, show_progress=show_progress, budget_calls=budget_calls,
                          budget_usd=budget_usd, wait_for_batches=wait,
                          retry_failed=retry_failed, shard=shard,
                          stored_only=stored_only)._run()
