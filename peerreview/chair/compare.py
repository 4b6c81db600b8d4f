"""Is the difference real: paired comparisons of every two evaluatees (issue 20.2).

For every pair (A, B), the difference of their chair scores and, over the
leaderboard's own bootstrap resamples of items (the same resamples, recorded as the
leaderboard draws them, never drawn again), the 95% percentile interval of that
difference and the share of resamples in which A is ahead. Pairing matters: both
scores move with the same resampled items, so the interval of the difference is
narrower than the two score intervals suggest.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from peerreview.chair.base import Chair, Evidence
from peerreview.chair.bootstrap import LeaderboardRow, resample_counts
from peerreview.errors import InputError
from peerreview.records.table import FloatArray
from peerreview.text import inert

NO_INTERVAL = "no interval: ranked without --bootstrap"


class RecordingChair(Chair):
    """A chair that scores as ``chair`` does and remembers the scores of every
    weighting of the items it was asked about, so that the comparisons read the
    leaderboard's own resamples instead of fitting them again."""

    name = "recording"

    def __init__(self, chair: Chair) -> None:
        self.chair = chair
        self._seen: dict[bytes, FloatArray] = {}  # a digest of the item weights -> scores

    def scores(self, evidence: Evidence, item_weights: FloatArray | None = None) -> FloatArray:
        scores = self.chair.scores(evidence, item_weights)
        if item_weights is not None:
            self._seen[_digest(item_weights)] = np.array(scores, np.float64)
        return scores

    def samples(self, evidence: Evidence, n_boot: int, seed: int) -> FloatArray:
        """(n_boot x models): the scores of the leaderboard's resamples, drawn as it
        draws them (:func:`~peerreview.chair.bootstrap.resample_counts`), each read from
        what was recorded (scored again only where it was not)."""
        if n_boot <= 0:
            return np.zeros((0, evidence.n_models))
        counts = resample_counts(evidence.n_items, n_boot, seed)
        rows = []
        for row in counts:
            seen = self._seen.get(_digest(row))
            rows.append(seen if seen is not None else self.chair.scores(evidence, row))
        return np.vstack(rows)


def _digest(weights: FloatArray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(weights, np.float64).tobytes(),
                           digest_size=16).digest()


@dataclass(slots=True)
class Comparison:
    """A and B: score difference A - B, its interval and the share of resamples with
    A ahead (and tied); None without a bootstrap. ``items``: items with a verdict for
    both (None where unknown: read from a leaderboard alone)."""

    a: str
    b: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    a_ahead: float | None
    tied: float | None
    items: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def covers_zero(self) -> bool:
        """Whether the interval of the difference includes 0 (the two are tied)."""
        return self.ci_low is not None and self.ci_high is not None and \
            self.ci_low <= 0.0 <= self.ci_high

    def flipped(self) -> Comparison:
        """The same comparison seen from B."""
        behind = None if self.a_ahead is None or self.tied is None else \
            max(0.0, 1.0 - self.a_ahead - self.tied)
        return Comparison(self.b, self.a, _neg(self.difference), _neg(self.ci_high),
                          _neg(self.ci_low), behind, self.tied, self.items)

    def sentence(self) -> str:
        """One plain sentence: "A is ahead of B by 0.08 [0.03, 0.13] in 98% of
        resamples over 80 items" (behind: the interval and share are B's lead over A).
        Names are shown inert."""
        a, b = inert(self.a), inert(self.b)
        items = "" if self.items is None else \
            f" over {self.items} item{'' if self.items == 1 else 's'}"
        if self.difference is None:
            return f"{a} and {b} cannot be compared: one of them has no score"
        lead = self if self.difference >= 0 else self.flipped()
        assert lead.difference is not None
        said = f"{a} is ahead of {b}" if self.difference > 0 else \
            f"{a} is behind {b}" if self.difference < 0 else f"{a} and {b} are tied"
        digits = _digits([x for x in (lead.difference, lead.ci_low, lead.ci_high)
                          if x is not None])
        by = "" if self.difference == 0 else f" by {lead.difference:.{digits}f}"
        if lead.ci_low is None or lead.ci_high is None or lead.a_ahead is None:
            return f"{said}{by}{items} ({NO_INTERVAL})"
        interval = f"[{lead.ci_low:.{digits}f}, {lead.ci_high:.{digits}f}]"
        if self.difference == 0:
            behind = max(0.0, 1.0 - lead.a_ahead - (lead.tied or 0.0))
            return (f"{said} {interval}: {a} is ahead in {_percent(lead.a_ahead)} of "
                    f"resamples and {b} in {_percent(behind)}{',' if items else ''}{items}")
        return f"{said}{by} {interval} in {_percent(lead.a_ahead)} of resamples{items}"

    @staticmethod
    def from_dict(raw: Any, where: str) -> Comparison:
        """A comparison read back from comparisons.json.

        Raises:
            InputError: a field is missing or of the wrong type (naming it).
        """
        if not isinstance(raw, dict):
            raise InputError("a comparison must be an object", where)
        values: dict[str, Any] = {}
        for name, kinds in _FIELDS.items():
            value = raw.get(name)
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise InputError(f"{name!r} must be {_KIND_NAMES[name]}", where, field=name)
            values[name] = float(value) if isinstance(value, int) and name not in (
                "a", "b", "items") else value
        return Comparison(**values)


_NUMBER = (int, float)
_FIELDS: dict[str, tuple[type, ...]] = {
    "a": (str,), "b": (str,), "difference": (*_NUMBER, type(None)),
    "ci_low": (*_NUMBER, type(None)), "ci_high": (*_NUMBER, type(None)),
    "a_ahead": (*_NUMBER, type(None)), "tied": (*_NUMBER, type(None)),
    "items": (int, type(None))}
_KIND_NAMES = {"a": "a model name", "b": "a model name", "items": "a whole number or null",
               **{k: "a number or null" for k in ("difference", "ci_low", "ci_high",
                                                  "a_ahead", "tied")}}


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _digits(values: list[float]) -> int:
    """Decimals that show the numbers: 2, more for small ones (0.004 is not 0.00)."""
    biggest = max((abs(x) for x in values if x), default=0.0)
    if biggest == 0 or biggest >= 0.05:
        return 2
    return min(6, 1 - math.floor(math.log10(biggest)))


def _percent(share: float) -> str:
    """98%, but never 100% or 0% for a share that is not all or nothing."""
    if 0.0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1.0:
        return ">99%"
    return f"{share:.0%}"


@dataclass(slots=True)
class Comparisons:
    """Every pair of evaluatees, in leaderboard order (A above B)."""

    method: str
    resamples: int  # 0: no bootstrap, no intervals
    seed: int
    pairs: list[Comparison] = field(default_factory=list)

    def between(self, a: str, b: str) -> Comparison:
        """A against B, whichever way it is stored.

        Raises:
            KeyError: no such pair.
        """
        for c in self.pairs:
            if (c.a, c.b) == (a, b):
                return c
            if (c.a, c.b) == (b, a):
                return c.flipped()
        raise KeyError((a, b))

    def vs_next(self, board: list[LeaderboardRow]) -> list[Comparison | None]:
        """Each leaderboard row against the row below it (None for the last)."""
        index = {(c.a, c.b): c for c in self.pairs}
        return [index[row.model, below.model] if (row.model, below.model) in index
                else self.between(row.model, below.model) for row, below in pairwise(board)] \
            + ([None] if board else [])

    def matrix(self, models: list[str]) -> list[list[Comparison | None]]:
        """Row model against column model for every two of ``models`` (None on the
        diagonal and for a pair not compared)."""
        index = {(c.a, c.b): c for c in self.pairs}
        index.update({(c.b, c.a): c.flipped() for c in self.pairs})
        return [[None if a == b else index.get((a, b)) for b in models] for a in models]

    def adjacent_ties(self, board: list[LeaderboardRow]) -> list[Comparison]:
        """The adjacent rows whose interval of the difference covers 0."""
        return [c for c in self.vs_next(board) if c is not None and c.covers_zero]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "resamples": self.resamples, "seed": self.seed,
                "interval": "95% percentile of the paired bootstrap" if self.resamples
                else NO_INTERVAL,
                "pairs": [c.to_dict() for c in self.pairs]}

    @staticmethod
    def from_dict(raw: Any, where: str) -> Comparisons:
        """comparisons.json read back.

        Raises:
            InputError: not the shape :meth:`to_dict` writes (naming the field).
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("pairs"), list):
            raise InputError("expected an object with a list 'pairs'", where, field="pairs")
        resamples, seed = raw.get("resamples"), raw.get("seed")
        if not isinstance(resamples, int) or isinstance(resamples, bool):
            raise InputError("'resamples' must be a whole number", where, field="resamples")
        return Comparisons(str(raw.get("method", "")), resamples,
                           seed if isinstance(seed, int) else 0,
                           [Comparison.from_dict(p, f"{where}: pairs[{k}]")
                            for k, p in enumerate(raw["pairs"])])


def from_leaderboard(raw: Any, where: str) -> Comparisons:
    """The comparisons a leaderboard.json alone allows (a ranking without
    ``--bootstrap``): each pair's score difference, with no interval and no item count.

    Raises:
        InputError: a row without a model name or a numeric (or null) score.
    """
    if not isinstance(raw, list):
        raise InputError("expected a list of leaderboard rows", where)
    rows = []
    for k, row in enumerate(raw):
        if not isinstance(row, dict) or not isinstance(row.get("model"), str):
            raise InputError(f"row {k}: 'model' must be a model name", where, field="model")
        score = row.get("score")
        if score is not None and (not isinstance(score, int | float) or isinstance(score, bool)):
            raise InputError(f"row {k}: 'score' must be a number or null", where, field="score")
        rows.append((row["model"], None if score is None else float(score)))
    pairs = [Comparison(a, b, None if sa is None or sb is None else sa - sb,
                        None, None, None, None, None)
             for i, (a, sa) in enumerate(rows) for b, sb in rows[i + 1:]]
    return Comparisons("", 0, 0, pairs)


def compare_models(board: list[LeaderboardRow], evidence: Evidence, method: str,
                   samples: FloatArray, seed: int = 0) -> Comparisons:
    """Paired comparisons of every two models of ``board`` (A the better ranked).

    Args:
        board: the leaderboard, best first (its scores are the differences' terms).
        evidence: what was ranked (for the items each pair shares).
        method: the chair's name.
        samples: (resamples x models) the scores of every bootstrap resample, in the
            table's model order (:meth:`RecordingChair.samples`: the leaderboard's); no
            rows: no intervals.
        seed: the bootstrap's seed, recorded.
    """
    models = evidence.table.models
    index = {m: k for k, m in enumerate(models)}
    present = ~np.isnan(evidence.item_scores)
    drawn = np.asarray(samples, np.float64).reshape(-1, len(models))
    upper, lower = np.triu_indices(len(board), 1)  # board positions, A above B
    at = np.array([index[row.model] for row in board], np.int64)
    a, b = at[upper], at[lower]
    point = np.array([row.score for row in board], np.float64)
    diff = point[upper] - point[lower]
    cells = present.astype(np.float32)  # exact counts below 2**24 items
    shared = np.rint(cells.T @ cells)[a, b].astype(np.int64)  # items both have a verdict on
    low, high, ahead, tied = (np.full(a.size, np.nan) for _ in range(4))
    for chunk in np.array_split(np.arange(a.size), max(1, a.size // 2000)):
        if drawn.shape[0] and chunk.size:  # ~2000 pairs at a time bound the memory
            d = drawn[:, a[chunk]] - drawn[:, b[chunk]]
            low[chunk], high[chunk], ahead[chunk], tied[chunk] = _summaries(d)
    out = Comparisons(method, drawn.shape[0], seed)
    for k in range(a.size):
        known = math.isfinite(diff[k])
        interval = known and math.isfinite(low[k])
        out.pairs.append(Comparison(
            board[upper[k]].model, board[lower[k]].model, float(diff[k]) if known else None,
            float(low[k]) if interval else None, float(high[k]) if interval else None,
            float(ahead[k]) if interval else None, float(tied[k]) if interval else None,
            int(shared[k])))
    return out


def _summaries(d: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per column of resampled differences (NaN: a resample without both scores): the
    2.5 and 97.5 percentiles, the share above 0 and the share at 0, over the finite."""
    finite = np.isfinite(d)
    n = finite.sum(axis=0)
    with np.errstate(all="ignore"):
        if finite.all():
            low, high = np.percentile(d, [2.5, 97.5], axis=0)
        else:
            low, high = np.nanpercentile(d, [2.5, 97.5], axis=0)
        ahead = np.where(n > 0, (finite & (d > 0)).sum(axis=0) / n, np.nan)
        tied = np.where(n > 0, (finite & (d == 0)).sum(axis=0) / n, np.nan)
    return np.asarray(low), np.asarray(high), ahead, tied
