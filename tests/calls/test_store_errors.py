"""Opening the run store: a folder where the file should be, a store another process
has locked, a read-only folder and a full disk are said as what they are (not "not a
peerreview run store", not a raw OperationalError)."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerreview.calls.store import RunStore
from peerreview.cli import main
from peerreview.errors import InputError, RunFailed


def test_a_run_store_that_is_a_folder_is_said(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run.sqlite").mkdir()
    with pytest.raises(InputError) as caught:
        RunStore(tmp_path / "run.sqlite")
    assert caught.value.path == str(tmp_path / "run.sqlite")
    assert caught.value.message.startswith("is a folder, not a run store file")
    assert main(["status", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'run.sqlite'}: is a folder" in err and "OperationalError" not in err


def test_a_locked_store_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunStore, "LOCK_WAIT_S", 0.1)  # said after SQLite's busy wait
    db = tmp_path / "run.sqlite"
    RunStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    try:  # as another program might: the file for itself alone
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO facts VALUES ('x', 'y')")
        with pytest.raises(InputError) as caught:
            RunStore(db)
        assert caught.value.message.startswith("the run store is locked by another process")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    RunStore(db).close()  # free again: opens


def test_a_file_that_is_no_store_still_says_so(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    db.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match=r"not a peerreview run store \(not an SQLite file\)"):
        RunStore(db)


def _mount(where: Path, options: str) -> None:
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only: mount); skipped where mounting is not allowed."""
    where = tmp_path / "fs"
    where.mkdir()
    _mount(where, "size=256k")
    try:
        yield where
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(where)], check=False).returncode == 0:
                break
            time.sleep(0.1)


def _read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def test_a_new_store_in_a_read_only_folder_is_said(small_fs: Path) -> None:
    (small_fs / "out").mkdir()
    _read_only(small_fs)
    for path in (small_fs / "out" / "run.sqlite", small_fs / "new" / "run.sqlite"):
        with pytest.raises(InputError) as caught:
            RunStore(path)
        assert "read-only" in caught.value.message, caught.value
        assert "not a peerreview run store" not in str(caught.value)


def test_an_existing_store_in_a_read_only_folder_is_said(small_fs: Path) -> None:
    RunStore(small_fs / "run.sqlite").close()
    _read_only(small_fs)
    with pytest.raises(InputError) as caught:
        RunStore(small_fs / "run.sqlite")
    assert "read-only" in caught.value.message
    assert "not a peerreview run store" not in str(caught.value)


def test_a_full_disk_is_said(small_fs: Path) -> None:
    with (small_fs / "filler").open("wb", buffering=0) as f, pytest.raises(OSError):
        for _ in range(1000):
            f.write(b"x" * 4096)
    with pytest.raises(RunFailed) as caught:
        RunStore(small_fs / "run.sqlite")
    assert "the disk is full" in str(caught.value)
