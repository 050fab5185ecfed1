"""Evidence in the database: the pages that reported an incident, as fetched (a `Store` mixin).

Rows are asked for inside the poll's transaction (`want_evidence`) and filled in later by
watcher/evidence/, off the alert path, so a slow or missing article never delays an alert.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from watcher.store.times import iso


class EvidenceStore:
    """Reads and writes of the evidence table (see migrations m007)."""

    conn: sqlite3.Connection

    def want_evidence(self, item_id: int, url: str, source_id: str, now: datetime, *, archive: bool = False) -> bool:
        """Ask for the item's page to be kept (and, with `archive`, saved by the Internet
        Archive). Returns False when it was already asked for or the item has no web link."""
        if not url.startswith(("http://", "https://")):
            return False
        added = False
        for kind in ("page", "archive") if archive else ("page",):
            cursor = self.conn.execute(
                "INSERT INTO evidence (item_id, kind, url, source_id, created_at, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, kind) DO NOTHING",
                (item_id, kind, url, source_id, iso(now), iso(now)))
            added = added or cursor.rowcount == 1
        return added
