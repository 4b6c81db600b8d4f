"""Output folders as one set: a process killed between two output renames (fault
injection) leaves a folder that the next command completes, never a mix that stays;
one killed before the commit leaves the old set; staging folders do not pile up; a
held folder is refused to ``rank``; a read-only folder or a full disk is said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError, RunFailed
from peerreview.output import JOURNAL, MANIFEST, settle, write_files
from tests.conftest import VOTE_EXAMPLE, pt, pw, write_jsonl
from tests.spawned import Spawned, run_cli

ROOT = Path(__file__).resolve().parents[1]
# B wins every comparison in NEW; A in OLD (and OLD has gold: an agreement.json).
OLD = [pw("t1", "r", "A", "B", "first"), pw("t2", "r", "A", "B", "first")]
NEW = [pw("t1", "r", "A", "B", "second"), pw("t2", "r", "A", "B", "second")]


def _rank(judgments: Path, out: Path, *extra: str, fault: str | None = None) -> Spawned:
    """``rank`` in a process of its own, ended at the ``fault`` point (os._exit)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PEERREVIEW_FAULT", None)
    if fault:
        env["PEERREVIEW_FAULT"] = fault
    return run_cli(["rank", "--judgments", str(judgments), "--out", str(out), "--quiet",
                    *extra], env=env)


def _rank_here(judgments: Path, out: Path, *extra: str) -> int:
    """``rank`` in this process, for the runs that are not killed (no interpreter to
    start): its exit code."""
    return main(["rank", "--judgments", str(judgments), "--out", str(out), "--quiet",
                 *extra])


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every file of the folder but the lock, by name."""
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.is_file() and p.name != ".peerreview.lock"}


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The old and the new set, each written cleanly into a folder of its own (once for
    the module: the tests only read them)."""
    tmp_path = tmp_path_factory.mktemp("sets")
    old, new = write_jsonl(tmp_path / "old.jsonl", OLD), write_jsonl(tmp_path / "new.jsonl", NEW)
    gold = write_jsonl(tmp_path / "gold.jsonl", [pw("t1", "h", "A", "B", "first")])
    for judgments, folder, extra in ((old, "ref-old", ["--gold", str(gold)]),
                                     (new, "ref-new", [])):
        assert _rank_here(judgments, tmp_path / folder, *extra) == 0
    return {"old": old, "new": new, "gold": gold,
            "ref_old": _outputs(tmp_path / "ref-old"), "ref_new": _outputs(tmp_path / "ref-new")}


def _leader(folder: Path) -> str:
    return str(json.loads((folder / "leaderboard.json").read_text())[0]["model"])


def test_a_kill_between_two_renames_is_completed_by_the_next_command(
        tmp_path: Path, sets: dict[str, object]) -> None:
    out = tmp_path / "out"
    assert _rank_here(sets["old"], out, "--gold", str(sets["gold"])) == 0  # type: ignore[arg-type]
    assert _leader(out) == "A" and (out / "agreement.json").exists()

    killed = _rank(sets["new"], out, fault="between-outputs")  # type: ignore[arg-type]
    assert killed.returncode == 9
    # Cut off mid-way: one file of the new set is in place, the others are old.
    files = _outputs(out)
    new_ones = [n for n, b in files.items() if b == sets["ref_new"].get(n)]  # type: ignore[attr-defined]
    assert (out / JOURNAL).exists()
    assert 1 <= len([n for n in new_ones if n != JOURNAL]) < len(sets["ref_new"])  # type: ignore[arg-type]

    settle(out)  # what every command that opens the folder does first
    assert _outputs(out) == sets["ref_new"]  # all new: leaderboard, report, manifest...
    assert _leader(out) == "B"
    assert not (out / "agreement.json").exists()  # the old set's leftover went too
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [MANIFEST]


def test_the_next_rank_repairs_first_then_writes_its_own_set(
        tmp_path: Path, sets: dict[str, object]) -> None:
    out = tmp_path / "out"
    assert _rank_here(sets["old"], out, "--gold", str(sets["gold"])) == 0  # type: ignore[arg-type]
    assert _rank(sets["new"], out, fault="between-outputs").returncode == 9  # type: ignore[arg-type]
    assert _rank_here(sets["old"], out, "--gold", str(sets["gold"])) == 0  # type: ignore[arg-type]
    assert _outputs(out) == sets["ref_old"]
    assert not [p for p in out.iterdir() if p.name.startswith((".peerreview-staging",
                                                                JOURNAL))]


def test_a_kill_before_the_commit_leaves_the_old_set(tmp_path: Path,
                                                      sets: dict[str, object]) -> None:
    out = tmp_path / "out"
    assert _rank_here(sets["old"], out, "--gold", str(sets["gold"])) == 0  # type: ignore[arg-type]
    assert _rank(sets["new"], out, fault="before-journal").returncode == 9  # type: ignore[arg-type]
    staged = [p for p in out.iterdir() if p.name.startswith(".peerreview-staging-")]
    assert len(staged) == 1 and not (out / JOURNAL).exists()
    files = _outputs(out)
    assert files == sets["ref_old"]  # all old, untouched
    settle(out)
    assert _outputs(out) == sets["ref_old"] and not staged[0].exists()


def test_staging_folders_of_older_versions_are_removed(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = tmp_path / "out"
    old_style = tmp_path / ".out.staging-k2j4"  # where 0.x staged a fresh folder
    old_style.mkdir()
    (old_style / "leaderboard.json").write_text("[]")
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    assert main(["rank", "--judgments", str(j), "--out", str(out), "--quiet"]) == 0
    assert not old_style.exists()
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """Another process holding ``tmp_path/out`` as a run does."""
    out = tmp_path / "out"
    code = ("import sys, time\nfrom peerreview.output import locked\n"
            f"with locked({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield out, proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_rank_honours_the_folder_lock(holder: tuple[Path, int], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out, pid = holder
    j = write_jsonl(tmp_path / "j.jsonl", [pt("t1", "r", "A", 4), pt("t1", "r", "B", 2)])
    code = main(["rank", "--judgments", str(j), "--out", str(out), "--quiet"])
    text = capsys.readouterr().err
    assert code == 2
    assert f"(pid {pid})" in text and "another peerreview run" in text
    assert not (out / "leaderboard.json").exists()


def test_a_held_folder_is_refused_to_write_files_too(holder: tuple[Path, int]) -> None:
    out, pid = holder
    with pytest.raises(InputError) as caught:
        write_files(out, {"a.json": b"{}"})
    assert caught.value.field == "--out" and f"pid {pid}" in caught.value.message


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")


def _unmount(where: Path) -> None:
    for _ in range(20):  # a process may still hold a file there for a moment
        if subprocess.run(["umount", str(where)], check=False).returncode == 0:
            return
        time.sleep(0.1)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write: chmod for a user, a read-only file system
    for root (who writes anywhere else)."""
    where = tmp_path / "ro"
    if os.geteuid() != 0:
        where.mkdir()
        where.chmod(0o555)
        yield where
        where.chmod(0o755)
        return
    _mount_tmpfs(where, "ro,size=64k")
    try:
        yield where
    finally:
        _unmount(where)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system (tmpfs); skipped where mounting is not allowed."""
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "size=64k")
    try:
        yield where
    finally:
        _unmount(where)


def test_a_read_only_folder_is_said(read_only: Path) -> None:
    with pytest.raises(InputError) as caught:
        write_files(read_only, {"a.json": b"{}"})
    assert caught.value.field == "--out"
    assert "read-only" in caught.value.message
    assert list(read_only.iterdir()) == []
    with pytest.raises(InputError, match="read-only"):
        write_files(read_only / "new", {"a.json": b"{}"})


def test_a_full_disk_is_said_and_the_old_set_stays(tiny_disk: Path) -> None:
    out = tiny_disk / "out"
    write_files(out, {"a.json": b"old", "b.json": b"old"})
    with pytest.raises(RunFailed) as caught:
        write_files(out, {"a.json": b"x" * 200_000, "b.json": b"new"})
    assert "the disk is full" in str(caught.value)
    assert (out / "a.json").read_bytes() == (out / "b.json").read_bytes() == b"old"
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.json", "b.json"]
