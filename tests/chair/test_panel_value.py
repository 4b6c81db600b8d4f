"""The effective number of reviewers and each reviewer's marginal value, by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair.panel_value import effective_number, panel_value
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import Gold
from peerreview.records.table import build_table

# centred at 0.5, these three are orthogonal: correlation 0 between any two
E1, E2, E3 = [1, 0, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1]


def test_identical_errors_are_one_reviewer() -> None:
    n, rho = effective_number(np.array([E1, E1, E1], float))
    assert (n, rho) == pytest.approx((1.0, 1.0))


def test_independent_errors_are_as_many_reviewers() -> None:
    n, rho = effective_number(np.array([E1, E2, E3], float))
    assert (n, rho) == pytest.approx((3.0, 0.0))


def test_two_alike_and_one_apart() -> None:
    # correlations 1, 0, 0: mean 1/3; 3 / (1 + 2/3) = 1.8
    n, rho = effective_number(np.array([E1, E1, E2], float))
    assert (n, rho) == pytest.approx((1.8, 1 / 3))


def test_no_correlation_without_variation() -> None:
    assert effective_number(np.array([[0, 0, 0], E1[:3]], float)) == (None, None)


def test_marginal_value_is_the_accuracy_lost_without_it() -> None:
    # r1 and r2 right on all four exam pairs, r3 wrong on all; equal weights.
    # Panel: 2/3 - 1/3 > 0, right everywhere: 1.0. Without r1 (or r2): the other two
    # cancel, margin 0, half credit: 0.5. Without r3: 1.0.
    rows = [{"item": f"t{t}", "reviewer": r, "first": "A", "second": "B",
             "winner": "second" if r == "r3" else "first"}
            for t in range(4) for r in ("r1", "r2", "r3")]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    gold = Gold({(f"t{t}", "A", "B"): 1 for t in range(4)}, {})
    value = panel_value(table, np.full(3, 1 / 3), gold).to_dict()
    assert value["panel_accuracy"] == 1.0
    assert value["without"] == {"r1": 0.5, "r2": 0.5, "r3": 1.0}
    assert value["marginal_value"] == {"r1": 0.5, "r2": 0.5, "r3": 0.0}
    assert value["against"] == "exam gold" and value["pairs"] == 4
    assert value["effective_reviewers"] is None  # nobody's errors vary here


def test_without_gold_the_latent_model_grades() -> None:
    # r1 and r2 always say A, r3 always B, on 6 items: Dawid-Skene's answer is A on
    # every pair (the majority of two reliable reviewers), so r3 errs everywhere and
    # the panel of three is right everywhere (2/3 - 1/3 > 0).
    rows = [{"item": f"t{t}", "reviewer": r, "first": "A", "second": "B",
             "winner": "second" if r == "r3" else "first"}
            for t in range(6) for r in ("r1", "r2", "r3")]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    value = panel_value(table, np.full(3, 1 / 3), None)
    assert value.against == "latent model" and value.pairs == 6
    assert value.panel_accuracy == 1.0
    assert value.without == {"r1": 0.5, "r2": 0.5, "r3": 1.0}
