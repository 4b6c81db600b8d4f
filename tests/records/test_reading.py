"""The fast reader (polars) reads every file exactly as the exact reader does: the same
table, the same repeats, and on any bad line the same error naming file, line, field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.errors import InputError
from peerreview.records.exchange import OffScale, read_judgments
from peerreview.records.fields import TABLE_EXTRAS
from peerreview.records.reading import load_judgments
from peerreview.records.table import JudgmentTable, build_table
from tests.conftest import pt, pw, write_jsonl
from tests.records.test_records import GOOD

BAD_LINES = [
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "A"}', "winner"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": 1}', "winner"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B"}', "winner"),
    ('{"item": 7, "reviewer": "r", "first": "A", "second": "B", "winner": null}', "item"),
    ('{"item": "t1", "reviewer": true, "first": "A", "second": "B", "winner": null}',
     "reviewer"),
    ('{"item": "t1", "reviewer": "r", "first": ["A"], "second": "B", "winner": null}', "first"),
    ('{"reviewer": "r", "first": "A", "second": "B", "winner": null}', "item"),
    ('{"item": "", "reviewer": "r", "first": "A", "second": "B", "winner": null}', "item"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "A", "winner": null}', "second"),
    ('{"item": "t1", "reviewer": "r", "second": "A", "winner": null}', "first"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": "4", "scale": [1, 5]}', "score"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "scale": [1, 5]}', "score"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 4, "scale": [5, 1]}', "scale"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 4, "scale": [1, 5, 9]}', "scale"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 4}', "scale"),
    ('{"item": "t1", "reviewer": "r", "winner": "first"}', "first"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"confidence": 1.5}', "confidence"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"strength": 0}', "strength"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"weight": -1}', "weight"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"weight": "2"}', "weight"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"p_first": 1.5}', "p_first"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"p_first": "0.7"}', "p_first"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"p_first": -0.5}', "p_first"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"strength": 2.5}', "strength"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "tie", '
     '"strength": true}', "strength"),
    ('{"item": "t1", "reviewer"', None),
    ("[1, 2]", None),
]


def same_table(x: JudgmentTable, y: JudgmentTable) -> None:
    assert (x.items, x.models, x.reviewers) == (y.items, y.models, y.reviewers)
    for name in ("item", "reviewer", "a", "b", "vote", "abstain", "a_first"):
        assert np.array_equal(getattr(x.pairwise, name), getattr(y.pairwise, name)), name
    for extra in TABLE_EXTRAS:
        assert np.array_equal(getattr(x.pairwise, extra.name), getattr(y.pairwise, extra.name),
                              equal_nan=True), extra.name
    assert x.pairwise.raw.tolist() == y.pairwise.raw.tolist()
    for name in ("item", "reviewer", "model", "low", "high"):
        assert np.array_equal(getattr(x.scores, name), getattr(y.scores, name)), name
    assert np.array_equal(x.scores.score, y.scores.score, equal_nan=True)
    assert x.scores.raw.tolist() == y.scores.raw.tolist()


@pytest.mark.parametrize("name", ["summeval", "vicuna80", "pandalm"])
def test_real_sets_read_the_same_both_ways(imported: dict[str, Path], name: str) -> None:
    path = imported[name] / "judgments.jsonl"
    fast = load_judgments([path])
    exact = read_judgments(path)
    same_table(fast.table, build_table(exact.judgments))
    assert fast.duplicates == exact.duplicates


@pytest.mark.parametrize(("line", "field"), BAD_LINES)
def test_a_bad_line_gets_the_exact_readers_error(tmp_path: Path, line: str,
                                                  field: str | None) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(GOOD * 3 + line + "\n" + GOOD)
    with pytest.raises(InputError) as exact:
        read_judgments(path)
    with pytest.raises(InputError) as fast:
        load_judgments([path])
    assert str(fast.value) == str(exact.value)
    assert (fast.value.line, fast.value.field) == (4, field)


def test_abstentions_blank_lines_repeats_and_files(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text("\n" + GOOD + "   \n"
                   + '{"item": "t1", "reviewer": "r", "first": "B", "second": "A", '
                     '"winner": null, "raw": {"why": ["x", 1]}}\n')
    two = write_jsonl(tmp_path / "two.jsonl", [
        pw("t2", "r", "A", "C", "second"), pw("t1", "r", "A", "B", "second"),
        pt("t1", "s", "A", 7), pt("t1", "s", "A", 3)])
    fast = load_judgments([one, two])
    exact = read_judgments([one, two])
    same_table(fast.table, build_table(exact.judgments))
    assert [(d.path, d.line, d.kept_path, d.kept_line) for d in fast.duplicates] == [
        (str(two), 2, str(one), 2), (str(two), 4, str(two), 3)]
    assert fast.table.pairwise.abstain.tolist() == [False, True, False]
    assert fast.table.pairwise.raw.tolist()[1] == '{"why": ["x", 1]}'
    assert fast.off_scale == exact.off_scale == {"s": 1}


@pytest.mark.parametrize("rule", list(OffScale))
def test_the_off_scale_rule_is_the_same(tmp_path: Path, rule: OffScale) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", [pt(f"t{i}", "r", m, s) for i in range(3)
                                              for m, s in (("A", 0), ("B", 4), ("C", 9))])
    if rule is OffScale.ERROR:
        with pytest.raises(InputError) as fast:
            load_judgments([path], rule)
        assert (fast.value.line, fast.value.field) == (1, "score")
        return
    fast = load_judgments([path], rule)
    same_table(fast.table, build_table(read_judgments(path, rule).judgments))
    assert fast.off_scale == {"r": 6}


def test_numeric_looking_ids_in_quotes_are_read_as_given(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "j.jsonl", [pw("17", "3", "true", "-1", "first")])
    assert load_judgments([path]).table.items == ["17"]


def test_optional_numbers_read_the_same_both_ways(tmp_path: Path) -> None:
    rows = [{**pw("t1", "r", "A", "B", "first"), "p_first": 0.8, "strength": 2},
            {**pw("t1", "r", "B", "A", "first"), "p_first": 0.375, "confidence": 0.9},
            pw("t1", "r2", "A", "B", "second"),
            {**pw("t2", "r", "A", "B", None), "p_first": 0.5, "weight": 2.0}]
    path = write_jsonl(tmp_path / "j.jsonl", rows)
    fast = load_judgments([path]).table
    same_table(fast, build_table(read_judgments(path).judgments))
    # rows in reading order; votes seen from A (the first model by name)
    assert fast.pairwise.p_first.tolist()[:2] == [0.8, 0.375]
    assert fast.pairwise.strength.tolist() == [2.0, 1.0, 1.0, 1.0]
    assert np.isnan(fast.pairwise.p_first[2])


def test_files_read_fast_and_exactly_are_read_together(tmp_path: Path) -> None:
    """One file the fast path takes and one it leaves to the exact reader (a pointwise
    row carrying a confidence): their rows are joined (the columns used to differ, and
    polars refused to join them)."""
    fast_file = write_jsonl(tmp_path / "a.jsonl", [pw("t1", "r", "A", "B", "first")])
    exact_file = write_jsonl(tmp_path / "b.jsonl", [
        {**pw("t1", "r2", "A", "B", "second"), "p_first": 0.25},
        {**pt("t2", "r2", "A", 3), "confidence": 0.5}])
    loaded = load_judgments([fast_file, exact_file]).table
    same_table(loaded, build_table(read_judgments([fast_file, exact_file]).judgments))
    assert loaded.reviewers == ["r", "r2"]
    assert np.isnan(loaded.pairwise.p_first[0]) and loaded.pairwise.p_first[1] == 0.25
