"""``python -m peerreview.stub``: the stub endpoint, kept at its old address (it moved to
:mod:`peerreview.testing.stub`)."""

from __future__ import annotations

from peerreview.testing.stub import StubServer, StubState, main

__all__ = ["StubServer", "StubState", "main"]

if __name__ == "__main__":
    main()
