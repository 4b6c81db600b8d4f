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
        if item_weights is None:
            present = ~np.isnan(s)
            num = np.where(present, s, 0.0).sum(axis=0)
            den = present.sum(axis=0).astype(np.float64)
        else:  # a resample: the item scores filled once, reweighted by one product
            filled, present_f = evidence.cached("mean-cells", lambda: _cells(s))
            num, den = filled.T @ item_weights, present_f.T @ item_weights
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _cells(s: FloatArray) -> tuple[FloatArray, FloatArray]:
    present = ~np.isnan(s)
    return np.where(present, s, 0.0), present.astype(np.float64)
