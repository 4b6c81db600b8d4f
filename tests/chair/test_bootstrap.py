"""Ranks and bootstrap intervals of the leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from peerreview.chair import VoteChair, gather_evidence, leaderboard
from peerreview.chair.bootstrap import bootstrap_samples, intervals, ranks, resample_counts
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.chair.test_counts import random_table
from tests.conftest import VOTE_EXAMPLE


def test_ranks_match_min_rank_with_ties_and_nan_last() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, (40, 12)).astype(float)  # many ties
    scores[rng.random(scores.shape) < 0.1] = np.nan
    expected = rankdata(-np.where(np.isnan(scores), -np.inf, scores), method="min", axis=-1)
    assert np.array_equal(ranks(scores), expected)
    assert ranks(np.array([0.2, np.nan, 0.9, 0.2])).tolist() == [2, 4, 1, 2]


def test_bootstrap_intervals_hold_the_point_estimate() -> None:
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(VOTE_EXAMPLE)])
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)
    rows = leaderboard(VoteChair(), ev, n_boot=200, seed=1)
    assert [r.model for r in rows] == ["C", "B", "A"]
    for r in rows:
        assert r.ci_low is not None and r.ci_high is not None
        assert r.ci_low <= r.score <= r.ci_high
        assert r.rank_low is not None and r.rank_high is not None
        assert 1 <= r.rank_low <= r.rank <= r.rank_high <= 3


class Constant(VoteChair):
    """A chair whose scores no resample moves: no influence, no acceleration."""

    def scores(self, evidence, item_weights=None):  # type: ignore[no-untyped-def]
        return np.array([0.5, 0.5, 0.5, 0.5, 0.5])


def test_resamples_are_the_sequential_multinomial_draws() -> None:
    rng = np.random.default_rng(9)
    expected = np.stack([rng.multinomial(40, np.full(40, 1 / 40)) for _ in range(30)])
    assert np.array_equal(resample_counts(40, 30, 9), expected)


def test_expanded_bca_widens_to_t_quantiles_and_follows_the_bias() -> None:
    ev = gather_evidence(random_table(0), np.array([0.5, 0.3, 0.2]), by_mean=False)
    assert ev.n_items == 30
    point = np.full(5, 0.5)
    samples = np.tile((np.arange(1001) / 1000)[:, None], (1, 5))
    # z0 = 0 (the point is the median), a = 0: the percentiles at Phi(-+z), z =
    # sqrt(30/29) t_29(0.975) = 1.017095 * 2.045230 = 2.080193, Phi(-z) = 0.018755
    low, high = intervals(Constant(), ev, point, samples)
    assert low == pytest.approx(np.full(5, 0.018755), abs=2e-5)
    assert high == pytest.approx(np.full(5, 0.981245), abs=2e-5)
    low, high = intervals(Constant(), ev, point, samples, "percentile")
    assert low == pytest.approx(np.full(5, 0.025)) and high == pytest.approx(np.full(5, 0.975))
    # the point above 3,000 of 10,000 resamples: z0 = Phi^-1(0.3) = -0.524401, the ends
    # at the percentiles Phi(2 z0 -+ z) = Phi(-3.128995) = 0.000877 and Phi(1.031391) =
    # 0.848822 of 0, 0.0001, ..., 0.9999 (a percentile q is q * 0.9999 there)
    samples = np.tile((np.arange(10000) / 10000)[:, None], (1, 5))
    low, high = intervals(Constant(), ev, np.full(5, 0.29995), samples)
    assert low == pytest.approx(np.full(5, 0.000877 * 0.9999), abs=2e-6)
    assert high == pytest.approx(np.full(5, 0.848822 * 0.9999), abs=2e-6)


def test_leaderboard_intervals_are_the_expanded_bca() -> None:
    ev = gather_evidence(random_table(1), np.array([0.5, 0.3, 0.2]), by_mean=False)
    chair = VoteChair()
    rows = {r.model: r for r in leaderboard(chair, ev, n_boot=300, seed=4)}
    point = chair.scores(ev)
    samples = bootstrap_samples(chair, ev, resample_counts(ev.n_items, 300, 4))
    low, high = intervals(chair, ev, point, samples)
    for m, name in enumerate(ev.table.models):
        assert (rows[name].ci_low, rows[name].ci_high) == (low[m], high[m])
    pct_low, _ = intervals(chair, ev, point, samples, "percentile")
    assert not np.array_equal(low, pct_low)  # the method changed, not only the name
