"""The files of ``vllm run-batch`` (the OpenAI batch format): the prepared requests as
its input lines, and its output lines as answers by call key, read as a provider
batch's are (:func:`peerreview.models.batchapi.read_results`). The executor runs the
command (:func:`peerreview.calls.executors.run_vllm_batch`); what its lines say is a
provider's format, and is written down here.
"""

from __future__ import annotations

from typing import Any

from peerreview.models.base import Response
from peerreview.models.batchapi import read_results
from peerreview.models.openai import batch_answer, batch_lines

BATCH = "vllm run-batch"  # what messages call the batch


def request_lines(calls: dict[str, dict[str, Any]], model: str | None) -> bytes:
    """The input file: the requests as given (the executor prepared them), in an
    OpenAI batch's lines (:func:`peerreview.models.openai.batch_lines`)."""
    return batch_lines(calls.items(), model)


def read_answers(text: str, model: str) -> dict[str, Response | str]:
    """The output file's answers by call key: a response, or why there is none; a line
    that is not a result is said and left out (``model``: the configured name)."""
    return read_results(text, model=model, batch=BATCH, answer=batch_answer)
