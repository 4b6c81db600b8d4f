"""The command line's words: every command and option of ``peerreview`` and its help.
Parsing only; :mod:`peerreview.cli` runs what was asked.
"""

from __future__ import annotations

import argparse

from peerreview import __version__
from peerreview.importers import IMPORTERS
from peerreview.importers.mt_bench import TIES
from peerreview.importers.summeval import DIMENSIONS
from peerreview.options import (
    LATENT_MODELS,
    METHOD_NAMES,
    Control,
    Qualification,
    Recusal,
    Schedule,
    Shrink,
    Weighting,
)
from peerreview.records.exchange import OffScale


def parser() -> argparse.ArgumentParser:
    """Every command and option of ``peerreview``, with its help."""
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
    p.add_argument("--control", metavar="".join(f"[,{c}]" if i else c
                                                 for i, c in enumerate(Control)),
                   help="style control: also rank by Bradley-Terry with the submissions' "
                        "length (and markdown: headers, list items, bold) as covariates, as "
                        "Chatbot Arena does; writes style.json (needs --submissions)")
    p.add_argument("--calibrate-bias", action="store_true",
                   help="remove from each reviewer's votes the length and first-position "
                        "preference beyond the humans' that the exam measured (needs "
                        "--exam-gold; length also --submissions)")
    p.add_argument("--recuse", choices=[r.value for r in Recusal], default=Recusal.NONE,
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
    p.add_argument("--shrink", choices=[s.value for s in Shrink], default=Shrink.NONE,
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
                                     "DIR/summary.md again from DIR/report.json and the files "
                                     "DIR/run.json names, ranking nothing.")
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
    i.add_argument("--ties", choices=TIES,
                   help="mt-bench pair judgments: as-judged keeps each order's verdict "
                        "(default); fastchat resolves each pair as FastChat's show_result.py "
                        "(an error game drops the pair; orders that disagree make a tie)")
    return parser
