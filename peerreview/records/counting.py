"""What a vote counts in the chair, beyond PRE's one judgment, one vote: strong
verdicts counted several times, and with ``soft`` a judgment's probability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peerreview.records.table import FloatArray, Votes, seen_from_a


@dataclass(frozen=True, slots=True)
class Counting:
    """What a vote counts in the chair, beyond PRE's one judgment, one vote.

    Args:
        strength: how many times a strong verdict (``strength`` >= 2, arena-hard's
            ``>>``) counts, as arena-hard's ``--weight`` (default 3); 1 ignores strength.
        soft: a judgment with ``p_first`` counts 2 p_first - 1 toward the one shown
            first (P(first) - P(second)) instead of +-1; one without counts its vote.
    """

    strength: int = 3
    soft: bool = False


@dataclass(slots=True)
class VoteWorth:
    """Per vote: its value for a (in [-1, 1]) and how many times it counts."""

    value: FloatArray
    count: FloatArray


def vote_worth(votes: Votes, counting: Counting | None = None) -> VoteWorth:
    """What every vote counts, for every chair: the vote (or with ``soft`` its
    probability seen from a), counted ``strength`` times where the verdict is strong.
    Judgments without strength or p_first (every recorded set of PRE) count +-1, once.
    """
    counting = counting or Counting()
    value = votes.vote.astype(np.float64)
    if counting.soft:
        known = ~np.isnan(votes.p_first) & ~votes.abstain & (votes.a_first >= 0)
        toward_first = 2.0 * votes.p_first[known] - 1.0
        value[known] = seen_from_a(toward_first, votes.a_first[known])
    count = np.where(votes.strength >= 2, float(counting.strength), 1.0)
    return VoteWorth(value, count)


def counting_notes(votes: Votes, counting: Counting) -> list[str]:
    """What the user should know of how the votes were counted: strong verdicts counted
    N times, and with ``soft`` how many judgments had a probability to vote with."""
    notes = []
    strong = int((votes.strength >= 2).sum())
    if strong and counting.strength != 1:
        notes.append(f"{strong} strong verdict(s) (strength 2, arena-hard's >>) counted "
                     f"{counting.strength} times each (--strength 1 counts them once)")
    if counting.soft:
        soft = int((~np.isnan(votes.p_first) & ~votes.abstain).sum())
        notes.append(f"--soft: {soft} of {len(votes)} pairwise judgment(s) vote by their "
                     "p_first; the others by their verdict" if soft else
                     "--soft: no judgment carries p_first, so every vote is its verdict")
    return notes
