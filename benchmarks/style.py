"""Style control, the exam-calibrated bias, and recusal: does each help agreement with humans?

Three parts (all by default):

- ``stub``: a live ``peerreview run`` against ``peerreview.testing.stub`` with its
  length-biased judge (a reviewer named ``long-judge``: P(A) = sigmoid(1.5 (c_A - c_B) +
  4 (l_A - l_B) / (l_A + l_B))), where model B is model A plus 0 to 3 sentences of
  neutral padding: B's win rate over A as the chair counts it (uncontrolled) and as
  the controlled Bradley-Terry fit implies it (theta_B - theta_A, no style difference).
- ``sets``: SummEval (relevance), Vicuna80 and PandaLM, 20 exam/test splits as
  benchmarks/splits.py draws them (the chair ranks the items outside the exam):
  held-out pairwise accuracy (tie 0.5) and Kendall tau of PRE's panel, of the
  style-controlled verdicts and leaderboard (``--control length`` and
  ``length,markdown``) and of ``--calibrate-bias``; splits won and lost against PRE.
  The vote chair throughout (``--calibrate-bias`` corrects votes; SummEval's default,
  the mean chair, is shown for reference).
- ``recusal``: Vicuna80, where every reviewer is also an evaluatee: PRE against
  ``--recuse self`` and ``--recuse self-exam``, and each reviewer's self-preference.

    python benchmarks/style.py [--part stub|sets|recusal] [--splits 20] [--items 200]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from splits import SETS, arguments, header, machine
from splits import splits as each_split

from peerreview.agreement import Agreement, measure_agreement
from peerreview.exam.grade import NoQualifiedReviewer
from peerreview.importers import importer
from peerreview.ranking import RankOptions, RankResult, rank
from peerreview.records.exchange import read_judgments, read_submissions
from peerreview.records.gold import Gold, gold_from_judgments
from peerreview.records.study import Study, study_of

PAD = " Note that this answer is given in plain words."


def stub_run(n_items: int) -> tuple[float, float, float, float]:
    """B's win rate over A: counted by the chair's verdicts, and implied by plain and by
    style-controlled Bradley-Terry; and the length coefficient."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from throughput import start_stub

    work = Path(tempfile.mkdtemp(prefix="style-"))
    items = [{"item": f"q{t}", "input": f"Question {t}?"} for t in range(n_items)]
    texts = {"A": "correct correct answer", "C": "correct answer", "D": "correct " * 3}
    subs = []
    for t in range(n_items):
        base = {m: f"{v} to question {t}." for m, v in texts.items()}
        base["B"] = base["A"] + PAD * (t % 4)
        base["D"] += PAD * ((t + 1) % 3)  # other lengths, so length varies apart from B
        subs += [{"item": f"q{t}", "model": m, "output": o} for m, o in sorted(base.items())]
    (work / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (work / "subs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subs))
    stub, url = start_stub(0.0)
    try:
        config = {"task": {"items": "items.jsonl", "submissions": "subs.jsonl"},
                  "models": {"long-judge": {"provider": "openai", "model": "long-judge",
                                            "base_url": url, "concurrency": 32,
                                            "max_tokens": 8, "max_retries": 1},
                             **{m: {"provider": "python", "function": "builtins:str"}
                                for m in "ABCD"}},
                  "evaluatees": list("ABCD"), "reviewers": ["long-judge"],
                  "chair": {"method": "bradley-terry"}}
        (work / "run.yaml").write_text(yaml.safe_dump(config))
        subprocess.run([sys.executable, "-m", "peerreview.cli", "run", str(work / "run.yaml"),
                        "--out", str(work / "out"), "--quiet"], check=True, timeout=900,
                       env={**os.environ, "OPENAI_API_KEY": "stub"}, stdout=subprocess.DEVNULL)
    finally:
        stub.terminate()
        stub.wait(timeout=30)
    judgments = read_judgments(work / "out" / "judgments.jsonl").judgments
    study = study_of(judgments, submissions=read_submissions(work / "out" / "submissions.jsonl"))
    result = rank(study, options=RankOptions(method="bradley-terry", control=("length",)))
    assert result.style is not None
    t = result.table
    a, b = t.models.index("A"), t.models.index("B")
    v = result.evidence.verdicts
    pair = (v.a == a) & (v.b == b)
    counted = float(np.mean(np.where(v.margin[pair] < 0, 1.0,
                                     np.where(v.margin[pair] == 0, 0.5, 0.0))))
    plain = {row.model: row.score for row in result.leaderboard}
    controlled = {row.model: row.score for row in result.style.leaderboard}
    return (counted, plain["B"] / (plain["A"] + plain["B"]),
            controlled["B"] / (controlled["A"] + controlled["B"]),
            result.style.coefficients[0].beta)


def load_study(name: str, data: Path) -> tuple[Study, Gold]:
    """A set's judgments and submissions as one Study, and its gold."""
    with tempfile.TemporaryDirectory() as tmp:
        importer(name)(data / name).write(Path(tmp) / name)
        judgments = read_judgments(Path(tmp) / name / "judgments.jsonl")
        subs = read_submissions(Path(tmp) / name / "submissions.jsonl")
        gold = gold_from_judgments(Path(tmp) / name / "gold.jsonl")
    return study_of(judgments.judgments, submissions=subs), gold


def _measure(study: Study, split_exam: Gold, split_test: Gold, seed: int,
             **extra: object) -> RankResult | None:
    try:
        return rank(replace(study, exam_gold=split_exam, gold=split_test),
                    options=RankOptions(exclude_exam_items=True, seed=seed,
                                        per_reviewer=False, **extra))  # type: ignore[arg-type]
    except NoQualifiedReviewer:
        return None


def set_rows(name: str, data: Path, count: int) -> list[str]:
    """One table row per variant: accuracy and tau (mean over splits), wins/losses."""
    study, gold = load_study(name, data)
    acc: dict[str, list[float]] = {}
    tau: dict[str, list[float]] = {}
    coef: dict[str, list[float]] = {}
    for split in each_split(name, gold, count):
        runs: dict[str, RankResult | None] = {}
        if name == "summeval":
            runs["PRE (mean chair)"] = _measure(study, split.exam_gold, split.test_gold,
                                                split.seed)
        plain = _measure(study, split.exam_gold, split.test_gold, split.seed, method="vote",
                         control=("length",))
        runs["PRE (vote chair)"] = plain
        marked = _measure(study, split.exam_gold, split.test_gold, split.seed, method="vote",
                          control=("length", "markdown"))
        runs["--calibrate-bias"] = _measure(study, split.exam_gold, split.test_gold,
                                            split.seed, method="vote", calibrate_bias=True)
        for label, run in runs.items():
            note(acc, tau, label, run.agreement if run else None)
        for label, run in (("--control length", plain), ("--control length,markdown",
                                                          marked)):
            if run is None or run.style is None:
                note(acc, tau, label, None)
                continue
            ranked = run.style.evidence
            scores = {row.model: row.score for row in run.style.leaderboard}
            note(acc, tau, label, measure_agreement(
                ranked, np.array([scores[m] for m in ranked.table.models]), split.test_gold))
            coef.setdefault(label, []).append(run.style.coefficients[0].beta)
        bias = runs["--calibrate-bias"]
        if bias is not None and bias.bias is not None:
            qualified = {r.reviewer for r in bias.exam if r.qualified}
            for b in bias.bias:
                if b.reviewer in qualified:
                    coef.setdefault("length excess", []).append(b.length)
                    coef.setdefault("position excess", []).append(b.position)
    base = np.array(acc["PRE (vote chair)"])
    rows = []
    for label in acc:
        a = np.array(acc[label])
        won = int(np.sum(a > base + 1e-12))
        lost = int(np.sum(a < base - 1e-12))
        extra = f" (length beta {np.nanmean(coef[label]):+.2f})" if label in coef else ""
        rows.append(f"| {name} | {label}{extra} | {np.nanmean(a):.3f} | "
                    f"{np.nanmean(tau[label]):.3f} | {won} / {lost} |")
    if "length excess" in coef:
        rows.append(f"| {name} | (exam: mean excess over qualified reviewers: length "
                    f"{np.mean(coef['length excess']):+.2f}, first shown "
                    f"{np.mean(coef['position excess']):+.2f} log-odds) | | | |")
    return rows


def note(acc: dict[str, list[float]], tau: dict[str, list[float]], label: str,
         agreement: Agreement | None) -> None:
    """One split's pairwise accuracy and Kendall tau under ``label`` (NaN: none)."""
    acc.setdefault(label, []).append(agreement.pairwise_accuracy if agreement else np.nan)
    tau.setdefault(label, []).append(
        agreement.kendall_tau if agreement and agreement.kendall_tau is not None else np.nan)


def recusal_rows(data: Path, count: int) -> list[str]:
    """Vicuna80: PRE against --recuse self and self-exam."""
    study, gold = load_study("vicuna80", data)
    acc: dict[str, list[float]] = {}
    tau: dict[str, list[float]] = {}
    for split in each_split("vicuna80", gold, count):
        for label, recuse in (("PRE", "none"), ("--recuse self", "self"),
                              ("--recuse self-exam", "self-exam")):
            run = _measure(study, split.exam_gold, split.test_gold, split.seed, recuse=recuse)
            note(acc, tau, label, run.agreement if run else None)
    base = np.array(acc["PRE"])
    return [f"| vicuna80 | {label} | {np.nanmean(a):.3f} | {np.nanmean(tau[label]):.3f} | "
            f"{int(np.sum(np.array(a) > base + 1e-12))} / "
            f"{int(np.sum(np.array(a) < base - 1e-12))} |" for label, a in acc.items()]


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--part", choices=["stub", "sets", "recusal", "all"], default="all")
    parser.add_argument("--items", type=int, default=200, help="stub items (default 200)")
    args = parser.parse_args()
    if args.part in ("stub", "all"):
        counted, plain, controlled, beta = stub_run(args.items)
        print(f"Stub, {args.items} items, 4 models, a length-biased judge, both orders: "
              f"B (A plus padding) against A: B wins {100 * counted:.1f}% of the items "
              f"(verdicts); Bradley-Terry P(B > A) {100 * plain:.1f}% uncontrolled, "
              f"{100 * controlled:.1f}% controlled (length beta {beta:+.2f}).\n")
    if args.part in ("sets", "all"):
        print(header(args.splits))
        print("| set | method | held-out pairwise acc. | Kendall tau | splits won / lost "
              "vs PRE (vote chair) |")
        print("|---|---|---:|---:|---:|")
        for name in SETS:
            print("\n".join(set_rows(name, args.data, args.splits)))
        print()
    if args.part in ("recusal", "all"):
        print("| set | method | held-out pairwise acc. | Kendall tau | splits won / lost "
              "vs PRE |")
        print("|---|---|---:|---:|---:|")
        print("\n".join(recusal_rows(args.data, args.splits)))
        print(f"\n{machine()}")


if __name__ == "__main__":
    main()
