"""Model backends behind one async interface, one module per provider."""

from __future__ import annotations

from peerreview.models.base import (
    Backend,
    CallError,
    Health,
    Request,
    Response,
    Style,
    estimate_tokens,
)
from peerreview.models.config import ModelConfig

__all__ = ["Backend", "CallError", "Health", "Request", "Response", "Style", "estimate_tokens",
           "make_backend"]


def make_backend(name: str, config: ModelConfig) -> Backend:
    """The backend for a configured model (the local one loads its weights lazily)."""
    if config.provider == "openai":
        from peerreview.models.openai import OpenAIBackend
        return OpenAIBackend(name, config)
    if config.provider == "anthropic":
        from peerreview.models.anthropic import AnthropicBackend
        return AnthropicBackend(name, config)
    if config.provider == "local":
        from peerreview.models.local import LocalBackend
        return LocalBackend(name, config)
    from peerreview.models.python import PythonBackend
    return PythonBackend(name, config)
