"""Checkpoints of watcher.db's write-ahead log, kept out of the polls' commits and off the event loop.

In WAL mode a commit appends its pages to watcher.db-wal; a checkpoint copies them into the
database file (random writes, then an fsync). SQLite runs one inside whichever COMMIT crosses
`wal_autocheckpoint` pages: inside a poll, on the event-loop thread, and in a database of a
million items each copies thousands of scattered pages. Under `watcher run` the scheduler takes
them over (`WalKeeper.take_over`: automatic checkpoints off on the Store's connection) and its
checkpoint job calls `tick` in a worker thread (asyncio.to_thread), which checkpoints from a
connection of its own, opened the way the Store's was (plain or SQLCipher, `connect`). A PASSIVE
checkpoint neither waits for nor blocks writers and readers, and the sqlite3 module lets go of
the GIL while SQLite works, so polls go on meanwhile.

The WAL stays bounded: `tick` looks at its size (os.stat, cheap) on every run of the job and
checkpoints when `every` seconds have passed since the last one, or at once when the WAL is past
`soon_bytes`; past `limit_bytes` it then truncates the file (TRUNCATE, only once PASSIVE has
copied everything, so the write lock it takes is held for a moment; with no busy timeout, a
reader such as a backup in progress makes it give up until the next run rather than make polls
wait). Commands without the scheduler (`watcher poll --once`, CLI edits, rematch, demo) keep
SQLite's automatic checkpoints, so their WAL is bounded by them, and `Store.close` checkpoints.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from watcher.store.connect import connect

CHECKPOINT_EVERY = 10.0  # seconds between runs of the scheduler's checkpoint job (a stat each)
INTERVAL = 60.0  # seconds between checkpoints while the WAL stays small
SOON_BYTES = 16 * 1024 * 1024  # a WAL this large is checkpointed at the job's next run
LIMIT_BYTES = 64 * 1024 * 1024  # ... and past this, truncated once checkpointed
AUTOCHECKPOINT = 10_000  # pages: SQLite's automatic checkpoints for commands without the scheduler


class Checkpoint(NamedTuple):
    """What one checkpoint did (SQLite's answer to PRAGMA wal_checkpoint)."""

    busy: bool  # it could not finish: a reader or writer was in the way (tried again next run)
    frames: int  # frames in the WAL
    copied: int  # frames copied into the database file, this time or before
    truncated: bool  # the WAL file was emptied


class WalKeeper:
    """Checkpoints watcher.db from its own connection; safe to call from any one thread at a time."""

    def __init__(self, path: Path | str | None, key: str | None, main: Any, *, every: float = INTERVAL,
                 soon_bytes: int = SOON_BYTES, limit_bytes: int = LIMIT_BYTES,
                 clock: Callable[[], float] = time.monotonic):
        """`main`: the Store's connection; `path` None: an in-memory database, which has no WAL
        (every call does nothing)."""
        self.path = Path(path) if path is not None else None
        self.main = main
        self.key = key
        self.every, self.soon_bytes, self.limit_bytes = every, soon_bytes, limit_bytes
        self.clock = clock
        self.taken_over = False
        self.closed = False  # by Store.close: later calls do nothing
        self._conn: Any = None
        self._lock = threading.Lock()
        self._last = clock()
        self._clean: tuple[int, int] | None = None  # (size, mtime) of the WAL after a complete checkpoint

    def take_over(self) -> None:
        """Stop the Store's connection checkpointing in its commits: `tick` does it from now on.
        Call it on the Store's thread (the event loop's), like every use of that connection."""
        if self.path is not None:
            self.main.execute("PRAGMA wal_autocheckpoint=0")
            self.taken_over = True

    def wal_bytes(self) -> int:
        """The size of watcher.db-wal (0 when there is none)."""
        return self._stat()[0]

    def _stat(self) -> tuple[int, int]:
        if self.path is None:
            return 0, 0
        try:
            st = os.stat(f"{self.path}-wal")
        except FileNotFoundError:
            return 0, 0
        return st.st_size, st.st_mtime_ns

    def tick(self) -> Checkpoint | None:
        """The checkpoint job's body (run it in a worker thread): checkpoint if it is time or the
        WAL is large, truncate it when it is past the limit. None when nothing was due."""
        if self.closed:
            return None
        stat = self._stat()
        size = stat[0]
        due = self.clock() - self._last >= self.every
        # between checkpoints, only a large WAL with something new in it cannot wait
        if not size or (not due and (size < self.soon_bytes or stat == self._clean)):
            return None
        return self.checkpoint(truncate=size >= self.limit_bytes)

    def checkpoint(self, truncate: bool = False) -> Checkpoint:
        """PASSIVE checkpoint now; then, if `truncate` and it copied everything, TRUNCATE."""
        with self._lock:
            if self.closed:
                return Checkpoint(True, -1, -1, False)
            conn = self._open()
            busy, frames, copied = wal_checkpoint(conn, "PASSIVE")
            emptied = False
            if truncate and not busy and copied == frames:
                busy, frames, copied = wal_checkpoint(conn, "TRUNCATE")
                emptied = not busy
            self._last = self.clock()
            unfinished = bool(busy) or copied != frames  # a reader's snapshot still needs frames
            self._clean = None if unfinished else self._stat()
            return Checkpoint(unfinished, frames, copied, emptied)

    def _open(self) -> Any:
        if self._conn is None:
            if self.path is None:
                raise RuntimeError("an in-memory database has no write-ahead log to checkpoint")
            conn = connect(self.path, self.key, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")  # never hold the write lock while waiting for a reader
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the checkpoint connection (waits for a checkpoint in progress); for good."""
        with self._lock:
            self.closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def wal_checkpoint(conn: Any, mode: str) -> tuple[int, int, int]:
    """PRAGMA wal_checkpoint(mode): (busy, frames, copied). "database is locked" (another
    connection recovering the WAL, or checkpointing) is busy too: the next run tries again."""
    try:
        busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    except Exception as exc:  # sqlite3 or sqlcipher3's OperationalError
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return 1, -1, -1
    return int(busy), int(frames), int(copied)
