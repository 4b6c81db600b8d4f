"""Reading the exchange files: every bad input names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerreview.errors import InputError
from peerreview.records import (
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
