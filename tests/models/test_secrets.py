"""Secrets and hostile bodies: a key echoed back across the cut, URL-encoded or in
base64 is masked before anything is cut, stored or printed; an error body is read a
few KB at most; half a surrogate pair in an answer is stored and shown as U+FFFD."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.models import CallError
from peerreview.models.config import ModelConfig
from peerreview.models.http import ERROR_BYTES
from peerreview.models.openai import OpenAIBackend, read_completion
from peerreview.redact import MASK, redact, redact_cut
from peerreview.testing.stub import StubServer
from tests.fixtures.fake_endpoints import Fake
from tests.livetask import EVALUATEES, write_config, write_task

KEY = "sk-proj-Zq81xVb2LmN4pQr7sTu0wXy3"  # made up; 32 characters


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("peerreview.models.endpoint.BACKOFF_S", 0.001)
    monkeypatch.setattr("peerreview.models.breaker.FIRST_PROBE_S", 0.01)


def leaks(text: str, secret: str = KEY) -> list[str]:
    """The telltale pieces of ``secret`` found in ``text``: 8 characters of it from
    anywhere, or 12 of its base64 at any of the three alignments."""
    pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
    for lead in range(3):
        pieces.add(base64.b64encode(("x" * lead + secret).encode()).decode()[4:16])
    return sorted(p for p in pieces if p in text)


def decoded(text: str) -> str:
    """A base64 run decoded (either alphabet, padding restored), as latin-1."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4)).decode("latin-1")


@pytest.mark.parametrize("lead", ["", "x", "xy", "Bearer ", '{"h": "Bearer '])
def test_the_key_in_base64_at_any_offset_is_masked(lead: str) -> None:
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        echoed = encode((lead + KEY + '"}').encode()).decode()
        masked = redact(f"dump: {echoed}", [KEY])
        assert masked.count(MASK) == 1
        # What is left either side decodes to the lead, the tail, and at most two
        # bytes of the key at each end: never four of its characters in a row.
        before, after = masked.removeprefix("dump: ").split(MASK)
        left = decoded(before) + decoded(after)
        assert not any(KEY[i:i + 4] in left for i in range(len(KEY) - 3))
        assert decoded(before).startswith(lead[:len(lead) // 3 * 3])


def test_url_encoded_and_json_escaped_forms_are_masked() -> None:
    secret = "abc/def+ghi jkl=="  # an Azure-style key with characters that get escaped
    for form in (urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret, safe="")
                 .lower(), urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]):
        assert redact(f"echo {form} end", [secret]) == f"echo {MASK} end"


def test_redacted_before_the_cut_and_a_cut_key_is_masked_too() -> None:
    body = "x" * 290 + KEY + " tail"
    cut = redact_cut(body, [KEY], 300)
    assert not leaks(cut) and cut == "x" * 290 + MASK + "..."
    # A body read only in part, ending in the middle of the key.
    assert redact_cut(body[:300], [KEY], 4096, more=True) == "x" * 290 + MASK


def test_a_key_echoed_across_the_cut_and_in_base64_is_never_stored_or_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERREVIEW_TEST_KEY", KEY)
    write_task(tmp_path, n_items=2)
    with StubServer() as server, Fake("echoes-key") as echo:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-echo": {"base_url": echo.url,
                                          "api_key_env": "PEERREVIEW_TEST_KEY"}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
        assert echo.posts > 0
    printed = capsys.readouterr()
    assert not leaks(printed.out + printed.err) and MASK in printed.err
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes().decode("latin-1")), path.name
    errors = [row[0] for row in sqlite3.connect(tmp_path / "out" / "run.sqlite").execute(
        "SELECT error FROM calls WHERE error IS NOT NULL")]
    assert errors and all(MASK in e and not leaks(e) for e in errors)


def test_an_error_body_is_read_a_few_kb_at_most() -> None:
    with Fake("huge-error", huge_bytes=32 * 2**20) as huge:
        backend = OpenAIBackend("judge", ModelConfig(provider="openai", model="m",
                                                     base_url=huge.url, max_retries=1))

        async def ask() -> str:
            try:
                await backend.complete(backend.prepare({"messages": [
                    {"role": "user", "content": "hi"}]}))
            except CallError as exc:
                return str(exc)
            finally:
                await backend.aclose()
            return "answered"

        said = asyncio.run(ask())
        sent, posts = huge.huge_sent, huge.posts
    assert posts == 2 and "HTTP 500" in said and len(said) < 600
    # Before: both bodies read whole (64 MB). The socket buffers hold some MB at most.
    assert sent < 32 * 2**20 and ERROR_BYTES < 4096 + 1


def test_half_a_surrogate_pair_is_read_as_a_replacement_character() -> None:
    payload = json.loads('{"choices": [{"message": {"content": "A \\ud83d"}, "logprobs": '
                         '{"content": [{"top_logprobs": [{"token": "\\ud83d", '
                         '"logprob": -0.5}]}]}}]}')
    answer = read_completion(payload)
    assert answer.text == "A \ufffd" and answer.top_logprobs == {"\ufffd": -0.5}
    answer.text.encode("utf-8")  # what failed before: it can be stored and printed now


def test_an_answer_with_half_a_surrogate_pair_is_stored_and_read(tmp_path: Path) -> None:
    # Before: TypeError from the store's JSON encoder, exit 1 and no outputs, on every
    # rerun.
    write_task(tmp_path, n_items=2)
    with StubServer() as server, Fake("surrogate", answer="A") as odd:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-odd": {"base_url": odd.url}})
        out = tmp_path / "out"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
        assert odd.posts == 2 * 6  # the rerun answered from the store
    said = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()
            if '"judge-odd"' in line]
    assert len(said) == 12 and {j["raw"] for j in said} == {"A\ufffd"}
    assert {j["winner"] for j in said} == {"first"}  # still read: the A is there
    board = json.loads((out / "leaderboard.json").read_text())
    assert {row["model"] for row in board} == set(EVALUATEES)
