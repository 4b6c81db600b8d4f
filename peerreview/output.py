"""Output folders: written all at once or not at all, replaced as a set, and held by
one run at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from peerreview.errors import InputError

MANIFEST = ".peerreview-outputs"  # the names the last write put into the folder
LOCK = ".peerreview.lock"


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


def write_files(out_dir: str | Path, files: dict[str, bytes], *, whole_set: bool = True) -> None:
    """Write ``files`` (name -> content) into ``out_dir`` as a set (or, without
    ``whole_set``, as an update of some of the set's files).

    Every file is first written into a staging folder beside or inside the target;
    only when all are written are they moved into place (``os.replace`` is atomic).
    A new folder appears whole by one rename. Outputs of an earlier write that this
    set lacks are removed (an agreement.json without --gold this time would belie the
    new leaderboard); other files, such as the run store, are left alone. On failure
    the staging folder is removed and ``out_dir`` is left as it was.
    """
    out = check_out_dir(out_dir)
    fresh = not out.exists()
    parent = out.parent if fresh else out
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    earlier = [] if fresh else _manifest(out)
    names = set(files) if whole_set else set(files) | set(earlier)
    stale = set(earlier) - names
    files = {**files, MANIFEST: "".join(f"{name}\n" for name in sorted(names)).encode()}
    try:
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        if fresh:
            os.rename(staging, out)
            return
        for name in sorted(files, key=lambda n: n == MANIFEST):  # the manifest last
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
        for name in stale:
            with contextlib.suppress(FileNotFoundError):
                (out / name).unlink()
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


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


def _manifest(out: Path) -> list[str]:
    try:
        names = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    # Only plain names inside the folder: the manifest is ours, but a folder is shared.
    return [n for n in names if n and not n.startswith("/") and ".." not in Path(n).parts]


@contextlib.contextmanager
def locked(out_dir: str | Path) -> Iterator[Path]:
    """Hold the output folder for this process alone (created if missing).

    The lock is the kernel's (``flock``): it ends with the process, even a killed one.

    Raises:
        InputError: another process holds the folder; the message names its pid.
    """
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    handle = (out / LOCK).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise InputError(f"another peerreview run (pid {pid}) is writing into this "
                             "folder: wait for it to end, or use another --out", out,
                             field="--out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield out
    finally:
        handle.close()
