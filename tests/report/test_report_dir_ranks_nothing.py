"""``report DIR`` draws the report again from DIR/report.json and the files run.json
names, and ranks nothing (issue 19, item 4); a folder without report.json (written
before it existed) is ranked again once, as run.json says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peerreview.cli import main
from tests.conftest import pw, write_jsonl

ITEMS = ("t1", "t2", "t3", "t4", "t5", "t6")


def _write_inputs(d: Path) -> list[str]:
    judgments, gold = [], []
    for t in ITEMS:
        for reviewer in ("good", "also-good"):
            for a, b in (("A", "B"), ("B", "C"), ("A", "C")):
                judgments += [pw(t, reviewer, a, b, "first"), pw(t, reviewer, b, a, "second")]
        for a, b in (("A", "B"), ("B", "C"), ("A", "C")):
            judgments += [pw(t, "contrarian", a, b, "second"), pw(t, "contrarian", b, a, "first")]
            gold.append(pw(t, "human", a, b, "first" if t != "t6" or a != "B" else "second"))
    write_jsonl(d / "judgments.jsonl", judgments)
    write_jsonl(d / "gold.jsonl", gold)
    write_jsonl(d / "items.jsonl", [{"item": t, "input": f"question {t}"} for t in ITEMS])
    write_jsonl(d / "submissions.jsonl", [
        {"item": t, "model": m, "output": f"{m} on {t}" * (1 + "ABC".index(m))}
        for t in ITEMS for m in "ABC"])
    return ["--judgments", str(d / "judgments.jsonl"), "--exam-gold", str(d / "gold.jsonl"),
            "--gold", str(d / "gold.jsonl"), "--items", str(d / "items.jsonl"),
            "--submissions", str(d / "submissions.jsonl"), "--quiet"]


def _forbid_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("report DIR ranked")

    import peerreview.chair.base
    import peerreview.chair.bootstrap
    import peerreview.commands
    import peerreview.ranking

    monkeypatch.setattr(peerreview.ranking, "rank", refuse)
    monkeypatch.setattr(peerreview.commands, "rank", refuse)
    monkeypatch.setattr(peerreview.commands, "rank_outputs", refuse)
    monkeypatch.setattr(peerreview.chair.bootstrap, "leaderboard", refuse)
    monkeypatch.setattr(peerreview.chair.base.Chair, "scores", refuse)
    monkeypatch.setattr(peerreview.chair.base, "gather_evidence", refuse)


EXTRAS = [[], ["--control", "length", "--calibrate-bias", "--target-agreement", "0.6",
               "--audit", "--ppi", "--shrink", "eb"]]


def _assert_redrawn_without_ranking(out: Path, html: bytes, md: bytes,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """report DIR, with every way to rank forbidden, draws the same two files again."""
    (out / "report.html").unlink()
    (out / "summary.md").unlink()
    _forbid_ranking(monkeypatch)
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == html
    assert (out / "summary.md").read_bytes() == md


@pytest.mark.parametrize("extra", EXTRAS, ids=["bootstrap-gold", "every-section"])
def test_report_dir_draws_the_same_report_and_ranks_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:
    out = tmp_path / "out"
    assert main(["rank", *_write_inputs(tmp_path), "--bootstrap", "50", *extra,
                 "--out", str(out)]) == 0
    html, md = (out / "report.html").read_bytes(), (out / "summary.md").read_bytes()
    drawn = json.loads((out / "report.json").read_text())
    assert [row["model"] for row in drawn["leaderboard"]] == ["A", "B", "C"]
    assert drawn["bootstrap"] == 50 and drawn["comparisons"]["resamples"] == 50
    assert len(drawn["verdicts"]["margin"]) == 3 * len(ITEMS)
    _assert_redrawn_without_ranking(out, html, md, monkeypatch)


def test_a_folder_without_report_json_is_ranked_again_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert main(["rank", *_write_inputs(tmp_path), "--bootstrap", "50",
                 "--out", str(out)]) == 0
    html = (out / "report.html").read_bytes()
    (out / "report.json").unlink()  # as the code before report.json wrote it
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == html
    assert (out / "report.json").exists()  # written now: the next report ranks nothing
    _forbid_ranking(monkeypatch)
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == html


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["leaderboard"][0].update(rank="first"), "leaderboard[0].rank"),
    (lambda d: d["verdicts"]["a"].__setitem__(0, 99), "verdicts"),
    (lambda d: d.update(format=0), "format"),
])
def test_a_malformed_report_json_is_exit_2_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, field: str) -> None:
    out = tmp_path / "out"
    assert main(["rank", *_write_inputs(tmp_path), "--out", str(out)]) == 0
    doc = json.loads((out / "report.json").read_text())
    change(doc)
    (out / "report.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "report.json" in err and field in err


def test_report_dir_of_a_run_folder_ranks_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peerreview.testing.stub import StubServer
    from tests.livetask import write_config, write_task

    write_task(tmp_path)
    out = tmp_path / "out"
    with StubServer() as server:
        config = write_config(tmp_path, server.url,
                              reviewers={"judge-1": {}, "judge-2": {}, "judge-3": {}})
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    html, md = (out / "report.html").read_bytes(), (out / "summary.md").read_bytes()
    assert json.loads((out / "report.json").read_text())["bootstrap"] == 50  # tests/livetask
    _assert_redrawn_without_ranking(out, html, md, monkeypatch)
