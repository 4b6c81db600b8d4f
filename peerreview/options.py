"""The names of the choices a user makes (exam weighting, qualification, schedule,
chair method, latent model), in a module light enough for the command line to load
before it knows which command runs."""

from __future__ import annotations

from enum import StrEnum


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


# The chair's methods (peerreview.chair.METHODS maps each to its class) and the
# latent-truth models of label-free qualification (peerreview.exam.latent).
METHOD_NAMES = ("vote", "mean", "bradley-terry", "elo", "peer-rank")
LATENT_MODELS = ("dawid-skene", "noisy-bt")
