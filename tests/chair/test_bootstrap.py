"""Ranks and bootstrap intervals of the leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from peerreview.chair import VoteChair, gather_evidence, leaderboard
from peerreview.chair.bootstrap import ranks
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
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
