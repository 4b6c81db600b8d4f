"""``peerreview rank`` and ``import`` as the contract drives them: files, exit codes,
messages, and nothing half-written on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peerreview.cli import main
from tests.conftest import VOTE_EXAMPLE, pt, pw, write_jsonl


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_rank_writes_contract_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    g = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "h", "A", "C", "second")])
    code, text = run(["rank", "--judgments", str(j), "--out", str(tmp_path / "out"),
                      "--gold", str(g), "--bootstrap", "50"], capsys)
    assert code == 0, text
    out = tmp_path / "out"
    board = json.loads((out / "leaderboard.json").read_text())
    assert [r["model"] for r in board] == ["C", "B", "A"]
    assert [r["rank"] for r in board] == [1, 2, 3]
    assert board[0]["score"] == pytest.approx(0.75)
    assert all(r["ci_low"] <= r["score"] <= r["ci_high"] for r in board)
    assert (out / "leaderboard.csv").read_text().splitlines()[0].startswith(
        "model,rank,score,ci_low,ci_high")
    reviewers = json.loads((out / "reviewers.json").read_text())
    assert {r["reviewer"]: r["weight"] for r in reviewers} == {"r1": 0.5, "r2": 0.5}
    assert all(r["exam_accuracy"] is None for r in reviewers)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert {(v["item"], v["a"], v["b"]): v["margin"] for v in verdicts} == pytest.approx(
        {("t1", "A", "B"): 0.5, ("t1", "A", "C"): -0.5, ("t1", "B", "C"): 0.0,
         ("t2", "A", "B"): -0.5})
    cost = json.loads((out / "cost.json").read_text())
    assert cost["judgments_used"] == cost["judgments_available"] == 8
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["pairwise_accuracy"] == 1.0 and agreement["pairs"] == 1
    assert {"kendall_tau", "spearman"} <= agreement.keys()
    assert not [p for p in out.parent.iterdir() if "staging" in p.name]


def test_console_script_help() -> None:
    for args in (["--help"], ["rank", "--help"], ["import", "--help"]):
        done = subprocess.run([sys.executable, "-m", "peerreview.cli", *args],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0
        assert "usage:" in done.stdout
    done = subprocess.run([sys.executable, "-m", "peerreview.cli", "rank", "--help"],
                          capture_output=True, text=True, check=False)
    for option in ("--exam-gold", "--threshold", "--weighting", "--method", "--gold",
                   "--bootstrap", "--seed", "--qualification", "--schedule"):
        assert option in done.stdout


BAD_GOLD = [pw("t1", "h", "A", "Z", "first")]


@pytest.mark.parametrize(("judgments", "extra", "words"), [
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "A"}\n', [],
     "j.jsonl:1: field 'winner'"),
    ("", [], "j.jsonl: no judgments in file"),
    ('{"item": "t1"\n', [], "j.jsonl:1: not valid JSON"),
    (None, ["--gold", "GOLD"], "g.jsonl:1: field 'second': model 'Z' was judged by no reviewer"),
    (None, ["--exam-gold", "GOLD"], "field 'second': model 'Z'"),
    (None, ["--threshold", "1.5"], "--threshold must be between 0 and 1"),
    (None, ["--method", "mean"], "the mean method needs pointwise judgments"),
    (None, ["--qualification", "gold"], "--qualification gold needs --exam-gold"),
])
def test_bad_input_exit_2_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], judgments: str | None,
        extra: list[str], words: str) -> None:
    j = tmp_path / "j.jsonl"
    if judgments is None:
        write_jsonl(j, VOTE_EXAMPLE)
    else:
        j.write_text(judgments)
    g = write_jsonl(tmp_path / "g.jsonl", BAD_GOLD)
    extra = [str(g) if x == "GOLD" else x for x in extra]
    out = tmp_path / "out"
    code, text = run(["rank", "--judgments", str(j), "--out", str(out), *extra], capsys)
    assert code == 2
    assert words in " ".join(text.split())
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl", "j.jsonl"]


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["rank", "--judgments", "x", "--out", "y", "--weighting", "cubic"])
    assert info.value.code == 2
    assert "invalid choice: 'cubic'" in capsys.readouterr().err


def test_no_reviewer_qualifies_prints_exam(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    g = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "h", "A", "B", "second")])
    code, text = run(["rank", "--judgments", str(j), "--out", str(tmp_path / "o"),
                      "--exam-gold", str(g), "--threshold", "0.9"], capsys)
    assert code == 2
    assert "Qualification exam" in text and "r1" in text and "r2" in text
    assert "no reviewer qualified" in text
    # No ranking, but the exam and why (tests/test_endings.py).
    assert not (tmp_path / "o" / "leaderboard.json").exists()


def test_existing_output_folder_keeps_other_files(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    j = write_jsonl(tmp_path / "j.jsonl", [pt("t1", "r", "A", 4), pt("t1", "r", "B", 2)])
    code, _ = run(["rank", "--judgments", str(j), "--out", str(out)], capsys)
    assert code == 0
    assert (out / "notes.txt").read_text() == "keep me"
    assert json.loads((out / "leaderboard.json").read_text())[0]["model"] == "A"
    outputs = ["leaderboard.json", "leaderboard.csv", "reviewers.json", "verdicts.jsonl",
               "cost.json", "report.html", "summary.md", "report.json", "run.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", ".peerreview-outputs", *outputs])


def test_a_reused_out_folder_keeps_no_stale_output(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    gold = write_jsonl(tmp_path / "gold.jsonl", [pw("t1", "human", "A", "B", "first")])
    assert run(["rank", "--judgments", str(j), "--gold", str(gold), "--out", str(out),
                "--quiet"], capsys)[0] == 0
    assert json.loads((out / "agreement.json").read_text())["pairs"] == 1
    (out / "notes.txt").write_text("keep me")
    # Again without --gold: the earlier agreement.json would belie the new outputs.
    assert run(["rank", "--judgments", str(j), "--out", str(out), "--quiet"], capsys)[0] == 0
    assert not (out / "agreement.json").exists()
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "leaderboard.json").exists()
    # report DIR redraws two files and removes none of the set.
    assert run(["report", str(out)], capsys)[0] == 0
    assert (out / "verdicts.jsonl").exists() and (out / "cost.json").exists()


def test_out_naming_a_file_is_a_usage_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    target = tmp_path / "a-file"
    target.write_text("x")
    code, text = run(["rank", "--judgments", str(j), "--out", str(target)], capsys)
    assert code == 2
    assert "a-file: field '--out': exists and is not a folder" in text
    assert target.read_text() == "x"


def test_duplicates_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    j = write_jsonl(tmp_path / "j.jsonl", [*VOTE_EXAMPLE, VOTE_EXAMPLE[0]])
    code, text = run(["rank", "--judgments", str(j), "--out", str(tmp_path / "o"),
                      "--quiet"], capsys)
    assert code == 0
    assert "1 duplicate judgment(s) ignored" in text and "j.jsonl:9 repeats" in text


def test_rank_keeps_off_scale_scores_and_warns_once_per_reviewer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [pt(f"t{i}", "gpt-4", m, 0 if m == "C" and i < 39 else 3 + (m == "A"))
            for i in range(50) for m in "ABC"]
    j = write_jsonl(tmp_path / "j.jsonl", rows)
    code, text = run(["rank", "--judgments", str(j), "--out", str(tmp_path / "o"),
                      "--quiet"], capsys)
    assert code == 0
    warnings = [line for line in text.splitlines() if "outside the scale" in line]
    assert len(warnings) == 1 and "reviewer 'gpt-4': 39 score(s)" in warnings[0]
    board = json.loads((tmp_path / "o" / "leaderboard.json").read_text())
    assert [r["model"] for r in board] == ["A", "B", "C"]
    # mean item score of C: 39 items at 0, 11 at 3 (kept as given, as PRE scores)
    assert board[2]["score"] == pytest.approx((11 * 3) / 50)
    code, text = run(["rank", "--judgments", str(j), "--out", str(tmp_path / "o2"),
                      "--off-scale", "error"], capsys)
    assert code == 2 and "j.jsonl:3: field 'score'" in text
