"""`peerreview label` end to end: the real command, a real headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.sync_api import expect

from peerreview.labels.server import make_app
from peerreview.labels.store import LabelBook, read_labels, read_units, select_into
from tests.conftest import PAYLOAD, write_jsonl
from tests.spawned import start_cli

ANSWERS = {"m1": "plain answer one", "m2": PAYLOAD, "m3": "the third answer"}


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder with three models' answers on two items, selected, and the labelling
    command serving it; yields the folder and the URL it printed."""
    write_jsonl(tmp_path / "items.jsonl",
                [{"item": t, "input": f"question {t}"} for t in ("q1", "q2")])
    write_jsonl(tmp_path / "submissions.jsonl",
                [{"item": t, "model": m, "output": f"{text} ({t})"}
                 for t in ("q1", "q2") for m, text in ANSWERS.items()])
    select_into(tmp_path, 6, seed=3)
    proc = start_cli(["label", str(tmp_path), "--annotator", "ann"],
                     env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"})
    try:
        line = proc.first_line()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line)
        assert url, line or proc.stderr
        yield tmp_path, url.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_keys_label_in_the_order_shown_and_undo_retracts(browser, served):
    folder, url = served
    units = {u.id: u for u in read_units(folder / "labels" / "selection.jsonl")}
    page = browser.new_page()
    page.goto(url)
    expect(page.locator("#a")).not_to_be_empty()
    shown = []
    for key in ("a", "b", "t"):
        a_text = page.text_content("#a")
        b_text = page.text_content("#b")
        shown.append((a_text, b_text, key))
        page.keyboard.press(key)
        expect(page.locator("#progress")).to_have_text(re.compile(f"^{len(shown)} /"))
    labels = read_labels(folder)["ann"]
    assert [x["choice"] for x in labels] == ["a", "b", "t"]
    for x, (a_text, b_text, _) in zip(labels, shown, strict=True):
        unit = units[x["unit"]]
        # what was shown as A is the left model's answer, as stored
        assert a_text == f"{ANSWERS[unit.left]} ({unit.item})" == \
            f"{ANSWERS[x['left']]} ({x['item']})"
        assert b_text == f"{ANSWERS[unit.right]} ({unit.item})"
    # z takes the last label back, and that pair is shown again
    last_a = shown[-1][0]
    page.keyboard.press("z")
    expect(page.locator("#status")).to_have_text("undone")
    assert [x["choice"] for x in read_labels(folder)["ann"]] == ["a", "b"]
    expect(page.locator("#a")).to_have_text(last_a)
    # a button does what its key does
    page.click("#key-x")
    expect(page.locator("#progress")).to_have_text(re.compile("^3 /"))
    assert [x["choice"] for x in read_labels(folder)["ann"]] == ["a", "b", "x"]
    # the rationale box takes letters without labelling
    page.fill("#rationale", "because abtx")
    page.keyboard.press("b")  # the focus is in the box: a letter, not a label
    assert len(read_labels(folder)["ann"]) == 3


def test_model_text_is_text_and_the_models_stay_hidden(browser, served):
    _, url = served
    page = browser.new_page()
    page.goto(url)
    expect(page.locator("#a")).not_to_be_empty()
    seen = set()
    for _ in range(6):  # every pair of the two items passes by
        seen |= {page.text_content("#a"), page.text_content("#b")}
        html = page.content()
        for model in ANSWERS:
            assert model not in html
        page.keyboard.press("s")
        expect(page.locator("#status")).to_have_text("saved: s")
        page.evaluate("document.getElementById('status').textContent = ''")
    assert any("<script>" in text for text in seen)  # shown, as text
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#a script, #b script, #a img, #b img, #a svg, #b svg").count() == 0


def test_the_token_and_the_host_are_required(served):
    folder, url = served
    base, token = url.split("/?token=")
    assert _status(url) == 200
    assert _status(base + "/") == 403
    assert _status(base + "/api/next") == 403
    assert _status(base + "/api/next?token=wrong") == 403
    assert _status(base + "/api/next", {"X-Token": token}) == 200
    # a page elsewhere (DNS rebinding) names another host
    port = base.rsplit(":", 1)[1]
    assert _status(url, {"Host": f"evil.example:{port}"}) == 403
    request = urllib.request.Request(base + "/api/label", method="POST", headers={
        "Host": f"evil.example:{port}", "X-Token": token, "Content-Type": "application/json"},
        data=json.dumps({"unit": "x", "choice": "a"}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    # the token is never written to disk
    for path in folder.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace")


def test_a_rating_selection_takes_the_number_keys(browser, tmp_path):
    write_jsonl(tmp_path / "items.jsonl", [{"item": "q1", "input": "question"}])
    write_jsonl(tmp_path / "submissions.jsonl", [{"item": "q1", "model": m, "output": text}
                                                 for m, text in ANSWERS.items()])
    select_into(tmp_path, 3, seed=0, rate=True)
    units = {u.id: u for u in read_units(tmp_path / "labels" / "selection.jsonl")}
    token = "t" * 32
    with _served(tmp_path, token) as base:
        page = browser.new_page()
        page.goto(f"{base}/?token={token}")
        expect(page.locator("#ask")).to_have_text("How good is this answer?")
        expect(page.locator("#answer-b")).to_be_hidden()
        shown = page.text_content("#a")
        page.keyboard.press("a")  # a pair's key does nothing here
        page.keyboard.press("4")
        expect(page.locator("#progress")).to_have_text(re.compile("^1 /"))
        (label,) = read_labels(tmp_path)["ann"]
        assert label["choice"] == "4"
        assert shown == ANSWERS[units[label["unit"]].left]
        assert _post(base, token, {"unit": label["unit"], "choice": "a"}) == 400


@contextlib.contextmanager
def _served(folder: Path, token: str) -> Iterator[str]:
    """The labelling app on a free port, in a thread of its own."""
    book = LabelBook.open(folder, "ann")
    loop = asyncio.new_event_loop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = web.AppRunner(make_app(book, token, port))
    ready = threading.Event()

    def serve() -> None:  # the test's thread runs Playwright's own loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _post(base: str, token: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(base + "/api/label", method="POST", headers={
        "X-Token": token, "Content-Type": "application/json"}, data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
