"""Style control: Bradley-Terry with covariates, as Chatbot Arena's style control fits it.

A vote on {a, b} is a Bradley-Terry game whose log-odds for a are
``theta_a - theta_b + beta . x``, where ``x`` holds the submissions' style
differences, each normalized as ``(f_a - f_b) / (f_a + f_b)`` (0 where both are 0):
the length in characters and, with ``markdown``, the counts of headers, list items and
bold spans. Each column is divided by its standard deviation over the votes (arena
standardizes; it is not centered here, because a pair's orientation a < b is
arbitrary and a centered column would act as an intercept favouring the model with
the smaller index). theta and beta get the project's small L2 prior (``reg`` / 2 times
their sum of squares, as :mod:`peerreview.chair.bradley_terry`) and are fitted by
L-BFGS. The controlled strengths are ``exp(theta)``; ``beta`` says how much a
standard deviation of each style difference moves the log-odds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from peerreview.chair.base import Chair, Evidence, verdict_outcomes, vote_verdicts
from peerreview.chair.bootstrap import LeaderboardRow, leaderboard
from peerreview.errors import InputError
from peerreview.options import Control as Control
from peerreview.records.exchange import Submission
from peerreview.records.table import FloatArray, IntArray, JudgmentTable

FEATURES = ("length", "headers", "list_items", "bold")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def parse_control(text: str) -> tuple[Control, ...]:
    """``length`` or ``length,markdown`` (in any order) as a tuple; ``markdown`` asks
    for the three counts (headers, list items, bold).

    Raises:
        InputError: an unknown control, naming ``--control``.
    """
    parts = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in parts if p not in [c.value for c in Control]]
    if unknown or not parts:
        raise InputError(f"unknown control {', '.join(unknown) or text!r}; choose from "
                         f"{', '.join(Control)} (e.g. length,markdown)", field="--control")
    return tuple(Control(p) for p in parts)


def feature_names(controls: tuple[str, ...]) -> tuple[str, ...]:
    """The style features a control asks for, in :data:`FEATURES` order."""
    return tuple(f for f in FEATURES if (f == "length" and Control.LENGTH in controls)
                 or (f != "length" and Control.MARKDOWN in controls))


def style_counts(text: str) -> tuple[float, float, float, float]:
    """(characters, headers, list items, bold spans) of one submission."""
    return (float(len(text)), float(len(_HEADER.findall(text))),
            float(len(_LIST_ITEM.findall(text))), float(len(_BOLD.findall(text))))


def submission_features(table: JudgmentTable, submissions: list[Submission]) -> FloatArray:
    """(items x models x 4) style counts of the table's submissions; NaN where unknown."""
    out = np.full((len(table.items), len(table.models), len(FEATURES)), np.nan)
    item_ix = {t: i for i, t in enumerate(table.items)}
    model_ix = {m: i for i, m in enumerate(table.models)}
    for s in submissions:
        t, m = item_ix.get(s.item), model_ix.get(s.model)
        if t is not None and m is not None:
            out[t, m] = style_counts(s.output)
    return out


def normalized_differences(features: FloatArray, item: IntArray, a: IntArray,
                           b: IntArray, names: tuple[str, ...]) -> tuple[FloatArray, IntArray]:
    """Per vote and feature, ``(f_a - f_b) / (f_a + f_b)`` (0 where both are 0 or a
    submission is unknown), and how many votes lacked a submission."""
    cols = [FEATURES.index(n) for n in names]
    fa, fb = features[item, a][:, cols], features[item, b][:, cols]
    total = fa + fb
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(total > 0, (fa - fb) / np.where(total > 0, total, 1.0), 0.0)
    unknown = np.isnan(total).any(axis=1)
    x[unknown] = 0.0
    return x, np.flatnonzero(unknown)


def standardized(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Each column divided by its standard deviation (1 where it is constant), and the
    scales used."""
    scale = x.std(axis=0) if len(x) else np.ones(x.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    return x / scale, scale


def fit_with_covariates(a: IntArray, b: IntArray, x: FloatArray, wins_a: FloatArray,
                        wins_b: FloatArray, n_models: int,
                        reg: float = 0.1) -> tuple[FloatArray, FloatArray]:
    """Log-strengths (mean 0) and covariate coefficients of weighted games.

    Args:
        a, b: the models of each game record.
        x: (records x k) covariates; the log-odds for a are theta_a - theta_b + x @ beta.
        wins_a, wins_b: (weighted) wins of a and of b in that record.
        n_models: the number of models.
        reg: L2 penalty on theta and beta together.
    """
    from scipy.optimize import minimize  # slow to import: only when a fit is made
    from scipy.special import expit, log_expit

    total = wins_a + wins_b
    k = x.shape[1]

    def objective(params: FloatArray) -> tuple[float, FloatArray]:
        theta, beta = params[:n_models], params[n_models:]
        d = theta[a] - theta[b] + x @ beta
        nll = -float(np.dot(wins_a, log_expit(d)) + np.dot(wins_b, log_expit(-d)))
        nll += 0.5 * reg * float(params @ params)
        g = wins_a - total * expit(d)  # d(loglik)/d(d)
        grad_theta = -np.bincount(a, g, minlength=n_models) + np.bincount(b, g,
                                                                          minlength=n_models)
        grad = np.concatenate([grad_theta, -(x.T @ g)])
        return nll, grad + reg * params

    result = minimize(objective, np.zeros(n_models + k), jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000, "gtol": 1e-10, "ftol": 1e-14})
    params = np.asarray(result.x, np.float64)
    theta = params[:n_models]
    return theta - theta.mean(), params[n_models:].copy()


def _games(evidence: Evidence, x: FloatArray, item_weights: FloatArray | None
           ) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """Every non-abstaining vote as one weighted game (its share of a win for a as in
    :class:`~peerreview.chair.bradley_terry.BradleyTerryChair`)."""
    v = evidence.votes
    w = evidence.row_weights(item_weights) * ~v.abstain
    share = (1.0 + np.clip(evidence.value, -1.0, 1.0)) / 2.0
    keep = w > 0
    return v.a[keep], v.b[keep], x[keep], w[keep] * share[keep], w[keep] * (1 - share[keep])


def fit_style(evidence: Evidence, x: FloatArray, item_weights: FloatArray | None = None,
              reg: float = 0.1) -> tuple[FloatArray, FloatArray]:
    """theta and beta of the evidence's votes with covariates ``x`` (one row per vote)."""
    a, b, xs, wa, wb = _games(evidence, x, item_weights)
    return fit_with_covariates(a, b, xs, wa, wb, evidence.n_models, reg)


class StyleChair(Chair):
    """Bradley-Terry strengths with the style covariates held at zero difference.

    Args:
        x: standardized covariates, one row per vote of the evidence it will score.
        reg: L2 penalty (see :func:`fit_with_covariates`).
    """

    name = "bradley-terry-style"

    def __init__(self, x: FloatArray, reg: float = 0.1) -> None:
        self.x = x
        self.reg = reg

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        theta, _ = fit_style(evidence, self.x, item_weights, self.reg)
        v = evidence.votes
        judged = np.zeros(evidence.n_models, np.bool_)
        judged[v.a[~v.abstain]] = True
        judged[v.b[~v.abstain]] = True
        return np.where(judged, np.exp(theta), np.nan)


@dataclass(slots=True)
class Coefficient:
    """One style feature's coefficient (log-odds per standard deviation)."""

    feature: str
    beta: float
    ci_low: float | None = None
    ci_high: float | None = None
    scale: float = 1.0  # the standard deviation of the normalized difference


@dataclass(slots=True)
class StyleControl:
    """What ``--control`` adds: coefficients, the controlled leaderboard, the
    controlled verdicts (each vote less its style pull), and what was missing."""

    features: tuple[str, ...]
    coefficients: list[Coefficient]
    leaderboard: list[LeaderboardRow]
    evidence: Evidence  # the votes less their style pull, verdicts decided again
    unknown_votes: int = 0  # votes with a submission missing (covariates 0)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """style.json's content."""
        return {"features": list(self.features),
                "coefficients": [{"feature": c.feature, "beta": c.beta, "ci_low": c.ci_low,
                                  "ci_high": c.ci_high, "scale": c.scale}
                                 for c in self.coefficients],
                "leaderboard": [row.to_dict() for row in self.leaderboard],
                "votes_without_submission": self.unknown_votes}


def resample_counts(n_items: int, n_boot: int, seed: int) -> list[FloatArray]:
    """The item counts of the leaderboard's bootstrap (the same generator, in the same
    order as :func:`peerreview.chair.bootstrap.leaderboard` draws them)."""
    rng = np.random.default_rng(seed)
    return [rng.multinomial(n_items, np.full(n_items, 1.0 / n_items)).astype(float)
            for _ in range(n_boot)]


def with_offset(evidence: Evidence, offset: FloatArray) -> Evidence:
    """The evidence with every non-abstaining vote's value less ``offset`` (a pull
    toward a, in vote units) and the verdicts decided again from the votes."""
    value = np.where(evidence.votes.abstain, evidence.value, evidence.value - offset)
    verdicts = vote_verdicts(evidence.votes, value, evidence.weights, evidence.n_models,
                             evidence.count)
    won, played = verdict_outcomes(verdicts, evidence.n_items, evidence.n_models)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_scores = np.where(played > 0, won / np.where(played > 0, played, 1), np.nan)
    return Evidence(evidence.table, evidence.weights, evidence.votes, value, verdicts,
                    item_scores, evidence.count)


def style_control(evidence: Evidence, features: FloatArray, controls: tuple[str, ...], *,
                  n_boot: int = 0, seed: int = 0, reg: float = 0.1) -> StyleControl:
    """Fit Bradley-Terry with style covariates on the evidence's votes.

    Args:
        evidence: the qualified reviewers' votes (as the chair saw them).
        features: (items x models x 4) style counts from :func:`submission_features`.
        controls: ``("length",)`` or with ``"markdown"``.
        n_boot: bootstrap resamples (the leaderboard's) for the intervals.
        seed: the bootstrap's seed.
        reg: the L2 prior.
    """
    names = feature_names(controls)
    v = evidence.votes
    raw, unknown = normalized_differences(features, v.item, v.a, v.b, names)
    x, scale = standardized(raw)
    constant = [n for n, column in zip(names, raw.T, strict=True) if np.ptp(column) == 0]
    chair = StyleChair(x, reg)
    board = leaderboard(chair, evidence, n_boot=n_boot, seed=seed)
    _, beta = fit_style(evidence, x, None, reg)
    coefficients = [Coefficient(n, float(beta[k]), scale=float(scale[k]))
                    for k, n in enumerate(names)]
    if n_boot > 0:
        draws = np.array([fit_style(evidence, x, counts, reg)[1]
                          for counts in resample_counts(evidence.n_items, n_boot, seed)])
        low, high = np.percentile(draws, [2.5, 97.5], axis=0)
        for k, c in enumerate(coefficients):
            c.ci_low, c.ci_high = float(low[k]), float(high[k])
    pull = np.tanh(0.5 * (x @ beta))  # 2 sigmoid(beta . x) - 1: the style's pull toward a
    notes = [f"--control: {unknown.size} of {len(v)} vote(s) compare a submission not in "
             "--submissions; their style differences count as 0"] if unknown.size else []
    notes += [f"--control: the {n} difference is the same in every vote, so its "
              "coefficient cannot be told from the models' strengths (the prior splits them)"
              for n in constant if len(v)]
    return StyleControl(names, coefficients, board, with_offset(evidence, pull),
                        int(unknown.size), notes)


def controlled(evidence: Evidence, submissions: list[Submission], controls: tuple[str, ...],
               *, n_boot: int, seed: int, notes: list[str]) -> StyleControl | None:
    """``--control`` in ``rank``: None without controls, else :func:`style_control` on
    the submissions' style.

    Raises:
        InputError: controls without submissions (naming ``--submissions``), or an
            unknown control.
    """
    if not controls:
        return None
    controls = parse_control(",".join(controls))
    if not submissions:
        raise InputError("--control compares the submissions' style: it needs their texts "
                         "(--submissions FILE)", field="--submissions")
    style = style_control(evidence, submission_features(evidence.table, submissions),
                          controls, n_boot=n_boot, seed=seed)
    notes += style.notes
    return style
