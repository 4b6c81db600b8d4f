"""A reviewer that says nothing is seen: the Python reviewer contract, the share of
unreadable answers per reviewer, the exam and review rules for silent reviewers, and
a run in which nobody said anything readable."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from peerreview.cli import main
from peerreview.models import CallError
from peerreview.models.config import ModelConfig
from peerreview.models.python import PythonBackend, pairwise_answer, pointwise_answer
from peerreview.testing.stub import StubServer
from tests.conftest import pt, pw, write_jsonl
from tests.livetask import EVALUATEES, write_config, write_task

SCORERS = '''
def letters(item, first, second):
    """Says "A" when the first answer is the good one, else "b" (lower case)."""
    return "A" if first.startswith("good") else "b"

def numbers(item, first, second):
    return 1 if first.startswith("good") else 2

def silent(item, first, second):
    return None

def yes_no(item, first, second):
    return first.startswith("good")  # True/False: which of the two is "True"?

def rate(item, output, scale):
    return 5 if output.startswith("good") else "2"

def rate_bool(item, output, scale):
    return True
'''


def reviewers_json(out: Path) -> dict[str, dict[str, Any]]:
    return {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}


def python_task(folder: Path, reviewers: dict[str, str], mode: str = "pairwise") -> Path:
    """Items, two models' given submissions, scorers beside the config; no exam."""
    write_jsonl(folder / "items.jsonl", [{"item": f"t{i}", "input": f"q{i}"} for i in range(3)])
    write_jsonl(folder / "subs.jsonl", [{"item": f"t{i}", "model": m, "output": f"{m} {i}"}
                                        for i in range(3) for m in ("good", "bad")])
    (folder / "scorers.py").write_text(SCORERS)
    models = "".join(f"  {name}: {{provider: python, function: 'scorers:{fn}'}}\n"
                     for name, fn in reviewers.items())
    (folder / "run.yaml").write_text(
        "task: {items: items.jsonl, submissions: subs.jsonl}\n"
        f"models:\n{models}evaluatees: [good, bad]\nreviewers: [{', '.join(reviewers)}]\n"
        f"review: {{mode: {mode}}}\n")
    return folder / "run.yaml"


@pytest.mark.parametrize(("value", "read"), [
    ("first", "first"), ("Second", "second"), ("TIE", "tie"), ("A", "first"), ("b", "second"),
    (" a ", "first"), (1, "first"), (2, "second"), ("2", "second"), (None, "")])
def test_the_pairwise_contract_reads_every_documented_answer(value: Any, read: str) -> None:
    assert pairwise_answer(value) == read


@pytest.mark.parametrize("value", [True, False, "yes", 0, 3, 1.0, "A>B", ["first"]])
def test_anything_else_is_refused_quoting_the_value_and_the_contract(value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        pairwise_answer(value)
    assert f"returned {value!r} ({type(value).__name__})" in str(caught.value)
    assert "'first', 'second' or 'tie'" in str(caught.value)


@pytest.mark.parametrize(("value", "read"), [(4, "4.0"), (2.5, "2.5"), ("3", "3.0"),
                                             (None, "")])
def test_the_pointwise_contract_takes_a_number_or_none(value: Any, read: str) -> None:
    assert pointwise_answer(value) == read


@pytest.mark.parametrize("value", [True, "four", float("nan"), float("inf"), [4]])
def test_a_pointwise_answer_that_is_no_number_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="returns a number, or None to abstain"):
        pointwise_answer(value)


def test_a_backend_call_outside_the_contract_is_a_failed_call(tmp_path: Path,
                                                              monkeypatch) -> None:
    (tmp_path / "yes_no_scorer.py").write_text(SCORERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = PythonBackend("yn", ModelConfig(provider="python",
                                              function="yes_no_scorer:yes_no"))
    call = {"call": {"item": {}, "first": "good 1", "second": "bad 1"}}
    with pytest.raises(CallError) as caught:
        asyncio.run(backend.complete(call))
    assert str(caught.value).startswith("model 'yn': returned True (bool); a pairwise")


def test_python_reviewers_answering_letters_or_numbers_rank(tmp_path: Path,
                                                            monkeypatch) -> None:
    # Before: "A"/"B" and 1/2 were read as abstentions, a tie for every pair.
    monkeypatch.syspath_prepend(str(tmp_path))  # as PYTHONPATH did before, to compare
    config = python_task(tmp_path, {"by-letter": "letters", "by-number": "numbers"})
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [(r["model"], r["rank"], r["score"]) for r in board] == [("good", 1, 1.0),
                                                                   ("bad", 2, 0.0)]
    rows = reviewers_json(tmp_path / "out")
    assert rows["by-letter"]["unreadable_share"] == rows["by-number"]["unreadable_share"] == 0


def test_a_python_reviewer_returning_a_bool_fails_its_calls_saying_why(tmp_path: Path,
                                                                      capsys,
                                                                      monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    config = python_task(tmp_path, {"by-letter": "letters", "yn": "yes_no"})
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert re.search(r"6 call\(s\) of model 'yn' failed for good \(returned (True|False) "
                     r"\(bool\); a pairwise reviewer returns 'first'", err)
    rows = reviewers_json(tmp_path / "out")
    assert rows["yn"]["failed"] is True and rows["yn"]["missing_calls"] == 6
    assert rows["by-letter"]["weight"] == 1.0


def test_pointwise_python_reviewers_follow_their_contract(tmp_path: Path, capsys) -> None:
    config = python_task(tmp_path, {"rater": "rate", "rb": "rate_bool"}, mode="5-level")
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    scores = [json.loads(line) for line in
              (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()]
    assert sorted((s["model"], s["score"]) for s in scores) == \
        [("bad", 2.0)] * 3 + [("good", 5.0)] * 3
    assert "model 'rb' failed for good (returned True (bool); a pointwise reviewer" in \
        " ".join(capsys.readouterr().err.split())


def test_a_run_whose_only_reviewer_says_nothing_exits_1(tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    # Before: exit 0 with an all-tie leaderboard, and no word of it.
    monkeypatch.syspath_prepend(str(tmp_path))
    config = python_task(tmp_path, {"mute": "silent"})
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "no reviewer gave a readable answer ('mute')" in err
    assert "exam" not in err.split("failed:")[1]  # no exam was asked for
    assert not (out / "leaderboard.json").exists()
    row = reviewers_json(out)["mute"]
    assert (row["unreadable_share"], row["judgments"], row["weight"]) == (1.0, 6, 0.0)
    summary = (out / "summary.md").read_text()
    assert "no reviewer gave a readable answer ('mute')" in summary
    assert "| mute | 6/6 (100%) | no | 0.000 |" in summary


def test_an_unreadable_llm_reviewer_gets_weight_0_with_a_banner_and_its_answer(
        tmp_path: Path, capsys) -> None:
    # Before: the garbled reviewer kept half the weight, and nothing said so.
    write_task(tmp_path, n_items=2)
    with StubServer() as server:
        server.state.faults["judge-bad"] = "garbage"
        config = write_config(tmp_path, server.url, exam=False,
                              reviewers={"judge-1": {}, "judge-bad": {"max_retries": 0}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = tmp_path / "out"
    assert [r["model"] for r in json.loads((out / "leaderboard.json").read_text())] == \
        EVALUATEES
    rows = reviewers_json(out)
    assert (rows["judge-bad"]["weight"], rows["judge-1"]["weight"]) == (0.0, 1.0)
    assert (rows["judge-bad"]["unreadable_share"], rows["judge-1"]["unreadable_share"]) == \
        (1.0, 0.0)
    err = " ".join(capsys.readouterr().err.split())
    said = ("reviewer 'judge-bad' gave no readable answer in the review and has weight 0: "
            "12 of its 12 answers (100%) could not be read, e.g. \"Hmm, both have merit; "
            "hard to say. --- Hmm, both have merit;")
    assert f"warning: {said}" in err
    html = (out / "report.html").read_text()
    banner = re.search(r'<div id="unreadable".*?</div>', html, re.S)
    assert banner and "judge-bad" in banner.group() and "hard to say" in banner.group()
    assert "judge-1" not in banner.group()
    assert "**Unreadable**: reviewer 'judge-bad' gave no readable answer in the review" in \
        (out / "summary.md").read_text()


def test_share_above_a_fifth_is_warned_in_rank_and_shown_in_every_table(tmp_path: Path,
                                                                        capsys) -> None:
    # r1 answers 3 of 4 (25% unreadable, warned); r2 all 4 (0%).
    judgments = [pw("t1", "r1", "A", "B", "first"), pw("t1", "r1", "B", "A", None),
                 pw("t2", "r1", "A", "B", "first"), pw("t2", "r1", "B", "A", "second"),
                 pw("t1", "r2", "A", "B", "first"), pw("t1", "r2", "B", "A", "second"),
                 pw("t2", "r2", "A", "B", "first"), pw("t2", "r2", "B", "A", "second")]
    judgments[1]["raw"] = "\x1b[31mI cannot decide" + " really" * 60
    j = write_jsonl(tmp_path / "j.jsonl", judgments)
    assert main(["rank", "--judgments", str(j), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert "warning: reviewer 'r1': 1 of its 4 answers (25%) could not be read, e.g. " \
           "\"\\x1b[31mI cannot decide really" in err
    assert "\x1b" not in captured.err and "really really..." in err  # inert, cut short
    assert "r2" not in err
    row = next(line for line in captured.out.splitlines() if "│ r1 " in line)
    assert "1/4 (25%)" in row
    rows = reviewers_json(tmp_path / "o")
    assert (rows["r1"]["unreadable_share"], rows["r2"]["unreadable_share"]) == (0.25, 0.0)
    assert "<td>1/4 (25%)</td>" in (tmp_path / "o" / "report.html").read_text()
    assert "- r1: weight 0.500, unreadable 1/4 (25%)" in \
        (tmp_path / "o" / "summary.md").read_text()


def test_no_readable_answer_on_the_exam_does_not_qualify(tmp_path: Path) -> None:
    # mute abstains on every exam question: graded 0.5, which meets a 0.5 threshold;
    # before, it qualified on ties alone.
    gold = [pw("t1", "human", "A", "B", "first"), pw("t2", "human", "A", "B", "first")]
    judgments = [pw(t, r, a, b, w) for t in ("t1", "t2")
                 for r, (w1, w2) in (("sure", ("first", "second")), ("mute", (None, None)))
                 for (a, b), w in ((("A", "B"), w1), (("B", "A"), w2))]
    j = write_jsonl(tmp_path / "j.jsonl", judgments)
    g = write_jsonl(tmp_path / "g.jsonl", gold)
    assert main(["rank", "--judgments", str(j), "--exam-gold", str(g), "--threshold", "0.5",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 0
    rows = reviewers_json(tmp_path / "o")
    assert (rows["mute"]["exam_accuracy"], rows["mute"]["qualified"]) == (0.5, False)
    assert (rows["mute"]["exam_readable"], rows["sure"]["exam_readable"]) == (0, 4)
    assert (rows["sure"]["qualified"], rows["sure"]["weight"]) == (True, 1.0)


def test_readable_on_the_exam_but_silent_in_the_review_gets_weight_0(tmp_path: Path) -> None:
    gold = [pw("t1", "human", "A", "B", "first")]
    judgments = [pw("t1", r, "A", "B", "first") for r in ("r1", "r2")] + \
        [pw("t1", r, "B", "A", "second") for r in ("r1", "r2")] + \
        [pw("t2", "r1", "A", "B", "second"), pw("t2", "r1", "B", "A", "first"),
         pw("t2", "r2", "A", "B", None), pw("t2", "r2", "B", "A", None)]
    j = write_jsonl(tmp_path / "j.jsonl", judgments)
    g = write_jsonl(tmp_path / "g.jsonl", gold)
    assert main(["rank", "--judgments", str(j), "--exam-gold", str(g), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 0
    rows = reviewers_json(tmp_path / "o")
    assert rows["r2"]["exam_accuracy"] == 1.0 and rows["r2"]["exam_readable"] == 2
    assert (rows["r2"]["review_judgments"], rows["r2"]["review_readable"]) == (2, 0)
    assert (rows["r2"]["weight"], rows["r1"]["weight"]) == (0.0, 1.0)


def test_pointwise_reviewer_silent_on_the_exam_does_not_qualify(tmp_path: Path) -> None:
    gold = [pw("t1", "human", "A", "B", "first")]
    judgments = [pt("t1", "rater", "A", 5), pt("t1", "rater", "B", 2),
                 pt("t1", "mute", "A", None), pt("t1", "mute", "B", None),
                 pt("t2", "rater", "A", 4), pt("t2", "rater", "B", 1),
                 pt("t2", "mute", "A", 3), pt("t2", "mute", "B", 3)]
    j = write_jsonl(tmp_path / "j.jsonl", judgments)
    g = write_jsonl(tmp_path / "g.jsonl", gold)
    assert main(["rank", "--judgments", str(j), "--exam-gold", str(g), "--threshold", "0.5",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 0
    rows = reviewers_json(tmp_path / "o")
    assert (rows["mute"]["exam_readable"], rows["mute"]["qualified"]) == (0, False)
    assert (rows["mute"]["review_judgments"], rows["mute"]["review_readable"]) == (2, 2)
    assert (rows["rater"]["weight"], rows["rater"]["unreadable_share"]) == (1.0, 0.0)
