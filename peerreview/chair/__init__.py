"""The chair: turns the qualified reviewers' weighted judgments into verdicts and a ranking.

One module per method, one interface (:class:`Chair`)."""

from __future__ import annotations

from peerreview.chair.base import Chair, Evidence, Verdicts, gather_evidence, reviewer_evidence
from peerreview.chair.bootstrap import LeaderboardRow, leaderboard
from peerreview.chair.bradley_terry import BradleyTerryChair, fit_bradley_terry
from peerreview.chair.elo import EloChair
from peerreview.chair.mean import MeanChair
from peerreview.chair.peer_rank import PeerRankChair
from peerreview.chair.vote import VoteChair

METHODS: dict[str, type[Chair]] = {
    c.name: c for c in (VoteChair, MeanChair, BradleyTerryChair, EloChair, PeerRankChair)
}


def make_chair(method: str, *, normalize: bool = False, seed: int = 0) -> Chair:
    """The chair for a method name (``vote``, ``mean``, ``bradley-terry``, ``elo``,
    ``peer-rank``)."""
    if method == "mean":
        return MeanChair(normalize=normalize)
    if method == "elo":
        return EloChair(seed=seed)
    return METHODS[method]()


__all__ = [
    "METHODS",
    "BradleyTerryChair",
    "Chair",
    "EloChair",
    "Evidence",
    "LeaderboardRow",
    "MeanChair",
    "PeerRankChair",
    "Verdicts",
    "VoteChair",
    "fit_bradley_terry",
    "gather_evidence",
    "leaderboard",
    "make_chair",
    "reviewer_evidence",
]
