"""``report DIR`` on a run folder: the run's one study (live.inputs.run_study), drawn
again the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

from peerreview.cli import main
from peerreview.live.inputs import sitting_out
from peerreview.testing.stub import StubServer
from tests.livetask import write_config, write_task


def _exam_rows(html: str) -> list[str]:
    table = html[html.index('id="exam-table"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<tr><td class="l">([^<]*)</td>', table)


def test_report_dir_draws_the_run_report_again_and_leaves_out_who_sat_out(
        tmp_path: Path) -> None:
    write_task(tmp_path)
    out = tmp_path / "out"
    with StubServer() as server:
        config = write_config(tmp_path, server.url,
                              reviewers={"judge-1": {}, "judge-2": {}, "judge-3": {}})
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    written = (out / "report.html").read_bytes()
    assert _exam_rows(written.decode()) == ["judge-1", "judge-2", "judge-3"]
    (out / "report.html").unlink()
    (out / "summary.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_bytes() == written

    # Had judge-3's exam calls failed for good, the run would have ranked without it
    # (it sits out): a folder without report.json (written before it existed) is
    # ranked again from the same study, run.json's failures included.
    (out / "report.json").unlink()
    facts = json.loads((out / "run.json").read_text())
    facts["failures"] = {"judge-3": {"missing_calls": 1, "stages": ["exam"], "error": "x"}}
    (out / "run.json").write_text(json.dumps(facts))
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert _exam_rows(html) == ["judge-1", "judge-2"]
    assert re.findall(r"<th>by ([^<]*)</th>", html) == ["judge-1", "judge-2"]


def test_sitting_out_is_who_had_an_exam_call_fail() -> None:
    failures = {"a": {"missing_calls": 2, "stages": ["exam", "review"], "error": "e"},
                "b": {"missing_calls": 1, "stages": ["review"], "error": "e"},
                "c": {"missing_calls": 1, "stages": ["submissions"], "error": "e"}}
    assert sitting_out(failures) == {"a"}
    assert sitting_out({}) == set()
