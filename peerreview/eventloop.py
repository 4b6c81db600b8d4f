"""The event loop a run's calls go through: uvloop where it is installed (a core
dependency off Windows), else asyncio's own.

uvloop takes a fifth of the CPU off every call (0.30 -> 0.24 ms a call against the
stub, ``benchmarks/scale.py``). ``PEERREVIEW_UVLOOP=0`` keeps asyncio's loop, to rule
the loop out when something looks wrong.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to the end on a new event loop, as :func:`asyncio.run` does."""
    factory = None
    if os.environ.get("PEERREVIEW_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:  # Windows, or an install without it
            pass
        else:
            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
