"""Secrets out of everything stored or printed: an endpoint may echo the key back,
as it is, URL-encoded, JSON-escaped or in base64 (a proxy that dumps its headers)."""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse

import orjson

MASK = "[REDACTED]"
# Credentials in any text, whoever's they are: bearer tokens, key headers, OpenAI- and
# Anthropic-style keys.
_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(\b(?:x-api-key|api-key|authorization)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',}]{6,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{12,}"),
]
MIN_SECRET = 4  # shorter values would mask ordinary words
MIN_ENCODED = 8  # base64 runs shorter than this are not looked for: too likely by chance


def _base64_runs(secret: bytes) -> set[str]:
    """The base64 text that any base64 of a longer text containing ``secret`` holds,
    whatever the secret's offset: at each of the three alignments, the characters
    that depend on the secret's bytes alone (at most two bytes at either end are
    left, which do not give the secret away)."""
    runs = set()
    for offset in range(3):
        lead = (3 - offset) % 3  # secret bytes that share a group with what comes before
        whole = (len(secret) - lead) // 3 * 3  # then whole groups of the secret only
        if whole <= 0:
            continue
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            run = encode(secret[lead:lead + whole]).decode()
            if len(run) >= MIN_ENCODED:
                runs.add(run)
    return runs


def encoded_forms(secret: str) -> set[str]:
    """``secret`` as it may come back: itself, URL-encoded (``%20`` and ``+``),
    JSON-escaped, and its base64 runs (standard and URL-safe alphabets)."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
             orjson.dumps(secret).decode()[1:-1]}
    if len(secret) >= MIN_ENCODED:
        forms |= _base64_runs(secret.encode())
    return {f for f in forms if len(f) >= MIN_SECRET}


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for every form of every secret, longest first (so a secret that
    contains another is masked whole); percent escapes match in either case."""
    forms = sorted({f for s in secrets if len(s) >= MIN_SECRET for f in encoded_forms(s)},
                   key=lambda f: (-len(f), f))
    if not forms:
        return None
    return re.compile("|".join(re.sub(r"%([0-9A-F]{2})", lambda m: f"%(?i:{m.group(1)})",
                                      re.escape(f)) for f in forms))


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with each of ``secrets`` (4 characters or longer), in any of its
    :func:`encoded_forms`, and anything that looks like a credential replaced by a
    mask."""
    pattern = _pattern(tuple(secrets))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for generic in _PATTERNS:
        text = generic.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_cut(text: str, secrets: list[str] | tuple[str, ...], limit: int,
               more: bool = False) -> str:
    """``text`` redacted, then cut to ``limit`` characters (in that order: a secret
    across the cut is masked whole, never half shown). ``more``: the text itself was
    cut from a longer one, so a secret's beginning at its very end is masked too."""
    if more:
        text = _mask_tail(text, secrets)
    text = redact(text, secrets)
    return text if len(text) <= limit else text[:limit] + "..."


def _mask_tail(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` without a beginning of a secret (or of one of its forms) at its end."""
    for secret in secrets:
        for form in encoded_forms(secret) if len(secret) >= MIN_SECRET else ():
            for size in range(len(form) - 1, MIN_SECRET - 1, -1):
                if text.endswith(form[:size]):
                    return text[:-size] + MASK
    return text
