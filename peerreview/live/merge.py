"""``peerreview merge DIR... --out DIR``: the shards' stores joined into one
(:func:`peerreview.calls.merge.merge_stores`), then the pipeline run on it with every
answer read from the store and none sent."""

from __future__ import annotations

import os
from pathlib import Path

from peerreview.calls.merge import Merged, merge_stores
from peerreview.live.config import RunConfig
from peerreview.live.files import RunResult
from peerreview.live.pipeline import run


def merge_and_rank(folders: list[Path], out: Path, *, config: RunConfig | None = None,
                   show_progress: bool = True) -> tuple[Merged, RunResult]:
    """Merge the shards into ``out`` and rank there: the pipeline runs on the merged
    store with every answer read from it and none sent (a call no shard answered is a
    failed call, and the run says which shard to run again).

    Args:
        config: the run's config; by default the one the shards recorded (with absolute
            paths: the inputs must be readable at those paths here).

    Returns:
        What was merged, and the run's result.
    """
    merged = merge_stores(folders, out)
    if config is None:
        config = RunConfig.model_validate(merged.facts["config"])
    # Nothing is sent, so no API key is needed: a placeholder stands in for an unset
    # one, for this process only (backends read theirs when built).
    placed = [v for m in config.models.values()
              if (v := m.key_variable) is not None and not os.environ.get(v)]
    for variable in placed:
        os.environ[variable] = "unused-by-merge"
    try:
        return merged, run(config, out, show_progress=show_progress, stored_only=True)
    finally:
        for variable in placed:
            os.environ.pop(variable, None)
