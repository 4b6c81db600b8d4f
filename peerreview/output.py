"""Output folders: replaced as one set, repaired after a kill, held by one process at a
time.

How :func:`write_files` replaces the set of files in ``DIR``:

1. ``DIR`` is held (:func:`locked`, the kernel's ``flock`` on the folder itself), so a
   second writer (``run``, ``rank``, ``import``, ``report``) waits for no one: it is
   refused with the holder's pid.
2. A write that an earlier process left unfinished is settled first (step 5).
3. Every file is written and fsynced into a fresh staging folder inside ``DIR``
   (``.peerreview-staging-*``, on the same file system, so a rename moves it).
4. The journal ``DIR/.peerreview-journal`` (the staging folder, the new set, the
   outputs of the old set that the new one lacks) is written whole (a temporary file,
   fsync, rename). This is the commit point. Before it ``DIR`` holds the old set,
   untouched; after it the new set is the one that stands.
5. The files are renamed into place one by one (``os.replace``, atomic each; the
   manifest ``.peerreview-outputs`` last), the old set's leftovers are removed, then
   the staging folder, then the journal.

A kill during step 5 leaves the journal behind, and the next peerreview command that
opens ``DIR`` (``run``, ``rank``, ``import``, ``report``, ``label-select``, ``label``,
or :func:`settle`) rolls it forward, finishing the renames, before it reads or writes
anything. A kill before step 4 leaves a staging folder that the next one removes
(staging folders of older versions, ``.DIR.staging-*`` beside ``DIR``, too). So after
a kill ``DIR`` holds the old set, the new set, or a new set that the next command
completes: never a mix that stays. A reader outside peerreview can tell a write in
progress (or cut off) by the journal being there; the renames take milliseconds.

For tests, ``PEERREVIEW_FAULT=<point>`` makes the process exit at once
(``os._exit(9)``, as a kill would) at a named point: ``before-journal`` (all staged,
nothing committed) and ``between-outputs`` (committed, one file renamed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from peerreview.errors import InputError, PeerReviewError, RunFailed

MANIFEST = ".peerreview-outputs"  # the names the last write put into the folder
LOCK = ".peerreview.lock"  # the holder's pid, for the message a second writer gets
JOURNAL = ".peerreview-journal"  # a committed write whose renames may be unfinished
STAGING = ".peerreview-staging-"

# A file's content: bytes, or chunks of it written as they come (a run's million
# judgments are encoded a chunk at a time, never held whole).
Content = bytes | Iterable[bytes]


def whole(content: Content) -> bytes:
    """A file's content in one piece (chunks are consumed: read a generator once)."""
    return content if isinstance(content, bytes) else b"".join(content)

_HELD: dict[Path, int] = {}  # folders this process holds -> nesting depth
_HELD_GUARD = threading.Lock()


def fault(point: str) -> None:
    """Exit at once, as a kill would, when ``PEERREVIEW_FAULT`` names ``point`` (a
    comma-separated list may name several): fault injection for tests."""
    if point in os.environ.get("PEERREVIEW_FAULT", "").split(","):
        os._exit(9)


def check_out_dir(out_dir: str | Path) -> Path:
    """The output folder's path, refused if a file stands there.

    Raises:
        InputError: ``out_dir`` names a file.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder: name a folder for the outputs", out,
                         field="--out")
    return out


def write_files(out_dir: str | Path, files: Mapping[str, Content], *,
                whole_set: bool = True) -> None:
    """Write ``files`` (name -> content: bytes, or an iterable of chunks read once)
    into ``out_dir`` as a set (or, without ``whole_set``, as an update of some of the
    set's files), created if missing.

    See the module's docstring for how the set is replaced and repaired after a kill.
    Outputs of an earlier write that this set lacks are removed (an agreement.json
    without --gold this time would belie the new leaderboard); other files, such as
    the run store, are left alone. On a failure before the commit point the folder is
    left as it was (a folder this call created is removed again).

    Raises:
        InputError: another process holds the folder, or it cannot be written
            (read-only).
        RunFailed: the disk is full.
    """
    out = check_out_dir(out_dir)
    created = not out.exists()
    try:
        with locked(out, record_pid=False):
            journal = _stage(out, files, whole_set)
            try:
                _roll_forward(out, journal)
            except BaseException:
                # Committed: finish what a signal or an error cut short, if it can be.
                with contextlib.suppress(Exception):
                    _roll_forward(out, journal)
                raise
    except OSError as exc:
        if created:
            _remove_if_empty(out)
        if (plainly := _os_error(exc, out)) is not None:
            raise plainly from exc
        raise
    except BaseException:
        if created:
            _remove_if_empty(out)
        raise


def _stage(out: Path, files: Mapping[str, Content], whole_set: bool) -> dict[str, object]:
    """Steps 3 and 4: the new set staged and the journal committed; the journal."""
    earlier = _manifest(out)
    names = set(files) if whole_set else set(files) | set(earlier)
    files = {**files, MANIFEST: "".join(f"{name}\n" for name in sorted(names)).encode()}
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=out))
    try:
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                if isinstance(content, bytes):
                    handle.write(content)
                else:
                    handle.writelines(content)
                handle.flush()
                os.fsync(handle.fileno())
        fault("before-journal")
        journal: dict[str, object] = {
            "staging": staging.name,
            "files": sorted(files, key=lambda n: n == MANIFEST),  # the manifest last
            "stale": sorted(set(earlier) - names)}
        write_file(out / JOURNAL, json.dumps(journal).encode())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(out)
    return journal


def _roll_forward(out: Path, journal: dict[str, object]) -> None:
    """Step 5, from wherever a kill stopped it (each step may be done again)."""
    staging = out / str(journal["staging"])
    for number, name in enumerate(_plain(journal.get("files"))):
        if number == 1:
            fault("between-outputs")
        source = staging / name
        if source.exists():  # else moved already, before a kill
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, out / name)
    for name in _plain(journal.get("stale")):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    shutil.rmtree(staging, ignore_errors=True)
    _fsync_dir(out)
    with contextlib.suppress(FileNotFoundError):
        (out / JOURNAL).unlink()
    _fsync_dir(out)


def _repair(out: Path) -> None:
    """Step 2: finish a committed write, drop uncommitted staging folders (the folder
    is held, so none of them is being written)."""
    try:
        raw = (out / JOURNAL).read_bytes()
    except FileNotFoundError:
        raw = None
    if raw is not None:
        try:
            journal = json.loads(raw)
            ok = isinstance(journal, dict) and _plain([journal.get("staging")]) and \
                str(journal["staging"]).startswith(STAGING)
        except ValueError:
            ok = False
        if ok:
            _roll_forward(out, journal)
        else:  # not ours (written whole or not at all): nothing to finish
            (out / JOURNAL).unlink()
    for stale in out.glob(f"{STAGING}*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in out.parent.glob(f".{out.name}.staging-*"):  # older versions staged there
        shutil.rmtree(old, ignore_errors=True)


def settle(out_dir: str | Path) -> None:
    """Finish or discard a write to ``out_dir`` that a killed process left, before
    reading the folder's outputs. Does nothing if the folder is missing, or held by
    another process (which settles it itself).

    Raises:
        InputError: the folder needs repair and cannot be written.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return
    if not (out / JOURNAL).exists() and not any(out.glob(f"{STAGING}*")) and \
            not any(out.parent.glob(f".{out.name}.staging-*")):
        return  # nothing to settle: a reader needs no lock (nor write access)
    try:
        with locked(out, record_pid=False):
            pass  # the outermost hold repairs
    except InputError:
        if _held_elsewhere(out):
            return
        raise


def _held_elsewhere(out: Path) -> bool:
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_file(path: str | Path, content: bytes) -> None:
    """Write one file whole or not at all (a temporary file beside it, then a rename).

    Raises:
        InputError: ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder: name a file", path, field="--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def _plain(names: object) -> list[str]:
    """Only plain names inside the folder: the manifest and the journal are ours, but
    a folder is shared."""
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n and not n.startswith("/")
            and ".." not in Path(n).parts]


def _manifest(out: Path) -> list[str]:
    try:
        names = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return _plain(names)


def _fsync_dir(folder: Path) -> None:
    """Make the folder's renames durable (a power cut keeps the order of the steps)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _os_error(exc: OSError, out: Path) -> PeerReviewError | None:
    """What an OSError while writing ``out`` is, said plainly (None: no plainer words)."""
    where = exc.filename or out
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"cannot write here ({exc.strerror}): the folder is read-only; "
                          "use another --out", where, field="--out")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RunFailed(f"{where}: the disk is full ({exc.strerror}); the outputs are "
                         "left as they were: free some space and run again")
    return None


def run_store_error(exc: OSError | sqlite3.Error, path: Path) -> PeerReviewError:
    """What went wrong opening the run store ``path``, said as what it is: a folder
    where the file should be, a store another process has locked, a read-only folder,
    a full disk, a file that is no store. Exit 2 where the user picked the wrong place
    (:class:`InputError`), 1 where the machine failed (:class:`RunFailed`)."""
    if isinstance(exc, OSError):
        return _os_error(exc, path.parent) or RunFailed(
            f"{path}: cannot open the run store: {exc.strerror}")
    name = str(getattr(exc, "sqlite_errorname", ""))
    if path.is_dir():
        return InputError("is a folder, not a run store file: move it away, or use another "
                          "--out", path)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return InputError("the run store is locked by another process (a peerreview on this "
                          "folder, or a program that has it open): wait for it to end, or "
                          "use another --out", path)
    if name.startswith("SQLITE_READONLY") or (
            name.startswith("SQLITE_CANTOPEN") and not os.access(path.parent, os.W_OK)):
        return InputError("cannot write the run store: the folder (or the file) is "
                          "read-only; use another --out", path)
    if name.startswith("SQLITE_FULL") or _disk_full(path.parent):
        return RunFailed(f"{path}: the disk is full: free some space and run again")
    if name.startswith("SQLITE_NOTADB"):
        return InputError("not a peerreview run store (not an SQLite file): move it away, "
                          "or use another --out", path)
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return RunFailed(f"{path}: cannot open the run store ({exc}): check the disk and "
                         "the folder's permissions")
    return InputError(f"not a peerreview run store: {exc}", path)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


@contextlib.contextmanager
def locked(out_dir: str | Path, *, record_pid: bool = True) -> Iterator[Path]:
    """Hold the output folder for this process alone (created if missing); a write cut
    off by a kill is settled first. Held again by the same process, it nests.

    The lock is the kernel's (``flock`` on the folder): it ends with the process, even
    a killed one. With ``record_pid`` the pid goes into ``DIR/.peerreview.lock`` for
    the message another process gets (it is written anyway when that file exists).

    Raises:
        InputError: another process holds the folder (the message names its pid), or
            the folder cannot be written.
    """
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if (plainly := _os_error(exc, out)) is not None:
            raise plainly from exc
        raise
    key = out.resolve()
    with _HELD_GUARD:
        depth = _HELD.get(key, 0)
        if depth:
            _HELD[key] = depth + 1
    if depth:
        try:
            yield out
        finally:
            with _HELD_GUARD:
                _HELD[key] -= 1
        return
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another peerreview run (pid {_holder(out)}) is writing "
                             "into this folder: wait for it to end, or use another --out",
                             out, field="--out") from None
        with _HELD_GUARD:
            _HELD[key] = 1
        try:
            try:
                if record_pid or (out / LOCK).exists():
                    (out / LOCK).write_text(str(os.getpid()), encoding="utf-8")
                _repair(out)
            except OSError as exc:
                if (plainly := _os_error(exc, out)) is not None:
                    raise plainly from exc
                raise
            yield out
        finally:
            with _HELD_GUARD:
                del _HELD[key]
    finally:
        os.close(fd)


def _holder(out: Path) -> str:
    try:
        return (out / LOCK).read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"
