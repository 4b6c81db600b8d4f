"""The identity of a model call: what decides its answer, and nothing else.

A call's key is the SHA-256 of four parts, written down here and nowhere else:

- ``provider``: the backend that speaks to the model (``openai``, ``local``, ...);
- ``endpoint``: where the model is served: the model's ``cache_id`` if the user set
  one (to keep a cache when a server moves, and for replicas of one model), else
  the normalized ``base_url`` (scheme, host, port, path, query; never credentials);
- ``model``: the name the endpoint knows, the weights file, or the Python function;
- ``request``: exactly what is sent: messages or prompt and every parameter.

The API key and headers are never part of it (nor stored): the same model behind
two keys answers the same way, and secrets must not reach the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

if TYPE_CHECKING:
    from peerreview.models.config import ModelConfig

SECRET_FIELDS = frozenset({"api_key", "authorization", "headers", "x-api-key"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    """A URL in one spelling: scheme and host lower-case, the port explicit, no
    credentials, no trailing slash, query parameters sorted.

    >>> normalize_url("HTTP://Example.COM/v1/")
    'http://example.com:80/v1'
    >>> normalize_url("https://user:secret@h:8443/v1?b=2&a=1")
    'https://h:8443/v1?a=1&b=2'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    netloc = f"{host}:{port}" if port else host
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), query, ""))


@dataclass(frozen=True, slots=True)
class CallIdentity:
    """Who answers a call: the provider, the endpoint and the model there."""

    provider: str
    endpoint: str
    model: str


def canonical(identity: CallIdentity, request: dict[str, Any]) -> bytes:
    """The call as key-sorted JSON: what is hashed, and what the store keeps.

    Raises:
        ValueError: the request carries a secret (an API key or headers).
    """
    secret = SECRET_FIELDS & {k.lower() for k in request}
    if secret:
        raise ValueError(f"a request to store must not carry {sorted(secret)}")
    return orjson.dumps({"provider": identity.provider, "endpoint": identity.endpoint,
                         "model": identity.model, "request": request},
                        option=orjson.OPT_SORT_KEYS)


def call_key(identity: CallIdentity, request: dict[str, Any]) -> str:
    """The key of a call: the same content in any key order gives the same key, and a
    change to any of the four parts gives another."""
    return key_of(canonical(identity, request))


def key_of(blob: bytes) -> str:
    """The key of a call from its :func:`canonical` form."""
    return hashlib.sha256(blob).hexdigest()


def identity_of(config: ModelConfig) -> CallIdentity:
    """Who answers a model's calls, as the call key names it; a model in this process
    (no endpoint) is at its provider's name."""
    endpoint = config.cache_id or (normalize_url(config.url) if config.over_http
                                   else config.provider)
    return CallIdentity(config.provider, endpoint, config.answerer)
