"""The fast reader reads a file a block of whole lines at a time (so that 10M judgments
fit in bounded memory): blocks that split a file anywhere read it as one read whole,
with the same line numbers, repeats and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peerreview.errors import InputError
from peerreview.records import reading
from peerreview.records.exchange import read_judgments
from peerreview.records.reading import load_judgments
from peerreview.records.table import build_table
from tests.conftest import pt, pw
from tests.records.test_reading import same_table


def _no_exact(path: Path, rule: Any) -> Any:
    raise AssertionError(f"{path} left to the exact reader")


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 64 bytes: about one judgment each, many lines longer than a block."""
    monkeypatch.setattr(reading, "_BLOCK", 64)


def _lines() -> list[str]:
    rows = [pw("t1", "r", "A", "B", "first"), pw("t2", "r", "B", "C", None),
            pw("t1", "r2", "C", "A", "tie"), pt("t1", "s", "A", 4), pt("t1", "s", "B", 2),
            pw("t1", "r", "A", "B", "second"),  # repeats line 1 (item, reviewer, order)
            {**pw("t3", "r", "A", "C", "first"), "raw": "A is " + "much " * 40 + "better"},
            pt("t1", "s", "A", 1)]  # repeats line 5
    return [json.dumps(r) for r in rows]


@pytest.mark.usefixtures("small_blocks")
def test_blocks_read_as_the_whole_file(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()
    # blank lines inside, a run of blank lines longer than a block, no final newline
    text = "\n" + "\n".join(lines[:3]) + "\n" + " " * 100 + "\n\n" + "\n".join(lines[3:])
    path = tmp_path / "j.jsonl"
    path.write_text(text)
    exact = read_judgments(path)
    monkeypatch.setattr(reading, "_exact", _no_exact)  # the fast path reads it all
    fast = load_judgments([path])
    same_table(fast.table, build_table(exact.judgments))
    # lines counted by hand: 1 blank, 2-4 judgments, 5-6 blank, 7-11 judgments
    assert [(d.line, d.kept_line) for d in fast.duplicates] == [(9, 2), (11, 7)]
    assert fast.duplicates == exact.duplicates
    assert fast.lines == 8
    assert fast.table.models == ["A", "B", "C"]
    assert fast.table.pairwise.vote.tolist() == [1, 0, 0, 1]  # A>B, B?C abstains, C=A, A>C
    assert fast.table.pairwise.abstain.tolist() == [False, True, False, False]
    assert fast.table.pairwise.raw[3].startswith("A is much")
    assert np.array_equal(fast.table.scores.score, [4.0, 2.0])


@pytest.mark.usefixtures("small_blocks")
def test_a_bad_line_in_a_later_block_is_named(tmp_path: Path) -> None:
    lines = _lines()
    lines.insert(6, '{"item": "t1", "reviewer": "r", "first": "A", "second": "B", '
                    '"winner": "A"}')
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as fast:
        load_judgments([path])
    assert (fast.value.line, fast.value.field) == (7, "winner")


@pytest.mark.usefixtures("small_blocks")
def test_an_unquoted_id_in_a_later_block_goes_to_the_exact_reader(tmp_path: Path) -> None:
    lines = [*_lines(), '{"item": 7, "reviewer": "r", "first": "A", "second": "B", '
                        '"winner": null}']
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as fast:
        load_judgments([path])
    assert (fast.value.line, fast.value.field) == (9, "item")
