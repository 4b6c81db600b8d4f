"""What a ranking is: the options of :func:`peerreview.ranking.rank` (whose defaults are
PRE's protocol) and everything it decided, as one record that the files, the report and
a notebook read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from peerreview.agreement import Agreement
from peerreview.chair import METHODS, LeaderboardRow
from peerreview.chair.base import Evidence
from peerreview.chair.compare import Comparisons
from peerreview.chair.excess_bias import ExcessBias
from peerreview.chair.guarantee import Guarantee
from peerreview.chair.ppi import PPIRow
from peerreview.chair.shrink import Shrinkage
from peerreview.chair.style import StyleControl
from peerreview.errors import InputError
from peerreview.exam.grade import ExamResult, Weighting
from peerreview.options import LATENT_MODELS, Control, Qualification, Recusal, Shrink
from peerreview.records.counting import Counting
from peerreview.records.exchange import Duplicate, OffScale
from peerreview.records.study import Study
from peerreview.records.table import BoolArray, JudgmentTable
from peerreview.review.schedule import Schedule


@dataclass(slots=True)
class RankOptions:
    """Options of :func:`rank`; the defaults reproduce the PRE paper's protocol."""

    threshold: float = 0.6
    weighting: Weighting = Weighting.LINEAR
    exponent: float = 1.0
    method: str | None = None  # None: vote for pairwise judgments, mean for pointwise
    normalize: bool = False  # z-score each reviewer's scores (mean method)
    qualification: Qualification | None = None  # None: gold with exam gold, else none
    allow_unexamined: bool = False
    exclude_exam_items: bool = False  # the chair ranks only items outside the exam
    bootstrap: int = 0
    seed: int = 0
    per_reviewer: bool = True  # also rank and measure every single reviewer
    latent_model: str = "dawid-skene"  # or noisy-bt (pairwise judgments)
    schedule: Schedule = Schedule.FULL  # which judgments to use (see peerreview.review.schedule)
    budget: int | None = None  # at most this many judgments (schedules other than full too)
    off_scale: OffScale = OffScale.KEEP  # scores outside their scale, when reading files
    baseline: str | None = None  # use only pairs with this model (alpaca_eval's design)
    strength: int = 3  # a strong verdict (arena-hard's >>) counts this many times
    soft: bool = False  # judgments with p_first vote by their probability
    control: tuple[Control, ...] = ()  # style control: (LENGTH,), (LENGTH, MARKDOWN)
    calibrate_bias: bool = False  # remove each reviewer's excess bias the exam measured
    recuse: Recusal = Recusal.NONE  # self: no one judges its own family; self-exam: exam
    families: dict[str, str] = field(default_factory=dict)  # model name -> family
    target_agreement: float | None = None  # calibrate a margin threshold on the exam
    delta: float = 0.1  # ... that holds with probability 1 - delta (needs_review below it)
    audit: bool = False  # audit.json: what would flip the ranking, what the panel is worth
    ppi: bool = False  # ppi.json: prediction-powered intervals from gold on some items
    shrink: Shrink = Shrink.NONE  # eb or cv: item verdicts shrunk toward the panel's prior

    @property
    def counting(self) -> Counting:
        """What a vote counts in every chair (see
        :func:`peerreview.records.counting.vote_worth`)."""
        return Counting(strength=self.strength, soft=self.soft)


@dataclass(slots=True)
class ReviewerAgreement:
    """A single reviewer's agreement with gold, ranking alone."""

    reviewer: str
    agreement: Agreement


@dataclass(slots=True)
class RankResult:
    """Everything ``rank`` decided."""

    method: str
    table: JudgmentTable
    exam: list[ExamResult]
    evidence: Evidence
    leaderboard: list[LeaderboardRow]
    agreement: Agreement | None
    reviewer_agreement: list[ReviewerAgreement]
    duplicates: list[Duplicate]
    judgments_used: int
    judgments_available: int
    notes: list[str] = field(default_factory=list)
    schedule: Schedule = Schedule.FULL
    study: Study | None = None  # what was ranked: every judgment, the gold, the texts
    style: StyleControl | None = None  # with control: the coefficients, controlled board
    bias: list[ExcessBias] | None = None  # with calibrate_bias: what the exam measured
    bootstrap: int = 0  # the leaderboard's resamples (the report's intervals use as many)
    guarantee: Guarantee | None = None  # with target_agreement: the calibrated threshold
    needs_review: BoolArray | None = None  # per verdict, below the threshold
    audit: dict[str, Any] | None = None  # with audit: flips, cycles, the panel's worth
    ppi: list[PPIRow] | None = None  # with ppi: PPI++ beside the panel and the gold
    shrinkage: Shrinkage | None = None  # with shrink: the method and lambda
    comparisons: Comparisons | None = None  # every pair, on the leaderboard's resamples
    # Each qualified reviewer's own rank of every model: the same chair and counting on
    # its judgments alone among the panel's (the report's "by X" columns).
    rankings: dict[str, dict[str, int]] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        """The contract's output files, by name."""
        from peerreview.rankfiles import rank_files

        return rank_files(self)

    def to_polars(self) -> Any:
        """The leaderboard as a polars DataFrame (best first)."""
        import polars as pl

        return pl.DataFrame([row.to_dict() for row in self.leaderboard],
                            schema={"model": pl.String, "rank": pl.Int64, "score": pl.Float64,
                                    "ci_low": pl.Float64, "ci_high": pl.Float64,
                                    "rank_low": pl.Int64, "rank_high": pl.Int64})

    def to_pandas(self) -> Any:
        """The leaderboard as a pandas DataFrame (best first); needs pandas installed.

        Raises:
            InputError: pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise InputError("to_pandas needs pandas: pip install pandas (or use "
                             "to_polars)") from exc
        return pd.DataFrame([row.to_dict() for row in self.leaderboard])

    def leaderboard_parquet(self) -> bytes:
        """The leaderboard as a Parquet file."""
        buffer = io.BytesIO()
        self.to_polars().write_parquet(buffer)
        return buffer.getvalue()


def check_options(opts: RankOptions) -> None:
    """Refuse options no ranking can take (exit 2, naming the option)."""
    if not 0.0 <= opts.threshold <= 1.0:
        raise InputError(f"--threshold must be between 0 and 1, got {opts.threshold}")
    if opts.bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {opts.bootstrap}")
    if opts.latent_model not in LATENT_MODELS:
        raise InputError(f"unknown latent model {opts.latent_model!r}; choose from "
                         f"{', '.join(LATENT_MODELS)}")
    if opts.method is not None and opts.method not in METHODS:
        raise InputError(f"unknown method {opts.method!r}; choose from {', '.join(METHODS)}")
    if isinstance(opts.strength, bool) or not isinstance(opts.strength, int) \
            or opts.strength < 1:
        raise InputError(f"--strength must be a whole number >= 1, got {opts.strength!r}")
