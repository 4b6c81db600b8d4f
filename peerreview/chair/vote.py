"""PRE's weighted majority vote: rank by the share of item verdicts won (tie = half)."""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence, verdict_outcomes
from peerreview.records.table import FloatArray


def win_rates(won: FloatArray, played: FloatArray,
              item_weights: FloatArray | None = None) -> FloatArray:
    """Points won over verdicts played per model, items weighted; NaN if none played."""
    if item_weights is not None:
        won, played = won * item_weights[:, None], played * item_weights[:, None]
    total_won, total_played = won.sum(axis=0), played.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_played > 0, total_won / np.where(total_played > 0,
                                                                 total_played, 1), np.nan)


class VoteChair(Chair):
    """Win rate over all (item, pair) verdicts of the weighted vote."""

    name = "vote"

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        won, played = verdict_outcomes(evidence.verdicts, evidence.n_items, evidence.n_models)
        return win_rates(won, played, item_weights)
