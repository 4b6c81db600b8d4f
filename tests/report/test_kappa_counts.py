"""The kappa matrix from one sort and 3 x 3 tables equals kappa pair by pair."""

from __future__ import annotations

import numpy as np

from peerreview.exam.grade import cohen_kappa
from peerreview.records.table import pair_key
from peerreview.report.diagnostics import kappa_matrix
from tests.chair.test_counts import random_table


def test_kappa_matrix_equals_cohen_kappa_of_each_pair_to_the_bit() -> None:
    for seed in range(6):
        table = random_table(seed, n_items=(3, 40)[seed % 2], n_models=3 + seed % 3)
        v = table.votes()
        key = pair_key(v.item, v.a, v.b, len(table.models)) * 3 + v.a_first + 1
        first: list[dict[int, int]] = [{} for _ in table.reviewers]
        for k, r, vote, abstain in zip(key.tolist(), v.reviewer.tolist(), v.vote.tolist(),
                                       v.abstain.tolist(), strict=True):
            if not abstain:
                first[r].setdefault(k, vote)  # a reviewer's first answer to a question
        got = kappa_matrix(table)
        for i in range(3):
            for j in range(3):
                common = sorted(first[i].keys() & first[j].keys())
                if i == j:
                    assert got[i, j] == 1.0
                elif len(common) < 5:
                    assert np.isnan(got[i, j])
                else:
                    k = cohen_kappa(np.array([first[i][q] for q in common]),
                                    np.array([first[j][q] for q in common]))
                    assert got[i, j] == (1.0 if k is None else k)
