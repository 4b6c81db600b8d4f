"""The report, opened in a real headless Chromium (Debian's chromium, via Playwright)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from tests.conftest import PAYLOAD, pw, write_jsonl


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank over three models and three reviewers, one submission an XSS payload."""
    d = tmp_path_factory.mktemp("report")
    judgments, gold = [], []
    for t in ("t1", "t2", "t3", "t4"):
        for reviewer in ("good", "also-good"):
            for a, b in (("A", "B"), ("B", "C"), ("A", "C")):
                judgments += [pw(t, reviewer, a, b, "first"), pw(t, reviewer, b, a, "second")]
        for a, b in (("A", "B"), ("B", "C"), ("A", "C")):
            judgments += [pw(t, "contrarian", a, b, "second"), pw(t, "contrarian", b, a, "first")]
            gold.append(pw(t, "human", a, b, "first"))
    write_jsonl(d / "judgments.jsonl", judgments)
    write_jsonl(d / "gold.jsonl", gold)
    write_jsonl(d / "items.jsonl", [{"item": t, "input": f"question {t}"}
                                    for t in ("t1", "t2", "t3", "t4")])
    write_jsonl(d / "submissions.jsonl", [
        {"item": t, "model": m, "output": PAYLOAD if (t, m) == ("t2", "C") else f"{m} on {t}"}
        for t in ("t1", "t2", "t3", "t4") for m in "ABC"])
    assert main(["rank", "--judgments", str(d / "judgments.jsonl"), "--exam-gold",
                 str(d / "gold.jsonl"), "--gold", str(d / "gold.jsonl"), "--items",
                 str(d / "items.jsonl"), "--submissions", str(d / "submissions.jsonl"),
                 "--bootstrap", "100", "--out", str(d / "out"), "--quiet"]) == 0
    return d / "out"


def test_report_loads_cleanly_with_the_right_rows(browser, report_dir, tmp_path):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append(f"network: {r.url}")
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto((report_dir / "report.html").as_uri())
    assert problems == []
    board = page.locator("#leaderboard-table tbody tr td:nth-child(2)").all_inner_texts()
    assert board == ["A", "B", "C"]
    exam = page.locator("#exam-table tbody tr")
    rows = {r.split("\t")[0]: r.split("\t") for r in exam.all_inner_texts()}
    assert set(rows) == {"also-good", "contrarian", "good"}
    assert rows["good"][1] == "1.000" and rows["contrarian"][10] == "no"
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_model_text_is_shown_as_text_and_never_runs(browser, report_dir):
    page = browser.new_page()
    page.goto((report_dir / "report.html").as_uri())
    page.fill("#search", "t2")
    assert page.locator("#item h3").inner_text() == "Item t2"
    assert page.get_by_text("window.__pwned = 1", exact=False).count() >= 1
    page.wait_for_timeout(200)  # give an injected onerror/onload the chance to fire
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#item img, #item script, #item svg").count() == 0
    page.close()


def test_summary_and_redrawn_report(report_dir, capsys):
    summary = (report_dir / "summary.md").read_text()
    assert "| 1 | A |" in summary and "pairwise accuracy **1.000**" in summary
    before = (report_dir / "report.html").read_bytes()
    assert main(["report", str(report_dir)]) == 0
    assert (report_dir / "report.html").read_bytes() == before  # drawn again identically
    agreement = json.loads((report_dir / "agreement.json").read_text())
    assert agreement["pairwise_accuracy"] == 1.0


def test_report_of_a_folder_without_run_json_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "run.json" in capsys.readouterr().err
