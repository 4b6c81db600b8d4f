"""Text from outside (names in data files, answers, endpoint error bodies) is inert
wherever a person sees it: control characters shown as visible escapes, rich markup
shown as written, lone surrogates as U+FFFD; in tables, progress, log lines, messages
and summary.md."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from rich.console import Console

from peerreview.calls.caller import Tally
from peerreview.cli import main
from peerreview.live.console import ConsoleHandler, plain
from peerreview.live.progress import StageProgress
from peerreview.models import Health
from peerreview.report import markdown_text
from peerreview.testing.stub import StubServer
from peerreview.text import inert
from tests.conftest import pw, served, write_jsonl
from tests.livetask import EVALUATEES, write_config, write_task

ROOT = Path(__file__).resolve().parents[2]
# What must never reach a terminal or summary.md: C0 controls but tab and newline, DEL, C1.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Model names, best first, each hostile in its own way; and how the table shows them.
MODELS = ["m[/]", "[link=https://example.invalid]x[/link]", "\x1b]8;;https://x\x07osc",
          "red\x1b[31m", "csi\x9b"]
MODELS_SHOWN = ["m[/]", "[link=https://example.invalid]x[/link]", r"\x1b]8;;https://x\x07osc",
                r"red\x1b[31m", r"csi\x9b"]
MODELS_MARKDOWN = [r"m\[/\]", r"\[link=https://example.invalid\]x\[/link\]",
                   r"\\x1b\]8;;https://x\\x07osc", r"red\\x1b\[31m", r"csi\\x9b"]
REVIEWERS = ["r[/]", "r\x1b]8;;https://x\x07", "r\x1b[31m", "r\x9b"]
REVIEWERS_SHOWN = ["r[/]", r"r\x1b]8;;https://x\x07", r"r\x1b[31m", r"r\x9b"]


def test_controls_are_shown_as_escapes_and_surrogates_replaced() -> None:
    assert inert("a\x1b[31mb\x07") == r"a\x1b[31mb\x07"
    assert inert("\x9b6n\x85\x7f") == r"\x9b6n\x85\x7f"
    assert inert("over\rwrite\x00") == r"over\rwrite\x00"
    assert inert("evil\u202etxt.exe\u2066") == r"evil\u202etxt.exe\u2066"
    assert inert("x\ud83dy") == "x\ufffdy"
    assert inert("line 1\n\tline 2") == r"line 1\n\tline 2"
    assert inert("line 1\n\tline 2\r", lines=True) == "line 1\n\tline 2\\r"
    assert inert("plain words, é and 日本") == "plain words, é and 日本"
    assert inert(42) == "42"


def test_plain_text_is_never_markup_or_an_emoji_code() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    console.print(plain("[bold]x[/] [/] [link=https://example.invalid]y[/link] :smile:"))
    assert out.getvalue() == "[bold]x[/] [/] [link=https://example.invalid]y[/link] :smile:\n"


def test_markdown_filter_escapes_controls_too() -> None:
    assert markdown_text("a\x1b[31m|b") == r"a\\x1b\[31m\|b"
    assert markdown_text("c\x9bd\x07") == r"c\\x9bd\\x07"
    assert markdown_text("two\nlines\r\nhere") == "two lines here"
    assert markdown_text("<b>x\ud83d</b>") == "&lt;b&gt;x\ufffd&lt;/b&gt;"


def table_rows(text: str, title: str) -> list[list[str]]:
    """The body rows of the rich table printed under ``title``."""
    block = text.split(title, 1)[1]
    rows = []
    for line in block.splitlines()[1:]:
        if not line.startswith(("│", "┃", "┏", "┡", "└")):
            break
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_rank_prints_hostile_names_inert_and_summary_has_no_controls(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    judgments = [pw(t, r, MODELS[i], MODELS[j], "first" if i < j else "second")
                 for t in ("t1", "t2") for r in REVIEWERS
                 for i in range(len(MODELS)) for j in range(len(MODELS)) if i != j]
    path = write_jsonl(tmp_path / "j.jsonl", judgments)
    code = main(["rank", "--judgments", str(path), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for stream in (captured.out, captured.err):
        assert not CONTROL.findall(stream)
    board = table_rows(captured.out, "Leaderboard (chair: vote)")
    assert [(row[0], row[1]) for row in board] == [
        (str(rank), name) for rank, name in enumerate(MODELS_SHOWN, 1)]
    exam = table_rows(captured.out, "Qualification exam")
    assert sorted(row[0] for row in exam) == sorted(REVIEWERS_SHOWN)
    # The outputs keep the names as the data wrote them.
    out = tmp_path / "out"
    assert [r["model"] for r in json.loads((out / "leaderboard.json").read_text())] == MODELS
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert not CONTROL.findall(summary)
    cells = [line.split(" | ")[1] for line in summary.splitlines()
             if re.match(r"\| \d \| ", line)]
    assert cells == MODELS_MARKDOWN


def test_log_lines_are_inert(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("peerreview.test_inert_text")
    handler = ConsoleHandler()
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("model 'a[/]': HTTP 500: \x1b]0;title\x07 [link=https://example.invalid]x"
                    "[/link]\nsecond line\ud83d")
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err
    assert err == ("warning: model 'a[/]': HTTP 500: \\x1b]0;title\\x07 "
                   "[link=https://example.invalid]x[/link]\nsecond line\ufffd\n")


HOSTILE = "[/] \x1b]0;title\x07 \x1b[6n \x9b6n [link=https://example.invalid]x[/link]\ud83d"
HOSTILE_SHOWN = r"[/] \x1b]0;title\x07 \x1b[6n \x9b6n [link=https://example.invalid]x[/link]"


def test_live_bars_show_an_endpoint_error_inert() -> None:
    file = io.StringIO()
    console = Console(file=file, force_terminal=True, force_interactive=True, width=400,
                      color_system=None)
    health = {"judge-evil": Health(down=f"model 'judge-evil': HTTP 500: {HOSTILE}")}
    with StageProgress(Tally(), health, console=console) as bars:
        assert bars.live
        bars.stage("review", 2)
        bars.advance()
    shown = file.getvalue()
    assert f"judge-evil: 0 retries, 0 failed (model 'judge-evil': HTTP 500: {HOSTILE_SHOWN}" \
        "\ufffd)" in shown
    for sequence in ("\x1b]0;", "\x1b[6n", "\x07", "\x9b", "\x1b]8"):
        assert sequence not in shown


def test_plain_progress_lines_survive_a_lone_surrogate() -> None:
    raw = io.BytesIO()
    file = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    console = Console(file=file, force_terminal=False, width=400)
    health = {"m\ud83d": Health(failed=1, down="HTTP 500: \ud83d\x1b[6n")}
    bars = StageProgress(Tally(), health, console=console)
    bars.stage("review", 1)
    assert raw.getvalue().decode() == ("review: 0/1 done, 0.0 calls/s, 0 calls made, 0 from the "
                                       "store, 0 failed; m\ufffd: 0 retries, 1 failed "
                                       "(HTTP 500: \ufffd\\x1b[6n)\n")


class Hostile(BaseHTTPRequestHandler):
    """An endpoint that refuses every request with an error body meant to steer a
    terminal, and rich markup that would not parse."""

    def _refuse(self) -> None:
        body = ("denied " + HOSTILE.replace("\ud83d", "")).encode()
        self.send_response(401)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._refuse()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def hostile_url() -> Iterator[str]:
    with served(Hostile) as url:
        yield url


def test_a_live_run_on_a_terminal_prints_a_hostile_error_body_inert(
        tmp_path: Path, hostile_url: str) -> None:
    write_task(tmp_path, n_items=4)
    with StubServer() as server:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-evil": {"base_url": hostile_url}})
        # Rich takes stderr for a terminal: live bars, as a person at a terminal sees them.
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
        env |= {"PYTHONPATH": str(ROOT), "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1",
                "FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "400"}
        done = subprocess.run(
            [sys.executable, "-m", "peerreview.cli", "run", str(config), "--out",
             str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=ROOT,
            env=env)
    assert "MarkupError" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr  # judge-evil failed; ranked without it
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [r["model"] for r in board] == EVALUATEES
    assert "\x1b[2K" in done.stderr  # the bars were live (rich erased a line to redraw)
    for stream in (done.stdout, done.stderr):
        for sequence in ("\x1b]0;", "\x1b[6n", "\x07", "\x9b", "\x1b]8;;https://example"):
            assert sequence not in stream
    warning = [line for line in done.stderr.splitlines() if "judge-evil" in line
               and "refused the credentials" in line]
    assert warning and f"(HTTP 401): denied {HOSTILE_SHOWN}" in warning[0], done.stderr
