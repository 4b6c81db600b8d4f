"""Bradley-Terry strengths fitted to the weighted judgments (ties count half each way).

P(a beats b) = s_a / (s_a + s_b). The log-strengths maximize the weighted
log-likelihood minus ``reg / 2`` times their sum of squares (a Gaussian prior that
keeps an undefeated model finite), fitted with scipy's L-BFGS. Strengths are
reported with geometric mean 1.
"""

from __future__ import annotations

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.records.table import FloatArray, IntArray


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


class BradleyTerryChair(Chair):
    """Strengths of a weighted, regularized Bradley-Terry fit.

    Args:
        reg: L2 penalty on log-strengths (see :func:`fit_bradley_terry`).
    """

    name = "bradley-terry"

    def __init__(self, reg: float = 0.1) -> None:
        self.reg = reg

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        v = evidence.votes
        w = evidence.row_weights(item_weights) * ~v.abstain
        key = v.a * evidence.n_models + v.b
        uniq, inverse = np.unique(key, return_inverse=True)
        # A vote of value x is a share (1 + x) / 2 of a win for a: 1, 0.5 for a tie, 0,
        # or between for a debiased vote; a pair's total is clipped at 0 each way.
        share = (1.0 + evidence.value) / 2.0
        wins_a = np.maximum(np.bincount(inverse, w * share, minlength=uniq.size), 0.0)
        wins_b = np.maximum(np.bincount(inverse, w * (1.0 - share), minlength=uniq.size), 0.0)
        a, b = np.divmod(uniq, evidence.n_models)
        theta = fit_bradley_terry(a, b, wins_a, wins_b, evidence.n_models, self.reg)
        judged = np.zeros(evidence.n_models, np.bool_)
        judged[a[(wins_a + wins_b) > 0]] = True
        judged[b[(wins_a + wins_b) > 0]] = True
        return np.where(judged, np.exp(theta), np.nan)
