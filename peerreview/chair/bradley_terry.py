"""Bradley-Terry strengths fitted to the weighted judgments (ties count half each way).

P(a beats b) = s_a / (s_a + s_b). The log-strengths maximize the weighted
log-likelihood minus ``reg / 2`` times their sum of squares (a Gaussian prior that
keeps an undefeated model finite), fitted with scipy's L-BFGS. Strengths are
reported with geometric mean 1.

The votes are counted once per pair and per (item, pair)
(:mod:`peerreview.chair.counts`); a bootstrap resample reweights the item rows and
refits by Newton's method from the point estimate, a few steps to the same optimum.
"""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.chair.counts import PairCounts, pair_counts
from peerreview.records.table import FloatArray, IntArray

NEWTON_MODELS = 400  # above this many models a resample is refitted by L-BFGS
BATCH_MODELS = 30  # up to this many models, resamples are refitted all at once
BATCH_CELLS = 1 << 23  # ... when resamples x (item, pair) rows are at most this


def fit_bradley_terry(a: IntArray, b: IntArray, wins_a: FloatArray, wins_b: FloatArray,
                      n_models: int, reg: float = 0.1) -> FloatArray:
    """Log-strengths (mean 0) from pair outcomes.

    Args:
        a, b: the models of each pair record.
        wins_a, wins_b: (weighted) wins of a over b and of b over a in that record.
        n_models: the number of models.
        reg: L2 penalty on the log-strengths; 0 is the plain maximum likelihood.
    """
    from scipy.optimize import minimize  # slow to import: only when a fit is made
    from scipy.special import expit, log_expit

    total = wins_a + wins_b

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        d = theta[a] - theta[b]
        nll = -float(np.dot(wins_a, log_expit(d)) + np.dot(wins_b, log_expit(-d)))
        nll += 0.5 * reg * float(theta @ theta)
        g = wins_a - total * expit(d)  # d(loglik)/d(d)
        grad = -np.bincount(a, g, minlength=n_models) + np.bincount(b, g, minlength=n_models)
        return nll, grad + reg * theta

    result = minimize(objective, np.zeros(n_models), jac=True, method="L-BFGS-B",
                      options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    theta: FloatArray = np.asarray(result.x, np.float64)
    centered: FloatArray = theta - theta.mean()
    return centered


def refit_bradley_terry(a: IntArray, b: IntArray, wins_a: FloatArray, wins_b: FloatArray,
                        n_models: int, reg: float, start: FloatArray,
                        max_iter: int = 50) -> FloatArray:
    """The same optimum as :func:`fit_bradley_terry`, by Newton's method from ``start``
    (a nearby fit: a resample's from the point estimate), with step halving so that
    the penalized likelihood never falls. Falls back to L-BFGS when it does not settle.
    """
    from scipy.linalg import cho_factor, cho_solve, lstsq
    from scipy.special import expit, log_expit

    total = wins_a + wins_b

    def nll(theta: FloatArray) -> float:
        d = theta[a] - theta[b]
        return -float(np.dot(wins_a, log_expit(d)) + np.dot(wins_b, log_expit(-d))) + \
            0.5 * reg * float(theta @ theta)

    theta, value = start.copy(), nll(start)
    diagonal = np.arange(n_models)
    for _ in range(max_iter):
        p = expit(theta[a] - theta[b])
        g = wins_a - total * p
        grad = -np.bincount(a, g, minlength=n_models) + \
            np.bincount(b, g, minlength=n_models) + reg * theta
        c = total * p * (1.0 - p)
        hess = np.zeros((n_models, n_models))
        hess[a, b] = -c  # pairs are distinct
        hess[b, a] = -c
        hess[diagonal, diagonal] = np.bincount(a, c, minlength=n_models) + \
            np.bincount(b, c, minlength=n_models) + reg
        # without a penalty the strengths are free up to a common shift (and an
        # unjudged model is free): the least-squares step leaves those as they are
        # scipy's LAPACK: numpy's threaded solve of a small matrix is 100 times slower
        # on a busy machine
        step = cho_solve(cho_factor(hess), grad) if reg > 0 else \
            lstsq(hess, grad)[0]
        t = 1.0
        while True:
            new = theta - t * step
            new_value = nll(new)
            if new_value <= value + 1e-12 * abs(value) or t < 1e-6:
                break
            t /= 2.0
        moved = float(np.max(np.abs(new - theta))) if n_models else 0.0
        theta, value = new, new_value
        if moved < 1e-11:
            centered: FloatArray = theta - theta.mean()
            return centered
    return fit_bradley_terry(a, b, wins_a, wins_b, n_models, reg)


class BradleyTerryChair(Chair):
    """Strengths of a weighted, regularized Bradley-Terry fit.

    Args:
        reg: L2 penalty on log-strengths (see :func:`fit_bradley_terry`).
    """

    name = "bradley-terry"

    def __init__(self, reg: float = 0.1) -> None:
        self.reg = reg

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        counts = evidence.cached("pair-counts", lambda: pair_counts(evidence))
        wins_a, wins_b = counts.totals(item_weights)
        if item_weights is None or evidence.n_models > NEWTON_MODELS:
            theta = self._point(evidence, counts) if item_weights is None else \
                fit_bradley_terry(counts.a, counts.b, wins_a, wins_b, evidence.n_models,
                                  self.reg)
        else:
            theta = refit_bradley_terry(counts.a, counts.b, wins_a, wins_b, evidence.n_models,
                                        self.reg, self._point(evidence, counts))
        judged = np.zeros(evidence.n_models, np.bool_)
        played = (wins_a + wins_b) > 0
        judged[counts.a[played]] = True
        judged[counts.b[played]] = True
        return np.where(judged, np.exp(theta), np.nan)

    def scores_many(self, evidence: Evidence, item_weights: FloatArray) -> FloatArray:
        """Every resample at once for a few models (one batched Newton fit), else one
        by one."""
        counts = evidence.cached("pair-counts", lambda: pair_counts(evidence))
        n_models = evidence.n_models
        if n_models > BATCH_MODELS or \
                item_weights.shape[0] * counts.row_item.size > BATCH_CELLS:
            return super().scores_many(evidence, item_weights)
        rows = item_weights[:, counts.row_item]
        onehot = np.zeros((counts.row_pair.size, counts.a.size))
        onehot[np.arange(counts.row_pair.size), counts.row_pair] = 1.0
        wins_a = np.maximum((rows * counts.row_won) @ onehot, 0.0)
        wins_b = np.maximum((rows * counts.row_lost) @ onehot, 0.0)
        theta = batch_refit(counts.a, counts.b, wins_a, wins_b, n_models, self.reg,
                            self._point(evidence, counts))
        if theta is None:
            return super().scores_many(evidence, item_weights)
        played = (wins_a + wins_b) > 0
        touches = np.zeros((counts.a.size, n_models))  # pair x model: the model plays
        touches[np.arange(counts.a.size), counts.a] = 1.0
        touches[np.arange(counts.a.size), counts.b] = 1.0
        judged = (played @ touches) > 0
        return np.where(judged, np.exp(theta), np.nan)

    def _point(self, evidence: Evidence, counts: PairCounts) -> FloatArray:
        """The fit to all items, once per evidence (a resample's starting point)."""
        def fit() -> FloatArray:
            wins_a, wins_b = counts.totals()
            return fit_bradley_terry(counts.a, counts.b, wins_a, wins_b, evidence.n_models,
                                     self.reg)
        return evidence.cached(("bradley-terry", self.reg), fit)


def batch_refit(a: IntArray, b: IntArray, wins_a: FloatArray, wins_b: FloatArray,
                n_models: int, reg: float, start: FloatArray,
                max_iter: int = 50) -> FloatArray | None:
    """:func:`refit_bradley_terry` of many resamples at once (rows of ``wins_a`` and
    ``wins_b``), centered log-strengths per row; None when a system is singular or a
    row does not settle (the caller fits one by one)."""
    from scipy.special import expit, log_expit

    diff = np.zeros((a.size, n_models))
    diff[np.arange(a.size), a] = 1.0
    diff[np.arange(a.size), b] = -1.0
    total = wins_a + wins_b
    # without a penalty the strengths are free up to a common shift: fix it
    ridge = reg * np.eye(n_models) + (0.0 if reg > 0 else 1.0 / n_models)

    def nll(theta: FloatArray) -> FloatArray:
        d = theta @ diff.T
        value: FloatArray = -(wins_a * log_expit(d) + wins_b * log_expit(-d)).sum(axis=1) + \
            0.5 * reg * (theta * theta).sum(axis=1)
        return value

    theta = np.tile(start, (wins_a.shape[0], 1))
    value = nll(theta)
    for _ in range(max_iter):
        p = expit(theta @ diff.T)
        grad = -(wins_a - total * p) @ diff + reg * theta
        c = total * p * (1.0 - p)
        hess = np.einsum("rp,pi,pj->rij", c, diff, diff) + ridge
        try:
            step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return None
        t = np.ones(theta.shape[0])
        for _ in range(30):  # halve the step where the penalized likelihood would fall
            new = theta - t[:, None] * step
            new_value = nll(new)
            worse = new_value > value + 1e-12 * np.abs(value)
            if not worse.any():
                break
            t = np.where(worse, t / 2.0, t)
        moved = np.abs(new - theta).max()
        theta, value = new, new_value
        if moved < 1e-11:
            centered: FloatArray = theta - theta.mean(axis=1, keepdims=True)
            return centered
    return None
