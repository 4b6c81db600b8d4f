"""Every ending explains itself: a run or rank that ranks nothing still writes
reviewers.json, report.html and summary.md with the exam table and why, exits
non-zero, and its message names the actual cause only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from peerreview.cli import main
from tests.conftest import VOTE_EXAMPLE, pw, write_jsonl

UNRANKED = ["report.html", "summary.md", "reviewers.json", "run.json"]
JUDGES = '''
def wrong(item, first, second):
    return "second" if first.startswith("good") else "first"

def broken(item, first, second):
    raise RuntimeError("the scorer broke")
'''


def reviewers_json(out: Path) -> dict[str, dict[str, Any]]:
    return {r["reviewer"]: r for r in json.loads((out / "reviewers.json").read_text())}


def forbid_the_exam(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, sitting the exam or ranking fails the test: ``report DIR`` of a
    folder that ranked nothing reads its exam from reviewers.json."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("report DIR sat the exam again")

    import peerreview.commands
    import peerreview.exam.grade
    import peerreview.ranking

    for module, name in ((peerreview.exam.grade, "run_exam"), (peerreview.ranking, "run_exam"),
                         (peerreview.ranking, "rank"), (peerreview.commands, "rank"),
                         (peerreview.commands, "rank_outputs")):
        monkeypatch.setattr(module, name, refuse)


def python_run(folder: Path, judge: str, exam: bool, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two models' given submissions on two items; one python reviewer; with ``exam``
    gold saying good beats bad on both items."""
    monkeypatch.syspath_prepend(str(folder))  # as PYTHONPATH did before, to compare
    write_jsonl(folder / "items.jsonl", [{"item": f"t{i}", "input": f"q{i}"} for i in range(2)])
    write_jsonl(folder / "subs.jsonl", [{"item": f"t{i}", "model": m, "output": f"{m} {i}"}
                                        for i in range(2) for m in ("good", "bad")])
    write_jsonl(folder / "gold.jsonl", [pw(f"t{i}", "human", "good", "bad", "first")
                                        for i in range(2)])
    (folder / "judges.py").write_text(JUDGES)
    (folder / "run.yaml").write_text(
        "task: {items: items.jsonl, submissions: subs.jsonl}\n"
        f"models:\n  judge: {{provider: python, function: 'judges:{judge}'}}\n"
        "evaluatees: [good, bad]\nreviewers: [judge]\n"
        + ("exam: {gold: gold.jsonl}\n" if exam else ""))
    return folder / "run.yaml"


def test_rank_with_nobody_qualified_writes_the_exam_and_why(tmp_path: Path, capsys,
                                                            monkeypatch) -> None:
    # Before: exit 2 and an empty --out. r1 picks A on {A, B} in both orders, against
    # gold B: 0/2 right; r2 says B then tie: (1 + 0.5)/2 = 0.75.
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    g = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "h", "A", "B", "second")])
    out = tmp_path / "o"
    assert main(["rank", "--judgments", str(j), "--out", str(out), "--exam-gold", str(g),
                 "--threshold", "0.9"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("no reviewer qualified (exam accuracy >= 0.9 needed; the best, 'r2', has 0.750); "
            f"{out / 'report.html'} shows the exam") in err
    assert sorted(p.name for p in out.iterdir()) == sorted([*UNRANKED, ".peerreview-outputs"])
    rows = reviewers_json(out)
    assert (rows["r1"]["exam_accuracy"], rows["r2"]["exam_accuracy"]) == (0.0, 0.75)
    assert not rows["r1"]["qualified"] and not rows["r2"]["qualified"]
    summary = (out / "summary.md").read_text()
    assert "**No ranking**: no reviewer qualified (exam accuracy &gt;= 0.9 needed" in summary
    assert "| r1 | 0.000 | 1/4 (25%) | no | 0.000 |" in summary
    assert "| r2 | 0.750 | 0/4 (0%) | no | 0.000 |" in summary
    html = (out / "report.html").read_text()
    assert re.search(r'id="why-text">no reviewer qualified \(exam accuracy &gt;= 0\.9', html)
    # report DIR draws it again, from any folder.
    summary_md = (out / "summary.md").read_bytes()
    (out / "report.html").unlink()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    forbid_the_exam(monkeypatch)
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_text() == html
    assert (out / "summary.md").read_bytes() == summary_md


def test_run_with_nobody_qualified_writes_the_exam_and_exits_1(tmp_path: Path, capsys,
                                                               monkeypatch) -> None:
    # Before: "no reviewer qualified", exit 2, and only run.sqlite in --out.
    config = python_run(tmp_path, "wrong", exam=True, monkeypatch=monkeypatch)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("failed: no reviewer qualified (exam accuracy >= 0.6 needed; the best, 'judge', "
            f"has 0.000). {out / 'report.html'} shows the exam and why.") in err
    assert "Qualification exam (qualifies at accuracy >= 0.60)" in err  # the table
    assert "run again" not in err  # nothing failed: running again changes nothing
    for name in [*UNRANKED, "judgments.jsonl", "submissions.jsonl", "cost.json"]:
        assert (out / name).exists(), name
    assert not (out / "leaderboard.json").exists()
    row = reviewers_json(out)["judge"]
    assert (row["exam_accuracy"], row["qualified"], row["exam_votes"]) == (0.0, False, 4)
    assert "| judge | 0.000 | 0/4 (0%) | no | 0.000 |" in (out / "summary.md").read_text()
    facts = json.loads((out / "run.json").read_text())
    assert facts["unranked"].startswith("no reviewer qualified")
    assert json.loads((out / "cost.json").read_text())["calls_made"] == 4
    html, summary_md = (out / "report.html").read_bytes(), (out / "summary.md").read_bytes()
    (out / "summary.md").unlink()
    (out / "report.html").unlink()
    forbid_the_exam(monkeypatch)
    assert main(["report", str(out)]) == 0
    assert (out / "summary.md").read_bytes() == summary_md  # the exam table as it was
    assert (out / "report.html").read_bytes() == html


def test_a_run_whose_every_reviewer_failed_names_that_cause_only(tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    # Before: "... (no reviewer qualified (exam accuracy >= 0.6 needed))" with no exam,
    # and nothing written.
    config = python_run(tmp_path, "broken", exam=False, monkeypatch=monkeypatch)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    message = err.split("peerreview: failed: ")[1]
    assert message.startswith("4 call(s) of model 'judge' failed for good (RuntimeError: "
                              "the scorer broke). No reviewer candidate has a judgment.")
    assert "exam" not in message and "qualif" not in message
    assert "run again to retry the rest" in message
    row = reviewers_json(out)["judge"]
    assert (row["failed"], row["missing_calls"], row["judgments"]) == (True, 4, 0)
    summary = (out / "summary.md").read_text()
    assert "judge (4 calls: RuntimeError: the scorer broke)" in summary
    assert "exam" not in summary.lower()
    (out / "summary.md").unlink()  # report DIR says it again, with no judgment to read
    assert main(["report", str(out)]) == 0
    assert (out / "summary.md").read_text() == summary


def test_report_dir_names_a_broken_reviewers_json(tmp_path: Path, capsys) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    g = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "h", "A", "B", "second")])
    out = tmp_path / "o"
    assert main(["rank", "--judgments", str(j), "--out", str(out), "--exam-gold", str(g),
                 "--threshold", "0.9", "--quiet"]) == 2
    rows = json.loads((out / "reviewers.json").read_text())
    del rows[1]["kappa"]
    (out / "reviewers.json").write_text(json.dumps(rows))
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{out / 'reviewers.json'}: row 2: missing 'kappa'" in err
