"""Evidence in the database: the pages that reported an incident, as fetched (a `Store` mixin).

Rows are asked for inside the poll's transaction (`want_evidence`) and filled in later by
watcher/evidence/, off the alert path, so a slow or missing article never delays an alert.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from datetime import datetime
from typing import Any

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

    def due_evidence(self, now: datetime, limit: int = 20) -> list[dict[str, Any]]:
        """Pages waiting to be fetched whose next attempt is due, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM evidence WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (iso(now), limit))
        return [dict(r) for r in rows]

    def claim_evidence(self, evidence_id: int) -> bool:
        cursor = self.conn.execute(
            "UPDATE evidence SET status = 'fetching', attempts = attempts + 1 WHERE id = ? AND status = 'pending'",
            (evidence_id,))
        return cursor.rowcount == 1

    def evidence_kept(self, evidence_id: int, *, fetched_at: datetime, final_url: str, http_status: int,
                      headers: dict[str, str], content: bytes, text: str | None, archive_url: str | None = None) -> None:
        """Store a fetched page: compressed bytes, their SHA-256 and size, headers, main text."""
        self.conn.execute(
            "UPDATE evidence SET status = 'done', fetched_at = ?, final_url = ?, http_status = ?, headers = ?,"
            " content = ?, size = ?, sha256 = ?, text = ?, archive_url = ?, last_error = NULL WHERE id = ?",
            (iso(fetched_at), final_url, http_status, json.dumps(headers, ensure_ascii=False),
             gzip.compress(content, mtime=0), len(content), hashlib.sha256(content).hexdigest(), text, archive_url,
             evidence_id))

    def evidence_failed(self, evidence_id: int, error: str, next_attempt: datetime | None) -> None:
        """A fetch that did not give the page: retried at `next_attempt`, or given up (None)."""
        self.conn.execute(
            "UPDATE evidence SET status = ?, last_error = ?, next_attempt_at = coalesce(?, next_attempt_at)"
            " WHERE id = ?", ("pending" if next_attempt else "failed", error[:500],
                              iso(next_attempt) if next_attempt else None, evidence_id))

    def recover_evidence(self) -> int:
        """Fetches a crash interrupted go back to pending (fetching again is harmless)."""
        return int(self.conn.execute("UPDATE evidence SET status = 'pending' WHERE status = 'fetching'").rowcount or 0)

    def evidence_of(self, item_id: int) -> list[dict[str, Any]]:
        """The evidence rows of an item (page, archive), content decompressed."""
        out = []
        for row in self.conn.execute("SELECT * FROM evidence WHERE item_id = ? ORDER BY kind", (item_id,)):
            record = dict(row)
            record["content"] = gzip.decompress(record["content"]) if record["content"] is not None else None
            record["headers"] = json.loads(record["headers"] or "{}")
            out.append(record)
        return out

    def evidence_counts(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.conn.execute("SELECT status, count(*) FROM evidence GROUP BY status")}
