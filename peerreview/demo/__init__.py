"""The built-in demo: a short question-answering task written for peerreview, with
an exam of its own whose gold labels were written by hand (see README)."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path


def demo_config_path() -> Path:
    """The demo's config file (inside the installed package)."""
    with as_file(files("peerreview.demo").joinpath("config.yaml")) as path:
        return Path(path)
