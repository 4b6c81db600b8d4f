"""Reading a verdict out of a reviewer's free-text answer: a rating, a choice, a winner.

Reviewers answer in prose ("... earning a score of 4 out of 5 for relevance.").
Patterns are tried from the most explicit to the least; the first that finds a
number on the scale wins. An answer none of them reads is an abstention (None):
it is never guessed from a stray digit.
"""

from __future__ import annotations

import re

WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUM = r"(\d+(?:\.\d+)?|one|two|three|four|five)"

# Most explicit first. Each captures the rating in group 1.
_PATTERNS = [
    re.compile(r"final\s+(?:score|rating)\W{0,6}" + _NUM, re.I),
    re.compile(_NUM + r"\s*(?:/|out\s+of)\s*(?:5|five)\b", re.I),
    re.compile(r"\b(?:score[sd]?|scoring|rating|rated?|grade)\b[^.\d\n]{0,40}?\b" + _NUM
               + r"\b", re.I),
    re.compile(r"\b(?:coherence|consistency|fluency|relevance)\s*:\s*" + _NUM, re.I),
    re.compile(r"\b(?:give|gave|giving|assign\w*|award\w*)\s+(?:it|this|the\s+summary)?"
               r"\s*(?:an?\s+)?" + _NUM + r"\b", re.I),
    re.compile(r"\b(?:gets?|making\s+it|earns?|deserves?)\s+(?:an?\s+)?(?:perfect\s+)?"
               + _NUM + r"\b", re.I),
    re.compile(_NUM + r"[\s-]*stars?\b", re.I),
    re.compile(r"\(\s*" + _NUM + r"\s*\)", re.I),
    re.compile(r"^\W*" + _NUM + r"\W*$", re.I),
    re.compile(r"(?:^|[.;:]\s)\s*" + _NUM + r"\W*$", re.I),  # a bare number closing the answer
]
_LETTERS = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
_LETTER = re.compile(r"^\W*(?i:answer|option|choice)?\W*\(?([A-E])\)?(?:\W|$)")


def _value(token: str) -> float:
    word = token.lower()
    return float(WORDS[word]) if word in WORDS else float(token)


def parse_rating(text: str | None, low: float = 1, high: float = 5) -> float | None:
    """The rating stated in ``text``, or None if it cannot be read.

    >>> parse_rating("The summary is concise. Final score: 5.")
    5.0
    >>> parse_rating("I would score it a 2 out of 5 in terms of relevance.")
    2.0
    >>> parse_rating("Four stars. The summary captures the key points.")
    4.0
    """
    if not text:
        return None
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            value = _value(match.group(1))
            if low <= value <= high:
                return value
    return None


def parse_choice(text: str | None) -> float | None:
    """A multiple-choice answer A-E read as 1-5 (A = 1), or None."""
    if not text:
        return None
    match = _LETTER.match(text.strip())
    return float(_LETTERS[match.group(1)]) if match else None


_WINNER_PATTERNS = [
    re.compile(r'"winner"\s*:\s*"(A|B|tie)"', re.I),  # the structured-output answer
    re.compile(r"^\W*(?:answer|response|output)?\s*\(?\b(A|B|tie)\b\)?\W*$", re.I),
    re.compile(r"\b(?:better|best|winner|verdict|prefer(?:red)?|choose|choice)\b[^.\n]{0,30}?"
               r"\b(?:answer|response|output)?\s*\(?\b(A|B)\b\)?", re.I),
    re.compile(r"\b(?:answer|response|output)\s*\(?\b(A|B)\b\)?\s+is\s+(?:the\s+)?better", re.I),
    re.compile(r"\b(tie|equally good|equally bad|both are equal)\b", re.I),
]


def parse_winner(text: str | None) -> str | None:
    """Which of two answers a reviewer chose: ``first`` (A), ``second`` (B), ``tie``,
    or None when the answer cannot be read.

    >>> parse_winner("B")
    'second'
    >>> parse_winner("After weighing both, Answer A is better.")
    'first'
    >>> parse_winner('{"winner": "tie"}')
    'tie'
    """
    if not text:
        return None
    for pattern in _WINNER_PATTERNS:
        match = pattern.search(text.strip())
        if match:
            word = match.group(1).lower()
            if word == "a":
                return "first"
            if word == "b":
                return "second"
            return "tie"
    return None
