"""PRD peer rank: a fixed point of 'weight = own standing'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import PeerRankChair, VoteChair, gather_evidence
from peerreview.chair.base import verdict_outcomes, vote_verdicts
from peerreview.chair.peer_rank import reviewer_models
from peerreview.chair.vote import win_rates
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE, pw


def evidence(rows):
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    n = len(table.reviewers)
    return gather_evidence(table, np.full(n, 1 / n), by_mean=False)


def test_without_evaluatee_reviewers_it_is_the_vote() -> None:
    ev = evidence(VOTE_EXAMPLE)
    assert PeerRankChair().scores(ev) == pytest.approx(VoteChair().scores(ev))


def test_result_is_a_fixed_point() -> None:
    # three models that review each other; A and B disagree on every item, C sides with A
    rows = []
    for t in range(6):
        rows += [pw(f"t{t}", "A", "A", "B", "first"), pw(f"t{t}", "B", "A", "B", "second"),
                 pw(f"t{t}", "C", "A", "B", "first" if t < 4 else "second"),
                 pw(f"t{t}", "A", "B", "C", "first"), pw(f"t{t}", "B", "B", "C", "first"),
                 pw(f"t{t}", "C", "B", "C", "second")]
    ev = evidence(rows)
    chair = PeerRankChair()
    standing = chair.scores(ev)
    assert chair.converged
    own = reviewer_models(ev.table.reviewers, ev.table.models)
    w = standing[own] / standing[own].sum()
    won, played = verdict_outcomes(vote_verdicts(ev.votes, ev.value, w, ev.n_models), ev.n_items,
                                   ev.n_models)
    assert win_rates(won, played) == pytest.approx(standing, abs=1e-8)


def test_reviewer_names_map_to_models() -> None:
    assert reviewer_models(["gpt4", "gpt4:mcq", "judge"], ["claude", "gpt4"]).tolist() == \
        [1, 1, -1]
