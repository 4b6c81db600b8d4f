"""Reviewer reliability without human labels: latent-truth models fitted to the
judgments alone.

- :func:`dawid_skene`: one-coin Dawid-Skene by EM for pairwise verdicts. Each
  question (item, unordered pair) has a hidden better model; reviewer r names it
  with probability p_r.
- :func:`noisy_bradley_terry`: P(first shown wins) = sigmoid(s_r (theta_first -
  theta_second) + beta_r): model strengths theta, per-reviewer skill s_r and
  first-position bias beta_r, by maximum likelihood.
- :func:`pointwise_latent`: score = a_r + b_r mu(item, model) + noise_r, a
  one-factor model fitted by principal-axis factoring.

A reviewer's *latent reliability* is on the exam's scale: the share of its votes
that agree with the latent truth, ties and abstentions half. In Dawid-Skene it
is the fitted p_r; for scores, the order accuracy the reviewer's signal share
implies. (Grading each reviewer against a truth fitted without it punishes the
best one, since without it the others' truth is the weakest.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peerreview.records.table import JudgmentTable, Votes, pair_key, votes_toward_first

FloatArray = npt.NDArray[np.float64]
EPS = 1e-3


def _sigmoid(x: npt.ArrayLike) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))
    return out


@dataclass(slots=True)
class DawidSkene:
    """A fitted one-coin Dawid-Skene model."""

    accuracy: FloatArray  # p_r per reviewer (NaN: no decided vote)
    reliability: list[float | None]  # p_r on the exam's scale (ties, abstentions half)
    iterations: int
    keys: npt.NDArray[np.int64]  # the questions' pair keys, sorted
    posterior: FloatArray  # P(a is better) per question


def dawid_skene(votes: Votes, n_reviewers: int, n_models: int, *, max_iter: int = 500,
                tol: float = 1e-8) -> DawidSkene:
    """One-coin Dawid-Skene by EM over the questions (item, unordered pair).

    Ties and abstentions carry no label for the EM; in the reliability they count
    half, as in the exam.
    """
    keys, question = np.unique(pair_key(votes.item, votes.a, votes.b, n_models),
                               return_inverse=True)
    question = question.ravel()
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
    labelled_count = np.bincount(r, minlength=n_reviewers)
    accuracy[labelled_count == 0] = np.nan
    # On the exam's scale: ties and abstentions count half, as a gold exam grades them.
    total = np.bincount(votes.reviewer, minlength=n_reviewers)
    # A reviewer that shares no question with another one is only agreeing with itself.
    pairs = np.unique(question * n_reviewers + votes.reviewer)
    crowded = np.bincount(pairs // n_reviewers, minlength=n_q) > 1
    shared = np.bincount(pairs % n_reviewers, crowded[pairs // n_reviewers],
                         minlength=n_reviewers) > 0
    reliability: list[float | None] = [
        None if not shared[k] else 0.5 if labelled_count[k] == 0 else
        float((labelled_count[k] * accuracy[k] + 0.5 * (total[k] - labelled_count[k]))
              / total[k])
        for k in range(n_reviewers)]
    return DawidSkene(accuracy, reliability, iterations, keys, posterior)


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
    won = (votes_toward_first(votes)[keep] > 0).astype(np.float64)
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
    """A one-factor model of scores: per reviewer offset, scale (loading) and noise."""

    offset: FloatArray
    scale: FloatArray
    noise: FloatArray
    reliability: list[float | None]


def pointwise_latent(table: JudgmentTable, iterations: int = 200) -> PointwiseLatent:
    """Fit score = a_r + b_r mu(item, model) + noise_r, within items, by principal-axis
    factoring of the reviewers' covariance (scores mapped to [0, 1] first).

    A reviewer's reliability is the accuracy its score order implies: with signal
    share rho = b^2 / var, two models are ordered as the latent quality orders them
    with probability 1/2 + arcsin(sqrt(rho)) / pi (normal scores); the share of its
    own ties counts half, as the exam counts them. The covariances pair different
    reviewers only, so no reviewer is graded against itself.
    """
    s = table.scores
    ok = ~np.isnan(s.score)
    n_rev, n_items, n_models = len(table.reviewers), len(table.items), len(table.models)
    x = np.full((n_rev, n_items, n_models), np.nan)
    x[s.reviewer[ok], s.item[ok], s.model[ok]] = \
        (s.score[ok] - s.low[ok]) / np.maximum(s.high[ok] - s.low[ok], 1e-12)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # items a reviewer did not score
        offset = np.nanmean(x.reshape(n_rev, -1), axis=1)
        centred = (x - np.nanmean(x, axis=2, keepdims=True)).reshape(n_rev, -1)
    seen = ~np.isnan(centred)
    filled = np.nan_to_num(centred)
    both = seen.astype(np.float64) @ seen.T.astype(np.float64)
    cov = np.where(both > 1, (filled @ filled.T) / np.maximum(both, 1), 0.0)
    var = np.diag(cov).copy()
    loading = _one_factor(cov, var, iterations)
    signal = np.where(var > 0, loading ** 2 / np.maximum(var, 1e-12), 0.0).clip(0, 1)
    ties = _tie_share(x)
    reliability: list[float | None] = []
    for k in range(n_rev):
        if var[k] <= 0 or (both[k] > 1).sum() < 2 or n_rev < 2:
            reliability.append(None)
            continue
        order = np.arcsin(np.sign(loading[k]) * np.sqrt(signal[k])) / np.pi
        reliability.append(float(0.5 + (1 - ties[k]) * order))
    noise = np.sqrt(np.maximum(var - loading ** 2, 0.0))
    return PointwiseLatent(offset, loading, noise, reliability)


def _one_factor(cov: FloatArray, var: FloatArray, iterations: int) -> FloatArray:
    """Loadings b with cov ~ b b^T off the diagonal (principal-axis factoring)."""
    n = cov.shape[0]
    if n < 2:
        return np.zeros(n)
    off = cov - np.diag(np.diag(cov))
    communality = np.abs(off).max(axis=1)
    loading = np.zeros(n)
    for _ in range(iterations):
        reduced = off + np.diag(communality)
        values, vectors = np.linalg.eigh(reduced)
        loading = vectors[:, -1] * np.sqrt(max(values[-1], 0.0))
        updated = np.clip(loading ** 2, 0.0, var)
        if np.abs(updated - communality).max() < 1e-10:
            break
        communality = updated
    return loading if loading.sum() >= 0 else -loading


def _tie_share(x: FloatArray) -> FloatArray:
    """Per reviewer, the share of its within-item model pairs scored equal."""
    iu, ju = np.triu_indices(x.shape[2], 1)
    diff = x[:, :, iu] - x[:, :, ju]
    scored = ~np.isnan(diff)
    equal = scored & (np.abs(np.nan_to_num(diff)) < 1e-12)
    return np.asarray(equal.sum(axis=(1, 2)) / np.maximum(scored.sum(axis=(1, 2)), 1),
                      dtype=np.float64)


def consistency_accuracy(consistency: float | None) -> float | None:
    """The accuracy p that position consistency c implies if each order is right with
    probability p independently: c = p^2 + (1 - p)^2, so p = (1 + sqrt(2c - 1)) / 2."""
    if consistency is None:
        return None
    return 0.5 * (1.0 + float(np.sqrt(max(0.0, 2.0 * consistency - 1.0))))




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


def self_confidence(table: JudgmentTable,
                    fit: DawidSkene | None = None) -> list[float | None]:
    """Auto-PRE's self-confidence: a reviewer's mean confidence on easy questions minus
    on hard ones, where a question is easy when the latent truth (Dawid-Skene over all
    reviewers) is more certain than the median question. Positive is good: it is
    surer where the answer is clearer. None without confidences. ``fit``: the
    Dawid-Skene fit of ``table``, if one was made already."""
    n_rev = len(table.reviewers)
    p = table.pairwise
    rated = ~np.isnan(p.confidence)
    if not rated.any():
        return [None] * n_rev
    if fit is None:
        fit = dawid_skene(table.votes(), n_rev, len(table.models))
    key = pair_key(p.item[rated], p.a[rated], p.b[rated], len(table.models))
    at = np.clip(np.searchsorted(fit.keys, key), 0, max(fit.keys.size - 1, 0))
    certainty = np.abs(fit.posterior[at] - 0.5)
    easy = certainty >= np.median(np.abs(fit.posterior - 0.5))
    conf = p.confidence[rated]
    rev = p.reviewer[rated]
    out: list[float | None] = []
    for r in range(n_rev):
        e, h = (rev == r) & easy, (rev == r) & ~easy
        out.append(float(conf[e].mean() - conf[h].mean()) if e.any() and h.any() else None)
    return out
