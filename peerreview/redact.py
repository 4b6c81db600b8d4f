"""Secrets out of everything stored or printed: an endpoint may echo the key back."""

from __future__ import annotations

import re

MASK = "[REDACTED]"
# Credentials in any text, whoever's they are: bearer tokens, key headers, OpenAI- and
# Anthropic-style keys.
_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(\b(?:x-api-key|api-key|authorization)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',}]{6,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{12,}"),
]


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with each of ``secrets`` (4 characters or longer) and anything that
    looks like a credential replaced by a mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
