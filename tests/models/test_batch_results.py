"""One reader of batch results (``batchapi.read_results``) for OpenAI's and Anthropic's
batch APIs and ``vllm run-batch``'s output: lines matched by custom_id, a line that is
not a result skipped and said, half a surrogate pair mended, and each provider saying
only how one record becomes an answer."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import orjson
import pytest

from peerreview.calls.executors import ExecutorConfig, run_vllm_batch
from peerreview.models import Response
from peerreview.models.anthropic import AnthropicBackend
from peerreview.models.batchapi import read_results
from peerreview.models.config import ModelConfig
from peerreview.models.openai import OpenAIBackend, batch_answer

URL = "http://127.0.0.1:9/v1"


def chat_line(key: str, content: str, status: int = 200) -> bytes:
    body = {"choices": [{"message": {"content": content}}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2}} if status == 200 else \
        {"error": {"message": "overloaded"}}
    return orjson.dumps({"custom_id": key, "response": {"status_code": status, "body": body},
                         "error": None})


# An OpenAI-format output: an answer holding a raw U+2028 (orjson writes it
# unescaped), one with half a surrogate pair escaped, an error, a 200 that is no
# answer, and three lines that are not results.
LINES = b"\n".join([
    chat_line("k1", "A\u2028is better"),
    b'{"custom_id": "k2", "response": {"status_code": 200, "body": {"choices": '
    b'[{"message": {"content": "B \\ud83d"}}]}}}',
    chat_line("k3", "", status=500),
    orjson.dumps({"custom_id": "k4", "response": {"status_code": 200, "body": {}}}),
    b"not json", b"[1, 2]", b'{"response": {"status_code": 200}}', b"",
]).decode()

EXPECTED: dict[str, Response | str] = {
    "k1": Response("A\u2028is better", None, 4, 2),
    "k2": Response("B \ufffd", None, 0, 0),
    "k3": "{name}: {{'error': {{'message': 'overloaded'}}}}",
    "k4": "bad answer in {name}: no choices in the answer",
}


def expected(name: str) -> dict[str, Response | str]:
    return {k: v.format(name=name) if isinstance(v, str) else v for k, v in EXPECTED.items()}


def test_the_shared_reader_reads_each_line_by_its_custom_id(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="peerreview"):
        got = read_results(LINES, model="judge", batch="batch b1", answer=batch_answer)
    assert got == expected("batch b1")
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"model 'judge': batch b1: line {n} of its results is not a result; its "
                    "call will be asked again" for n in (5, 6, 7)]


def test_an_openai_batch_reads_its_output_file_with_the_shared_reader() -> None:
    """Before: the OpenAI reader split lines at U+2028 (k1 was lost, and asked again)
    and orjson refused the escaped half pair (k2 too)."""
    backend = OpenAIBackend("judge", ModelConfig(provider="openai", model="m", base_url=URL))
    backend._batch_files["b1"] = ["file-1"]

    async def fetched(*_: object, **__: object) -> str:
        return LINES

    backend._api = fetched  # type: ignore[method-assign]
    assert asyncio.run(backend.batch_results("b1")) == expected("batch b1")


def test_an_anthropic_batch_says_only_how_a_record_becomes_an_answer() -> None:
    backend = AnthropicBackend("c", ModelConfig(provider="anthropic", model="m",
                                                base_url=URL))
    text = "\n".join([
        '{"custom_id": "k1", "result": {"type": "succeeded", "message": {"content": '
        '[{"type": "text", "text": "A \\ud83d"}], "usage": {"input_tokens": 5, '
        '"output_tokens": 1}}}}',
        '{"custom_id": "k2", "result": {"type": "errored", "error": {"type": "x"}}}',
        '{"custom_id": "k3", "result": {"type": "succeeded", "message": {}}}',
        "{oops"])

    async def fetched(*_: object, **__: object) -> str:
        return text

    backend._api = fetched  # type: ignore[method-assign]
    assert asyncio.run(backend.batch_results("b9")) == {
        "k1": Response("A \ufffd", None, 5, 1),
        "k2": "batch b9: errored: {'type': 'x'}",
        "k3": "bad answer in batch b9: no content in the answer"}


def test_vllm_run_batch_output_is_read_as_an_openai_batch(tmp_path: Path) -> None:
    """Before: a line that was not JSON ended the run with orjson's error."""
    script = tmp_path / "run_batch.py"
    output = tmp_path / "canned.jsonl"
    output.write_text(LINES, encoding="utf-8")
    script.write_text("import shutil, sys\n"
                      "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
                      f"shutil.copy({str(output)!r}, args['-o'])\n")
    calls = {"judge": {k: {"messages": [{"role": "user", "content": k}]}
                       for k in ("k1", "k2", "k3", "k4")}}
    models = {"judge": ModelConfig(provider="openai", model="m", base_url=URL)}
    executor = ExecutorConfig(kind="vllm-batch", command=[sys.executable, str(script)])
    assert run_vllm_batch(calls, models, executor) == {"judge": expected("vllm run-batch")}


@pytest.mark.parametrize("junk", [b"\xff\xfe not utf-8", b"[" * 5000 + b"]" * 5000])
def test_a_line_that_no_json_reader_takes_is_skipped(junk: bytes) -> None:
    text = junk.decode("utf-8", errors="replace") + "\n" + chat_line("k1", "A").decode()
    assert read_results(text, model="judge", batch="batch b1", answer=batch_answer) == \
        {"k1": Response("A", None, 4, 2)}
