"""Run ``python benchmarks/peak.py OUT -m MODULE ARGS...``: the module as ``python -m``
would, then write this process's peak RSS in MB (VmHWM) to the file OUT at exit.

Why not the parent's ``ru_maxrss`` of the child: Linux counts in it the memory the
parent had when it spawned the child (the old address space's high-water mark at
exec), so a big benchmark process made every child look as big as itself.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def _write_peak(out: Path) -> None:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    out.write_text(f"{kb / 1024:.1f}\n")


if __name__ == "__main__":
    target, flag, module, *args = sys.argv[1:]
    assert flag == "-m", "usage: peak.py OUT -m MODULE ARGS..."
    atexit.register(_write_peak, Path(target))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
