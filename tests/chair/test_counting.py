"""What a vote counts, in every chair: a strong verdict N times (arena-hard's --weight),
a soft one by its probability (--soft). Expected values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peerreview.chair import (
    BradleyTerryChair,
    EloChair,
    PeerRankChair,
    VoteChair,
    gather_evidence,
    leaderboard,
)
from peerreview.chair.base import debiased_votes
from peerreview.ranking import Qualification, RankOptions, rank
from peerreview.records.counting import Counting
from peerreview.records.exchange import PairwiseJudgment
from peerreview.records.table import build_table

ONE = np.array([1.0])

# On t1 the reviewer says A>>B (A shown first); on t2, with B shown first, B>A.
STRONG = [PairwiseJudgment("t1", "r", "A", "B", "first", strength=2),
          PairwiseJudgment("t2", "r", "B", "A", "first")]


def evidence(judgments: list[PairwiseJudgment], counting: Counting,
             weights: np.ndarray = ONE):
    return gather_evidence(build_table(judgments), weights, by_mean=False, counting=counting)


def test_bradley_terry_counts_a_strong_verdict_n_times() -> None:
    # N = 1: one win each, equal strengths; N = 3: A wins 3 of 4, so sigma(d) = 3/4,
    # d = ln 3, strengths sqrt(3) and 1 / sqrt(3) (geometric mean 1).
    chair = BradleyTerryChair(reg=0.0)
    assert chair.scores(evidence(STRONG, Counting(strength=1))) == pytest.approx([1, 1])
    assert chair.scores(evidence(STRONG, Counting(strength=3))) == pytest.approx(
        [math.sqrt(3), 1 / math.sqrt(3)], rel=1e-6)


def test_a_strong_verdict_is_n_repeated_games_as_arena_hard_counts_it() -> None:
    """arena-hard's show_result.py repeats an A>>B game `weight` times before the fit."""
    games = [("A", "B", "first", 2), ("A", "C", "second", 1), ("B", "C", "first", 2),
             ("C", "A", "first", 2), ("B", "A", "second", 1), ("C", "B", "second", 1)]
    strong = [PairwiseJudgment(f"t{k}", "r", f, s, w, strength=n if n > 1 else None)
              for k, (f, s, w, n) in enumerate(games)]
    repeated = [PairwiseJudgment(f"t{k}-{copy}", "r", f, s, w)
                for k, (f, s, w, n) in enumerate(games) for copy in range(3 if n > 1 else 1)]
    chair = BradleyTerryChair()
    assert chair.scores(evidence(strong, Counting(strength=3))) == pytest.approx(
        chair.scores(evidence(repeated, Counting())), abs=1e-9)


def test_the_vote_chair_counts_a_strong_verdict_n_times() -> None:
    same_item = [PairwiseJudgment("t1", "r", "A", "B", "first", strength=2),
                 PairwiseJudgment("t1", "r", "B", "A", "first")]
    tie = evidence(same_item, Counting(strength=1))
    assert tie.verdicts.margin.tolist() == [0.0]
    assert VoteChair().scores(tie).tolist() == [0.5, 0.5]
    strong = evidence(same_item, Counting(strength=3))
    assert strong.verdicts.margin.tolist() == [2.0]  # 3 x (+1) + (-1)
    assert VoteChair().scores(strong).tolist() == [1.0, 0.0]
    assert PeerRankChair().scores(strong).tolist() == [1.0, 0.0]
    assert PeerRankChair().scores(tie).tolist() == [0.5, 0.5]


def test_elo_moves_a_strong_verdict_n_steps() -> None:
    # One game, A>>B, k = 4, both at 1000: expected 1/2, so A gains k N / 2.
    game = [PairwiseJudgment("t1", "r", "A", "B", "first", strength=2)]
    assert EloChair().scores(evidence(game, Counting(strength=3))).tolist() == [1006.0, 994.0]
    assert EloChair().scores(evidence(game, Counting(strength=1))).tolist() == [1002.0, 998.0]


def test_the_bootstrap_counts_strength_in_every_resample() -> None:
    same_item = [PairwiseJudgment("t1", "r", "A", "B", "first", strength=2),
                 PairwiseJudgment("t1", "r", "B", "A", "first")]
    rows = leaderboard(VoteChair(), evidence(same_item, Counting(strength=3)), n_boot=20)
    assert [(r.model, r.score, r.ci_low, r.ci_high) for r in rows] == [
        ("A", 1.0, 1.0, 1.0), ("B", 0.0, 0.0, 0.0)]


@pytest.mark.parametrize("method", ["vote", "bradley-terry", "elo", "peer-rank"])
def test_strength_1_is_strength_ignored(method: str) -> None:
    # on one item: A>>B with A shown first, B>A with B shown first
    strong = [PairwiseJudgment("t1", "r", "A", "B", "first", strength=2),
              PairwiseJudgment("t1", "r", "B", "A", "first")]
    plain = [PairwiseJudgment(j.item, j.reviewer, j.first, j.second, j.winner) for j in strong]
    opts = {"method": method, "bootstrap": 30, "qualification": Qualification.NONE}
    with_strength = rank(list(strong), options=RankOptions(strength=1, **opts))  # type: ignore[arg-type]
    without = rank(list(plain), options=RankOptions(strength=3, **opts))  # type: ignore[arg-type]
    assert [r.to_dict() for r in with_strength.leaderboard] == \
        [r.to_dict() for r in without.leaderboard]
    if method != "elo":  # Elo's order leaves one win each a hair apart
        assert without.leaderboard[0].score == without.leaderboard[1].score
    default = rank(list(strong), options=RankOptions(**opts))  # type: ignore[arg-type]
    a, b = default.leaderboard  # the default counts A>>B 3 times: A ahead
    assert (a.model, a.rank, b.rank) == ("A", 1, 2) and a.score > b.score


# Two reviewers of equal weight. t1: r1 shows A first and picks it with p_first .6
# (+.2 for A); r2 shows B first and picks it with p_first .9 (-.8 for A). t2: r1 picks A
# without a probability (+1); r2 shows B first, picks it with p_first .7 (-.4 for A).
SOFT = [PairwiseJudgment("t1", "r1", "A", "B", "first", p_first=0.6),
        PairwiseJudgment("t1", "r2", "B", "A", "first", p_first=0.9),
        PairwiseJudgment("t2", "r1", "A", "B", "first"),
        PairwiseJudgment("t2", "r2", "B", "A", "first", p_first=0.7)]
HALVES = np.array([0.5, 0.5])


def test_soft_votes_sum_p_first_minus_p_second() -> None:
    hard = evidence(SOFT, Counting(), HALVES)
    assert hard.verdicts.margin.tolist() == [0.0, 0.0]
    soft = evidence(SOFT, Counting(soft=True), HALVES)
    assert soft.verdicts.margin.tolist() == pytest.approx([0.5 * (0.2 - 0.8), 0.5 * (1 - 0.4)])
    assert VoteChair().scores(soft).tolist() == [0.5, 0.5]  # B wins t1, A wins t2


def test_soft_bradley_terry_takes_p_first_as_a_win_share() -> None:
    # The first three of SOFT. Hard: A wins 2 of 3, sigma(d) = 2/3. Soft: A's shares are
    # .6 and .1 on t1 and 1 on t2: 1.7 of 3, sigma(d) = 1.7 / 3; strengths exp(+-d/2).
    chair = BradleyTerryChair(reg=0.0)
    for counting, p in ((Counting(), 2 / 3), (Counting(soft=True), 1.7 / 3)):
        d = math.log(p / (1 - p))
        assert chair.scores(evidence(SOFT[:3], counting, HALVES)) == pytest.approx(
            [math.exp(d / 2), math.exp(-d / 2)], rel=1e-6)


def test_soft_votes_are_debiased_from_their_probability() -> None:
    # A shown first, p_first .6: the first won .6 of a vote; q = .75 leaves 2 (.6 - .75).
    table = build_table([PairwiseJudgment("t1", "r", "A", "B", "first", p_first=0.6),
                         PairwiseJudgment("t2", "r", "B", "A", "first", p_first=0.6)])
    value = np.array([0.2, -0.2])
    assert debiased_votes(table.pairwise, np.array([0.75]), value).tolist() == \
        pytest.approx([-0.3, 0.3])
    hard = debiased_votes(table.pairwise, np.array([0.75]))  # the hard votes, as before
    assert hard.tolist() == pytest.approx([0.5, -0.5])
