"""Reading reviewers: next-token preferences and ratings, fitting prompts, Retry-After."""

from __future__ import annotations

import itertools
import math
import time
from email.utils import formatdate

import pytest

from peerreview.models.endpoint import retry_after
from peerreview.prompts import TRUNCATION_MARK, fit
from peerreview.review.answers import parse_winner
from peerreview.review.asker import expected_rating, preference


def test_preference_sums_token_variants() -> None:
    top = {" A": math.log(0.3), "A": math.log(0.1), " B": math.log(0.5), " C": math.log(0.1)}
    winner, raw = preference(top)
    assert winner == "second" and raw == "P(A)=0.4000 P(B)=0.5000"
    assert preference({" C": 0.0}) == (None, "P(A)=0.0000 P(B)=0.0000")


def test_expected_rating_by_hand() -> None:
    # P(2) = .2, P(4) = .6, P(5) = .2 (others absent): 0.4 + 2.4 + 1.0 = 3.8
    top = {" 2": math.log(0.2), "4": math.log(0.6), " 5": math.log(0.2), " x": 0.0}
    value, _ = expected_rating(top, 1, 5)
    assert value == pytest.approx(3.8)
    assert expected_rating({"x": 0.0}, 1, 5)[0] is None


@pytest.mark.parametrize(("text", "winner"), [
    ("A", "first"), (" b ", "second"), ("Tie", "tie"), ('{"winner": "B"}', "second"),
    ("Answer A is better.", "first"), ("The better answer is B.", "second"),
    ("Both are equally good.", "tie"), ("Hmm, both have merit; hard to say.", None), ("", None),
])
def test_parse_winner(text: str, winner: str | None) -> None:
    assert parse_winner(text) == winner


def test_fit_cuts_the_longest_field_in_the_middle() -> None:
    def render(f: dict[str, str]) -> str:
        return f"Q: {f['input']}\nA: {f['first']}\nB: {f['second']}\nBetter:"

    def count(s: str) -> int:
        return len(s) // 4

    fields = {"input": "short question", "first": "a" * 4000, "second": "b" * 200}
    text, cut = fit(render, fields, ["first", "second"], count, 300)
    assert cut and count(text) <= 300
    assert TRUNCATION_MARK in text and text.endswith("Better:") and "b" * 200 in text
    assert fit(render, {**fields, "first": "a"}, ["first"], count, 300) == (
        render({**fields, "first": "a"}), False)
    with pytest.raises(ValueError, match="even with the answers cut"):
        fit(render, fields, ["first", "second"], count, 10)


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = retry_after(formatdate(time.time() + 30, usegmt=True))
    assert later is not None and 25 <= later <= 31


def test_requests_per_minute_space_the_starts() -> None:
    import asyncio

    from peerreview.models.endpoint import RateLimiter

    async def starts() -> list[float]:
        limiter = RateLimiter(rpm=600, tpm=None)  # one start every 0.1 s
        out = []
        for _ in range(6):
            await limiter.wait(tokens=10)
            out.append(time.monotonic())
        return out

    times = asyncio.run(starts())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.095 and times[-1] - times[0] < 0.8
