"""Opening watcher.db: a private file, plain SQLite or SQLCipher (WATCHER_DB_KEY), checked at once."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from watcher.errors import ConfigError, ConfigProblem


def _private_file(path: Path) -> None:
    """Create `path` (and its folder) readable by the owner only, before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


FROM_ENV = object()  # Store's key: read WATCHER_DB_KEY


def connect(path: Path | str, key: str | None, *, check_same_thread: bool = True) -> Any:
    """A connection to watcher.db: sqlite3, or SQLCipher (sqlcipher3) when a key is given.
    `check_same_thread` False: a connection used from worker threads, one at a time (the WAL
    checkpoints of store/wal.py).

    The key is checked at once, so a wrong key (or a key for a database that is not encrypted,
    or no key for one that is) is a ConfigError saying so, never a traceback mid-poll."""
    if str(path) == ":memory:":
        return sqlite3.connect(":memory:", isolation_level=None)
    _private_file(Path(path))
    if key is None:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=check_same_thread)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError([ConfigProblem(str(path), None, f"cannot be read ({exc}): it is encrypted (set "
                                             "WATCHER_DB_KEY) or damaged (restore a backup: `watcher restore`)")]) from None
        conn.row_factory = sqlite3.Row
        return conn
    try:
        from sqlcipher3 import dbapi2 as sqlcipher
    except ImportError:
        raise ConfigError([ConfigProblem("environment", None, "WATCHER_DB_KEY is set but SQLCipher is not installed:"
                                         " pip install 'watcher[encrypted]' (or unset the key)")]) from None
    conn = sqlcipher.connect(str(path), timeout=30, isolation_level=None, check_same_thread=check_same_thread)
    conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our ConfigError, not lines on stderr
    conn.execute("PRAGMA key = " + _quoted(key))
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher.DatabaseError:
        conn.close()
        raise ConfigError([ConfigProblem(str(path), None, "WATCHER_DB_KEY does not open it: a wrong key, or a database"
                                         " that is not encrypted (`watcher encrypt-db` converts one)")]) from None
    conn.row_factory = sqlcipher.Row
    return conn


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


