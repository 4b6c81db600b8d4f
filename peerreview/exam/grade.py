"""The qualification exam: grade reviewer candidates against gold, select, weight.

Exam accuracy p_r is the mean of r's graded votes on exam gold pairs: 1 if the vote
agrees with gold, 0.5 if it is 0 (tie or abstention), 0 otherwise. A pairwise
reviewer has one graded vote per order it judged; a pointwise reviewer one per
gold pair (METHOD.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from peerreview.errors import InputError, NoQualifiedReviewer
from peerreview.options import Weighting as Weighting
from peerreview.records.gold import Gold
from peerreview.records.readable import readable_counts, silent_in_review, silent_on_exam
from peerreview.records.table import FloatArray, IntArray, JudgmentTable, Votes, find_keys, pair_key

LOG_ODDS_CAP = 1e-3  # p is clipped to [0, 1 - cap] so that a perfect exam gets a finite weight


def raw_weight(p: float, weighting: Weighting, exponent: float = 1.0) -> float:
    """The weight exam accuracy ``p`` earns, before normalizing.

    uniform 1; linear p; log-odds log(p / (1 - p)), 0 for p <= 0.5; exp exp(a p);
    poly p^a.
    """
    if weighting is Weighting.UNIFORM:
        return 1.0
    if weighting is Weighting.LINEAR:
        return p
    if weighting is Weighting.LOG_ODDS:
        if p <= 0.5:
            return 0.0
        q = min(p, 1.0 - LOG_ODDS_CAP)
        return math.log(q / (1.0 - q))
    if weighting is Weighting.EXP:
        return math.exp(exponent * p)
    return float(p**exponent)


@dataclass(slots=True)
class ExamResult:
    """One reviewer candidate's exam and what followed from it."""

    reviewer: str
    exam_accuracy: float | None
    exam_items: int | None
    exam_votes: int
    ci_low: float | None
    ci_high: float | None
    kappa: float | None
    qualified: bool
    weight: float
    judgments: int
    abstentions: int
    position_consistency: float | None
    # The number the threshold and weighting were applied to: the exam accuracy with
    # gold, the latent reliability or the consistency-implied accuracy without.
    qualification_score: float | None = None
    latent_reliability: float | None = None
    consistency_accuracy: float | None = None
    self_confidence: float | None = None
    # Readable answers (peerreview.records.readable): nothing readable on the exam does not
    # qualify; nothing readable in the review (outside the exam) keeps weight 0.
    exam_readable: int = 0
    review_judgments: int = 0
    review_readable: int = 0

    @property
    def abstention_rate(self) -> float:
        """Share of this reviewer's judgments that could not be read."""
        return self.abstentions / self.judgments if self.judgments else 0.0

    @property
    def examined(self) -> bool:
        """Whether the reviewer had any exam gold pair to answer."""
        return self.exam_accuracy is not None


def grade(votes: Votes, gold: Gold,
          table: JudgmentTable) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
    """Grade the votes that fall on gold pairs.

    Returns:
        The row indices of ``votes`` that were graded, their grades (1, 0.5 or 0),
        the gold sign of each and its pair's weight (1 unless the gold was sampled
        unevenly, then 1 / its selection probability).
    """
    g_item, g_a, g_b, g_sign = gold.indexed(table)
    n_models = len(table.models)
    found, index = find_keys(pair_key(g_item, g_a, g_b, n_models),
                             pair_key(votes.item, votes.a, votes.b, n_models))
    rows = np.flatnonzero(found)
    sign = g_sign[index[rows]]
    vote = votes.vote[rows]
    grades = np.where(vote == 0, 0.5, (vote == sign).astype(np.float64))
    return rows, grades, sign, gold.pair_weights()[index[rows]]


def _bootstrap_interval(item: IntArray, grades: FloatArray, n_boot: int,
                        rng: np.random.Generator,
                        weight: FloatArray | None = None) -> tuple[float, float]:
    """95% percentile interval of (weighted) accuracy, resampling exam items (votes
    on one item are not independent)."""
    weight = np.ones_like(grades) if weight is None else weight
    uniq, inverse = np.unique(item, return_inverse=True)
    sums = np.bincount(inverse, weight * grades)
    counts = np.bincount(inverse, weight)
    weights = rng.multinomial(uniq.size, np.full(uniq.size, 1.0 / uniq.size), size=n_boot)
    acc = (weights @ sums) / np.maximum(weights @ counts, 1e-12)
    low, high = np.percentile(acc, [2.5, 97.5])
    return float(low), float(high)


def cohen_kappa(x: IntArray, y: IntArray) -> float | None:
    """Cohen's kappa of two raters' integer labels (a reviewer's votes +1, 0, -1
    against gold, or against another reviewer). None where it is undefined: no
    labels, or both raters always giving the same one label."""
    if x.size == 0:
        return None
    observed = float(np.mean(x == y))
    expected = sum(float(np.mean(x == c)) * float(np.mean(y == c))
                   for c in np.union1d(x, y).tolist())
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def position_consistency(votes: Votes, n_reviewers: int, n_models: int) -> list[float | None]:
    """Per reviewer, the share of pairs judged in both orders (neither an abstention)
    on which the same model won, or both orders said tie."""
    mask = (votes.a_first >= 0) & ~votes.abstain
    v = votes.take(mask)
    key = pair_key(v.item, v.a, v.b, n_models) * n_reviewers + v.reviewer
    out: list[float | None] = [None] * n_reviewers
    if not len(v):
        return out
    order = np.lexsort((v.a_first, key))
    key, vote, a_first, rev = key[order], v.vote[order], v.a_first[order], v.reviewer[order]
    both = (key[:-1] == key[1:]) & (a_first[:-1] != a_first[1:])
    same = vote[:-1] == vote[1:]
    idx = np.flatnonzero(both)
    pairs = np.bincount(rev[idx], minlength=n_reviewers)
    agree = np.bincount(rev[idx], same[idx].astype(np.float64), minlength=n_reviewers)
    for r in range(n_reviewers):
        if pairs[r]:
            out[r] = float(agree[r] / pairs[r])
    return out


def run_exam(
    table: JudgmentTable,
    gold: Gold | None,
    *,
    threshold: float = 0.6,
    weighting: Weighting = Weighting.LINEAR,
    exponent: float = 1.0,
    allow_unexamined: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[ExamResult]:
    """Grade every reviewer candidate, select those with p >= threshold, weight them.

    Without gold every reviewer qualifies with equal weight. Weights of qualified
    reviewers sum to 1; the others get 0. With ``allow_unexamined``, a reviewer
    that had no exam pair qualifies with the mean raw weight of the examined
    qualified ones (or 1 when there are none).

    Raises:
        InputError: no reviewer qualifies, or every qualified weight is 0.
    """
    votes = table.votes()
    results = candidates(table, votes)
    rng = np.random.default_rng(seed)
    if gold is not None:
        rows, grades, signs, weights = grade(votes, gold, table)
        for r, res in enumerate(results):
            mine = votes.reviewer[rows] == r
            res.exam_votes = int(mine.sum())
            if res.exam_votes:
                g, w = grades[mine], weights[mine]
                # the share of gold pairs agreed with; sampled gold weighs each pair by
                # 1 / its selection probability (Hajek), so the share is of all pairs
                res.exam_accuracy = res.qualification_score = float(np.sum(w * g) / np.sum(w))
                it = votes.item[rows[mine]]
                res.exam_items = int(np.unique(it).size)
                res.ci_low, res.ci_high = _bootstrap_interval(it, g, n_boot, rng, w)
                res.kappa = cohen_kappa(votes.vote[rows[mine]], signs[mine])
        counts = readable_counts(table, gold, rows, votes)
        for r, res in enumerate(results):
            res.exam_readable = counts.exam_readable[r]
            res.review_judgments, res.review_readable = (counts.review_judgments[r],
                                                         counts.review_readable[r])
        if not rows.size and not allow_unexamined:
            raise InputError(_no_overlap(gold, table), gold.path or None)
    select_and_weight(results, gold is not None, threshold, weighting, exponent,
                      allow_unexamined)
    return results


def _no_overlap(gold: Gold, table: JudgmentTable) -> str:
    """Why nobody could be graded: the gold and the judgments share no (item, pair)."""
    item, a, b = next(iter(sorted(gold.pairs)))
    shared_items = gold.items & set(table.items)
    hint = ("they share items but no judged pair of models" if shared_items else
            f"the gold's items (e.g. {item!r}) are not the judgments' items (e.g. "
            f"{table.items[0]!r})" if table.items else "there are no judgments")
    return (f"no exam gold pair was judged by any reviewer ({hint}; the gold's first "
            f"pair is {a!r} vs {b!r} on item {item!r}): check that item ids and model "
            "names match the judgments")


def candidates(table: JudgmentTable, votes: Votes | None = None) -> list[ExamResult]:
    """Every reviewer candidate with its counts and position consistency, ungraded."""
    votes = table.votes() if votes is None else votes
    n_rev = len(table.reviewers)
    judgments = np.bincount(table.pairwise.reviewer, minlength=n_rev) + \
        np.bincount(table.scores.reviewer, minlength=n_rev)
    abstentions = np.bincount(table.pairwise.reviewer[table.pairwise.abstain], minlength=n_rev) \
        + np.bincount(table.scores.reviewer[np.isnan(table.scores.score)], minlength=n_rev)
    consistency = position_consistency(votes, n_rev, len(table.models))
    readable = readable_counts(table)  # without gold: every judgment is the review's
    return [ExamResult(name, None, None, 0, None, None, None, qualified=False, weight=0.0,
                       judgments=int(judgments[r]), abstentions=int(abstentions[r]),
                       position_consistency=consistency[r],
                       review_judgments=readable.review_judgments[r],
                       review_readable=readable.review_readable[r])
            for r, name in enumerate(table.reviewers)]


def select_and_weight(results: list[ExamResult], examined: bool, threshold: float,
                      weighting: Weighting, exponent: float, allow_unexamined: bool,
                      what: str = "exam accuracy") -> None:
    """Qualify the candidates whose ``qualification_score`` reaches the threshold and
    weight them (all equally when nobody was ``examined``)."""
    raw: dict[int, float] = {}
    for i, res in enumerate(results):
        score = res.qualification_score
        if not examined:
            raw[i] = 1.0
        elif score is not None and score >= threshold and not silent_on_exam(res):
            raw[i] = raw_weight(score, weighting, exponent)
    if examined and allow_unexamined:
        fill = float(np.mean(list(raw.values()))) if raw else 1.0
        for i, res in enumerate(results):
            if res.qualification_score is None:
                raw[i] = fill
    if not raw:
        raise NoQualifiedReviewer(_why_nobody(results, examined, threshold, what), results)
    silent = [i for i in raw if silent_in_review(results[i])]
    if len(silent) == len(raw):
        names = ", ".join(repr(results[i].reviewer) for i in silent)
        where = "qualified reviewer gave a readable answer in the review" if examined \
            else "reviewer gave a readable answer"
        raise NoQualifiedReviewer(f"no {where} ({names})", results)
    for i in silent:  # qualified, but it has said nothing to weigh
        raw[i] = 0.0
    total = sum(raw.values())
    if total <= 0:
        raise InputError(f"every qualified reviewer has weight 0 under '{weighting}' "
                         "weighting (log-odds gives 0 at or below accuracy 0.5)")
    for i, w in raw.items():
        results[i].qualified = True
        results[i].weight = w / total


def _why_nobody(results: list[ExamResult], examined: bool, threshold: float,
                what: str) -> str:
    """Why no candidate qualified, in the words of what actually happened."""
    if not results:
        return "no reviewer candidate has a judgment"
    if not examined:
        return "no reviewer candidate could be weighed"
    silent = [r.reviewer for r in results if silent_on_exam(r)]
    scores = [r for r in results if r.qualification_score is not None and not silent_on_exam(r)]
    best = max(scores, key=lambda r: r.qualification_score or 0.0, default=None)
    said = f"no reviewer qualified ({what} >= {threshold:g} needed"
    if best is not None:
        said += f"; the best, {best.reviewer!r}, has {best.qualification_score:.3f}"
    if silent:
        said += "; no readable answer on the exam from " + ", ".join(map(repr, silent))
    return said + ")"
