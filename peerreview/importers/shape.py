"""Checks of an imported set's shape, so that a data problem is seen at import time.

A model answering an item twice with two different outputs stops the import (or,
with ``keep_first``, keeps the first and says so). What may be deliberate, and is
often not, is a warning with counts and examples: models missing submissions,
model names that differ only by case or white space, inputs that differ only by
white space.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from peerreview.errors import InputError
from peerreview.importers.sources import Place
from peerreview.records.exchange import Item, Judgment, PairwiseJudgment, Submission

EXAMPLES = 3  # examples shown in a warning


def _quote(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[:width - 3] + "...")


class SubmissionPool:
    """Submissions in reading order, one per (item, model).

    A repeat with the same output is merged (and counted); one with a different
    output is an error naming both records unless ``keep_first``.
    """

    def __init__(self, keep_first: bool = False) -> None:
        self.keep_first = keep_first
        self.submissions: list[Submission] = []
        self._seen: dict[tuple[str, str], tuple[int, Place]] = {}
        self.repeats = 0
        self.conflicts: list[tuple[Submission, Place, Place]] = []

    def add(self, item: str, model: str, output: str, place: Place,
            label: str | None = None) -> None:
        """Add one model's output for one item, read at ``place``.

        Args:
            item: the item id.
            model: the evaluatee.
            output: what it wrote.
            place: where the record was read.
            label: the item as a person knows it (an instruction), for messages.

        Raises:
            InputError: the model already has a different output for the item.
        """
        key = (item, model)
        if key not in self._seen:
            self._seen[key] = (len(self.submissions), place)
            self.submissions.append(Submission(item, model, output))
            return
        index, first = self._seen[key]
        kept = self.submissions[index]
        if kept.output == output:
            self.repeats += 1
            return
        if not self.keep_first:
            what = f"item {item!r}" + (f" ({_quote(label)})" if label else "")
            raise InputError(
                f"model {model!r} answers {what} a second time with a different output; "
                f"its first answer is at {first} (--keep-first keeps the first and goes on)",
                place.source.path, place.source.line(place.position), "output")
        self.conflicts.append((kept, first, place))

    def notes(self) -> list[str]:
        """What the pool merged or kept, for the import's notes."""
        out = []
        if self.repeats:
            out.append(f"{self.repeats} repeated submission(s) with the same output merged")
        if self.conflicts:
            examples = "; ".join(f"{s.model!r} at {second}, first at {first}"
                                 for s, first, second in self.conflicts[:EXAMPLES])
            out.append(f"{len(self.conflicts)} second answer(s) with a different output "
                       f"left out, the first kept (--keep-first), e.g. {examples}")
        return out


def missing_submissions(items: list[Item], submissions: list[Submission]) -> str | None:
    """A warning naming the models that lack a submission for some items."""
    by_model: dict[str, set[str]] = defaultdict(set)
    for s in submissions:
        by_model[s.model].add(s.item)
    order = [i.item for i in items]
    short: list[tuple[str, list[str]]] = []
    for model in sorted(by_model):
        have = by_model[model]
        if len(have) < len(order):
            short.append((model, [t for t in order if t not in have]))
    if not short:
        return None
    inputs = {i.item: i.input for i in items}
    shown = ", ".join(f"{m!r} lacks {len(gone)} of {len(order)} (e.g. {gone[0]!r}: "
                      f"{_quote(inputs[gone[0]], 40)})" for m, gone in short[:EXAMPLES])
    more = f", and {len(short) - EXAMPLES} more" if len(short) > EXAMPLES else ""
    return (f"{len(short)} of {len(by_model)} model(s) miss submissions: {shown}{more}; "
            "a pair is judged only on the items both answered")


def _groups(names: Iterable[str], key: str) -> list[list[str]]:
    by_key: dict[str, set[str]] = defaultdict(set)
    for name in names:
        folded = " ".join(name.split())
        by_key[folded.casefold() if key == "case" else folded].add(name)
    return [sorted(g) for _, g in sorted(by_key.items()) if len(g) > 1]


def near_names(submissions: list[Submission], judgments: list[Judgment]) -> str | None:
    """A warning naming models whose names differ only by case or white space."""
    names = {s.model for s in submissions}
    for j in judgments:
        names.update((j.first, j.second) if isinstance(j, PairwiseJudgment) else (j.model,))
    groups = _groups(names, "case")
    if not groups:
        return None
    shown = "; ".join(" / ".join(repr(n) for n in g) for g in groups[:EXAMPLES])
    return (f"{len(groups)} group(s) of model names differ only by case or white space: "
            f"{shown}; each name is its own model (rename them in the source if they are "
            "one)")


def near_inputs(items: list[Item]) -> str | None:
    """A warning naming item inputs that differ from another only by white space."""
    groups = _groups((i.input for i in items), "space")
    if not groups:
        return None
    shown = "; ".join(" and ".join(repr(t[:50] + ("..." if len(t) > 50 else "")) for t in g)
                      for g in groups[:EXAMPLES])
    count = sum(len(g) for g in groups)
    return (f"{count} inputs differ from another only by white space ({len(groups)} "
            f"group(s)), e.g. {shown}; each is its own item")


def shape_warnings(items: list[Item], submissions: list[Submission],
                   judgments: list[Judgment], *, complete: bool = True) -> list[str]:
    """Every shape warning of an imported set.

    Args:
        items: its items.
        submissions: its submissions.
        judgments: its reviewer judgments (their model names are checked too).
        complete: whether every model should answer every item (False where the set
            pairs different models on each item, as PandaLM does).
    """
    found = [missing_submissions(items, submissions) if complete else None,
             near_names(submissions, judgments), near_inputs(items)]
    return [w for w in found if w]
