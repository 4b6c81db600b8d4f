"""The votes aggregated once into counts, for the fits a bootstrap repeats.

Bradley-Terry sees pairs: per (a, b) the weighted wins of a and of b. Summed once per
pair (vote by vote, in file order: the point estimate's numbers as before) and once
per (item, pair), so that a bootstrap resample, which weighs every item by how often
it was drawn, is a weighted sum of those rows: no re-sort, no re-gather per resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peerreview.chair.base import Evidence
from peerreview.records.table import FloatArray, IntArray

DENSE_BINS = 1 << 22  # a key space up to this (or 2 per vote) is counted without sorting


@dataclass(slots=True)
class PairCounts:
    """Per pair of models judged (a < b, ascending a * models + b) and per (item, pair).

    ``won``/``lost`` are a's and b's weighted wins over all items (ties half each way,
    abstentions nothing), unclipped; ``row_*`` the same per (item, pair).
    """

    a: IntArray
    b: IntArray
    won: FloatArray
    lost: FloatArray
    row_item: IntArray
    row_pair: IntArray
    row_won: FloatArray
    row_lost: FloatArray

    def totals(self, item_weights: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """a's and b's wins per pair with every item weighted (None: all 1), each at
        least 0."""
        if item_weights is None:
            won, lost = self.won, self.lost
        else:
            w = item_weights[self.row_item]
            won = sums(self.row_pair, self.row_won * w, self.a.size)
            lost = sums(self.row_pair, self.row_lost * w, self.a.size)
        return np.maximum(won, 0.0), np.maximum(lost, 0.0)


def sums(index: IntArray, values: FloatArray, size: int) -> FloatArray:
    """Per bin of ``index``, its ``values`` summed in their order (np.bincount)."""
    out: FloatArray = np.bincount(index, values, minlength=size).astype(np.float64,
                                                                           copy=False)
    return out


def group(keys: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """The distinct keys (ascending, each in [0, size)) and each key's index among them:
    ``np.unique(keys, return_inverse=True)``, by counting when the key space is small."""
    if size <= max(DENSE_BINS, 2 * keys.size):
        present = np.flatnonzero(np.bincount(keys, minlength=size))
        dense = np.empty(size, np.int64)
        dense[present] = np.arange(present.size)
        return present, dense[keys]
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, inverse.reshape(-1)


def pair_counts(evidence: Evidence) -> PairCounts:
    """The evidence's votes counted per pair and per (item, pair)."""
    v, n_models = evidence.votes, evidence.n_models
    w = evidence.row_weights() * ~v.abstain
    # A vote of value x is a share (1 + x) / 2 of a win for a: 1, 0.5 for a tie, 0,
    # or between for a soft or debiased vote.
    share = (1.0 + evidence.value) / 2.0
    won_v, lost_v = w * share, w * (1.0 - share)
    codes, pair = group(v.a * n_models + v.b, n_models * n_models)
    n_pairs = codes.size
    won, lost = sums(pair, won_v, n_pairs), sums(pair, lost_v, n_pairs)
    rows, row = group(v.item * n_pairs + pair, evidence.n_items * n_pairs)
    a, b = np.divmod(codes, n_models)
    row_item, row_pair = np.divmod(rows, n_pairs)
    return PairCounts(a, b, won, lost, row_item, row_pair, sums(row, won_v, rows.size),
                      sums(row, lost_v, rows.size))
