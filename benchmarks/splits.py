"""The exam/chair split protocol shared by the fidelity benchmarks.

SummEval: exam on 20 articles drawn at random; Vicuna80 and PandaLM: exam on 20%
of the items with human votes; the chair ranks the rest. Split k draws with seed k.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from peerreview.importers import importer
from peerreview.records.exchange import JudgmentSet, read_judgments
from peerreview.records.gold import Gold, gold_from_judgments

SETS = {"summeval": 20, "vicuna80": 0.2, "pandalm": 0.2}  # exam size: items or share


@dataclass(slots=True)
class Split:
    """One random split: the exam's gold and the held-out gold the chair is measured on."""

    seed: int
    exam_items: set[str]
    exam_gold: Gold
    test_gold: Gold


def load(name: str, data: Path) -> tuple[JudgmentSet, Gold]:
    """A data set's judgments and gold, imported from ../shared/data."""
    with tempfile.TemporaryDirectory() as tmp:
        importer(name)(data / name).write(Path(tmp) / name)
        return (read_judgments(Path(tmp) / name / "judgments.jsonl"),
                gold_from_judgments(Path(tmp) / name / "gold.jsonl"))


def splits(name: str, gold: Gold, count: int) -> Iterator[Split]:
    """``count`` random exam/chair splits of a set's gold items."""
    items = sorted(gold.items)
    size = SETS[name]
    n_exam = size if isinstance(size, int) else round(size * len(items))
    for seed in range(count):
        exam = set(np.random.default_rng(seed).choice(items, n_exam, replace=False).tolist())
        yield Split(seed, exam, gold.restrict(exam), gold.restrict(set(items) - exam))


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every fidelity benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--splits", type=int, default=20)
    return parser


def machine() -> str:
    """What a table was measured on, when, and at which commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip() or "unknown"
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {date.today()}, commit {commit}")


def header(count: int) -> str:
    """The line that says how many splits, on what machine, when and at which commit."""
    return f"{count} random exam/chair splits; {machine()}\n"
