"""The run store's writer thread: calls and attempts are committed on a thread of its
own, so that a live run's event loop never waits on SQLite (see :mod:`peerreview.calls.store`).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from pathlib import Path
from typing import Any

Write = tuple[str, tuple[Any, ...]]  # a statement and its parameters
BACKLOG = 4096  # writes handed over and not committed, at most


class Writer:
    """Commits calls and attempts on a thread of its own, with its own connection (WAL
    lets it write beside the readers), so that a live run's event loop never waits on
    SQLite. What arrives together is committed together, in order."""

    def __init__(self, path: Path, *, backlog: int = BACKLOG) -> None:
        # Bounded: when SQLite falls behind (a busy machine), a put waits instead of the
        # backlog growing with the run (each row holds its request, ~1 KB).
        self._queue: queue.Queue[Write | None] = queue.Queue(maxsize=backlog)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True,
                                        name="peerreview-store")
        self._thread.start()

    def put(self, sql: str, row: tuple[Any, ...]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((sql, row))

    def _run(self, path: Path) -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                rows = [self._queue.get()]
                while not self._queue.empty():  # what arrived meanwhile: one transaction
                    rows.append(self._queue.get_nowait())
                stop = None in rows
                try:
                    writes = [r for r in rows if r is not None]
                    if writes:
                        with db:
                            db.execute("BEGIN")
                            _execute_runs(db, writes)
                except sqlite3.Error as exc:
                    self.error = exc
                for _ in rows:
                    self._queue.task_done()
                if stop:
                    return
        finally:
            db.close()

    def flush(self) -> None:
        """Wait until everything handed over is committed."""
        self._queue.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


def _execute_runs(db: sqlite3.Connection, writes: list[Write]) -> None:
    """Execute writes in order, each run of one statement as one executemany."""
    i = 0
    while i < len(writes):
        sql = writes[i][0]
        j = i
        while j < len(writes) and writes[j][0] == sql:
            j += 1
        db.executemany(sql, [row for _, row in writes[i:j]])
        i = j
