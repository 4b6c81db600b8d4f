"""Reading reviewers: next-token preferences and ratings, fitting prompts, Retry-After."""

from __future__ import annotations

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


def test_requests_per_minute_space_the_starts(monkeypatch) -> None:
    """The limiter's promise is evenly spaced *scheduled* starts: on a clock of our own
    (so no timing can flake), concurrent callers start 0.1 s apart at 600 per minute,
    and a tokens-per-minute limit spaces by the tokens each call asks for."""
    import asyncio
    from types import SimpleNamespace

    from peerreview.models import http

    clock = SimpleNamespace(now=100.0)
    woken: dict[object, float] = {}

    async def sleep(seconds: float) -> None:
        # The clock stands still: each caller notes when it would wake.
        woken[asyncio.current_task()] = clock.now + seconds
        await asyncio.sleep(0)

    monkeypatch.setattr(http, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(http, "asyncio", SimpleNamespace(Lock=asyncio.Lock, sleep=sleep))

    async def starts(limiter: http.RateLimiter, tokens: list[int]) -> list[float]:
        async def one(n: int) -> float:
            await limiter.wait(tokens=n)
            return woken.get(asyncio.current_task(), clock.now)
        return list(await asyncio.gather(*(one(n) for n in tokens)))

    by_requests = asyncio.run(starts(http.RateLimiter(rpm=600, tpm=None), [10] * 6))
    assert sorted(by_requests) == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4, 100.5])
    clock.now = 0.0
    by_tokens = asyncio.run(starts(http.RateLimiter(rpm=None, tpm=60_000), [1000, 2000, 500]))
    # Gaps of 60 * tokens / tpm after each start: 1 s, 2 s.
    assert sorted(by_tokens) == pytest.approx([0.0, 1.0, 3.0])
