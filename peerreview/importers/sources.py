"""The files an importer reads, record by record, with a place for every record.

A JSON Lines record is named by its line. A record of a JSON list is named by its
index and the line where it starts; those lines are found only when an error or a
note needs one (a scan of the bytes, once per file), so a file that imports cleanly
costs one ``orjson.loads``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.records.exchange import iter_jsonl

# A JSON string (escapes included) or one of the characters that shape the nesting;
# everything else (numbers, literals, white space) lies between matches.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_SPACE = re.compile(rb"[ \t\r\n]*")


def record_offsets(data: bytes) -> list[int]:
    """The byte offset at which each element of a top-level JSON list starts.

    Only the nesting is followed (strings are skipped whole), so this is cheap and
    meant for text that ``orjson`` has already accepted.
    """
    starts: list[int] = []
    depth = 0
    for match in _TOKEN.finditer(data):
        char = data[match.start()]
        if char == 0x22:  # a string
            continue
        if char in b"[{":
            depth += 1
            if depth == 1 and char == 0x5B:  # the list opens: its first element follows
                start = _SPACE.match(data, match.end())
                if start is not None and data[start.end():start.end() + 1] != b"]":
                    starts.append(start.end())
        elif char in b"]}":
            depth -= 1
        elif depth == 1:  # a comma between two elements
            start = _SPACE.match(data, match.end())
            starts.append(start.end() if start is not None else match.end())
    return starts


def offsets_to_lines(data: bytes, offsets: list[int]) -> list[int]:
    """1-based line numbers of increasing byte offsets."""
    lines: list[int] = []
    line, previous = 1, 0
    for offset in offsets:
        line += data.count(b"\n", previous, offset)
        previous = offset
        lines.append(line)
    return lines


@dataclass(slots=True)
class Source:
    """One input file: JSON Lines (``position`` = line) or a JSON list (``position`` =
    1-based record index, its line looked up when needed)."""

    path: Path
    is_list: bool
    _data: bytes | None = None
    _lines: list[int] | None = field(default=None, repr=False)

    def line(self, position: int) -> int:
        """The line where the record at ``position`` starts."""
        if not self.is_list:
            return position
        if self._lines is None:
            data = self._data if self._data is not None else self.path.read_bytes()
            self._lines = offsets_to_lines(data, record_offsets(data))
            self._data = None  # the lines are all that is needed from here on
        return self._lines[position - 1] if 0 < position <= len(self._lines) else 1

    def where(self, position: int) -> str:
        """``path:line`` and, in a JSON list, the record's index."""
        text = f"{self.path}:{self.line(position)}"
        return text + f" (record {position})" if self.is_list else text

    def error(self, position: int, message: str, field_name: str | None = None) -> InputError:
        """An error at a record: its file and line (and index, in a JSON list)."""
        suffix = f" (record {position} of the list)" if self.is_list else ""
        return InputError(message + suffix, self.path, self.line(position), field_name)


@dataclass(frozen=True, slots=True)
class Place:
    """Where one record came from."""

    source: Source
    position: int

    def __str__(self) -> str:
        return self.source.where(self.position)


def read_records(path: str | Path, what: str) -> tuple[Source, list[tuple[int, Any]]]:
    """Every record of a JSON list (``.json``) or JSON Lines file, with its position.

    Args:
        path: the file.
        what: the records expected, for the messages (``"{instruction, output}"``).

    Raises:
        InputError: the file is missing, not JSON, not a list, or empty.
    """
    path = Path(path)
    if path.suffix == ".jsonl":
        source = Source(path, is_list=False)
        rows: list[tuple[int, Any]] = list(iter_jsonl(path))
    else:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError("file not found", path) from None
        except IsADirectoryError:
            raise InputError("is a folder; expected a file", path) from None
        if data.lstrip()[:1] == b"{" and _one_object(data):
            raise InputError(f"expected a JSON list of {what} records, got one object", path)
        if data.lstrip()[:1] == b"{":  # JSON Lines under another name
            source = Source(path, is_list=False)
            rows = list(iter_jsonl(path))
        else:
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc})", path, exc.lineno) from None
            if not isinstance(value, list):
                raise InputError(f"expected a JSON list of {what} records", path)
            source = Source(path, is_list=True, _data=data)
            rows = list(enumerate(value, start=1))
    if not rows:
        raise InputError(f"no records in file (it is empty); expected {what} records", path)
    return source, rows


def _one_object(data: bytes) -> bool:
    """Whether the text is one JSON object (not JSON Lines, whose second line makes it
    invalid as a whole)."""
    if b"\n" not in data.strip():  # one line: a JSON Lines file of one record
        return False
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def jsonl_records(path: Path) -> Iterator[tuple[Place, dict[str, Any]]]:
    """The records of a JSON Lines file with their places, one at a time.

    Raises:
        InputError: the file is missing, empty or holds a line that is not an object.
    """
    source = Source(path, is_list=False)
    count = 0
    for line, obj in iter_jsonl(path):
        count += 1
        yield Place(source, line), obj
    if count == 0:
        raise InputError("no records in file (it is empty)", path)
