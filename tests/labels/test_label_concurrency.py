"""The label page for several people: a unit is leased to one annotator at a time, seq
numbers are unique across processes, undo retracts exactly one label, malformed
bodies are 400s, and label-export names a label line it cannot read."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.labels.export import export_gold
from peerreview.labels.select import Unit
from peerreview.labels.server import make_app
from peerreview.labels.store import LabelBook, read_labels
from tests.conftest import write_jsonl
from tests.spawned import run, start

UNITS = [Unit(f"u{n}", f"q{n}", "m1", "m2", "m1 vs m2", 0.5, 0.0) for n in range(1, 21)]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Twenty pairs to label, none for two people."""
    items = [f"q{n}" for n in range(1, 21)]
    write_jsonl(tmp_path / "items.jsonl", [{"item": t, "input": t} for t in items])
    write_jsonl(tmp_path / "submissions.jsonl", [{"item": t, "model": m, "output": t + m}
                                                 for t in items for m in ("m1", "m2")])
    (tmp_path / "labels").mkdir()
    write_jsonl(tmp_path / "labels" / "selection.jsonl", [u.to_dict() for u in UNITS])
    return tmp_path


def test_two_annotators_at_once_are_shown_different_units(folder: Path) -> None:
    ann1, ann2 = LabelBook.open(folder, "ann1"), LabelBook.open(folder, "ann2")
    first = ann1.next_unit()
    second = ann2.next_unit()
    assert first is not None and second is not None
    assert (first.id, second.id) == ("u1", "u2")
    assert ann1.next_unit() == first  # asked again (a reload), the same unit
    with pytest.raises(InputError, match="being labelled by ann1"):
        ann2.label("u1", "a", "")
    ann1.label("u1", "b", "")
    assert ann1.next_unit() == UNITS[2]  # u2 is ann2's, u3 is free
    assert [x["unit"] for x in read_labels(folder)["ann1"]] == ["u1"]


def test_a_lease_runs_out(folder: Path) -> None:
    ann1, ann2 = LabelBook.open(folder, "ann1"), LabelBook.open(folder, "ann2")
    assert ann1.next_unit() == UNITS[0]
    leases = folder / "labels" / ".leases.json"
    held = orjson.loads(leases.read_bytes())
    assert held["u1"][0] == "ann1"
    held["u1"][1] = time.time() - 1  # as if ann1 left ten minutes ago
    leases.write_bytes(orjson.dumps(held))
    assert ann2.next_unit() == UNITS[0]
    ann2.label("u1", "a", "")


def _show_next(folder: Path, annotator: str) -> None:
    """In another process: the unit the label page shows ``annotator`` next."""
    next_unit = LabelBook.open(folder, annotator).next_unit()
    print(next_unit.id if next_unit is not None else "none")


def test_annotators_in_other_processes_are_shown_other_units(folder: Path) -> None:
    shown = []
    for name in ("ann1", "ann2", "ann3"):
        done = run(_show_next, folder, name)
        assert done.returncode == 0, done.stderr
        shown.append(done.stdout.strip())
    assert shown == ["u1", "u2", "u3"]


def test_one_annotator_in_two_tabs_gets_distinct_seqs_and_undo_retracts_one(
        folder: Path) -> None:
    tab1, tab2 = LabelBook.open(folder, "ann"), LabelBook.open(folder, "ann")
    tab1.label("u1", "a", "")
    tab2.label("u2", "b", "")
    lines = [json.loads(x) for x in (folder / "labels" / "ann.jsonl").read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2]
    assert tab1.undo() == 2  # the last label, whichever tab made it
    assert [x["unit"] for x in read_labels(folder)["ann"]] == ["u1"]
    assert tab2.undo() == 1
    assert read_labels(folder)["ann"] == []
    assert tab1.undo() is None


def _label_when_told(folder: Path, go: Path, units: list[int]) -> None:
    """In another process: open the book as ``ann``, say so, and once ``go`` exists
    label ``units``."""
    book = LabelBook.open(folder, "ann")
    print("open", flush=True)
    for _ in range(600):
        if go.exists():
            break
        time.sleep(0.01)
    for n in units:
        book.label(f"u{n}", "a", "")


def test_one_annotator_in_two_processes_gets_distinct_seqs(folder: Path) -> None:
    go = folder / "go"
    procs = [start(_label_when_told, folder, go, list(range(first, first + 10)))
             for first in (1, 11)]
    try:
        for proc in procs:  # both opened the book before either labels
            assert proc.first_line().strip() == "open", proc.stderr
        go.touch()
        assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    seqs = [json.loads(x)["seq"] for x in
            (folder / "labels" / "ann.jsonl").read_text().splitlines()]
    assert sorted(seqs) == list(range(1, 21))
    assert LabelBook.open(folder, "ann").undo() == 20
    assert len(read_labels(folder)["ann"]) == 19


async def _post_all(book: LabelBook, bodies: list[bytes]) -> list[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = TestServer(make_app(book, "t" * 32, port), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        codes = []
        for body in bodies:
            response = await client.post("/api/label", data=body, headers={
                "X-Token": "t" * 32, "Content-Type": "application/json"})
            codes.append(response.status)
        return codes


BAD_BODIES: list[Any] = [[], "u1", 3, None, True, {"unit": ["u1"], "choice": "a"},
                         {"unit": "u1", "choice": ["a"]}, {"unit": "u1", "choice": {"a": 1}},
                         {"unit": "u1", "choice": "a", "rationale": 5},
                         {"unit": {"id": "u1"}, "choice": "a"}, {"unit": "u1", "choice": "4"}]


def test_every_malformed_body_is_a_400(folder: Path) -> None:
    book = LabelBook.open(folder, "ann")
    bodies = [json.dumps(b).encode() for b in BAD_BODIES] + [b"{", b"\xff\xfe"]
    codes = asyncio.run(_post_all(book, [*bodies, b'{"unit": "u1", "choice": "a"}']))
    assert codes == [400] * len(bodies) + [200]
    assert [x["unit"] for x in read_labels(folder)["ann"]] == ["u1"]


def test_a_unit_leased_to_another_is_a_409(folder: Path) -> None:
    LabelBook.open(folder, "ann1").next_unit()  # u1 shown to ann1
    book = LabelBook.open(folder, "ann2")
    assert asyncio.run(_post_all(book, [b'{"unit": "u1", "choice": "a"}'])) == [409]
    assert "ann2" not in read_labels(folder)


@pytest.mark.parametrize(("line", "field"), [
    ({"seq": 2, "unit": "u2", "choice": "maybe", "labelled_at": 1.0}, "choice"),
    ({"seq": 2, "unit": "u2", "choice": "7", "labelled_at": 1.0}, "choice"),
    ({"seq": "2", "unit": "u2", "choice": "a", "labelled_at": 1.0}, "seq"),
    ({"seq": 2, "unit": "u2", "choice": "a", "labelled_at": "noon"}, "labelled_at"),
])
def test_label_export_names_a_bad_label_line(folder: Path, line: dict[str, Any], field: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    LabelBook.open(folder, "ann").label("u1", "a", "")
    path = folder / "labels" / "ann.jsonl"
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
    with pytest.raises(InputError) as caught:
        export_gold(folder, folder / "gold.jsonl")
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 2, field)
    assert main(["label-export", str(folder), "--out", str(folder / "gold.jsonl")]) == 2
    assert f"{path}:2: field '{field}'" in capsys.readouterr().err
    assert not (folder / "gold.jsonl").exists()
