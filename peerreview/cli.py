"""The command line: parses options and calls the library, nothing else.

Exit status: 0 success, 2 bad input or usage, 1 any other failure.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from peerreview.cliparser import parser
from peerreview.errors import BatchesPending, InputError, NoQualifiedReviewer, RunFailed
from peerreview.options import Qualification, Recusal, Schedule, Shrink, Weighting
from peerreview.records.exchange import OffScale

if TYPE_CHECKING:  # each command imports what it uses, so that --help and status start fast
    from asyncio import AbstractEventLoop

    from rich.console import Console

    from peerreview.live.files import RunResult


def _rank(args: argparse.Namespace, out: Console) -> None:
    from peerreview.chair.style import parse_control
    from peerreview.commands import rank_into, rank_spec
    from peerreview.live.console import STDERR as err
    from peerreview.live.console import notice, print_rank
    from peerreview.ranking import RankOptions
    from peerreview.records.recuse import read_families

    weighting = "poly" if args.weighting == "power" else args.weighting
    options = RankOptions(
        threshold=args.threshold, weighting=Weighting(weighting), exponent=args.exponent,
        method=args.method, normalize=args.normalize,
        qualification=Qualification(args.qualification) if args.qualification else None,
        allow_unexamined=args.allow_unexamined, latent_model=args.latent_model,
        schedule=Schedule(args.schedule), budget=args.budget,
        exclude_exam_items=args.exclude_exam_items, bootstrap=args.bootstrap, seed=args.seed,
        off_scale=OffScale(args.off_scale), baseline=args.baseline, strength=args.strength,
        control=parse_control(args.control) if args.control else (),
        calibrate_bias=args.calibrate_bias, recuse=Recusal(args.recuse),
        families=read_families(args.families) if args.families else {},
        soft=args.soft, target_agreement=args.target_agreement, delta=args.delta,
        audit=args.audit, ppi=args.ppi, shrink=Shrink(args.shrink))
    spec = rank_spec(args.judgments, options, exam_gold=args.exam_gold, gold=args.gold,
                     items=args.items, submissions=args.submissions)
    result = rank_into(args.out, spec, parquet=args.parquet)
    if result.duplicates:
        d = result.duplicates[0]
        notice(err, "warning", f"{len(result.duplicates)} duplicate judgment(s) ignored, "
               f"the first of each kept (e.g. {d.path}:{d.line} repeats "
               f"{d.kept_path}:{d.kept_line})")
    for note in result.notes:
        notice(err, "note", note)
    from peerreview.records.readable import unreadable_reviewers
    for said in unreadable_reviewers(result.exam, (result.study or result).table):
        notice(err, "warning", said.message)
    if not args.quiet:
        print_rank(result, out, args.threshold if result.study and result.study.exam_gold
                   else None)
    out.print(f"wrote {args.out}", markup=False)


def _import(args: argparse.Namespace, out: Console) -> None:
    from peerreview.importers import import_set
    from peerreview.live.console import STDERR as err
    from peerreview.live.console import notice, plain

    data = import_set(args.name, args.path, dimension=args.dimension,
                      off_scale=OffScale(args.off_scale) if args.off_scale else None,
                      keep_first=args.keep_first, baseline=args.baseline, ties=args.ties)
    data.write(args.out)
    for note in data.notes:
        notice(err, "note", note)
    for warning in data.warnings:
        notice(err, "warning", warning)
    abstained = data.abstentions()
    out.print(f"{args.name}: {len(data.items)} items, {len(data.submissions)} submissions, "
              f"{len(data.judgments)} judgments, {len(data.gold)} gold labels -> {args.out}",
              markup=False)
    for reviewer in sorted({j.reviewer for j in data.judgments}):
        if abstained[reviewer]:
            out.print(plain(f"  {reviewer}: {abstained[reviewer]} unreadable answers kept as "
                            "abstentions"))


def _merge(args: argparse.Namespace, out: Console) -> None:
    from peerreview.live.config import load_config
    from peerreview.live.console import plain
    from peerreview.live.merge import merge_and_rank

    config = load_config(args.config) if args.config else None
    merged, result = merge_and_rank([Path(d) for d in args.dirs], Path(args.out),
                                    config=config, show_progress=not args.quiet)
    out.print(plain(f"merged {len(merged.shards)} shards: {merged.calls:,} calls, "
                    f"{merged.duplicates:,} found in several stores (kept once), "
                    f"{len(merged.conflicts)} answered differently (the first kept)"))
    for key in merged.conflicts[:10]:
        out.print(plain(f"  conflict: call {key}"))
    _report_run(result, args, out)


def _run(args: argparse.Namespace, out: Console) -> None:
    from peerreview.demo import demo_config_path
    from peerreview.live.config import load_config
    from peerreview.live.console import plain, plan_table
    from peerreview.live.pipeline import run
    from peerreview.live.plan import plan

    config_path = demo_config_path() if args.command == "demo" else args.config
    config = load_config(config_path)
    if args.dry_run:
        out.print(plan_table(plan(config), expected=config.review.schedule in (
            Schedule.CASCADE, Schedule.ADAPTIVE)))
        return
    from peerreview.calls.shard import ShardStored, parse_shard

    shard = parse_shard(args.shard) if getattr(args, "shard", None) else None
    try:
        result = run(config, args.out, show_progress=not args.quiet,
                     budget_calls=getattr(args, "budget", None),
                     budget_usd=getattr(args, "budget_usd", None),
                     wait=not getattr(args, "no_wait", False),
                     retry_failed=getattr(args, "retry_failed", False), shard=shard)
    except (BatchesPending, ShardStored) as exc:
        out.print(plain(exc, lines=True))
        return
    except InputError as exc:  # about a config field (task.prompt): the file and its line
        if (located := config.locate(exc)) is exc:
            raise
        raise located from exc
    except RunFailed as exc:
        if exc.partial is not None:  # ranked with the models that answered: show it
            _report_run(exc.partial, args, out)
        from peerreview.live.files import NoRanking
        if isinstance(exc, NoRanking) and exc.exam:  # ranked nothing: the exam says why
            from peerreview.live.console import STDERR, exam_table
            table = exam_table(exc.exam, exc.threshold)
            if exc.threshold is None:  # no exam: say nothing of one
                table.title = "Reviewer candidates (no exam)"
            STDERR.print(table)
        raise
    _report_run(result, args, out)


def _report_run(result: RunResult, args: argparse.Namespace, out: Console) -> None:
    from peerreview.live.console import print_rank

    if not args.quiet:
        print_rank(result.rank, out)
    t = result.tally
    review = result.facts["review"]
    if review["calls_saved"]:
        out.print(f"review: {review['calls']} calls of the full schedule's "
                  f"{review['full_schedule_calls']} ({review['schedule']}): "
                  f"{review['calls_saved']} saved")
    out.print(f"{t.made} calls made, {t.cached} answered from the store, "
              f"{t.prompt_tokens + t.completion_tokens:,} tokens, ${t.cost_usd:.4f}"
              + (f", {t.truncated} prompts truncated" if t.truncated else "")
              + f"; {result.seconds:.1f} s")
    out.print(f"wrote {args.out}", markup=False)


def _label_select(args: argparse.Namespace, out: Console) -> None:
    from peerreview.labels.select import abstained_pairs
    from peerreview.labels.store import select_into

    only = None if args.from_abstained is None else abstained_pairs(
        args.from_abstained or Path(args.dir) / "verdicts.jsonl")
    units = select_into(args.dir, args.n, args.seed, rate=args.rate, only=only)
    repeats = sum(u.repeat_of is not None for u in units)
    doubles = sum(u.double for u in units)
    what = "submissions to rate" if args.rate else "pairs to label"
    out.print(f"chose {len(units) - repeats} {what} (+{repeats} shown again, {doubles} for "
              f"two people) -> {Path(args.dir) / 'labels' / 'selection.jsonl'}", markup=False)


def _label(args: argparse.Namespace, out: Console) -> None:
    from peerreview.labels.server import serve

    serve(args.dir, args.annotator, args.port, announce=out.print)


def _label_export(args: argparse.Namespace, out: Console) -> None:
    from peerreview.labels.export import exam_on_labels, export_gold
    from peerreview.live.console import exam_table, label_tables, plain

    stats = export_gold(args.dir, args.out)
    out.print(label_tables(stats))
    results, why_not = exam_on_labels(args.dir, args.out, args.threshold)
    if why_not:
        out.print(plain(f"no exam on these labels: {why_not}", lines=True))
    if results:
        out.print(exam_table(results, args.threshold))
    out.print(f"wrote {stats.gold} gold labels ({stats.flagged} pairs where labels "
              f"disagree; weighted, the decided ones count as {stats.effective:.0f} "
              f"random labels) -> {args.out}", markup=False)


def _diff(args: argparse.Namespace, out: Console) -> None:
    from peerreview.compare_runs import compare, diff_lines, read_folder

    if args.bootstrap < 1:
        raise InputError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    old, new = read_folder(args.old), read_folder(args.new)
    for line in diff_lines(old, new, compare(old, new, n_boot=args.bootstrap, seed=args.seed)):
        out.print(line, markup=False)


def _gate(args: argparse.Namespace, out: Console) -> None:
    from peerreview.compare_runs import gate

    if args.bootstrap < 1:
        raise InputError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    junit = args.junit or str(Path(args.dir) / "gate.xml")
    changes, failures = gate(args.dir, args.against, args.max_drop, junit=junit,
                             n_boot=args.bootstrap, seed=args.seed)
    for c in failures:
        out.print(f"FAIL {c.model}: {c.old:.3f} -> {c.new:.3f} ({c.change:+.3f}, 95% "
                  f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}])", markup=False)
    out.print(f"{len(changes) - len(failures)} of {len(changes)} models within the allowed "
              f"drop of {args.max_drop}; wrote {junit}", markup=False)
    if failures:
        raise GateFailed(f"{len(failures)} model(s) fell by more than {args.max_drop}")


def _compare(args: argparse.Namespace, out: Console) -> None:
    from peerreview.commands import compare_sentence
    from peerreview.live.console import plain

    out.print(plain(compare_sentence(args.dir, args.a, args.b)))


def _report(args: argparse.Namespace, out: Console) -> None:
    from peerreview.commands import report_into

    report_into(args.dir)
    out.print(f"wrote {Path(args.dir) / 'report.html'} and summary.md", markup=False)


def _status(args: argparse.Namespace, out: Console) -> None:
    from peerreview.live.console import status_table

    out.print(status_table(args.dir))


class GateFailed(Exception):
    """``gate`` found a model whose score fell (exit 1)."""


def _fail(message: str) -> None:
    from peerreview.live.console import STDERR, plain
    from peerreview.redact import redact

    STDERR.print(plain(redact(message), "red", lines=True), soft_wrap=True)


def _sigterm_as_sigint() -> tuple[list[bool], Callable[[], None]]:
    """SIGTERM (``kill``, ``docker stop``, systemd) stops a command as Ctrl-C does: a
    run cancels its calls, keeps the completed ones and writes nothing half-way.
    Returns a flag that says it came, and what puts the old handler back."""
    came = [False]
    if threading.current_thread() is not threading.main_thread():
        return came, lambda: None

    def as_sigint(signum: int, frame: object) -> None:
        came[0] = True
        on_sigint = signal.getsignal(signal.SIGINT)  # asyncio's, inside a run
        if callable(on_sigint):
            on_sigint(signal.SIGINT, frame)  # type: ignore[arg-type]
            return
        # SIGINT ignored (a background job): SIGTERM still stops. Inside a run it
        # stops between two of the loop's callbacks, not at whatever line the main
        # thread is on (inside a lock, maybe); the runner then cancels every task.
        loop = _running_loop()
        if loop is None:
            raise KeyboardInterrupt
        loop.call_soon_threadsafe(_interrupt)

    previous = signal.signal(signal.SIGTERM, as_sigint)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
    return came, restore


def _running_loop() -> AbstractEventLoop | None:
    """The event loop running in this thread, if any (none before asyncio is loaded)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        loop: AbstractEventLoop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop


def _interrupt() -> None:
    raise KeyboardInterrupt  # from a loop callback: the loop stops and re-raises it


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (SIGINT 130, SIGTERM 143)."""
    args = parser().parse_args(argv)
    terminated, restore = _sigterm_as_sigint()
    try:
        return _main(args, terminated)
    finally:
        restore()


def _main(args: argparse.Namespace, terminated: list[bool]) -> int:
    gc.freeze()  # what is loaded so far lives as long as the process: not for the GC to scan
    from rich.console import Console

    from peerreview.live.console import ConsoleHandler

    logger = logging.getLogger("peerreview")
    if not logger.handlers:  # notices print above the progress bars
        logger.addHandler(ConsoleHandler())
        logger.propagate = False
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    out = Console(width=None if sys.stdout.isatty() else 160)  # wide tables in logs too
    try:
        {"rank": _rank, "import": _import, "run": _run, "demo": _run,
         "status": _status, "report": _report, "label-select": _label_select,
         "label": _label, "label-export": _label_export, "diff": _diff,
         "gate": _gate, "compare": _compare, "merge": _merge}[args.command](args, out)
    except GateFailed as exc:
        _fail(f"peerreview: gate: {exc}")
        return 1
    except NoQualifiedReviewer as exc:
        from peerreview.live.console import STDERR, exam_table

        STDERR.print(exam_table(exc.results, getattr(args, "threshold", None)))
        _fail(f"peerreview: error: {exc}")
        return 2
    except InputError as exc:
        _fail(f"peerreview: error: {exc}")
        return 2
    except RunFailed as exc:
        _fail(f"peerreview: failed: {exc}")
        return 1
    except KeyboardInterrupt:
        how = "terminated" if terminated[0] else "interrupted"
        _fail(f"peerreview: {how}; completed calls are kept: run again to resume")
        return 143 if terminated[0] else 130
    except Exception as exc:  # the last line of defence: say what failed
        _fail(f"peerreview: failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
