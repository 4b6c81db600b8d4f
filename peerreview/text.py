"""Text from outside made inert before a person sees it.

Model and reviewer names come from data files and configs, answers from models, error
bodies from endpoints: none of it may steer the terminal (ESC, CSI and OSC sequences,
a BEL, C1 controls, a carriage return that overwrites a line), reorder what is shown
(bidirectional overrides: "Trojan Source") or fail to encode (a lone surrogate). Each
such character is shown as an escape a reader can see (``\\x1b``, ``\\u202e``), so two
names that differ only in a control character still look different; a lone surrogate
becomes U+FFFD. Rich markup is a separate matter: :func:`peerreview.live.console.plain`
wraps the result in a rich ``Text``, which is never read as markup.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

# C0 controls (a message keeps its tabs and newlines), DEL and C1 controls, and the
# characters that change the direction or the lines of what follows them (bidirectional
# marks, embeddings, overrides and isolates; line and paragraph separators).
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_IN_NAMES = re.compile(f"[\x00-\x1f{_OTHERS}]")
_IN_MESSAGES = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # tab and newline kept
_SURROGATE = re.compile("[\ud800-\udfff]")


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def inert(value: object, *, lines: bool = False) -> str:
    """``value`` as text that cannot steer a terminal or a renderer.

    Args:
        value: anything; it is shown as ``str(value)``.
        lines: keep tab and newline (a message of several lines); otherwise, for a
            name or a cell on one line, they are escaped like every other control.

    Returns:
        The text with every control character written as a visible escape and every
        lone surrogate replaced by U+FFFD.
    """
    text = _SURROGATE.sub(REPLACEMENT, str(value))
    return (_IN_MESSAGES if lines else _IN_NAMES).sub(_shown, text)
