"""PRE's weighted mean of pointwise scores: rank by the mean item score."""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray


class MeanChair(Chair):
    """Mean over items of S(t, m), the weighted mean score of model m on item t.

    Args:
        normalize: z-score each reviewer's scores before averaging.
    """

    name = "mean"
    by_mean = True

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        s = evidence.item_scores
        present = ~np.isnan(s)
        w = np.ones(s.shape[0]) if item_weights is None else item_weights
        num = (np.where(present, s, 0.0) * w[:, None]).sum(axis=0)
        den = (present * w[:, None]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
