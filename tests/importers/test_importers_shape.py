"""What importers check before they write: where a record is (its line, also in a JSON
list), empty files, the same model answering twice, and the shape warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.importers import import_set, importer
from peerreview.importers.alpaca_eval import item_id
from peerreview.importers.sources import offsets_to_lines, read_records, record_offsets
from tests.conftest import write_jsonl


def starts_by_json(text: str) -> list[int]:
    """The start offset of each element of a top-level list, found by Python's decoder."""
    decoder, out = json.JSONDecoder(), list[int]()
    position = text.index("[") + 1
    while True:
        while text[position] in " \t\r\n,":
            position += 1
        if text[position] == "]":
            return out
        out.append(position)
        _, position = decoder.raw_decode(text, position)


def test_record_offsets_follow_nesting_not_the_characters_inside_strings() -> None:
    records = [{"instruction": "a [list], {braces}, \"quotes\" and \\ back\\slash,",
                "nested": [{"x": [1, 2]}, "]"]}, "a string record", 17, None,
               {"output": "line one\nline two", "empty": {}}, [[], [{}]]]
    for text in (json.dumps(records, indent=2), json.dumps(records),
                 json.dumps(records, indent=1, ensure_ascii=False)):
        data = text.encode()
        assert record_offsets(data) == starts_by_json(text)  # ASCII text: bytes = chars
    assert record_offsets(b"[]") == [] and record_offsets(b"[ \n ]") == []
    text = '[\n  {"a": 1},\n\n  {"a": 2}, {"a": 3}\n]'
    assert offsets_to_lines(text.encode(), record_offsets(text.encode())) == [2, 4, 4]


def test_a_bad_record_in_a_json_list_names_its_index_and_the_line_it_starts_on(
        tmp_path: Path) -> None:
    path = tmp_path / "model_outputs.json"
    path.write_text(json.dumps([{"instruction": "x", "output": "y", "generator": "m"},
                                {"instruction": "z", "output": "y"}], indent=2))
    with pytest.raises(InputError) as caught:
        importer("alpaca-eval")(path)
    # Record 2 opens on line 7: "[", five lines of record 1, then its "{".
    assert (caught.value.path, caught.value.line, caught.value.field) == (
        str(path), 7, "generator")
    assert "record 2 of the list" in caught.value.message
    assert path.read_text().splitlines()[6].strip() == "{"


def test_empty_files_and_lists_are_refused(tmp_path: Path) -> None:
    for name, text in (("empty.json", "[]"), ("blank.json", "  \n"), ("empty.jsonl", "")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match="empty") as caught:
            read_records(path, "{instruction, output, generator}")
        assert caught.value.path == str(path)
        assert main(["import", "alpaca-eval", str(path), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "object.json").write_text(json.dumps({"instruction": "x"}, indent=2))
    with pytest.raises(InputError, match="got one object"):
        read_records(tmp_path / "object.json", "{instruction}")
    assert not (tmp_path / "o").exists()


def outputs(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(json.dumps([{"instruction": q, "output": o, "generator": g}
                                for q, o, g in rows], indent=2))
    return path


def test_a_second_different_answer_stops_the_import_naming_both_records(
        tmp_path: Path) -> None:
    first = outputs(tmp_path / "a.json", [("Q1", "one", "m"), ("Q2", "two", "m")])
    second = write_jsonl(tmp_path / "b.jsonl", [
        {"instruction": "Q2", "output": "two", "generator": "m"},       # the same: merged
        {"instruction": "Q1", "output": "another", "generator": "m"}])  # different
    with pytest.raises(InputError) as caught:
        importer("alpaca-eval")(first, second)
    assert (caught.value.path, caught.value.line, caught.value.field) == (
        str(second), 2, "output")
    assert f"its first answer is at {first}:2 (record 1)" in caught.value.message
    assert main(["import", "alpaca-eval", str(first), str(second), "--out",
                 str(tmp_path / "o")]) == 2
    data = importer("alpaca-eval")(first, second, keep_first=True)
    assert {(s.item, s.output) for s in data.submissions} == {
        (item_id("Q1"), "one"), (item_id("Q2"), "two")}
    assert data.notes[0] == "1 repeated submission(s) with the same output merged"
    assert data.notes[1].startswith("1 second answer(s) with a different output left out")
    assert main(["import", "alpaca-eval", str(first), str(second), "--keep-first", "--out",
                 str(tmp_path / "o")]) == 0


def test_shape_warnings_count_and_show_examples(tmp_path: Path) -> None:
    a = outputs(tmp_path / "a.json", [(f"Question {k}", "x", "gpt4") for k in range(5)])
    b = outputs(tmp_path / "b.json", [(f"Question {k}", "y", "GPT4 ") for k in range(4)]
                + [("Question 4 ", "y", "GPT4 ")])  # a trailing space: another item
    c = outputs(tmp_path / "c.json", [(f"Question {k}", "z", "llama") for k in range(3)])
    data = importer("alpaca-eval")(a, b, c)
    assert len(data.items) == 6
    missing, names, spaces = data.warnings
    assert missing.startswith("3 of 3 model(s) miss submissions: 'GPT4 ' lacks 1 of 6 "
                              f"(e.g. {item_id('Question 4')!r}: 'Question 4'), 'gpt4' lacks "
                              f"1 of 6 (e.g. {item_id('Question 4 ')!r}: 'Question 4'), "
                              "'llama' lacks 3 of 6")
    assert names.startswith("1 group(s) of model names differ only by case or white space: "
                            "'GPT4 ' / 'gpt4';")
    assert spaces.startswith("2 inputs differ from another only by white space (1 group(s)), "
                             "e.g. 'Question 4' and 'Question 4 ';")
    clean = importer("alpaca-eval")(outputs(tmp_path / "d.json", [("Q", "x", "m")]))
    assert clean.warnings == []


def test_import_options_belong_to_their_importer(tmp_path: Path) -> None:
    path = outputs(tmp_path / "a.json", [("Q", "x", "m")])
    with pytest.raises(InputError, match="--baseline is for arena-hard, not alpaca-eval"):
        import_set("alpaca-eval", [path], baseline="m")
    with pytest.raises(InputError, match="--ties is for mt-bench, not alpaca-eval"):
        import_set("alpaca-eval", [path], ties="fastchat")
    assert main(["import", "alpaca-eval", str(path), "--dimension", "fluency", "--out",
                 str(tmp_path / "o")]) == 2
    assert main(["import", "mt-bench", str(tmp_path), str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2
