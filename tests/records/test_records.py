"""Reading the exchange files: every bad input names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.errors import InputError
from peerreview.records.exchange import (
    OffScale,
    PairwiseJudgment,
    PointwiseJudgment,
    read_items,
    read_judgments,
)
from tests.conftest import pt, pw, write_jsonl


def error_for(tmp_path: Path, content: bytes | str) -> InputError:
    path = tmp_path / "judgments.jsonl"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError) as info:
        read_judgments(path)
    return info.value


GOOD = '{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "first"}\n'


@pytest.mark.parametrize(("line", "field", "words"), [
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "A"}',
     "winner", 'expected "first", "second", "tie" or null'),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "B"}', "winner", "missing"),
    ('{"item": 7, "reviewer": "r", "first": "A", "second": "B", "winner": null}',
     "item", "expected a string, got int"),
    ('{"reviewer": "r", "first": "A", "second": "B", "winner": null}', "item", "missing"),
    ('{"item": "t1", "reviewer": "r", "first": "A", "second": "A", "winner": null}',
     "second", "not compared with itself"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": "4", "scale": [1, 5]}',
     "score", "expected a number or null"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 4, "scale": [5, 1]}',
     "scale", "low < high"),
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 4}', "scale", "missing"),
    ('{"item": "t1", "reviewer": "r", "winner": "first"}', "first", "needs 'first'"),
])
def test_bad_fields_are_named(tmp_path: Path, line: str, field: str, words: str) -> None:
    exc = error_for(tmp_path, GOOD + line + "\n")
    assert exc.line == 2 and exc.field == field
    assert words in str(exc)
    assert str(exc).startswith(f"{tmp_path / 'judgments.jsonl'}:2: field '{field}'")


@pytest.mark.parametrize(("content", "line", "words"), [
    (GOOD + '{"item": "t1", "reviewer"\n', 2, "not valid JSON"),
    (GOOD + '{"item": "t1", "reviewer": "r", "model": "A", "score": NaN, "scale": [1, 5]}\n',
     2, "not valid JSON"),
    (GOOD + "[1, 2]\n", 2, "expected a JSON object"),
    (GOOD.encode() + b'{"item": "caf\xe9", "reviewer": "r"}\n', 2, "not UTF-8"),
    ("", None, "empty"),
    ("\n\n", None, "empty"),
])
def test_bad_files(tmp_path: Path, content: str | bytes, line: int | None, words: str) -> None:
    exc = error_for(tmp_path, content)
    assert exc.line == line
    assert words in str(exc)


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nothere\.jsonl: file not found"):
        read_judgments(tmp_path / "nothere.jsonl")


def test_both_kinds_abstentions_kept_unknown_keys_ignored(tmp_path: Path) -> None:
    rows = [pw("t1", "r", "A", "B", None) | {"extra": 1, "raw": "?"}, pt("t1", "r", "A", None),
            pt("t1", "r", "B", 2.5, (0, 100))]
    got = read_judgments(write_jsonl(tmp_path / "j.jsonl", rows)).judgments
    assert got == [PairwiseJudgment("t1", "r", "A", "B", None, "?"),
                   PointwiseJudgment("t1", "r", "A", None, (1.0, 5.0)),
                   PointwiseJudgment("t1", "r", "B", 2.5, (0.0, 100.0))]


def test_duplicates_keep_the_first(tmp_path: Path) -> None:
    rows = [pw("t1", "r", "A", "B", "first"), pw("t1", "r", "B", "A", "first"),
            pw("t1", "r", "A", "B", "second")]
    read = read_judgments(write_jsonl(tmp_path / "j.jsonl", rows))
    assert [j.winner for j in read.judgments] == ["first", "first"]  # type: ignore[union-attr]
    assert len(read.duplicates) == 1
    assert (read.duplicates[0].line, read.duplicates[0].kept_line) == (3, 1)


def test_items_unique(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [{"item": "a", "input": "x"},
                                                  {"item": "a", "input": "y"}])
    with pytest.raises(InputError, match=r"items.jsonl:2: field 'item': item 'a' already"):
        read_items(path)


def _pre_xsum_like(tmp_path: Path) -> Path:
    """Like PRE's released XSum 5-level judgments: some answers of 0 to a 1-5 prompt."""
    rows = [pt(f"t{i}", "gpt-4", m, 0 if (i + k) % 5 == 0 else 1 + (i + k) % 5)
            for i in range(20) for k, m in enumerate("ABC")]
    rows += [pt("t0", "claude", "A", 6), pt("t0", "claude", "B", 3)]
    return write_jsonl(tmp_path / "j.jsonl", rows)


@pytest.mark.parametrize(("rule", "zero_becomes", "six_becomes"), [
    (OffScale.KEEP, 0.0, 6.0), (OffScale.CLIP, 1.0, 5.0), (OffScale.ABSTAIN, None, None)])
def test_off_scale_scores_follow_the_rule_and_are_counted(tmp_path: Path, rule: OffScale,
                                                          zero_becomes: float | None,
                                                          six_becomes: float | None) -> None:
    read = read_judgments(_pre_xsum_like(tmp_path), rule)
    assert len(read.judgments) == 62  # nothing dropped
    assert read.off_scale == {"gpt-4": 12, "claude": 1}
    scores = {(j.item, j.reviewer, j.model): j.score for j in read.judgments
              if isinstance(j, PointwiseJudgment)}
    assert scores[("t0", "gpt-4", "A")] == zero_becomes
    assert scores[("t0", "claude", "A")] == six_becomes
    assert scores[("t0", "claude", "B")] == 3.0


def test_off_scale_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = _pre_xsum_like(tmp_path)
    with pytest.raises(InputError) as info:
        read_judgments(path, OffScale.ERROR)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 1, "score")
    assert "0 is outside the scale [1, 5]" in err.message


PF = '{"item": "t1", "reviewer": "r", "first": "A", "second": "B", "winner": "first"'


@pytest.mark.parametrize(("extra", "words"), [
    ('"p_first": 1.5', "expected a probability between 0 and 1 (that the submission shown "
                       "first is better), got float 1.5"),
    ('"p_first": "0.7"', 'got str "0.7"'),
    ('"p_first": true', "got bool true"),
    ('"p_first": -0.1', "got float -0.1"),
    ('"strength": 2.5', "expected a whole number >= 1, got float 2.5"),
    ('"weight": 0', "expected a positive number (1 / selection probability), got int 0"),
])
def test_a_bad_optional_number_names_file_line_and_field(tmp_path: Path, extra: str,
                                                          words: str) -> None:
    err = error_for(tmp_path, GOOD + PF + ", " + extra + "}\n")
    name = extra.split('"')[1]
    assert (err.line, err.field) == (2, name)
    assert words in str(err)


def test_p_first_is_read_and_written_back() -> None:
    from peerreview.records.exchange import judgment_to_dict, parse_judgment

    obj = {**pw("t1", "r", "A", "B", "first"), "p_first": 0.7312345678, "strength": 2}
    j = parse_judgment(obj, Path("x"), 1)
    assert isinstance(j, PairwiseJudgment)
    assert (j.p_first, j.strength, j.confidence, j.weight) == (0.7312345678, 2, None, None)
    assert judgment_to_dict(j) == {**pw("t1", "r", "A", "B", "first"), "strength": 2,
                                   "p_first": 0.731235}
    assert parse_judgment({**obj, "p_first": 1}, Path("x"), 1).p_first == 1.0  # type: ignore[union-attr]


def test_every_optional_number_is_read_written_and_in_the_table() -> None:
    """The field table drives all four places: a field in EXTRAS is read by the exact
    reader, written back by the writer, and (unless gold-only) a column of the votes."""
    from peerreview.records.exchange import judgment_to_dict, parse_judgment
    from peerreview.records.fields import EXTRAS
    from peerreview.records.table import Votes, build_table

    values = {"confidence": 0.8, "strength": 2, "weight": 4.0, "p_first": 0.25}
    assert {f.name for f in EXTRAS} == set(values)
    obj = {**pw("t1", "r", "B", "A", "second"), **values}
    j = parse_judgment(obj, Path("x"), 1)
    assert judgment_to_dict(j) == obj
    votes = build_table([j]).pairwise
    for extra in EXTRAS:
        if extra.in_table:
            assert getattr(votes, extra.name).tolist() == [values[extra.name]], extra.name
        else:
            assert extra.name not in Votes.__slots__
    missing = build_table([parse_judgment(pw("t1", "r", "B", "A", "second"), Path("x"), 1)])
    assert missing.pairwise.strength.tolist() == [1.0]
    assert np.isnan(missing.pairwise.p_first).all() and np.isnan(missing.pairwise.confidence).all()
