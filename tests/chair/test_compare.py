"""Paired comparisons (issue 20.2) on the vote chair's worked example with fixed resamples.

VOTE_EXAMPLE (tests/chair/test_vote.py) at weights 1/2: verdicts t1 {A,B} A, t1 {A,C}
C, t1 {B,C} tie, t2 {A,B} B. Win rates A 1/3, B 1/2, C 3/4; the board is C, B, A.
Three resamples of the items (t1, t2), as counts:
    (1, 1): the data:          A 1/3, B 1/2, C 3/4
    (2, 0): t1 twice:          A 1/2 (won 1 of 2), B 1/4 (a tie of 2), C 3/4
    (0, 2): t2 twice:          A 0, B 1, C none (NaN: no verdict)
Differences per resample and their 2.5 / 97.5 percentiles (numpy's linear rule):
    C - B: 1/4, 1/2, -      -> [1/4 + .025/4, 1/4 + .975/4], ahead 2 of 2
    C - A: 5/12, 1/4, -     -> [1/4 + .025/6, 1/4 + .975/6], ahead 2 of 2
    B - A: 1/6, -1/4, 1     -> [-1/4 + .05 (5/12), 1/6 + .95 (5/6)], ahead 2 of 3
Items with a verdict for both: C and B 1 (t1; C has none on t2), B and A 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import VoteChair, gather_evidence, leaderboard
from peerreview.chair.bootstrap import bootstrap_samples, resample_counts
from peerreview.chair.compare import (
    Comparison,
    Comparisons,
    RecordingChair,
    compare_models,
    from_leaderboard,
)
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE


def evidence():  # type: ignore[no-untyped-def]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(VOTE_EXAMPLE)])
    return gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)


def test_paired_comparisons_match_the_hand_computation() -> None:
    ev = evidence()
    chair = VoteChair()
    board = leaderboard(chair, ev)
    samples = np.vstack([chair.scores(ev, np.array(c, np.float64))
                         for c in ((1, 1), (2, 0), (0, 2))])
    got = {(c.a, c.b): c for c in compare_models(board, ev, "vote", samples).pairs}
    assert list(got) == [("C", "B"), ("C", "A"), ("B", "A")]
    cb, ca, ba = got["C", "B"], got["C", "A"], got["B", "A"]
    assert (cb.difference, cb.ci_low, cb.ci_high) == pytest.approx(
        (0.25, 0.25 + 0.025 / 4, 0.25 + 0.975 / 4))
    assert (ca.difference, ca.ci_low, ca.ci_high) == pytest.approx(
        (5 / 12, 0.25 + 0.025 / 6, 0.25 + 0.975 / 6))
    assert (ba.difference, ba.ci_low, ba.ci_high) == pytest.approx(
        (1 / 6, -0.25 + 0.05 * 5 / 12, 1 / 6 + 0.95 * 5 / 6))
    assert (cb.a_ahead, ca.a_ahead, ba.a_ahead) == pytest.approx((1.0, 1.0, 2 / 3))
    assert (cb.tied, ba.tied) == (0.0, 0.0)
    assert (cb.items, ca.items, ba.items) == (1, 1, 2)
    assert not cb.covers_zero and ba.covers_zero


class Counted(VoteChair):
    """The vote chair, counting its fits."""

    calls = 0

    def scores(self, evidence, item_weights=None):  # type: ignore[no-untyped-def]
        Counted.calls += 1
        return super().scores(evidence, item_weights)


def test_the_comparisons_use_the_leaderboards_own_resamples() -> None:
    ev = evidence()
    recorder = RecordingChair(Counted())
    board = leaderboard(recorder, ev, n_boot=300, seed=7)
    fits = Counted.calls
    drawn = recorder.samples(ev, 300, 7)
    assert Counted.calls == fits  # every resample read back, none scored again
    expected = bootstrap_samples(VoteChair(), ev, resample_counts(ev.n_items, 300, 7))
    assert np.array_equal(drawn, expected, equal_nan=True)
    plain = leaderboard(VoteChair(), ev, n_boot=300, seed=7)  # recording changes nothing
    assert [r.to_dict() for r in plain] == [r.to_dict() for r in board]
    ba = compare_models(board, ev, "vote", drawn, seed=7).between("B", "A")
    d = drawn[:, 1] - drawn[:, 0]
    assert ba.a_ahead == pytest.approx(float(np.mean(d > 0)))
    assert ba.tied == pytest.approx(float(np.mean(d == 0)))
    low, high = np.percentile(d, [2.5, 97.5])
    assert (ba.ci_low, ba.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_without_a_bootstrap_there_is_no_interval() -> None:
    result = rank(VOTE_EXAMPLE)
    assert result.comparisons is None  # nothing computed, nothing written
    files = result.files()
    assert "vs_next" not in files["leaderboard.json"].decode()  # byte-identical by default
    assert "comparisons.json" not in files  # the files of a rank stay as they were
    ev = result.evidence
    alone = compare_models(result.leaderboard, ev, "vote", np.zeros((0, ev.n_models)))
    assert alone.resamples == 0
    cb = alone.between("C", "B")
    assert cb.difference == pytest.approx(0.25)
    assert (cb.ci_low, cb.ci_high, cb.a_ahead, cb.tied) == (None, None, None, None)
    assert cb.sentence() == ("C is ahead of B by 0.25 over 1 item (no interval: ranked "
                             "without --bootstrap)")
    assert alone.to_dict()["interval"] == "no interval: ranked without --bootstrap"
    assert alone.adjacent_ties(result.leaderboard) == []


def test_a_leaderboard_alone_gives_differences_without_intervals() -> None:
    got = from_leaderboard([{"model": "C", "score": 0.75}, {"model": "B", "score": 0.5},
                            {"model": "A", "score": None}], "leaderboard.json")
    assert [(c.a, c.b, c.difference, c.items) for c in got.pairs] == [
        ("C", "B", 0.25, None), ("C", "A", None, None), ("B", "A", None, None)]
    assert got.between("B", "C").sentence() == \
        "B is behind C by 0.25 (no interval: ranked without --bootstrap)"
    assert got.between("C", "A").sentence() == \
        "C and A cannot be compared: one of them has no score"
    with pytest.raises(InputError, match="row 1: 'model'") as err:
        from_leaderboard([{"model": "C", "score": 1}, {"score": 2}], "leaderboard.json")
    assert err.value.field == "model"


def test_vs_next_follows_the_leaderboard_with_a_bootstrap() -> None:
    result = rank(VOTE_EXAMPLE, options=RankOptions(bootstrap=100, seed=2))
    assert result.comparisons is not None and result.comparisons.resamples == 100
    nexts = result.comparisons.vs_next(result.leaderboard)
    assert [(c.a, c.b) if c else None for c in nexts] == [("C", "B"), ("B", "A"), None]
    import orjson
    board = orjson.loads(result.files()["leaderboard.json"])
    assert board[0]["vs_next"]["b"] == "B" and board[-1]["vs_next"] is None
    assert board[1]["vs_next"]["difference"] == pytest.approx(1 / 6)
    header = result.files()["leaderboard.csv"].decode().splitlines()[0]
    assert header == "model,rank,score,ci_low,ci_high,rank_low,rank_high"


def test_sentences_say_ahead_behind_and_tied() -> None:
    c = Comparison("A", "B", 0.08, 0.03, 0.13, 0.98, 0.0, 80)
    assert c.sentence() == "A is ahead of B by 0.08 [0.03, 0.13] in 98% of resamples over " \
        "80 items"
    assert c.flipped().sentence() == "B is behind A by 0.08 [0.03, 0.13] in 98% of " \
        "resamples over 80 items"
    assert Comparison("A", "B", 0.0, -0.05, 0.05, 0.4, 0.2, 9).sentence() == (
        "A and B are tied [-0.05, 0.05]: A is ahead in 40% of resamples and B in 40%, "
        "over 9 items")
    small = Comparison("A", "B", 0.004, -0.001, 0.009, 0.996, 0.0, 5)
    assert small.sentence() == "A is ahead of B by 0.0040 [-0.0010, 0.0090] in >99% of " \
        "resamples over 5 items"
    flipped = c.flipped()
    assert (flipped.difference, flipped.ci_low, flipped.ci_high, flipped.a_ahead) == \
        pytest.approx((-0.08, -0.13, -0.03, 0.02))


def test_names_in_a_sentence_are_inert() -> None:
    c = Comparison("\x1b[31mA", "B\u202e", 0.5, 0.4, 0.6, 1.0, 0.0, 3)
    said = c.sentence()
    assert "\x1b" not in said and "\u202e" not in said
    assert said.startswith("\\x1b[31mA is ahead of B\\u202e by 0.50")


def test_comparisons_read_back_and_bad_fields_are_named() -> None:
    result = rank(VOTE_EXAMPLE, options=RankOptions(bootstrap=20))
    assert result.comparisons is not None
    again = Comparisons.from_dict(result.comparisons.to_dict(), "c.json")
    assert again == result.comparisons
    raw = result.comparisons.to_dict()
    raw["pairs"][1]["items"] = "two"
    with pytest.raises(InputError, match="'items' must be a whole number or null") as err:
        Comparisons.from_dict(raw, "c.json")
    assert err.value.field == "items" and "pairs[1]" in str(err.value)
    with pytest.raises(InputError, match="'pairs'"):
        Comparisons.from_dict({"method": "vote"}, "c.json")
