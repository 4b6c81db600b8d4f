"""The names of the choices a user makes (review mode, exam weighting, qualification,
schedule, recusal, chair method, latent model, shrinkage, style control), each spelled
once here, in a module light enough for the command line to load before it knows which
command runs: the run config's fields and the command line's choices are these."""

from __future__ import annotations

from enum import StrEnum


class ReviewMode(StrEnum):
    """What a reviewer is asked: which of two submissions is better, or a score of one
    on a scale (see :data:`peerreview.review.asker.SCALES`)."""

    PAIRWISE = "pairwise"
    FIVE_LEVEL = "5-level"
    HUNDRED_LEVEL = "100-level"


class Weighting(StrEnum):
    """How exam accuracy p becomes a reviewer weight (before normalizing)."""

    UNIFORM = "uniform"
    LINEAR = "linear"
    LOG_ODDS = "log-odds"
    EXP = "exp"
    POLY = "poly"


class Qualification(StrEnum):
    """How reviewer candidates qualify."""

    GOLD = "gold"  # PRE's exam against human labels
    LATENT = "latent"  # reliability from a latent-truth model of the judgments alone
    CONSISTENCY = "consistency"  # accuracy implied by agreement across the two orders
    NONE = "none"  # every candidate qualifies with equal weight


class Schedule(StrEnum):
    """Which judgments a review asks for (see :mod:`peerreview.review.schedule`)."""

    FULL = "full"
    CASCADE = "cascade"
    ONE_ORDER = "one-order"
    ADAPTIVE = "adaptive"


class Recusal(StrEnum):
    """Which of a reviewer's votes on its own family's submissions are dropped (see
    :mod:`peerreview.records.recuse`)."""

    NONE = "none"
    SELF = "self"  # everywhere
    SELF_EXAM = "self-exam"  # on the exam's items only


class Shrink(StrEnum):
    """How item verdicts are shrunk toward the panel's prior (see
    :mod:`peerreview.chair.shrink`)."""

    NONE = "none"  # PRE's protocol: the margins as they are
    EB = "eb"  # lambda from the panel (empirical Bayes, no labels)
    CV = "cv"  # lambda cross-validated on the exam gold


class Control(StrEnum):
    """What style control adds as covariates (see :mod:`peerreview.chair.style`)."""

    LENGTH = "length"
    MARKDOWN = "markdown"  # the counts of headers, list items and bold spans


# The chair's methods (peerreview.chair.METHODS maps each to its class) and the
# latent-truth models of label-free qualification (peerreview.exam.latent).
METHOD_NAMES = ("vote", "mean", "bradley-terry", "elo", "peer-rank")
LATENT_MODELS = ("dawid-skene", "noisy-bt")
