"""peerreview diff and gate on two small folders written by hand."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from peerreview.cli import main
from peerreview.compare_runs import compare, drift, read_folder


def _folder(path: Path, a_wins: int, n: int = 20, ranks: dict[str, int] | None = None,
            answers: list[str] | None = None) -> Path:
    """A wins the first ``a_wins`` of ``n`` items against B, B the rest."""
    path.mkdir()
    ranks = ranks or {"A": 1, "B": 2}
    (path / "leaderboard.json").write_text(json.dumps(
        [{"model": m, "rank": r, "score": 0.0, "ci_low": None, "ci_high": None}
         for m, r in ranks.items()]))
    (path / "verdicts.jsonl").write_text("".join(
        json.dumps({"item": f"t{k}", "a": "A", "b": "B", "margin": 1 if k < a_wins else -1})
        + "\n" for k in range(n)))
    if answers is not None:
        (path / "judgments.jsonl").write_text("".join(
            json.dumps({"item": f"t{k}", "reviewer": "r", "first": "A", "second": "B",
                        "winner": w}) + "\n" for k, w in enumerate(answers)))
    return path


def test_scores_over_common_items_and_paired_interval(tmp_path: Path) -> None:
    # old: A wins 20 of 20 (1.0); new: A wins 10 of 20 (0.5): A -0.5, B +0.5
    old = read_folder(_folder(tmp_path / "old", 20))
    new = read_folder(_folder(tmp_path / "new", 10, ranks={"B": 1, "A": 2}))
    changes = {c.model: c for c in compare(old, new, n_boot=500)}
    assert (changes["A"].old, changes["A"].new, changes["A"].change) == (1.0, 0.5, -0.5)
    assert changes["B"].change == 0.5
    assert changes["A"].ci_high < 0 < changes["B"].ci_low
    assert (changes["A"].old_rank, changes["A"].new_rank) == (1, 2)


def test_judge_drift_counts_changed_answers(tmp_path: Path) -> None:
    old = read_folder(_folder(tmp_path / "old", 20, answers=["first", "first", "tie"]))
    new = read_folder(_folder(tmp_path / "new", 20, answers=["first", "second", "tie"]))
    assert drift(old, new) == {"r": (3, 1)}


def test_gate_fails_a_real_drop_and_writes_junit(tmp_path: Path) -> None:
    old = _folder(tmp_path / "old", 20)
    new = _folder(tmp_path / "new", 10)
    junit = tmp_path / "gate.xml"
    status = main(["gate", str(new), "--against", str(old), "--max-drop", "0.03",
                   "--junit", str(junit)])
    assert status == 1
    suite = ET.parse(junit).getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "2", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["A"].find("failure") is not None
    assert cases["B"].find("failure") is None


def test_gate_passes_the_same_run_and_a_small_drop(tmp_path: Path) -> None:
    old = _folder(tmp_path / "old", 20)
    same = _folder(tmp_path / "same", 20)
    assert main(["gate", str(same), "--against", str(old)]) == 0
    suite = ET.parse(same / "gate.xml").getroot()
    assert suite.get("failures") == "0"
    # a drop of 1 item in 20 (0.05) over --max-drop 0.1: passes
    small = _folder(tmp_path / "small", 19)
    assert main(["gate", str(small), "--against", str(old), "--max-drop", "0.1"]) == 0


def test_diff_prints_ranks_and_changes(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    old = _folder(tmp_path / "old", 20)
    new = _folder(tmp_path / "new", 10, ranks={"B": 1, "A": 2, "C": 3})
    assert main(["diff", str(old), str(new), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "models added: C" in out
    assert "A: rank 2 (rank 1 -> 2), 1.000 -> 0.500, -0.500" in out


def test_bad_folders_are_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _folder(tmp_path / "old", 20)
    assert main(["gate", str(tmp_path / "nowhere"), "--against", str(old)]) == 2
    bad = _folder(tmp_path / "bad", 20)
    (bad / "verdicts.jsonl").write_text('{"item": "t0", "a": "A", "b": "B", "margin": "x"}\n')
    assert main(["diff", str(old), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "verdicts.jsonl" in err and "margin" in err
    assert main(["gate", str(old), "--against", str(old), "--max-drop", "-1"]) == 2


def test_drift_reads_the_judgment_files_a_rank_folder_names(tmp_path: Path) -> None:
    old = _folder(tmp_path / "old", 20)
    new = _folder(tmp_path / "new", 20)
    for folder, winner in ((old, "first"), (new, "tie")):
        judged = folder.parent / f"{folder.name}-judgments.jsonl"
        judged.write_text(json.dumps({"item": "t0", "reviewer": "r", "first": "A",
                                      "second": "B", "winner": winner}) + "\n")
        (folder / "run.json").write_text(json.dumps({"rank": {"judgments": [str(judged)]}}))
    assert drift(read_folder(old), read_folder(new)) == {"r": (1, 1)}
