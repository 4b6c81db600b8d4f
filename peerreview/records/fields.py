"""A judgment's fields, described once: the names it gives, the winners it may
name, and the optional numbers a pairwise judgment may carry.

:data:`EXTRAS` is the one description of these fields: the exact reader
(:func:`peerreview.records.exchange.parse_judgment`), the fast reader's schema and
checks (:mod:`peerreview.records.reading`), the writer
(:func:`peerreview.records.exchange.judgment_to_dict`) and the vote table's columns
(:mod:`peerreview.records.table`) all loop over it, so a field
cannot be read and then dropped on the way to the chair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import orjson

from peerreview.errors import InputError

# The names a judgment gives, each a non-empty text: every judgment's item and reviewer,
# a pairwise one's first and second, a pointwise one's model.
NAMES: tuple[str, ...] = ("item", "reviewer", "first", "second", "model")
Winner = Literal["first", "second", "tie"]
WINNERS: tuple[str, ...] = get_args(Winner)  # a pairwise judgment's winner, or null


def describe(value: Any) -> str:
    """A value as an error message shows it: its type and (cut) JSON."""
    text = orjson.dumps(value).decode()
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


@dataclass(frozen=True, slots=True)
class Extra:
    """An optional number a pairwise judgment may carry: its name, the values allowed,
    how it is written, and whether the vote table carries it."""

    name: str
    expected: str  # what the error says was expected
    low: float
    high: float = math.inf
    open_ends: bool = False  # low and high themselves are outside
    whole: bool = False  # a whole number (int; Int64 in polars)
    digits: int | None = 6  # the writer rounds to this many decimals
    missing: float = math.nan  # the vote table's value where a judgment has none
    in_table: bool = True  # a column of the vote table (gold-only fields are not)

    def valid(self, value: Any) -> bool:
        """Whether a decoded JSON value is allowed (None is checked by the caller)."""
        if isinstance(value, bool) or not isinstance(value, int if self.whole else int | float):
            return False
        if self.open_ends:
            return bool(self.low < value < self.high)
        return bool(self.low <= value <= self.high)

    def read(self, obj: dict[str, Any], path: Path, line: int) -> float | int | None:
        """The field of one record, checked.

        Raises:
            InputError: present and not valid (file, line, field).
        """
        value = obj.get(self.name)
        if value is None:
            return None
        if not self.valid(value):
            raise InputError(f"expected {self.expected}, got {describe(value)}", path, line,
                             self.name)
        return int(value) if self.whole else float(value)

    def written(self, value: float | int) -> float | int:
        """The value as the writer puts it in JSON."""
        return value if self.digits is None else round(value, self.digits)


EXTRAS: tuple[Extra, ...] = (
    Extra("confidence", "a probability between 0 and 1", 0.0, 1.0),
    Extra("strength", "a whole number >= 1", 1.0, whole=True, digits=None, missing=1.0),
    Extra("weight", "a positive number (1 / selection probability)", 0.0, 1e12,
          open_ends=True, in_table=False),
    Extra("p_first", "a probability between 0 and 1 (that the submission shown first is "
          "better)", 0.0, 1.0),
)
TABLE_EXTRAS = tuple(f for f in EXTRAS if f.in_table)  # the vote table's columns
