"""PRE's weighted majority vote: rank by the share of item verdicts won (tie = half)."""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray


def win_rates(won: FloatArray, played: FloatArray,
              item_weights: FloatArray | None = None) -> FloatArray:
    """Points won over verdicts played per model, items weighted; NaN if none played."""
    if item_weights is None:
        total_won, total_played = won.sum(axis=0), played.sum(axis=0)
    else:  # one product per resample: items x models counted once, reweighted here
        total_won, total_played = won.T @ item_weights, played.T @ item_weights
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_played > 0, total_won / np.where(total_played > 0,
                                                                 total_played, 1), np.nan)


class VoteChair(Chair):
    """Win rate over all (item, pair) verdicts of the weighted vote."""

    name = "vote"

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        won, played = evidence.outcomes()
        return win_rates(won, played, item_weights)
