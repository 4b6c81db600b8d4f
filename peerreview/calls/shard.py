"""Shards of a run: ``peerreview run CONFIG --out DIR --shard I/N`` makes only the review
calls whose key falls in shard I of N, so that N machines (a SLURM array, a Kubernetes
indexed job) split a run with no coordinator; ``peerreview merge`` joins their stores.

A call's shard is ``int(key[:8], 16) % N``: the call key (:mod:`peerreview.calls.key`)
is the same on every machine, so the shards are disjoint and together hold every call.
Only the review is split: the submissions and the exam decide which review calls exist,
so every shard makes them (the same calls, with the same keys: merged once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from peerreview.errors import InputError, PeerReviewError, RunFailed

if TYPE_CHECKING:
    from peerreview.calls.store import RunStore

# Review schedules whose calls do not depend on other answers of the review: a shard
# makes exactly its part of what an unsharded run would make.
SHARDABLE = ("full", "one-order")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def holds(self, key: str) -> bool:
        """Whether the call with this key is this shard's to make."""
        return int(key[:8], 16) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``I/N`` (``0 <= I < N``) as a :class:`Shard`.

    Raises:
        InputError: not two integers ``I/N`` with ``0 <= I < N``.

    >>> parse_shard("2/3")
    Shard(index=2, count=3)
    """
    index, slash, count = text.partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise InputError(f"--shard {text!r}: expected I/N, two integers, e.g. 0/4",
                         field="--shard")
    shard = Shard(int(index), int(count))
    if shard.count < 1 or shard.index >= shard.count:
        raise InputError(f"--shard {text!r}: I counts from 0 and must be below N "
                         f"(shards 0/{max(shard.count, 1)} ... "
                         f"{max(shard.count, 1) - 1}/{max(shard.count, 1)})", field="--shard")
    return shard


def check_schedule(schedule: str) -> None:
    """A schedule that asks by the answers so far cannot be split by call key.

    Raises:
        InputError: naming ``review.schedule``.
    """
    if schedule not in SHARDABLE:
        raise InputError(f"--shard needs review.schedule full or one-order: '{schedule}' "
                         "chooses its calls by the answers so far, which no shard has "
                         "all of", field="review.schedule")


class NotInShard(PeerReviewError):
    """The call belongs to another shard: this run does not make it."""


class ShardStored(PeerReviewError):
    """A shard's calls are in its store; the ranking waits for ``peerreview merge``."""


def start_shard(store: RunStore, shard: Shard | None, schedule: str) -> None:
    """Record which shard a run folder holds; a folder holds one shard for good.

    Raises:
        InputError: the schedule cannot be split, or the folder holds another shard
            (or an unsharded run).
    """
    held = store.facts().get("shard")
    if shard is None:
        if held is not None:
            raise InputError(f"this folder holds shard {held['index']}/{held['count']}: "
                             f"run it with --shard {held['index']}/{held['count']}, or "
                             "merge the shards into another folder", field="--shard")
        return
    check_schedule(schedule)
    if held is None and store.totals()["calls"]:
        raise InputError("this folder holds an unsharded run: give each shard a folder "
                         "of its own", field="--shard")
    if held is not None and (held["index"], held["count"]) != (shard.index, shard.count):
        raise InputError(f"this folder holds shard {held['index']}/{held['count']}, not "
                         f"{shard}: give each shard a folder of its own", field="--shard")
    store.set_fact("shard", {"index": shard.index, "count": shard.count})
    store.set_fact("shard.done", False)


def finish_shard(store: RunStore, shard: Shard, failed: str | None) -> PeerReviewError:
    """The end of a shard's run: its review calls are stored (ShardStored), or some
    failed for good (RunFailed: run the shard again)."""
    calls = store.totals()
    if failed is not None:
        return RunFailed(f"shard {shard}: {failed}. Run the same command again to retry "
                         "only the missing calls, then merge.")
    store.set_fact("shard.done", True)
    return ShardStored(f"shard {shard}: {int(calls['calls']):,} calls stored in "
                       f"{store.path}; when every shard is done: peerreview merge DIR... "
                       "--out DIR")
