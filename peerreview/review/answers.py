"""Reading a verdict out of a reviewer's free-text answer: a rating, a choice, a winner.

Reviewers answer in prose ("... earning a score of 4 out of 5 for relevance.").
Patterns are tried from the most explicit to the least; the first that finds a
number on the scale wins. An answer none of them reads is an abstention (None):
it is never guessed from a stray digit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUM = r"(\d+(?:\.\d+)?|one|two|three|four|five)"

# Most explicit first. Each captures the rating in group 1.
_PATTERNS = [
    re.compile(r"final\s+(?:score|rating)\W{0,6}" + _NUM, re.I),
    re.compile(r"\b(?:score|rating)\s*[:=]\s*" + _NUM, re.I),
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
# Patterns so explicit that a number off the scale is still the rating given ("Final
# score: 0", "Score: 0", "0/5", "Relevance: 0", a bare "0"): kept, for the off-scale
# rule to decide.
_EXPLICIT = frozenset({0, 1, 2, 4, 9})
_LETTERS = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
_LETTER = re.compile(r"^\W*(?i:answer|option|choice)?\W*\(?([A-E])\)?(?:\W|$)")


def _value(token: str) -> float:
    word = token.lower()
    return float(WORDS[word]) if word in WORDS else float(token)


def parse_rating(text: str | None, low: float = 1, high: float = 5) -> float | None:
    """The rating stated in ``text``, or None if it cannot be read.

    A rating on the scale wins; failing that, a number off the scale stated in an
    explicit form ("Final score: 0") is returned as it is, for the off-scale rule
    (:func:`peerreview.records.exchange.off_scale_score`) to decide.

    >>> parse_rating("The summary is concise. Final score: 5.")
    5.0
    >>> parse_rating("I would score it a 2 out of 5 in terms of relevance.")
    2.0
    >>> parse_rating("Four stars. The summary captures the key points.")
    4.0
    """
    if not text:
        return None
    off_scale = None
    for k, pattern in enumerate(_PATTERNS):
        match = pattern.search(text)
        if match:
            value = _value(match.group(1))
            if low <= value <= high:
                return value
            if off_scale is None and k in _EXPLICIT:
                off_scale = value
    return off_scale


def parse_choice(text: str | None) -> float | None:
    """A multiple-choice answer A-E read as 1-5 (A = 1), or None."""
    if not text:
        return None
    match = _LETTER.match(text.strip())
    return float(_LETTERS[match.group(1)]) if match else None


# A reviewer's verdict, from the most explicit form to the least. Each tier is a list of
# (pattern, reading) where reading maps the captured text to a winner and a strength.
_OPT = r"(?:answer|response|output|assistant|option)?\s*[\"'(\[]?\s*"
_A_OR_B = r"\b(A|B)\b"
_INTENSITY = r"(?:clearly\s+|slightly\s+|much\s+|significantly\s+|far\s+|overall\s+)?"
_BRACKETS = {"A>>B": ("first", 2), "A>B": ("first", 1), "A=B": ("tie", 1),
             "B>A": ("second", 1), "B>>A": ("second", 2), "A<B": ("second", 1),
             "B<A": ("first", 1), "A<<B": ("second", 2), "B<<A": ("first", 2),
             "A": ("first", 1), "B": ("second", 1), "C": ("tie", 1), "TIE": ("tie", 1)}
Reading = tuple[str, int]


def _letter(text: str) -> Reading:
    word = text.lower()
    return ("first", 1) if word == "a" else ("second", 1) if word == "b" else ("tie", 1)


_TIERS: list[list[tuple[re.Pattern[str], Callable[[str], Reading]]]] = [
    [  # structured answers: ours, and alpaca_eval's ranking JSON (model "m" is shown first)
        (re.compile(r'"winner"\s*:\s*"(A|B|tie)"', re.I), _letter),
        (re.compile(r"""["']model["']\s*:\s*["'](m|M)["']\s*,\s*["']rank["']\s*:\s*1\b"""),
         lambda m: ("first", 1) if m == "m" else ("second", 1)),
    ],
    [  # MT-Bench's [[A]] / [[B]] / [[C]] (tie) and arena-hard's [[A>>B]] ... [[B>>A]]
        (re.compile(r"\[\[\s*(A\s*(?:>>|>|=|<<|<)\s*B|B\s*(?:>>|>|=|<<|<)\s*A|A|B|C|tie)\s*\]\]",
                    re.I), lambda m: _BRACKETS[re.sub(r"\s", "", m).upper()]),
    ],
    [  # stated verdicts in prose
        (re.compile(r"\bfinal\s+(?:verdict|answer|decision|choice)\s*(?:is|:)?\s*(?:that\s+)?"
                    + _OPT + r"\b(A|B|tie)\b", re.I), _letter),
        (re.compile(r"(?:^|[\s:(])" + _OPT + _A_OR_B + r"\)?(?:'s\s+(?:answer|response))?\s+is\s+"
                    + _INTENSITY + r"(?:the\s+)?(?:better|best|superior|preferred|stronger)\b",
                    re.I), _letter),
        (re.compile(r"\b(?:answer|response|output|assistant)\s*\(?" + _A_OR_B
                    + r"\)?\s+(?:wins|is\s+the\s+winner)\b", re.I), _letter),
        (re.compile(r"\bI\s+(?:would\s+)?(?:prefer|choose|pick|select)\s+" + _OPT + _A_OR_B,
                    re.I), _letter),
        (re.compile(r"\b(?:the\s+)?(?:better|best|preferred|winning)\s+(?:answer|response|output)"
                    r"\s+is\s+" + _OPT + _A_OR_B, re.I), _letter),
        (re.compile(r"\b(?:winner|verdict|choice|preference)\s*(?:is|:)\s*" + _OPT
                    + r"\b(A|B|tie)\b", re.I), _letter),
        (re.compile(r"\b(it'?s\s+a\s+tie|(?:is|a|verdict\s*:?)\s+tie\b|equally\s+(?:good|bad|"
                    r"helpful|strong|weak|poor)|both\s+(?:answers\s+|responses\s+)?(?:are\s+)?"
                    r"equal(?:ly)?\b|neither\s+(?:answer\s+|response\s+)?is\s+better)", re.I),
         lambda m: ("tie", 1)),
    ],
    [  # an answer that is the verdict alone: "A", "(B)", "Answer: A", "tie", alpaca_eval's
        # "m"/"M" and "Output (a)"/"Output (b)"
        (re.compile(r"^\W*(?:answer|response|output|assistant|option|verdict)?\W*\(?\b(A|B|tie)"
                    r"\b\)?\W*$", re.I), _letter),
        (re.compile(r"^\W*(m|M)\W*$"), lambda m: ("first", 1) if m == "m" else ("second", 1)),
        (re.compile(r"^\W*output\s*\(([ab])\)\W*$", re.I), _letter),
    ],
]


def parse_verdict(text: str | None) -> tuple[str | None, int | None]:
    """Which of two answers a reviewer chose, and how strongly: ``(winner, strength)``
    with winner ``first`` (A, shown first), ``second`` (B) or ``tie`` and strength 2
    for arena-hard's ``>>``, else 1; ``(None, None)`` when it cannot be read.

    The most explicit form present decides: a structured answer, then a bracketed
    verdict, then a stated verdict in prose, then an answer that is the verdict
    alone. Where two readings of that form disagree, nothing is guessed: the answer
    is unreadable (and re-asked).
    """
    if not text:
        return None, None
    text = text.strip()
    for tier in _TIERS:
        found: set[Reading] = set()
        for pattern, reading in tier:
            for match in pattern.finditer(text):
                found.add(reading(match.group(1)))
        if found:
            winners = {w for w, _ in found}
            if len(winners) > 1:
                return None, None
            return winners.pop(), max(s for _, s in found)
    return None, None


def parse_winner(text: str | None) -> str | None:
    """Which of two answers a reviewer chose: ``first`` (A), ``second`` (B), ``tie``,
    or None when the answer cannot be read (see :func:`parse_verdict`).

    >>> parse_winner("B")
    'second'
    >>> parse_winner("After weighing both, Answer A is better.")
    'first'
    >>> parse_winner("My final verdict is tie: [[A=B]]")
    'tie'
    """
    return parse_verdict(text)[0]
