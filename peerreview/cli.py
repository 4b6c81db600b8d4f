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

from peerreview import __version__
from peerreview.errors import BatchesPending, InputError, NoQualifiedReviewer, RunFailed
from peerreview.importers import IMPORTERS
from peerreview.importers.summeval import DIMENSIONS
from peerreview.options import LATENT_MODELS, METHOD_NAMES, Qualification, Schedule, Weighting
from peerreview.records.exchange import OffScale

if TYPE_CHECKING:  # each command imports what it uses, so that --help and status start fast
    from rich.console import Console

    from peerreview.live.files import RunResult


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peerreview",
        description="Rank large language models by peer review (PRE): reviewers sit a "
                    "qualification exam, the qualified ones judge, a chair ranks.")
    parser.add_argument("--version", "-V", action="version",
                        version=f"peerreview {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("rank", help="run the exam and the chair on recorded judgments",
                       description="Run the qualification exam and the chair on recorded "
                                   "judgments and write leaderboard.json/.csv, reviewers.json, "
                                   "verdicts.jsonl, cost.json and (with --gold) agreement.json.")
    p.add_argument("--judgments", nargs="+", required=True, metavar="FILE",
                   help="judgment files (JSON Lines, pairwise and/or pointwise)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--exam-gold", metavar="FILE", help="human labels for the exam")
    p.add_argument("--threshold", type=float, default=0.6, metavar="P",
                   help="exam accuracy needed to qualify (default 0.6)")
    p.add_argument("--weighting", choices=[w.value for w in Weighting] + ["power"],
                   default="linear", help="weight from exam accuracy (default linear)")
    p.add_argument("--exponent", type=float, default=1.0, metavar="A",
                   help="a in exp(a p) and p^a (default 1)")
    p.add_argument("--method", choices=list(METHOD_NAMES),
                   help="chair method (default: vote for pairwise, mean for pointwise)")
    p.add_argument("--normalize", action="store_true",
                   help="z-score each reviewer's scores before the mean")
    p.add_argument("--gold", metavar="FILE", help="human labels to measure agreement against")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="bootstrap resamples of items for intervals (default 0: none)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--qualification", choices=[q.value for q in Qualification],
                   help="gold: PRE's exam; latent: reliability from a latent-truth model "
                        "of the judgments (no labels); consistency: accuracy implied by "
                        "agreement across the two orders; none: all qualify equally "
                        "(default: gold with --exam-gold, else none)")
    p.add_argument("--latent-model", choices=list(LATENT_MODELS), default="dawid-skene",
                   help="latent-truth model for pairwise judgments (default dawid-skene; "
                        "scores always use the offset-scale-noise model)")
    p.add_argument("--schedule", choices=[s.value for s in Schedule], default="full",
                   help="use only the judgments this schedule would have asked for: full "
                        "(all), cascade (reviewers by exam accuracy, a pair goes on only "
                        "while undecided), one-order (one order per pair, position bias "
                        "removed), adaptive (for the ranking: stop once settled)")
    p.add_argument("--budget", type=int, metavar="N",
                   help="use at most N judgments (calls)")
    p.add_argument("--baseline", metavar="MODEL",
                   help="use only the pairs with MODEL: every model against one baseline "
                        "(alpaca_eval's and arena-hard's design)")
    p.add_argument("--off-scale", choices=[o.value for o in OffScale], default="keep",
                   help="a score outside its scale: keep it as given (PRE's scoring), clip "
                        "it to the scale, count it as an abstention, or refuse the input "
                        "(default keep; a warning per reviewer says how many)")
    p.add_argument("--strength", type=int, default=3, metavar="N",
                   help="a strong verdict (arena-hard's A>>B, strength 2) counts N times in "
                        "every chair, as arena-hard's --weight (default 3; 1: as a plain one)")
    p.add_argument("--soft", action="store_true",
                   help="a judgment with p_first (from logprobs) votes P(first) - P(second) "
                        "instead of +-1; one without votes as before (default off: PRE)")
    p.add_argument("--control", metavar="length[,markdown]",
                   help="style control: also rank by Bradley-Terry with the submissions' "
                        "length (and markdown: headers, list items, bold) as covariates, as "
                        "Chatbot Arena does; writes style.json (needs --submissions)")
    p.add_argument("--calibrate-bias", action="store_true",
                   help="remove from each reviewer's votes the length and first-position "
                        "preference beyond the humans' that the exam measured (needs "
                        "--exam-gold; length also --submissions)")
    p.add_argument("--recuse", choices=["none", "self", "self-exam"], default="none",
                   help="self: drop a reviewer's judgments of pairs with its own (or its "
                        "family's) submission; self-exam: on the exam only (default none)")
    p.add_argument("--families", metavar="FILE",
                   help="JSON or YAML mapping model names to families, for --recuse (a "
                        "reviewer name:variant is name's family)")
    p.add_argument("--target-agreement", type=float, metavar="P",
                   help="calibrate a margin threshold on the exam gold so that verdicts at or "
                        "above it agree with humans at >= P (Trust or Escalate); the others "
                        "are marked needs_review in verdicts.jsonl; writes guarantee.json")
    p.add_argument("--delta", type=float, default=0.1, metavar="D",
                   help="... with probability >= 1 - D (default 0.1)")
    p.add_argument("--audit", action="store_true",
                   help="write audit.json: the fewest items and judgments whose removal flips "
                        "the top spot and each adjacent pair, cycles, the panel's worth")
    p.add_argument("--ppi", action="store_true",
                   help="prediction-powered intervals: each model's human win share from the "
                        "panel on every item corrected by --gold on some (PPI++; weighted by "
                        "label-export's weights), beside the panel's and the gold's alone; "
                        "writes ppi.json")
    p.add_argument("--shrink", choices=["none", "eb", "cv"], default="none",
                   help="item verdicts shrunk toward the panel's model-level prior: eb "
                        "(lambda from the panel, no labels) or cv (lambda cross-validated "
                        "on the exam gold); default none (PRE's)")
    p.add_argument("--allow-unexamined", action="store_true",
                   help="let reviewers with no exam pair in, at the mean weight")
    p.add_argument("--exclude-exam-items", action="store_true",
                   help="rank only items outside the exam (keep exam and evaluation apart)")
    p.add_argument("--items", metavar="FILE",
                   help="the task's items, shown in the report's item browser")
    p.add_argument("--submissions", metavar="FILE",
                   help="the submissions, shown in the report (and used for length bias)")
    p.add_argument("--parquet", action="store_true",
                   help="also write leaderboard.parquet")
    p.add_argument("--quiet", action="store_true", help="print no tables")

    rep = sub.add_parser("report", help="draw report.html and summary.md of an output folder",
                         description="Draw DIR/report.html (self-contained, offline) and "
                                     "DIR/summary.md again from what DIR/run.json records.")
    rep.add_argument("dir", metavar="DIR", help="a folder written by rank, run or demo")

    r = sub.add_parser("run", help="run the whole pipeline with live models",
                       description="Evaluatees write submissions, reviewer candidates sit the "
                                   "exam, the qualified ones review, the chair ranks. Every "
                                   "call is kept in DIR/run.sqlite: running again on the same "
                                   "DIR resumes and repeats no completed call.")
    r.add_argument("config", help="the run's YAML config")
    r.add_argument("--out", required=True, metavar="DIR", help="output folder (and run store)")
    r.add_argument("--dry-run", action="store_true",
                   help="print the calls each model would get, with estimated tokens and "
                        "cost, and exit")
    r.add_argument("--budget", type=int, metavar="CALLS",
                   help="make at most CALLS model calls in the run (stored ones count)")
    r.add_argument("--budget-usd", type=float, metavar="USD",
                   help="start no call once the run has cost USD")
    r.add_argument("--no-wait", action="store_true",
                   help="with batch models: look at the batches once, collect those that "
                        "ended, submit the next round, and exit 0 while any is pending "
                        "(run the same command again to go on)")
    r.add_argument("--retry-failed", action="store_true",
                   help="give each call that used all its max_retries + 1 attempts in "
                        "earlier runs one more round of attempts")
    r.add_argument("--shard", metavar="I/N",
                   help="make only the review calls of shard I of N (0 <= I < N, by call "
                        "key: the same on every machine), store them and stop; then "
                        "peerreview merge the N folders")
    r.add_argument("--quiet", action="store_true", help="no progress bars or tables")

    mg = sub.add_parser("merge", help="merge the folders of a run's shards and rank",
                        description="Join the run stores of every shard of one run (run "
                                    "with --shard I/N, the same config) into DIR's, each "
                                    "call once, and rank there with no call sent.")
    mg.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' output folders")
    mg.add_argument("--out", required=True, metavar="DIR", help="the merged run's folder")
    mg.add_argument("--config", help="the run's YAML config (default: the one the shards "
                                     "recorded, its paths as they were there)")
    mg.add_argument("--quiet", action="store_true", help="no progress bars or tables")

    d = sub.add_parser("demo", help="run the built-in demo on the embedded model (no network)",
                       description="Rank four evaluatees on a built-in question-answering "
                                   "task with three reviewer candidates, one of them the "
                                   "embedded Gemma 3 270M. Needs the [local] extra.")
    d.add_argument("--out", default="runs/demo", metavar="DIR",
                   help="output folder (default runs/demo)")
    d.add_argument("--dry-run", action="store_true", help="print the planned calls and exit")
    d.add_argument("--quiet", action="store_true", help="no progress bars or tables")

    st = sub.add_parser("status", help="progress, calls, tokens and cost of a run folder")
    st.add_argument("dir", metavar="DIR", help="a run's output folder")

    ls = sub.add_parser("label-select", help="choose which pairs people should label",
                        description="Write DIR/labels/selection.jsonl: a stratified random "
                                    "core over model pairs plus the pairs DIR's reviewers "
                                    "disagree on most, each with its selection probability.")
    ls.add_argument("dir", metavar="DIR", help="a folder with submissions.jsonl (and "
                                              "judgments.jsonl, when reviewed)")
    ls.add_argument("--n", type=int, default=200,
                    help="pairs (with --rate, submissions) to label (default 200)")
    ls.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ls.add_argument("--from-abstained", nargs="?", const="", metavar="VERDICTS",
                    help="draw only from the verdicts marked needs_review by rank "
                         "--target-agreement (default DIR/verdicts.jsonl)")
    ls.add_argument("--rate", action="store_true",
                    help="rate single submissions 1-5 instead of comparing pairs")
    lb = sub.add_parser("label", help="label the selection in the browser",
                        description="Serve the labelling page on 127.0.0.1; the printed URL "
                                    "carries the access token.")
    lb.add_argument("dir", metavar="DIR", help="a folder with labels/selection.jsonl")
    lb.add_argument("--annotator", default="annotator",
                    help="your name; labels go to DIR/labels/NAME.jsonl (default annotator)")
    lb.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    le = sub.add_parser("label-export", help="write the labels as exam gold",
                        description="Write the labels as exam gold (the judgments format) "
                                    "and print their statistics.")
    le.add_argument("dir", metavar="DIR", help="a folder with labels")
    le.add_argument("--out", required=True, metavar="FILE", help="the gold file to write")
    le.add_argument("--threshold", type=float, default=0.6,
                    help="exam accuracy to qualify, shown beside the intervals (default 0.6)")

    df = sub.add_parser("diff", help="what changed between two output folders",
                        description="Compare two folders written by rank, run or demo: "
                                    "models, ranks, each model's score over the common items "
                                    "with a paired bootstrap interval, and judge drift.")
    df.add_argument("old", metavar="OLD_DIR", help="the earlier folder")
    df.add_argument("new", metavar="NEW_DIR", help="the later folder")
    df.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                    help="paired bootstrap resamples of the common items (default 1000)")
    df.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    gt = sub.add_parser("gate", help="fail (exit 1) when a model's score fell (for CI)",
                        description="Exit 1 when a model's score over the common items fell "
                                    "by more than --max-drop with a paired bootstrap interval "
                                    "excluding 0, else 0; writes a JUnit XML report.")
    gt.add_argument("dir", metavar="DIR", help="the new folder")
    gt.add_argument("--against", required=True, metavar="OLD_DIR", help="the folder to hold to")
    gt.add_argument("--max-drop", type=float, default=0.03, metavar="D",
                    help="the largest fall in score allowed (default 0.03)")
    gt.add_argument("--junit", metavar="FILE",
                    help="where to write the JUnit XML (default DIR/gate.xml)")
    gt.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                    help="paired bootstrap resamples of the common items (default 1000)")
    gt.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    cp = sub.add_parser("compare", help="is one model really ahead of another",
                        description="Say, from DIR/comparisons.json (ranks nothing), how far "
                                    "A is ahead of B with the paired bootstrap interval and "
                                    "the share of resamples in which it is ahead (a folder "
                                    "ranked without --bootstrap: the difference alone).")
    cp.add_argument("dir", metavar="DIR", help="a folder written by rank, run or demo")
    cp.add_argument("a", metavar="A", help="a model of that ranking")
    cp.add_argument("b", metavar="B", help="another model of that ranking")
    i = sub.add_parser("import", help="convert a public data set to the exchange format",
                       description="Write DIR/items.jsonl, submissions.jsonl, judgments.jsonl "
                                   "and gold.jsonl from a data set folder.")
    i.add_argument("name", choices=IMPORTERS, help="the data set")
    i.add_argument("path", nargs="+", help="its folder (e.g. ../shared/data/summeval); for "
                                           "alpaca-eval, one or more model_outputs.json "
                                           "and annotations.json files (told by their fields)")
    i.add_argument("--out", required=True, metavar="DIR", help="output folder")
    i.add_argument("--dimension", choices=DIMENSIONS,
                   help="SummEval quality dimension (default relevance)")
    i.add_argument("--off-scale", choices=[o.value for o in OffScale],
                   help="a rating read outside its scale (SummEval): keep, clip, abstain "
                        "or error (default keep)")
    i.add_argument("--keep-first", action="store_true",
                   help="alpaca-eval, mt-bench, arena-hard: a model that answers an item "
                        "twice with different outputs keeps its first answer (default: "
                        "exit 2 naming both records)")
    i.add_argument("--baseline", metavar="MODEL",
                   help="arena-hard: the model every other one was judged against "
                        "(default: the one the judgments show; exit 2 if they show several)")
    i.add_argument("--ties", choices=["as-judged", "fastchat"],
                   help="mt-bench pair judgments: as-judged keeps each order's verdict "
                        "(default); fastchat resolves each pair as FastChat's show_result.py "
                        "(an error game drops the pair; orders that disagree make a tie)")
    return parser


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
        calibrate_bias=args.calibrate_bias, recuse=args.recuse,
        families=read_families(args.families) if args.families else {},
        soft=args.soft, target_agreement=args.target_agreement, delta=args.delta,
        audit=args.audit, ppi=args.ppi, shrink=args.shrink)
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
    from peerreview.calls.merge import merge_and_rank
    from peerreview.live.config import load_config
    from peerreview.live.console import plain

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
        out.print(plan_table(plan(config)))
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
        else:  # SIGINT ignored (a background job): SIGTERM still stops
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, as_sigint)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
    return came, restore


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (SIGINT 130, SIGTERM 143)."""
    args = _parser().parse_args(argv)
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
