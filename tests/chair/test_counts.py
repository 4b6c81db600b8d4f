"""Counts aggregated once: every chair fits them as it fitted the votes, and a
resample reweights them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from peerreview.chair import BradleyTerryChair, VoteChair, gather_evidence
from peerreview.chair.base import Evidence, verdict_outcomes
from peerreview.chair.bradley_terry import fit_bradley_terry, refit_bradley_terry
from peerreview.chair.counts import group, pair_counts
from peerreview.records.fields import TABLE_EXTRAS
from peerreview.records.table import JudgmentTable, TableParts, assemble_table


def random_table(seed: int, n_items: int = 30, n_models: int = 5,
                 n_reviewers: int = 3) -> JudgmentTable:
    """Random pairwise judgments (some ties and abstentions), file order shuffled."""
    rng = np.random.default_rng(seed)
    n = n_items * 12
    first = rng.integers(0, n_models, n)
    second = (first + rng.integers(1, n_models, n)) % n_models
    order = rng.permutation(n)
    e_i, e_f = np.zeros(0, np.int64), np.zeros(0)
    return assemble_table(TableParts(
        items=[f"t{t:03d}" for t in range(n_items)], models=[f"m{m}" for m in range(n_models)],
        reviewers=[f"r{r}" for r in range(n_reviewers)],
        p_item=rng.integers(0, n_items, n)[order], p_reviewer=rng.integers(0, n_reviewers, n),
        first=first[order], second=second[order],
        winner_code=rng.choice([1, -1, 0, 2], n, p=[0.45, 0.4, 0.1, 0.05]),
        extras={e.name: np.full(n, e.missing) for e in TABLE_EXTRAS},
        p_raw=np.full(n, None, dtype=object), s_item=e_i, s_reviewer=e_i, model=e_i,
        score=e_f, low=e_f, high=e_f, s_raw=np.empty(0, dtype=object)))


def evidence(seed: int = 0) -> Evidence:
    table = random_table(seed)
    return gather_evidence(table, np.array([0.5, 0.3, 0.2]), by_mean=False)


def per_vote_wins(ev: Evidence, item_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair totals the way the chair summed them before counts: vote by vote."""
    v = ev.votes
    w = ev.row_weights(item_weights) * ~v.abstain
    share = (1.0 + ev.value) / 2.0
    uniq, inverse = np.unique(v.a * ev.n_models + v.b, return_inverse=True)
    return (np.bincount(inverse, w * share, minlength=uniq.size),
            np.bincount(inverse, w * (1 - share), minlength=uniq.size))


def test_group_by_counting_is_unique_with_inverse() -> None:
    keys = np.array([7, 3, 3, 9, 0, 7])
    for size in (10, 10**12):  # counted, and sorted (key space too large to count)
        uniq, inverse = group(keys, size)
        assert uniq.tolist() == [0, 3, 7, 9]
        assert inverse.tolist() == [2, 1, 1, 3, 0, 2]


def test_pair_totals_are_the_per_vote_sums_to_the_bit() -> None:
    ev = evidence()
    counts = pair_counts(ev)
    won, lost = per_vote_wins(ev, np.ones(ev.n_items))
    assert np.array_equal(counts.won, won) and np.array_equal(counts.lost, lost)


def test_a_resample_reweights_the_item_rows() -> None:
    ev = evidence(1)
    counts = pair_counts(ev)
    item_weights = np.random.default_rng(2).multinomial(ev.n_items,
                                                        np.full(ev.n_items, 1 / ev.n_items))
    won, lost = counts.totals(item_weights.astype(float))
    exp_won, exp_lost = per_vote_wins(ev, item_weights.astype(float))
    assert won == pytest.approx(np.maximum(exp_won, 0), rel=1e-12)
    assert lost == pytest.approx(np.maximum(exp_lost, 0), rel=1e-12)


def test_newton_refit_reaches_the_lbfgs_optimum() -> None:
    rng = np.random.default_rng(4)
    a, b = np.triu_indices(6, 1)
    won, lost = rng.uniform(0, 9, a.size), rng.uniform(0, 9, a.size)
    start = fit_bradley_terry(a, b, won, lost, 6)
    moved = won * rng.uniform(0.5, 1.5, a.size)
    for reg in (0.1, 0.0):
        expected = fit_bradley_terry(a, b, moved, lost, 6, reg)
        got = refit_bradley_terry(a, b, moved, lost, 6, reg, start)
        assert got == pytest.approx(expected, abs=1e-6)
        assert abs(got.mean()) < 1e-12


def test_bradley_terry_resample_matches_a_fit_of_the_weighted_votes() -> None:
    ev = evidence(3)
    item_weights = np.zeros(ev.n_items)
    item_weights[::2] = 2.0  # every other item drawn twice, the rest never
    won, lost = per_vote_wins(ev, item_weights)
    theta = fit_bradley_terry(*np.divmod(np.unique(ev.votes.a * 5 + ev.votes.b), 5),
                              np.maximum(won, 0), np.maximum(lost, 0), 5, 0.1)
    assert BradleyTerryChair().scores(ev, item_weights) == pytest.approx(np.exp(theta),
                                                                         rel=1e-6)


def test_vote_resample_is_the_weighted_win_rate() -> None:
    ev = evidence(5)
    won, played = verdict_outcomes(ev.verdicts, ev.n_items, ev.n_models)
    item_weights = np.arange(ev.n_items, dtype=float) % 3
    expected = (won * item_weights[:, None]).sum(0) / (played * item_weights[:, None]).sum(0)
    assert np.array_equal(VoteChair().scores(ev, item_weights), expected)


def test_replaced_evidence_counts_afresh() -> None:
    # a chair that changes the verdicts (shrink) makes a new evidence with replace():
    # what the old one counted must not carry over
    ev = evidence(6)
    before = VoteChair().scores(ev)
    flipped = replace(ev, verdicts=replace(ev.verdicts, margin=-ev.verdicts.margin))
    after = VoteChair().scores(flipped)
    assert after == pytest.approx(1.0 - before)  # every verdict turned, ties stay half


def test_votes_and_reviewer_subsets_share_columns_when_nothing_changes() -> None:
    table = random_table(7)
    assert table.votes() is table.pairwise
    assert table.for_reviewers(np.ones(3, np.bool_)) is table
    fewer = table.for_reviewers(np.array([True, False, True]))
    assert fewer is not table and not (fewer.pairwise.reviewer == 1).any()


def test_resamples_fitted_at_once_equal_one_by_one() -> None:
    ev = evidence(8)
    counts = np.random.default_rng(3).multinomial(
        ev.n_items, np.full(ev.n_items, 1 / ev.n_items), size=40).astype(float)
    chair = BradleyTerryChair()
    at_once = chair.scores_many(ev, counts)
    one_by_one = np.stack([chair.scores(ev, row) for row in counts])
    assert at_once == pytest.approx(one_by_one, rel=1e-9, nan_ok=True)
    plain = BradleyTerryChair(reg=0.0)
    assert plain.scores_many(ev, counts) == pytest.approx(
        np.stack([plain.scores(ev, row) for row in counts]), rel=1e-6, nan_ok=True)
