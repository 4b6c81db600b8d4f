"""Empirical-Bayes item verdicts (issue 20.1) against small tables computed by hand.

Pairwise table PAIRS (models A, B, C; reviewers r1, r2; one order each, the vote
seen from a, the alphabetically first):

    t1 {A,B}: r1 +1, r2 +1      t1 {B,C}: r1 +1, r2 +1
    t2 {A,B}: r1 -1, r2 -1      t2 {B,C}: r1 +1, r2 -1

Weights 1/2 each: M = 1, -1, 1, 0. The prior theta minimizes the squared misfit
with sum 0. Normal equations L theta = r, with L the Laplacian of the pairs
(AB twice, BC twice) and r_m = sum of M where m is a minus where m is b:
    r = (1 - 1, -(1 - 1) + (1 + 0), -(1 + 0)) = (0, 1, -1)
    2a - 2b = 0;  -2b + 2c = -1;  a + b + c = 0  ->  a = b = 1/6, c = -1/3
so D(A,B) = 0 and D(B,C) = 1/2.
eb: u = (1/2, 1/2), sum u^2 = 1/2. Per key the reviewers' votes, m and s2:
    t1 AB (1, 1) m 1, s2 0;  t2 AB (-1, -1) m -1, s2 0;  t1 BC (1, 1) m 1, s2 0;
    t2 BC (1, -1) m 0, s2 = (1/2 * 1 + 1/2 * 1) / (1 - 1/2) = 2
    sigma2 = 1/2 * mean(0, 0, 0, 2) = 1/4
    misfit = mean((1 - 0)^2, (-1 - 0)^2, (1 - 1/2)^2, (0 - 1/2)^2) = 2.5 / 4 = 0.625
    tau2 = max(0.625 - 0.25, 1e-3 * 0.25) = 0.375;  lambda = 0.25 / 0.375 = 2/3
V = M + 2/3 D = 1, -1, 1 + 1/3, 0 + 1/3: the tie of t2 {B,C} goes to B.
Vote chair: A wins 1 of 2, B 3 of 4, C 0 of 2 (before: B 2.5 of 4, C 0.5 of 2).

The same table with weights (3/4, 1/4): M = 1, -1, 1, 1/2; r = (0, 3/2, -3/2)
    -> a = b = 1/4, c = -1/2; D(A,B) = 0, D(B,C) = 3/4
    misfit = mean(1, 1, 1/16, 1/16) = 0.53125; sum u^2 = 5/8;
    s2(t2 BC) = (3/4 (1 - 1/2)^2 + 1/4 (-1 - 1/2)^2) / (3/8) = 0.75 / 0.375 = 2
    sigma2 = 5/8 * 2/4 = 0.3125; tau2 = 0.21875; lambda = 10/7.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import MeanChair, VoteChair, gather_evidence
from peerreview.chair.shrink import (
    GRID,
    CrossFit,
    cv_lambda,
    eb_lambda,
    fit_prior,
    reviewer_votes,
    shrink,
    shrunk_margins,
)
from peerreview.errors import InputError
from peerreview.ranking import Qualification, RankOptions, rank
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import Gold
from peerreview.records.table import build_table
from tests.conftest import pt, pw

PAIRS = [
    pw("t1", "r1", "A", "B", "first"), pw("t1", "r2", "A", "B", "first"),
    pw("t2", "r1", "A", "B", "second"), pw("t2", "r2", "A", "B", "second"),
    pw("t1", "r1", "B", "C", "first"), pw("t1", "r2", "B", "C", "first"),
    pw("t2", "r1", "B", "C", "first"), pw("t2", "r2", "B", "C", "second"),
]


def table_of(rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])


def margins(evidence) -> dict[tuple[str, str, str], float]:  # type: ignore[no-untyped-def]
    t, v = evidence.table, evidence.verdicts
    return {(t.items[i], t.models[a], t.models[b]): m for i, a, b, m in
            zip(v.item.tolist(), v.a.tolist(), v.b.tolist(), v.margin.tolist(), strict=True)}


def test_the_prior_is_the_least_squares_fit_with_sum_zero() -> None:
    ev = gather_evidence(table_of(PAIRS), np.array([0.5, 0.5]), by_mean=False)
    v = ev.verdicts
    theta = fit_prior(v.a, v.b, v.margin, 3)
    assert theta.tolist() == pytest.approx([1 / 6, 1 / 6, -1 / 3])
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)


def test_eb_lambda_and_verdicts_match_the_hand_computation() -> None:
    ev = gather_evidence(table_of(PAIRS), np.array([0.5, 0.5]), by_mean=False)
    lam, sigma2, tau2 = eb_lambda(ev, by_mean=False)
    assert (lam, sigma2, tau2) == pytest.approx((2 / 3, 0.25, 0.375))
    shrunk, how = shrink(ev, "eb", by_mean=False)
    assert how is not None and how.method == "eb" and how.lam == pytest.approx(2 / 3)
    assert margins(shrunk) == pytest.approx({
        ("t1", "A", "B"): 1.0, ("t2", "A", "B"): -1.0,
        ("t1", "B", "C"): 4 / 3, ("t2", "B", "C"): 1 / 3})
    assert VoteChair().scores(shrunk).tolist() == pytest.approx([0.5, 0.75, 0.0])
    assert VoteChair().scores(ev).tolist() == pytest.approx([0.5, 0.625, 0.25])  # unshrunk


def test_eb_weighs_the_reviewers_by_their_normalized_weights() -> None:
    ev = gather_evidence(table_of(PAIRS), np.array([0.75, 0.25]), by_mean=False)
    lam, sigma2, tau2 = eb_lambda(ev, by_mean=False)
    assert (lam, sigma2, tau2) == pytest.approx((10 / 7, 0.3125, 0.21875))


def test_a_reviewer_that_did_not_judge_a_key_votes_zero_there() -> None:
    rows = [*PAIRS, pw("t3", "r1", "A", "C", "second")]  # r2 never judged t3 {A,C}
    ev = gather_evidence(table_of(rows), np.array([0.5, 0.5]), by_mean=False)
    votes, u = reviewer_votes(ev, by_mean=False)
    keys = list(margins(ev))
    assert u.tolist() == [0.5, 0.5]
    assert votes[keys.index(("t3", "A", "C"))].tolist() == [-1.0, 0.0]
    assert votes[keys.index(("t2", "B", "C"))].tolist() == [1.0, -1.0]


def test_both_orders_are_summed_in_a_reviewers_vote() -> None:
    rows = [*PAIRS, pw("t1", "r1", "B", "A", "second")]  # r1 also judged t1 {A,B} as B, A
    ev = gather_evidence(table_of(rows), np.array([0.5, 0.5]), by_mean=False)
    votes, _ = reviewer_votes(ev, by_mean=False)
    assert votes[list(margins(ev)).index(("t1", "A", "B"))].tolist() == [2.0, 1.0]


# Pointwise, scale 1-5, reviewers r1 and r2 at weight 1/2, models A and B:
#   t1: r1 A 5, B 3; r2 A 5, B 4  -> S: A 5, B 3.5, M 1.5; votes (2, 1), m 1.5,
#       s2 = (1/2 (1/2)^2 + 1/2 (1/2)^2) / (1/2) = 0.5
#   t2: r1 A 2, B 4; r2 A 2, B 5  -> S: A 2, B 4.5, M -2.5; votes (-2, -3), m -2.5, s2 0.5
#   t3: r1 A 4, B 2; r2 A none, B 1 -> S: A 4 (r1 alone), B 1.5, M 2.5; votes (2, 0)
#       (r2's A is missing), m 1, s2 = (1/2 * 1 + 1/2 * 1) / (1/2) = 2
#   sigma2 = 1/2 * mean(0.5, 0.5, 2) = 0.5; D on m: mean m = 0, misfit
#   = (1.5^2 + 2.5^2 + 1^2) / 3 = 9.5 / 3; tau2 = 9.5 / 3 - 0.5 = 8/3; lambda = 3/16.
#   The prior on M: D = mean M = 0.5, theta = (1/4, -1/4); V = M + 3/32.
SCORES = [pt("t1", "r1", "A", 5), pt("t1", "r1", "B", 3), pt("t1", "r2", "A", 5),
          pt("t1", "r2", "B", 4), pt("t2", "r1", "A", 2), pt("t2", "r1", "B", 4),
          pt("t2", "r2", "A", 2), pt("t2", "r2", "B", 5), pt("t3", "r1", "A", 4),
          pt("t3", "r1", "B", 2), pt("t3", "r2", "A", None), pt("t3", "r2", "B", 1)]


def test_pointwise_eb_matches_the_hand_computation() -> None:
    ev = gather_evidence(table_of(SCORES), np.array([0.5, 0.5]), by_mean=True)
    assert eb_lambda(ev, by_mean=True) == pytest.approx((3 / 16, 0.5, 8 / 3))
    shrunk, how = shrink(ev, "eb", by_mean=True)
    assert how is not None and how.theta == pytest.approx([0.25, -0.25])
    assert margins(shrunk) == pytest.approx({("t1", "A", "B"): 1.5 + 3 / 32,
                                             ("t2", "A", "B"): -2.5 + 3 / 32,
                                             ("t3", "A", "B"): 2.5 + 3 / 32})
    # the mean chair's item scores move by lambda theta: A up 3/64, B down 3/64
    assert MeanChair().scores(shrunk).tolist() == pytest.approx(
        [11 / 3 + 3 / 64, 9.5 / 3 - 3 / 64])


def test_a_tie_goes_the_priors_way() -> None:
    v = shrunk_margins(np.array([0.0, 0.5, 0.0, -0.3]), np.array([0.2, -0.5, 0.0, 0.1]), 1.0)
    assert v.tolist() == pytest.approx([0.2, -0.5e-9, 0.0, -0.2], abs=1e-15)
    assert v[1] < 0 and v[2] == 0.0


# cv with weights that do not depend on gold (qualification none): every exam item is
# held out once in each of the two permutations, so the credit over the 10 folds is
# twice the credit of every gold pair, whatever the folds. Table: t1 and t2 {A,B}
# both +1 (M 1 each), t3 {A,B} r1 tie, r2 -1 (M -1/2); D = mean M = 1/2.
# Gold: A better on all three. V(t3) = -1/2 + lambda/2: wrong below lambda 1, exactly
# 0 at 1 (then 1e-9 D > 0: right), right above. Credit: 2 (2 + 0) = 4 below 1, 6 from
# 1 on; the smallest best lambda is 1.
CV_ROWS = [pw(t, r, "A", "B", "first") for t in ("t1", "t2") for r in ("r1", "r2")] + [
    pw("t3", "r1", "A", "B", "tie"), pw("t3", "r2", "A", "B", "second")]
CV_GOLD = Gold({(t, "A", "B"): 1 for t in ("t1", "t2", "t3")}, {})


def test_cv_lambda_matches_the_hand_computation() -> None:
    result = rank(CV_ROWS, exam_gold=CV_GOLD, options=RankOptions(
        qualification=Qualification.NONE, shrink="cv"))
    how = result.shrinkage
    assert how is not None and how.method == "cv"
    assert how.credit == [4.0] * GRID.index(1.0) + [6.0] * (len(GRID) - GRID.index(1.0))
    assert how.lam == 1.0 and how.folds == 6  # 3 items in 5 folds: 2 empty ones, twice
    assert margins(result.evidence)[("t3", "A", "B")] == pytest.approx(1e-9 * 0.5)


def test_cv_refits_the_exam_on_the_other_folds_only() -> None:
    items = [f"t{k}" for k in range(10)]
    rows = [pw(t, r, "A", "B", "first") for t in items for r in ("r1", "r2")]
    table = table_of(rows)
    gold = Gold({(t, "A", "B"): 1 for t in items}, {})
    seen: list[set[str]] = []

    def exam(fold_gold: Gold) -> np.ndarray:
        seen.append(fold_gold.items)
        return np.array([0.5, 0.5])

    cross = CrossFit(table, gold, exam, np.array([0.5, 0.5]),
                     lambda t, w: gather_evidence(t, w, by_mean=False), seed=3)
    lam, credit, folds = cv_lambda(cross)
    assert folds == 10 and len(seen) == 10
    assert all(len(s) == 8 for s in seen)  # 10 items, 5 folds: 2 held out each time
    held = [frozenset(set(items) - s) for s in seen]
    assert sorted(t for h in held[:5] for t in h) == sorted(items)  # each item held once
    assert sorted(t for h in held[5:] for t in h) == sorted(items)  # ... per permutation
    assert credit == [20.0] * len(GRID) and lam == 0.0  # all right: the smallest lambda


def test_none_changes_nothing_and_names_no_lambda() -> None:
    ev = gather_evidence(table_of(PAIRS), np.array([0.5, 0.5]), by_mean=False)
    same, how = shrink(ev, "none", by_mean=False)
    assert same is ev and how is None
    assert rank(PAIRS).shrinkage is None


def test_cv_needs_exam_gold_and_unknown_methods_are_refused() -> None:
    with pytest.raises(InputError, match=r"--shrink cv .* --exam-gold"):
        rank(PAIRS, options=RankOptions(shrink="cv"))
    with pytest.raises(InputError, match="unknown --shrink 'bayes'"):
        rank(PAIRS, options=RankOptions(shrink="bayes"))


def test_eb_with_one_qualified_reviewer_chooses_lambda_as_cv_does() -> None:
    rows = [r for r in CV_ROWS if r["reviewer"] == "r2"]  # r2: +1, +1, -1 on t1..t3
    result = rank(rows, exam_gold=CV_GOLD, options=RankOptions(
        qualification=Qualification.NONE, shrink="eb"))
    how = result.shrinkage
    # M = 1, 1, -1; D = 1/3; V(t3) = -1 + lambda/3 is wrong below lambda 3 and exactly
    # 0 at 3 (then 1e-9 D > 0: right): credit 2 (1 + 1 + 0) = 4 below 3, 6 at 3.
    assert how is not None and how.method == "eb"
    assert how.credit == [4.0] * (len(GRID) - 1) + [6.0]
    assert how.lam == 3.0 and "as --shrink cv does" in (how.note or "")
    without_gold = rank(rows, options=RankOptions(shrink="eb")).shrinkage
    assert without_gold is not None and without_gold.lam == 0.0
    assert "no exam gold" in (without_gold.note or "")


def test_shrinkage_is_recorded_with_its_lambda() -> None:
    result = rank(PAIRS, options=RankOptions(shrink="eb"))
    assert result.shrinkage is not None
    assert result.shrinkage.to_dict() == pytest.approx(
        {"method": "eb", "lambda": 2 / 3, "sigma2": 0.25, "tau2": 0.375})
    assert any("lambda 0.6667" in note for note in result.notes)


def test_a_run_config_asks_for_shrinkage_as_rank_does() -> None:
    from pydantic import ValidationError

    from peerreview.live.config import ChairConfig

    assert ChairConfig().shrink == "none"
    assert ChairConfig(shrink="cv").shrink == "cv"
    with pytest.raises(ValidationError, match="shrink"):
        ChairConfig(shrink="bayes")  # type: ignore[arg-type]
