"""A model's settings, as the run config gives them: one record per model the run may
call, read by its backend. Kept apart from the run config so that a backend loads
pydantic and nothing of the exam, the chair or numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from peerreview.models.base import Style
from peerreview.redact import MASK

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_WEIGHTS = "gemma-3-270m-q4_k_m"  # the embedded model without weights of its own
OWN_URL = {"openai": OPENAI_URL, "anthropic": "https://api.anthropic.com/v1"}

# How a provider's models are asked. Outside models/ code asks a model's style (or
# the properties below), never its provider.
STYLES: dict[str, Style] = {"openai": "chat", "anthropic": "chat", "local": "completion",
                            "python": "call"}


class Strict(BaseModel):
    """A config section in which an unknown key is an error."""

    model_config = ConfigDict(extra="forbid")


class Price(Strict):
    """US dollars per million tokens."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class ModelConfig(Strict):
    """One model the run may call, as evaluatee, reviewer candidate or both."""

    provider: Literal["openai", "anthropic", "local", "python"]
    model: str | None = None  # openai: the name sent; local: a GGUF path (default Gemma 3 270M)
    function: str | None = None  # python: "module:function"
    base_url: str | list[str] | None = None  # default: the provider's own API; a list:
    # replicas of one model (vLLM, SGLang, ...), each served up to `concurrency` calls
    cache_id: str | None = None  # the endpoint's part of the call key (default: base_url)
    api_key_env: str | None = None  # default OPENAI_/ANTHROPIC_API_KEY on their own APIs
    headers: dict[str, str] = Field(default_factory=dict)  # sent, never stored (e.g. api-key)
    reasoning: bool = False  # a reasoning model: max_completion_tokens, no temperature
    batch: bool = False  # ask through the provider's batch API (half price, hours)
    batch_poll_s: float = Field(30.0, gt=0)  # seconds between looks at a batch
    concurrency: int = Field(8, ge=1, le=1024)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    # Sent only when set: an endpoint's own defaults stand otherwise.
    temperature: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    preamble: str = ""  # text put before the task prompt (e.g. worked examples for a base model)
    params: dict[str, Any] = Field(default_factory=dict)  # extra request body fields
    structured_output: bool = False  # ask for a JSON schema answer (response_format)
    logprobs: bool = False  # openai: read a pairwise verdict's P(A), P(B) (records p_first)
    context_tokens: int | None = Field(None, ge=64)
    on_overflow: Literal["truncate", "error"] = "truncate"
    price: Price = Field(default_factory=Price)

    @field_serializer("headers")
    def _hide_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Header values may be keys (Azure's ``api-key``): a dumped config (run.json,
        the report, the store) names the headers only."""
        return {name: MASK for name in headers}

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        """A URL with an http(s) scheme and a host, each replica's."""
        for number, url in enumerate([value] if isinstance(value, str) else value or [], 1):
            try:
                parts = urlsplit(url)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname)
                parts.port  # noqa: B018 (a port that is not a number raises)
            except ValueError:
                ok = False
            if not ok:
                which = f"replica {number}: " if isinstance(value, list) else ""
                raise ValueError(f"{which}expected an http:// or https:// URL with a host "
                                 f"(e.g. http://127.0.0.1:8000/v1), got {url!r}")
        return value

    @model_validator(mode="after")
    def _provider_fields(self) -> ModelConfig:
        if self.batch and self.provider not in ("openai", "anthropic"):
            raise ValueError("batch: true is for the openai and anthropic providers")
        if isinstance(self.base_url, list) and not self.base_url:
            raise ValueError("base_url lists no replica")
        if self.provider in ("openai", "anthropic") and not self.model:
            raise ValueError(f"an {self.provider} model needs 'model' (the name the endpoint "
                             "knows)")
        if self.provider == "python" and not (self.function and ":" in self.function):
            raise ValueError("a python model needs 'function: module:function'")
        if self.logprobs and (self.provider != "openai" or self.structured_output):
            raise ValueError("logprobs: true reads the first answer token's probabilities "
                             "of an openai-compatible endpoint (not with structured_output, "
                             "whose first token is '{')")
        return self

    @property
    def style(self) -> Style:
        """How the model is asked: ``chat``, ``completion`` or ``call`` (:data:`STYLES`)."""
        return STYLES[self.provider]

    @property
    def embedded(self) -> bool:
        """Whether the model's weights run in this process (llama.cpp)."""
        return self.provider == "local"

    @property
    def over_http(self) -> bool:
        """Whether the model answers at an HTTP endpoint (what an executor can run)."""
        return self.provider in ("openai", "anthropic")

    @property
    def answerer(self) -> str:
        """Who answers the model's calls, as the call key names it: the name the
        endpoint knows, the weights file's name, or the Python function."""
        if self.provider == "python":
            return str(self.function)
        if self.provider == "local":
            return Path(self.model).name if self.model else DEFAULT_WEIGHTS
        return str(self.model)

    @property
    def price_factor(self) -> float:
        """What a call costs of the listed price: half through a batch API."""
        return 0.5 if self.batch else 1.0

    @property
    def answer_tokens(self) -> int:
        """Answer tokens to plan for: ``max_tokens``, or 256 where nothing caps them."""
        return self.max_tokens or 256

    @property
    def urls(self) -> list[str]:
        """The base URLs of an endpoint model: one, or its replicas."""
        if isinstance(self.base_url, list):
            return [u.rstrip("/") for u in self.base_url]
        return [(self.base_url or OWN_URL.get(self.provider, OPENAI_URL)).rstrip("/")]

    @property
    def url(self) -> str:
        """The base URL of an endpoint model (its first replica): the endpoint of the
        call key unless ``cache_id`` is set, whichever replica answers."""
        return self.urls[0]

    @property
    def key_variable(self) -> str | None:
        """The variable the API key is read from: ``api_key_env``, or OPENAI_API_KEY for
        OpenAI's own API (never sent to another server unless named)."""
        if self.api_key_env is not None:
            return self.api_key_env
        if self.base_url is None:
            return {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(
                self.provider)
        return None
