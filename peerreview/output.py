"""Write a set of output files all at once, or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_files(out_dir: str | Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (name -> content) into ``out_dir`` atomically.

    Every file is first written into a staging folder beside or inside the target;
    only when all are written are they moved into place (``os.replace`` is atomic).
    A new folder appears whole by one rename. On failure the staging folder is
    removed and ``out_dir`` is left as it was.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    fresh = not out.exists()
    parent = out.parent if fresh else out
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
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
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
