"""Reading the exchange files: every bad input names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerreview.errors import InputError
from peerreview.records import PairwiseJudgment, PointwiseJudgment, read_items, read_judgments
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
    ('{"item": "t1", "reviewer": "r", "model": "A", "score": 7, "scale": [1, 5]}',
     "score", "outside the scale"),
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
