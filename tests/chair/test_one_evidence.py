"""Every chair fits the same evidence: the one-order position-bias correction reaches
Bradley-Terry, Elo and peer rank as well as the vote."""

from __future__ import annotations

import pytest

from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import JudgmentSet, PairwiseJudgment
from peerreview.review.schedule import Schedule

QUALITY = {"A": 3, "B": 2, "C": 1}


def judgments() -> list[PairwiseJudgment]:
    """Each pair asked once per reviewer (one order, as PandaLM records). r1 is right and
    sees both orders equally; r2 and r3 always pick the answer shown first, and were
    shown the worse answer first on 4 items in 5: taken raw, their votes outvote r1's
    and rank C > B > A."""
    out = []
    for t in range(60):
        for a, b in (("A", "B"), ("A", "C"), ("B", "C")):  # a is the better
            first, second = (a, b) if t % 2 else (b, a)
            out.append(PairwiseJudgment(f"t{t}", "r1", first, second,
                                        "first" if first == a else "second"))
            shown = (a, b) if t % 5 == 0 else (b, a)
            for r in ("r2", "r3"):
                out.append(PairwiseJudgment(f"t{t}", r, *shown, "first"))
    return out


@pytest.mark.parametrize("method", ["vote", "bradley-terry", "elo", "peer-rank"])
def test_one_order_correction_reaches_every_chair(method: str) -> None:
    result = rank(JudgmentSet(judgments(), [], []),
                  options=RankOptions(method=method, schedule=Schedule.ONE_ORDER,
                                      per_reviewer=False))
    assert [row.model for row in result.leaderboard] == ["A", "B", "C"]


@pytest.mark.parametrize("method", ["vote", "bradley-terry", "elo", "peer-rank"])
def test_without_the_correction_the_biased_majority_wins(method: str) -> None:
    # The same judgments under the full schedule: no correction, and two biased
    # reviewers outvote the right one. This is what the correction is for.
    result = rank(JudgmentSet(judgments(), [], []),
                  options=RankOptions(method=method, per_reviewer=False))
    assert [row.model for row in result.leaderboard] == ["C", "B", "A"]
