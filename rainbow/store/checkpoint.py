"""Checkpoints of SQLite's write-ahead log on a thread of their own.

A checkpoint copies committed pages from the log into the database file and syncs it: milliseconds
of I/O that SQLite would otherwise do inside whichever COMMIT crosses its threshold, on the
server's event loop. Here a thread checkpoints (PASSIVE: never blocking readers or the writer)
every ``CHECKPOINT_SECONDS``. Under steady writes a passive checkpoint never catches up with the
end of the log, so the log is not restarted and would grow: the writer still checkpoints when
it passes ``FALLBACK_PAGES``, which by then copies only the last few pages and lets the log
start over (keeping it, and the disk it takes, within about that size).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.1
FALLBACK_PAGES = 2048  # 8 MiB of 4 KiB pages


class Checkpointer:
    """Checkpoints the database at ``path`` until ``close``."""

    def __init__(self, path: str, interval: float = CHECKPOINT_SECONDS) -> None:
        self._stop = threading.Event()
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA busy_timeout=5000")
        self._thread = threading.Thread(
            target=self._run, args=(interval,), name="sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:  # the next round tries again; the writer's fallback remains
                log.warning("checkpoint of the write-ahead log failed: %s", error)

    def close(self) -> None:
        """Stop checkpointing and close the connection."""
        self._stop.set()
        self._thread.join()
        self._connection.close()
