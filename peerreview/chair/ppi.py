"""Prediction-powered intervals: the panel on every item, corrected by human gold on some.

PPI++ (Angelopoulos, Duchi and Zrnic 2023, "PPI++: Efficient Prediction-Powered
Inference"), for one mean per model. The unit is an item, the quantity a model's
*item win share*:

- the panel's ``f[t, m]``: the points m won in the chair's verdicts on item t (1 a
  win, 1/2 a tie) over the verdicts it took part in there. Its mean over items is
  the vote chair's leaderboard score whenever every item judges the same pairs;
- the gold's ``y[t, m]``: the share of m's decided gold pairs on item t that m won
  (a pair the humans tie is no gold, as everywhere in peerreview).

The estimand is ``theta[m] = E_t y[t, m]``, the win share humans would give, for items
drawn like the ranked ones. With ``n`` labelled items (gold and a panel verdict for m)
among the ``N`` items the panel judged for m, and weights ``w`` (1 / inclusion
probability, as ``label-export`` writes them; 1 without) normalized to mean 1 over the
labelled items (Hajek's form of Horvitz-Thompson)::

    theta_hat = lam * mean_N(f) + mean_n(w * r),  r = y - lam * f
    var       = s2_n(w * (r - mean_n(w * r))) / n + lam^2 * s2_N(f) / N
                + 2 * lam * c_n(f, w * (r - mean_n(w * r))) / N
    interval  = theta_hat -+ t_{n - 1, 1 - alpha/2} * sqrt(var)

(``s2`` and ``c`` with n - 1 or N - 1 in the denominator.) ppi_py's interval is the first
two terms with the population variances and the normal quantile, for labelled and
unlabelled sets apart; here the labelled items are among the N, which adds the third
term, and the small-sample forms bring the coverage of ``benchmarks/ppi.py``'s simulated
population from 94.1% to 94.8%.

``lam`` is PPI++'s power tuning, as ppi_py computes it for a mean: with ``theta1`` the
estimate at ``lam = 1``, ``g = w (y - theta1)``, ``h = w (f_n - theta1)`` on the labelled
items and ``h_N = f_N - theta1`` on all::

    lam = clip(cov_n(g, h) / ((1 + n / N) * var(h ++ h_N)), 0, 1)

(``cov_n`` divides by n, ``var`` of the concatenation by its size - 1). ``lam = 0`` is the
gold alone (the classical interval), ``lam = 1`` plain PPI. Beside it: the plain panel's
interval (``mean_N(f)`` with its own t interval: valid only if the panel were human)
and the gold-only one; ``as_narrow_as = n * (gold-only width / PPI width)^2`` is how many
gold items alone would give an interval as narrow. Rank sets are the ranks each model's
interval allows: 1 + the models whose interval lies wholly above it, to the number of
models less those wholly below.

Validity needs the labelled items to be a random sample of the ranked ones (uniform,
or with the known probabilities the weights undo); it holds however biased the panel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from peerreview.chair.base import Evidence, Verdicts, verdict_outcomes
from peerreview.errors import InputError
from peerreview.records.gold import Gold
from peerreview.records.table import FloatArray, JudgmentTable


@dataclass(slots=True)
class Estimate:
    """A point estimate with its interval; interval fields None with fewer than 2 items."""

    score: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None

    @property
    def width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_high - self.ci_low


@dataclass(slots=True)
class PPIRow:
    """One model's prediction-powered score beside the panel's and the gold's."""

    model: str
    rank: int
    score: float | None  # PPI++'s estimate of the human item win share
    ci_low: float | None
    ci_high: float | None
    rank_low: int | None
    rank_high: int | None
    lam: float | None  # the power-tuning lambda
    items: int  # N: items the panel judged for the model
    gold_items: int  # n: of those, the items with gold
    panel: Estimate
    gold: Estimate
    as_narrow_as: float | None  # gold items alone for an interval as narrow
    weighted: bool = False  # the gold carried inclusion weights (Hajek-weighted)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for side in ("panel", "gold"):
            est = d.pop(side)
            d.update({f"{side}_score": est["score"], f"{side}_ci_low": est["ci_low"],
                      f"{side}_ci_high": est["ci_high"]})
        d["lambda"] = d.pop("lam")
        del d["weighted"]  # said once, in ppi.json's head
        return d


def power_lambda(y: FloatArray, f_labelled: FloatArray, f_all: FloatArray,
                 w: FloatArray | None = None) -> float:
    """PPI++'s power-tuning lambda for a mean (ppi_py's formula; see the module text).

    Args:
        y: gold on the n labelled units.
        f_labelled: the panel on the same units.
        f_all: the panel on all N units.
        w: weights of the labelled units (normalized to mean 1 here); None: all 1.
    """
    n, big_n = y.size, f_all.size
    if n < 2:
        return 0.0
    w = _normalized(w, n)
    theta1 = float(f_all.mean() + (w * (y - f_labelled)).mean())
    g = w * (y - theta1)
    h = w * (f_labelled - theta1)
    cov = float(((g - g.mean()) * (h - h.mean())).mean())
    var = float(np.var(np.concatenate([h, f_all - theta1]), ddof=1))
    if var <= 0:
        return 0.0  # a constant panel says nothing: the gold alone
    return float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))


def ppi_mean(y: FloatArray, f_labelled: FloatArray, f_all: FloatArray,
             w: FloatArray | None = None, *, lam: float | None = None,
             alpha: float = 0.05) -> tuple[Estimate, float]:
    """The prediction-powered estimate of the mean of ``y`` and its interval.

    Args:
        y: gold on the n labelled units.
        f_labelled: the panel on the same units.
        f_all: the panel on all N units (the labelled ones among them).
        w: 1 / inclusion probability of each labelled unit; None: a uniform sample.
        lam: the weight of the panel; None: PPI++'s power tuning; 0: gold alone.
        alpha: 1 - the interval's coverage.

    Returns:
        The estimate, and the lambda used.
    """
    n, big_n = y.size, f_all.size
    if n == 0:
        return Estimate(None, None, None, None), 0.0
    lam = power_lambda(y, f_labelled, f_all, w) if lam is None else lam
    w = _normalized(w, n)
    r = y - lam * f_labelled
    rect = float((w * r).mean())
    score = lam * float(f_all.mean()) + rect if big_n else rect
    if n < 2:
        return Estimate(score, None, None, None), lam
    centred = w * (r - rect)
    var = float((centred ** 2).sum()) / (n - 1) / n
    if big_n > 1 and lam:
        # the labelled items are among the N: their rectifier and the panel's mean covary
        cov = float(((f_labelled - f_labelled.mean()) * centred).sum()) / (n - 1)
        var += lam ** 2 * float(f_all.var(ddof=1)) / big_n + 2 * lam * cov / big_n
    return _interval(score, var, alpha, n - 1), lam


def panel_mean(f_all: FloatArray, alpha: float = 0.05) -> Estimate:
    """The plain panel's estimate and interval, as if the panel were human."""
    if not f_all.size:
        return Estimate(None, None, None, None)
    score = float(f_all.mean())
    if f_all.size < 2:
        return Estimate(score, None, None, None)
    return _interval(score, float(f_all.var(ddof=1)) / f_all.size, alpha, f_all.size - 1)


def item_win_shares(verdicts: Verdicts, n_items: int, n_models: int) -> FloatArray:
    """f[t, m]: m's points over its verdicts on item t (a tie half); NaN without one."""
    won, played = verdict_outcomes(verdicts, n_items, n_models)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(played > 0, won / np.where(played > 0, played, 1.0), np.nan)


def gold_win_shares(gold: Gold, table: JudgmentTable) -> tuple[FloatArray, FloatArray]:
    """y[t, m]: the share of m's decided gold pairs on item t that m won (NaN without
    one), and each such cell's weight (the mean of its pairs' weights, 1 without)."""
    n_items, n_models = len(table.items), len(table.models)
    item, a, b, sign = gold.indexed(table)
    weight = gold.pair_weights()
    keep = item >= 0  # gold on items the panel did not rank says nothing here
    item, a, b, sign, weight = item[keep], a[keep], b[keep], sign[keep], weight[keep]
    size = n_items * n_models
    point_a = (sign > 0).astype(np.float64)
    cells = np.concatenate([item * n_models + a, item * n_models + b])
    points = np.concatenate([point_a, 1.0 - point_a])
    weights = np.concatenate([weight, weight])
    won = np.bincount(cells, points, minlength=size)
    pairs = np.bincount(cells, minlength=size).astype(np.float64)
    wsum = np.bincount(cells, weights, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(pairs > 0, won / np.where(pairs > 0, pairs, 1.0), np.nan)
        w = np.where(pairs > 0, wsum / np.where(pairs > 0, pairs, 1.0), np.nan)
    return y.reshape(n_items, n_models), w.reshape(n_items, n_models)


def ppi_rows(models: list[str], f: FloatArray, y: FloatArray, w: FloatArray | None = None,
             *, alpha: float = 0.05) -> list[PPIRow]:
    """Every model's PPI++ estimate, beside the panel's and the gold's, best first.

    Args:
        models: the model names, one per column.
        f: the panel's item win shares (items x models), NaN where not judged.
        y: the gold's, NaN where no gold.
        w: the gold cells' weights (1 / inclusion probability); None: all 1.
        alpha: 1 - the intervals' coverage.
    """
    rows = []
    for m, name in enumerate(models):
        judged = ~np.isnan(f[:, m])
        labelled = judged & ~np.isnan(y[:, m])
        weights = None if w is None else w[labelled, m]
        est, lam = ppi_mean(y[labelled, m], f[labelled, m], f[judged, m], weights, alpha=alpha)
        gold, _ = ppi_mean(y[labelled, m], f[labelled, m], f[judged, m], weights, lam=0.0,
                           alpha=alpha)
        n = int(labelled.sum())
        saved = None
        if est.width and gold.width:
            saved = round(n * (gold.width / est.width) ** 2, 1)
        rows.append(PPIRow(name, 0, est.score, est.ci_low, est.ci_high, None, None,
                           lam if n else None, int(judged.sum()), n,
                           panel_mean(f[judged, m], alpha), gold, saved, w is not None))
    _rank_rows(rows)
    return sorted(rows, key=lambda r: r.rank)


def ppi_leaderboard(evidence: Evidence, gold: Gold, *, alpha: float = 0.05) -> list[PPIRow]:
    """PPI++ for every model of a ranking: the chair's verdicts on all items, ``gold``
    on some (weighted where it carries ``label-export``'s weights)."""
    table = evidence.table
    f = item_win_shares(evidence.verdicts, len(table.items), len(table.models))
    y, w = gold_win_shares(gold, table)
    return ppi_rows(table.models, f, y, w if gold.weights else None, alpha=alpha)


def ranking_ppi(evidence: Evidence, gold: Gold | None, exam_gold: Gold | None,
                notes: list[str]) -> list[PPIRow]:
    """``rank --ppi``: PPI++ on ``gold`` (``--gold``), else on the exam's gold (with a
    note in ``notes``: the reviewers were weighted on it).

    Raises:
        InputError: no gold, or none about the ranked items.
    """
    labels = gold if gold is not None else exam_gold
    if labels is None:
        raise InputError("--ppi needs human gold on some of the ranked items "
                         "(--gold FILE, or --exam-gold FILE)", field="--ppi")
    if gold is None:
        notes.append("ppi: no --gold, so the exam gold corrects the panel (the reviewers "
                     "were weighted on it: give --gold for intervals free of that)")
    rows = ppi_leaderboard(evidence, labels)
    if not any(r.gold_items for r in rows):
        raise InputError("--ppi: the gold decides no pair of the ranked items",
                         labels.path or None, field="--ppi")
    return rows


def ppi_document(rows: list[PPIRow], alpha: float = 0.05) -> dict[str, Any]:
    """``ppi.json``: what is estimated, and every model's row, best first."""
    return {"estimand": "item win share", "coverage": 1 - alpha,
            "weighted": any(r.weighted for r in rows),
            "models": [r.to_dict() for r in rows]}


def _rank_rows(rows: list[PPIRow]) -> None:
    """Ranks by score (NaN last), and the ranks each interval allows."""
    scores = np.array([np.nan if r.score is None else r.score for r in rows])
    filled = np.where(np.isnan(scores), -np.inf, scores)
    for r, s in zip(rows, filled, strict=True):
        r.rank = 1 + int((filled > s).sum())
    for r in rows:
        if r.ci_low is None or r.ci_high is None:
            continue
        above = sum(1 for o in rows if o.ci_low is not None and o.ci_low > r.ci_high)
        below = sum(1 for o in rows if o.ci_high is not None and o.ci_high < r.ci_low)
        r.rank_low, r.rank_high = 1 + above, len(rows) - below


def _normalized(w: FloatArray | None, n: int) -> FloatArray:
    if w is None:
        return np.ones(n)
    normalized: FloatArray = w / w.mean()
    return normalized


def _interval(score: float, var: float, alpha: float, df: int) -> Estimate:
    """score -+ Student's t quantile (df degrees of freedom) times the standard error."""
    from scipy.stats import t as student  # slow to import: only when asked

    se = float(np.sqrt(max(var, 0.0)))
    q = float(student.ppf(1 - alpha / 2, df))
    return Estimate(score, score - q * se, score + q * se, se)
