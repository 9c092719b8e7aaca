"""WAL checkpoints on a background thread, off the commits that conversations wait for.

SQLite's automatic checkpoint runs inside whichever commit crosses its threshold: that commit
then copies the WAL into the database and syncs it, and the turn waiting on it stalls (it was
most of the trivial turn's p99). With automatic checkpoints off, the store signals this
thread after enough writes and it checkpoints through its own connection, in PASSIVE mode,
which never blocks the writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref

__all__ = ["Checkpointer"]

CHECKPOINT_BYTES = 1 << 20
"""Bytes appended between two checkpoints (SQLite's own default is ~4 MiB of pages)."""

CHECKPOINT_COMMITS = 200
"""Commits between two checkpoints (each writes at least a page or two of b-tree)."""


class Checkpointer:
    """Counts what the store wrote; past a threshold, wakes its thread to checkpoint."""

    def __init__(self, path: str, owner: object) -> None:
        self._path = path
        self._bytes = 0
        self._commits = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed checkpoints, for tests and diagnostics
        # a store dropped without close() must not leave its thread behind
        weakref.finalize(owner, self._stop_thread, self._wake, self._stop)

    def wrote(self, nbytes: int) -> None:
        """Called by the writer after each commit (under the store's lock)."""
        self._bytes += nbytes
        self._commits += 1
        if self._bytes < CHECKPOINT_BYTES and self._commits < CHECKPOINT_COMMITS:
            return
        self._bytes = self._commits = 0
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="acphost-checkpoint", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (it finishes a checkpoint under way); the caller closes the db."""
        self._stop_thread(self._wake, self._stop)
        if self._thread is not None:
            self._thread.join(10)

    @staticmethod
    def _stop_thread(wake: threading.Event, stop: threading.Event) -> None:
        stop.set()
        wake.set()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=10.0, check_same_thread=False)
        except sqlite3.Error:
            return  # the writer's own connection reports what is wrong with the file
        with contextlib.closing(conn):
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop.is_set():
                    return
                with contextlib.suppress(sqlite3.Error):  # busy or closing: the next one catches up
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
