"""Reviewer reliability without human labels: latent-truth models fitted to the
judgments alone.

- :func:`dawid_skene`: one-coin Dawid-Skene by EM for pairwise verdicts. Each
  question (item, unordered pair) has a hidden better model; reviewer r names it
  with probability p_r.
- :func:`noisy_bradley_terry`: P(first shown wins) = sigmoid(s_r (theta_first -
  theta_second) + beta_r): model strengths theta, per-reviewer skill s_r and
  first-position bias beta_r, by maximum likelihood.
- :func:`pointwise_latent`: score = a_r + b_r mu(item, model) + noise_r, by
  alternating least squares.

A reviewer's *latent reliability* is graded like an exam, against the latent
truth fitted from the *other* reviewers (leave-one-out, so nobody grades
itself): the expected share of its votes that agree, ties and abstentions half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peerreview.votes import JudgmentTable, Votes, pair_key

FloatArray = npt.NDArray[np.float64]
EPS = 1e-3


def _sigmoid(x: npt.ArrayLike) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
    return out


@dataclass(slots=True)
class DawidSkene:
    """A fitted one-coin Dawid-Skene model."""

    accuracy: FloatArray  # p_r per reviewer (NaN: no decided vote)
    reliability: list[float | None]  # leave-one-out expected exam accuracy per reviewer
    iterations: int


def dawid_skene(votes: Votes, n_reviewers: int, n_models: int, *, max_iter: int = 500,
                tol: float = 1e-8) -> DawidSkene:
    """One-coin Dawid-Skene by EM over the questions (item, unordered pair).

    Ties and abstentions carry no label for the EM; in the reliability they count
    half, as in the exam.
    """
    question = np.unique(pair_key(votes.item, votes.a, votes.b, n_models),
                         return_inverse=True)[1].ravel()
    n_q = int(question.max()) + 1 if question.size else 0
    labelled = ~votes.abstain & (votes.vote != 0)
    q, r, sign = question[labelled], votes.reviewer[labelled], votes.vote[labelled]
    # Start from the unweighted majority; then alternate accuracies and posteriors.
    score = np.bincount(q, sign.astype(np.float64), minlength=n_q)
    posterior = _sigmoid(2.0 * score)  # P(a is better | votes)
    accuracy = np.full(n_reviewers, np.nan)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported)
        agree = np.where(sign > 0, posterior[q], 1.0 - posterior[q])
        counts = np.bincount(r, minlength=n_reviewers).astype(np.float64)
        sums = np.bincount(r, agree, minlength=n_reviewers)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = np.clip(sums / counts, EPS, 1 - EPS)
        w = np.log(accuracy / (1 - accuracy))
        score = np.bincount(q, sign * w[r], minlength=n_q)
        updated = _sigmoid(score)
        done = float(np.max(np.abs(updated - posterior), initial=0.0)) < tol
        posterior = updated
        if done:
            break
    accuracy[np.bincount(r, minlength=n_reviewers) == 0] = np.nan
    w = np.nan_to_num(np.log(accuracy / (1 - accuracy)))
    # Leave-one-out truth for each vote: the question's score without the voter's own votes.
    own = np.bincount(q * n_reviewers + r, sign * w[r], minlength=n_q * n_reviewers)
    own_count = np.bincount(q * n_reviewers + r, minlength=n_q * n_reviewers)
    total = np.bincount(q, minlength=n_q)
    reliability: list[float | None] = []
    all_q = question
    for rev in range(n_reviewers):
        mine = votes.reviewer == rev
        qs = all_q[mine]
        has_others = (total[qs] - own_count[qs * n_reviewers + rev]) > 0
        if not has_others.any():
            reliability.append(None)
            continue
        p_a = _sigmoid(score[qs] - own[qs * n_reviewers + rev])[has_others]
        vote = votes.vote[mine][has_others]
        abstain = votes.abstain[mine][has_others]
        grade = np.where(abstain | (vote == 0), 0.5, np.where(vote > 0, p_a, 1 - p_a))
        reliability.append(float(grade.mean()))
    return DawidSkene(accuracy, reliability, iterations)


@dataclass(slots=True)
class NoisyBradleyTerry:
    """A fitted noisy Bradley-Terry model with per-reviewer skill and position bias."""

    strength: FloatArray  # theta per model, mean 0
    skill: FloatArray  # s_r per reviewer (NaN: no ordered decided vote)
    bias: FloatArray  # beta_r: log-odds added to the first shown
    reliability: list[float | None]  # implied accuracy, averaged over both orders


def noisy_bradley_terry(votes: Votes, n_reviewers: int, n_models: int,
                        l2: float = 0.1) -> NoisyBradleyTerry:
    """Maximum likelihood (with a small L2 prior) of the noisy Bradley-Terry model on
    the decided votes whose display order is known."""
    from scipy.optimize import minimize

    keep = ~votes.abstain & (votes.vote != 0) & (votes.a_first >= 0)
    first = np.where(votes.a_first[keep] == 1, votes.a[keep], votes.b[keep])
    second = np.where(votes.a_first[keep] == 1, votes.b[keep], votes.a[keep])
    won = ((votes.vote[keep] > 0) == (votes.a_first[keep] == 1)).astype(np.float64)
    rev = votes.reviewer[keep]
    m, n = n_models, n_reviewers

    def loss(x: FloatArray) -> tuple[float, FloatArray]:
        theta, s, beta = x[:m], x[m:m + n], x[m + n:]
        diff = theta[first] - theta[second]
        z = s[rev] * diff + beta[rev]
        p = _sigmoid(z)
        nll = float(np.sum(np.logaddexp(0, z) - won * z))
        g = p - won
        grad_theta = np.bincount(first, g * s[rev], minlength=m) - \
            np.bincount(second, g * s[rev], minlength=m)
        grad_s = np.bincount(rev, g * diff, minlength=n)
        grad_beta = np.bincount(rev, g, minlength=n)
        nll += l2 * float(theta @ theta + (s - 1) @ (s - 1) + beta @ beta)
        grad = np.concatenate([grad_theta + 2 * l2 * theta, grad_s + 2 * l2 * (s - 1),
                               grad_beta + 2 * l2 * beta])
        return nll, grad

    x0 = np.concatenate([np.zeros(m), np.ones(n), np.zeros(n)])
    fit = minimize(loss, x0, jac=True, method="L-BFGS-B")
    theta, s, beta = fit.x[:m] - fit.x[:m].mean(), fit.x[m:m + n].copy(), fit.x[m + n:].copy()
    seen = np.bincount(rev, minlength=n) > 0
    s[~seen], beta[~seen] = np.nan, np.nan
    reliability: list[float | None] = []
    for r in range(n):
        mine = rev == r
        if not seen[r]:
            reliability.append(None)
            continue
        gap = np.abs(theta[first[mine]] - theta[second[mine]]) * s[r]
        implied = 0.5 * (_sigmoid(gap + beta[r]) + _sigmoid(gap - beta[r]))
        reliability.append(float(implied.mean()))
    return NoisyBradleyTerry(theta, s, beta, reliability)


@dataclass(slots=True)
class PointwiseLatent:
    """Per-reviewer offset, scale and noise of scores around a latent quality."""

    offset: FloatArray
    scale: FloatArray
    noise: FloatArray
    reliability: list[float | None]


def pointwise_latent(table: JudgmentTable, iterations: int = 50) -> PointwiseLatent:
    """Fit score = a_r + b_r mu(item, model) + noise_r (scores mapped to [0, 1] first),
    and grade each reviewer's score order against the others' latent mu."""
    s = table.scores
    ok = ~np.isnan(s.score)
    n_rev, n_items, n_models = len(table.reviewers), len(table.items), len(table.models)
    x = (s.score[ok] - s.low[ok]) / np.maximum(s.high[ok] - s.low[ok], 1e-12)
    r, cell = s.reviewer[ok], s.item[ok] * n_models + s.model[ok]
    a, b, var = np.zeros(n_rev), np.ones(n_rev), np.ones(n_rev)
    n_cells = n_items * n_models
    for _ in range(iterations):
        w = b[r] ** 2 / var[r]
        mu = np.bincount(cell, w * (x - a[r]) / b[r], minlength=n_cells) / np.maximum(
            np.bincount(cell, w, minlength=n_cells), 1e-12)
        m = mu[cell]
        for k in range(n_rev):
            sel = r == k
            if sel.sum() < 3 or np.var(m[sel]) < 1e-12:
                continue
            slope, intercept = np.polyfit(m[sel], x[sel], 1)
            b[k] = max(float(slope), 1e-3)
            a[k] = float(intercept)
            var[k] = max(float(np.mean((x[sel] - a[k] - b[k] * m[sel]) ** 2)), 1e-6)
        judged = np.bincount(cell, minlength=n_cells) > 0
        centre, spread = mu[judged].mean(), mu[judged].std() or 1.0
        a += b * centre  # keep mu at mean 0, sd 1 without changing the fit
        b *= spread
    reliability: list[float | None] = []
    w = b[r] ** 2 / var[r]
    num = np.bincount(cell, w * (x - a[r]) / b[r], minlength=n_cells)
    den = np.bincount(cell, w, minlength=n_cells)
    for k in range(n_rev):
        sel = r == k
        mine_num = np.bincount(cell[sel], (w * (x - a[r]) / b[r])[sel], minlength=n_cells)
        mine_den = np.bincount(cell[sel], w[sel], minlength=n_cells)
        rest = den - mine_den
        with np.errstate(invalid="ignore", divide="ignore"):
            mu_others = np.where(rest > 0, (num - mine_num) / rest, np.nan)
        own = np.full(n_cells, np.nan)
        own[cell[sel]] = x[sel]
        reliability.append(_order_accuracy(own.reshape(n_items, n_models),
                                           mu_others.reshape(n_items, n_models)))
    return PointwiseLatent(a, b, np.sqrt(var), reliability)


def _order_accuracy(own: FloatArray, truth: FloatArray) -> float | None:
    """Share of item pairs where ``own`` orders two models as ``truth`` does (own ties
    half); pairs that truth does not decide or own did not score are left out."""
    iu, ju = np.triu_indices(own.shape[1], 1)
    mine = np.sign(own[:, iu] - own[:, ju])
    true = np.sign(truth[:, iu] - truth[:, ju])
    graded = ~np.isnan(mine) & ~np.isnan(true) & (true != 0)
    if not graded.any():
        return None
    grades = np.where(mine[graded] == 0, 0.5, (mine[graded] == true[graded]).astype(float))
    return float(grades.mean())


def consistency_accuracy(consistency: float | None) -> float | None:
    """The accuracy p that position consistency c implies if each order is right with
    probability p independently: c = p^2 + (1 - p)^2, so p = (1 + sqrt(2c - 1)) / 2."""
    if consistency is None:
        return None
    return 0.5 * (1.0 + float(np.sqrt(max(0.0, 2.0 * consistency - 1.0))))


LATENT_MODELS = ("dawid-skene", "noisy-bt")


def latent_reliability(table: JudgmentTable, model: str = "dawid-skene") -> list[float | None]:
    """Each reviewer's label-free reliability: pointwise tables by the offset-scale-noise
    model, pairwise (or mixed) ones by ``dawid-skene`` or ``noisy-bt``."""
    if table.kind == "pointwise":
        return pointwise_latent(table).reliability
    votes = table.votes()
    n_rev, n_models = len(table.reviewers), len(table.models)
    if model == "noisy-bt":
        return noisy_bradley_terry(votes, n_rev, n_models).reliability
    return dawid_skene(votes, n_rev, n_models).reliability
