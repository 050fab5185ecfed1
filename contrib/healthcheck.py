"""Is `watcher run` alive? The container HEALTHCHECK (Dockerfile); usable from cron or a monitor too.

Why this and not `watcher doctor --quick`: the doctor answers "is this deployment set up right"
(files, folders, disk, `PRAGMA quick_check` over the whole database); a health check answers
"is the running process still doing its work", every few minutes, cheaply. A process that has
died needs no check (the container stops and `restart:` brings it back); what nothing else
notices is a process that is up but stuck. So: every poll, failed or not, writes its source's
`last_polled` in watcher.db, and this reads the newest one. Healthy while some source was
polled within MAX_AGE (default 2 h; the shipped feeds.yaml polls every 15 min to 1 h, so a
healthy watcher is rarely 15 min behind). Unhealthy means the scheduler is stuck, or every
source has been failing so long that its backoff (doubling up to 12 h) has stopped the polls:
the network has been down for hours. Either way someone should look.

Reads only: the database is opened read-only (SQLCipher with WATCHER_DB_KEY when that is set),
one query, nothing written, no names printed. Exit 0 healthy, 1 not, one line saying why.

    python healthcheck.py [MAX_AGE_SECONDS]     # WATCHER_STATE (default ./state) says where
"""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_AGE = 7200.0  # seconds without any poll after which watcher counts as stuck


def open_read_only(db: Path, key: str | None) -> Any:
    """A read-only connection: plain SQLite, or SQLCipher when the database is encrypted."""
    uri = f"file:{db}?mode=ro"
    if not key:
        return sqlite3.connect(uri, uri=True, timeout=10)
    from sqlcipher3 import dbapi2 as sqlcipher  # installed with watcher[encrypted]

    conn = sqlcipher.connect(uri, uri=True, timeout=10)
    conn.execute("PRAGMA key = '" + key.replace("'", "''") + "'")
    return conn


def newest_poll(db: Path, key: str | None) -> datetime | None:
    """When any source was last polled (None: never)."""
    conn = open_read_only(db, key)
    try:
        (text,) = conn.execute("SELECT max(last_polled) FROM sources").fetchone()
    finally:
        conn.close()
    return datetime.fromisoformat(text) if text else None


def check(state: Path, key: str | None, max_age: float, now: datetime) -> tuple[bool, str]:
    """(healthy, the one line that says why)."""
    db = state / "watcher.db"
    if not db.is_file():
        return False, f"unhealthy: no database at {db} (watcher has not started, or WATCHER_STATE points elsewhere)"
    try:
        last = newest_poll(db, key)
    except Exception as exc:  # noqa: BLE001  (any failure to read is an unhealthy answer, never a traceback)
        return False, f"unhealthy: cannot read {db}: {type(exc).__name__}: {exc}"
    if last is None:
        return False, "unhealthy: no source has been polled yet"
    age = (now - last).total_seconds()
    if age > max_age:
        return False, (f"unhealthy: no source polled for {age / 60:.0f} min (limit {max_age / 60:.0f} min):"
                       " the scheduler is stuck or every source is failing (network down?)")
    return True, f"healthy: last poll {age:.0f} s ago"


def main(argv: list[str]) -> int:
    max_age = float(argv[1]) if len(argv) > 1 else MAX_AGE
    state = Path(os.environ.get("WATCHER_STATE") or "state")
    healthy, line = check(state, os.environ.get("WATCHER_DB_KEY") or None, max_age, datetime.now(UTC))
    print(line)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
