"""Item verdicts that borrow strength from the panel (empirical Bayes, issue 20.1).

A verdict on one item rests on a few noisy votes. Each item's margin ``M(t, a, b)``
(the chair's margin: the weighted vote over both orders, or for the mean chair the
difference of weighted mean item scores) is moved toward the panel's own model-level
prior:

- ``theta`` minimizes ``sum over every judged (t, a, b) of (M - (theta_a - theta_b))^2``
  with ``sum theta = 0`` (least squares over all items and pairs judged; no labels),
  and ``D(a, b) = theta_a - theta_b``;
- the verdict is ``V = M + lambda * D``; where ``|V| < 1e-12``, ``V = 1e-9 * D`` (an
  exact tie goes the prior's way).

``lambda`` comes from the panel (``eb``: its vote spread against the prior's fit) or
from the exam gold (``cv``: cross-validated on a grid). ``none`` (the default) is
PRE's protocol: the margins as they are. ``theta`` and ``lambda`` are fitted once; a
bootstrap resamples the shrunk verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from peerreview.chair.base import (
    Chair,
    Evidence,
    Verdicts,
    gather_evidence,
    mean_item_scores,
    verdict_outcomes,
    vote_verdicts,
)
from peerreview.errors import InputError
from peerreview.options import Shrink as Shrink
from peerreview.records.gold import Gold
from peerreview.records.table import FloatArray, IntArray, JudgmentTable, find_keys, pair_key

if TYPE_CHECKING:
    from peerreview.ranking import RankOptions

GRID = (0.0, 0.03, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)  # cv's candidates
FOLDS = 5  # cv: 5 folds of the exam items ...
REPEATS = 2  # ... under two seeded permutations: 10 held-out folds
TIE = 1e-12  # |V| below this is a tie, which the prior breaks
TIE_STEP = 1e-9  # ... by 1e-9 * D


@dataclass(slots=True)
class Shrinkage:
    """How the item verdicts were shrunk: the method, ``lam`` (lambda) and how it was
    found (``sigma2`` and ``tau2`` for eb; the held-out credit per grid value for cv)."""

    method: Shrink
    lam: float = 0.0
    theta: list[float] = field(default_factory=list)  # the prior, per model of the table
    sigma2: float | None = None
    tau2: float | None = None
    credit: list[float] | None = None  # cv: held-out credit of each value of GRID
    folds: int = 0  # cv: held-out folds that could be scored
    note: str | None = None  # why lambda came another way than asked

    def to_dict(self) -> dict[str, Any]:
        """The shrinkage as run.json records it (``lambda`` spelled out)."""
        out: dict[str, Any] = {"method": self.method, "lambda": self.lam}
        if self.sigma2 is not None:
            out.update(sigma2=self.sigma2, tau2=self.tau2)
        if self.credit is not None:
            out.update(grid=list(GRID), credit=self.credit, folds=self.folds)
        if self.note:
            out["note"] = self.note
        return out

    def describe(self) -> str:
        """One line for the notes and the report."""
        how = {Shrink.EB: "empirical Bayes (--shrink eb)",
               Shrink.CV: "cross-validated on the exam gold (--shrink cv)"}[self.method]
        said = f"item verdicts shrunk toward the panel's prior, {how}: lambda {self.lam:.4g}"
        if self.sigma2 is not None:
            said += f" (sigma2 {self.sigma2:.4g}, tau2 {self.tau2:.4g})"
        if self.credit is not None:
            said += f" (best held-out credit over {self.folds} folds)"
        return said + (f"; {self.note}" if self.note else "")


@dataclass(slots=True)
class CrossFit:
    """What ``cv`` refits on every fold: the judgments (the exam items' included), the
    exam gold, the exam (a fold's gold -> reviewer weights; None: the weights do not
    depend on gold and stay ``weights``), and how evidence is gathered."""

    table: JudgmentTable
    gold: Gold | None
    exam: Callable[[Gold], FloatArray] | None
    weights: FloatArray
    gather: Callable[[JudgmentTable, FloatArray], Evidence]
    seed: int = 0


def fit_prior(a: IntArray, b: IntArray, margin: FloatArray, n_models: int) -> FloatArray:
    """theta minimizing sum (margin - (theta_a - theta_b))^2 with sum theta = 0.

    The normal equations are L theta = r with L the pairs' graph Laplacian; its
    minimum-norm solution is orthogonal to the constant vector, so it sums to 0 (per
    connected part of the graph, too)."""
    size = n_models * n_models
    counts = np.bincount(a * n_models + b, minlength=size).reshape(n_models, n_models)
    counts = counts + counts.T
    laplacian = np.diag(counts.sum(axis=1)) - counts
    rhs = np.bincount(a, margin, minlength=n_models) - np.bincount(b, margin, minlength=n_models)
    theta: FloatArray = np.linalg.lstsq(laplacian.astype(np.float64), rhs, rcond=None)[0]
    centered: FloatArray = theta - theta.mean()
    return centered


def shrunk_margins(margin: FloatArray, prior: FloatArray, lam: float) -> FloatArray:
    """V = M + lambda D, and 1e-9 D where |V| < 1e-12."""
    v = margin + lam * prior
    tied = np.abs(v) < TIE
    out: FloatArray = np.where(tied, TIE_STEP * prior, v)
    return out


def reviewer_votes(evidence: Evidence, by_mean: bool,
                   normalize: bool = False) -> tuple[FloatArray, FloatArray]:
    """Per judged key k (the verdicts' order) and qualified reviewer r, r's vote v_rk
    (pairwise: its votes summed over both orders, as they count; pointwise
    s_r(t, a) - s_r(t, b), 0 where a score is missing) and the normalized weights u_r.
    """
    w = evidence.weights
    qualified = np.flatnonzero(w > 0)
    u = w[qualified] / w[qualified].sum()
    n_rev, n_items, n_models = len(evidence.table.reviewers), evidence.n_items, evidence.n_models
    v = evidence.verdicts
    if by_mean:  # each reviewer's own item scores: items renumbered (item, reviewer)
        s = evidence.table.scores
        own = replace(s, item=s.item * n_rev + s.reviewer)
        scores = mean_item_scores(own, w, n_items * n_rev, n_models,
                                  normalize=normalize).reshape(
            n_items, n_rev, n_models)[:, qualified, :]
        diff = scores[v.item, :, v.a] - scores[v.item, :, v.b]
        return np.nan_to_num(diff), u
    votes = evidence.votes  # one reviewer's margin per (item, reviewer) pseudo-item
    own_votes = replace(votes, item=votes.item * n_rev + votes.reviewer)
    each = vote_verdicts(own_votes, evidence.value, np.ones(n_rev), n_models, evidence.count)
    item, reviewer = np.divmod(each.item, n_rev)
    found, row = find_keys(pair_key(v.item, v.a, v.b, n_models),
                           pair_key(item, each.a, each.b, n_models))
    column = np.searchsorted(qualified, reviewer)
    out = np.zeros((len(v), qualified.size))
    out[row[found], column[found]] = each.margin[found]
    return out, u


def eb_lambda(evidence: Evidence, by_mean: bool,
              normalize: bool = False) -> tuple[float, float, float]:
    """lambda = sigma2 / tau2 from the panel alone, with (lambda, sigma2, tau2).

    m_k = sum_r u_r v_rk; s2_k = sum_r u_r (v_rk - m_k)^2 / (1 - sum_r u_r^2);
    sigma2 = (sum_r u_r^2) mean_k s2_k; tau2 = max(mean_k (m_k - D_k)^2 - sigma2,
    1e-3 sigma2) with D fitted on m. Needs two or more qualified reviewers."""
    votes, u = reviewer_votes(evidence, by_mean, normalize)
    concentration = float(np.sum(u * u))
    m = votes @ u
    s2 = ((votes - m[:, None]) ** 2) @ u / (1.0 - concentration)
    sigma2 = concentration * float(np.mean(s2)) if s2.size else 0.0
    v = evidence.verdicts
    theta = fit_prior(v.a, v.b, m, evidence.n_models)
    misfit = float(np.mean((m - (theta[v.a] - theta[v.b])) ** 2)) if m.size else 0.0
    tau2 = max(misfit - sigma2, 1e-3 * sigma2)
    return (sigma2 / tau2 if tau2 > 0 else 0.0), sigma2, tau2


def cv_lambda(cross: CrossFit) -> tuple[float, list[float], int]:
    """lambda from :data:`GRID` by 5-fold cross-validation on the exam gold alone.

    The exam items are permuted twice (seeded) and cut into 5 folds each: 10 held-out
    folds. On each, the exam is sat again on the other folds' gold (new weights), and
    the margins M and theta are refitted under those weights (theta, which needs no
    labels, over every judged item, as the ranking fits it); every held-out gold pair
    then earns, for each lambda, 1 if V agrees with it, 0.5 for a tie or no verdict,
    0 otherwise (times the pair's gold weight). The most credit wins; a tie goes to
    the smaller lambda. Returns (lambda, the credit of each grid value, the folds
    scored)."""
    assert cross.gold is not None
    table = cross.table
    items = sorted(cross.gold.items & set(table.items))
    rng = np.random.default_rng(cross.seed)
    credit = np.zeros(len(GRID))
    scored = 0
    for _ in range(REPEATS):
        perm = rng.permutation(len(items))
        for fold in np.array_split(perm, FOLDS):
            held = {items[i] for i in fold.tolist()}
            train = set(items) - held
            if not held or not train:
                continue
            try:
                weights = cross.weights if cross.exam is None else \
                    cross.exam(cross.gold.restrict(train))
            except InputError:  # nobody qualifies on this fold's exam: it scores nothing
                continue
            credit += _fold_credit(cross, weights, cross.gold.restrict(held))
            scored += 1
    if not scored:
        return 0.0, credit.tolist(), 0
    return GRID[int(np.argmax(credit))], credit.tolist(), scored


def _fold_credit(cross: CrossFit, weights: FloatArray, held: Gold) -> FloatArray:
    """The held-out gold's credit under every lambda of the grid: the margins and
    theta (label-free, over every judged item) under the fold's weights."""
    evidence = cross.gather(cross.table, weights)
    table, v = evidence.table, evidence.verdicts
    n_models = len(table.models)
    theta = fit_prior(v.a, v.b, v.margin, n_models)
    g_item, g_a, g_b, g_sign = held.indexed(table)
    found, index = find_keys(pair_key(v.item, v.a, v.b, n_models),
                             pair_key(g_item, g_a, g_b, n_models))
    found &= g_item >= 0
    margin = np.where(found, v.margin[index], 0.0)
    prior = np.where(found, theta[g_a] - theta[g_b], 0.0)
    pair_weight = held.pair_weights()
    out = np.empty(len(GRID))
    for k, lam in enumerate(GRID):
        verdict = np.where(found, shrunk_margins(margin, prior, lam), 0.0)
        points = np.where(verdict == 0, 0.5, (np.sign(verdict) == g_sign).astype(np.float64))
        out[k] = float(np.sum(pair_weight * points))
    return out


def shrink(evidence: Evidence, method: str, *, by_mean: bool, normalize: bool = False,
           cross: CrossFit | None = None) -> tuple[Evidence, Shrinkage | None]:
    """The evidence with its item verdicts shrunk by ``method``, and how.

    ``none`` returns the evidence unchanged and None. ``eb`` with fewer than two
    qualified reviewers chooses lambda as ``cv`` does; without exam gold then, lambda
    is 0 (only the ties go the prior's way).

    Raises:
        InputError: an unknown method, or ``cv`` without exam gold.
    """
    try:
        how_asked = Shrink(method)
    except ValueError as exc:
        raise InputError(f"unknown --shrink {method!r}; choose from "
                         f"{', '.join(Shrink)}", field="--shrink") from exc
    if how_asked is Shrink.NONE:
        return evidence, None
    has_gold = cross is not None and cross.gold is not None and bool(cross.gold.pairs)
    if how_asked is Shrink.CV and not has_gold:
        raise InputError("--shrink cv chooses lambda on the exam gold: give --exam-gold FILE "
                         "(or use --shrink eb, which needs no labels)", field="--shrink")
    v = evidence.verdicts
    theta = fit_prior(v.a, v.b, v.margin, evidence.n_models)
    if how_asked is Shrink.EB and np.count_nonzero(evidence.weights) >= 2:
        lam, sigma2, tau2 = eb_lambda(evidence, by_mean, normalize)
        how = Shrinkage(Shrink.EB, lam, theta.tolist(), sigma2, tau2)
    elif has_gold:
        assert cross is not None
        lam, credit, folds = cv_lambda(cross)
        how = Shrinkage(how_asked, lam, theta.tolist(), credit=credit, folds=folds)
        if how_asked is Shrink.EB:
            how.note = "fewer than two qualified reviewers: lambda chosen as --shrink cv does"
        if not folds:
            how.note = "no fold of the exam could be scored: lambda 0"
    else:
        how = Shrinkage(Shrink.EB, 0.0, theta.tolist(),
                        note="fewer than two qualified reviewers and no exam gold: lambda 0")
    return shrunk_evidence(evidence, theta, how.lam, by_mean), how


def shrunk_evidence(evidence: Evidence, theta: FloatArray, lam: float,
                    by_mean: bool) -> Evidence:
    """The evidence with V in place of every margin, and item scores that follow: for
    the vote chairs the points won in the new verdicts, for the mean chair
    S(t, m) + lambda theta_m (whose differences are V but where the tie rule acts)."""
    v = evidence.verdicts
    verdicts = Verdicts(v.item, v.a, v.b,
                        shrunk_margins(v.margin, theta[v.a] - theta[v.b], lam))
    if by_mean:
        item_scores = evidence.item_scores + lam * theta[None, :]
    else:
        won, played = verdict_outcomes(verdicts, evidence.n_items, evidence.n_models)
        with np.errstate(invalid="ignore", divide="ignore"):
            item_scores = np.where(played > 0, won / np.where(played > 0, played, 1), np.nan)
    return replace(evidence, verdicts=verdicts, item_scores=item_scores)


def exam_weights(table: JudgmentTable, gold: Gold, *, threshold: float, weighting: Any,
                 exponent: float, allow_unexamined: bool, seed: int) -> FloatArray:
    """The reviewer weights PRE's exam on ``gold`` gives (cv's refit on a fold).

    Raises:
        InputError: nobody qualifies on this gold.
    """
    from peerreview.exam.grade import run_exam

    exam = run_exam(table, gold, threshold=threshold, weighting=weighting, exponent=exponent,
                    allow_unexamined=allow_unexamined, n_boot=1, seed=seed)
    return np.array([r.weight for r in exam])


def shrink_ranking(evidence: Evidence, opts: RankOptions, chair: Chair, exam_table: JudgmentTable,
                   exam_gold: Gold | None, by_gold: bool, weights: FloatArray,
                   first_share: FloatArray | None,
                   notes: list[str]) -> tuple[Evidence, Shrinkage | None]:
    """``rank``'s shrinkage: the evidence with its item verdicts shrunk as
    ``opts.shrink`` says, and a note naming lambda.

    Args:
        evidence: what the chair ranks.
        opts: the rank's options (the exam's, for cv's refits).
        chair: the chair (its name and whether it ranks by mean scores).
        exam_table: the judgments the exam graded, the exam items' included (cv's).
        exam_gold: the exam gold cv scores its held-out folds against.
        by_gold: whether the weights came from PRE's exam on gold (cv then sits it
            again on every fold); otherwise they stay ``weights``.
        weights: the rank's reviewer weights.
        first_share: one-order's first-position shares, gathered with as the rank was.
        notes: where the note goes.
    """
    if opts.shrink == Shrink.NONE:
        return evidence, None
    refit = partial(exam_weights, exam_table, threshold=opts.threshold,
                    weighting=opts.weighting, exponent=opts.exponent,
                    allow_unexamined=opts.allow_unexamined, seed=opts.seed) if by_gold else None
    gather = partial(gather_evidence, by_mean=chair.by_mean, normalize=opts.normalize,
                     first_share=first_share, counting=opts.counting)
    evidence, how = shrink(evidence, opts.shrink, by_mean=chair.by_mean, normalize=opts.normalize,
                           cross=CrossFit(exam_table, exam_gold, refit, weights, gather, opts.seed))
    if how is not None:
        notes.append(how.describe() + ("" if chair.name in ("vote", "mean") else
                                       f"; the {chair.name} chair fits the votes, so only "
                                       "the verdicts and their agreement change"))
    return evidence, how
