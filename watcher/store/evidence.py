"""Evidence in the database: the pages that reported an incident, as fetched (a `Store` mixin).

Rows are asked for inside the poll's transaction (`want_evidence`) and filled in later by
watcher/evidence/, off the alert path, so a slow or missing article never delays an alert.

A row's life: pending -> (claimed) fetching -> done, or back to pending with a later
`next_attempt_at` after a failure, or failed once the collector gives up (the last error is
kept). A claim is a lease: `next_attempt_at` moves to the lease's end, so a row whose fetcher
died (a crash, a database error while recording) is due again once the lease runs out even
if nobody calls `recover_evidence`; on start, `recover_evidence` makes it due at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from watcher.store.times import iso

CLAIM_LEASE = timedelta(minutes=15)  # far longer than one fetch (60 s deadline) plus text extraction
_STATUSES = ("pending", "fetching", "done", "failed")


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    record["content"] = gzip.decompress(record["content"]) if record["content"] is not None else None
    record["headers"] = json.loads(record["headers"] or "{}")
    return record


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

    def due_evidence(self, now: datetime, limit: int = 20,
                     kinds: Sequence[str] = ("page", "archive")) -> list[dict[str, Any]]:
        """Rows to fetch now, oldest first: pending ones whose next attempt is due, and claimed
        ones whose lease ran out (their fetcher died). Content is not read (there is none yet)."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        rows = self.conn.execute(
            "SELECT id, item_id, kind, url, source_id, status, attempts, next_attempt_at, last_error, created_at"
            f" FROM evidence WHERE status IN ('pending', 'fetching') AND next_attempt_at <= ? AND kind IN ({marks})"
            " ORDER BY next_attempt_at, id LIMIT ?", (iso(now), *kinds, limit))
        return [dict(r) for r in rows]

    def claim_evidence(self, evidence_id: int, now: datetime, lease: timedelta = CLAIM_LEASE) -> bool:
        """Take a due row for fetching (counting the attempt); False if another run has it."""
        cursor = self.conn.execute(
            "UPDATE evidence SET status = 'fetching', attempts = attempts + 1, next_attempt_at = ?"
            " WHERE id = ? AND status IN ('pending', 'fetching') AND next_attempt_at <= ?",
            (iso(now + lease), evidence_id, iso(now)))
        return cursor.rowcount == 1

    def evidence_kept(self, evidence_id: int, *, fetched_at: datetime, final_url: str, http_status: int,
                      headers: dict[str, str], content: bytes | None, text: str | None,
                      archive_url: str | None = None) -> None:
        """Store a fetched page: compressed bytes, their SHA-256 and size, headers, main text.
        An archive row has no content of its own (the copy is at `archive_url`)."""
        packed = gzip.compress(content, mtime=0) if content is not None else None
        digest = hashlib.sha256(content).hexdigest() if content is not None else None
        self.conn.execute(
            "UPDATE evidence SET status = 'done', fetched_at = ?, final_url = ?, http_status = ?, headers = ?,"
            " content = ?, size = ?, sha256 = ?, text = ?, archive_url = ?, last_error = NULL WHERE id = ?",
            (iso(fetched_at), final_url, http_status, json.dumps(headers, ensure_ascii=False), packed,
             len(content) if content is not None else None, digest, text, archive_url, evidence_id))

    def evidence_failed(self, evidence_id: int, error: str, next_attempt: datetime | None) -> None:
        """A fetch that did not give the page: retried at `next_attempt`, or given up (None),
        keeping the error either way."""
        self.conn.execute(
            "UPDATE evidence SET status = ?, last_error = ?, next_attempt_at = coalesce(?, next_attempt_at)"
            " WHERE id = ?", ("pending" if next_attempt else "failed", error[:500],
                              iso(next_attempt) if next_attempt else None, evidence_id))

    def recover_evidence(self, now: datetime | None = None) -> int:
        """Fetches a crash interrupted go back to pending, due at once (at `now`, or since they
        were asked for): fetching a page again is harmless. Returns how many."""
        cursor = self.conn.execute(
            "UPDATE evidence SET status = 'pending', next_attempt_at = coalesce(?, created_at)"
            " WHERE status = 'fetching'", (iso(now) if now is not None else None,))
        return int(cursor.rowcount or 0)

    def evidence_of(self, item_id: int) -> list[dict[str, Any]]:
        """The evidence rows of an item (page, then archive), content decompressed, headers decoded."""
        rows = self.conn.execute("SELECT * FROM evidence WHERE item_id = ? ORDER BY kind = 'archive', id", (item_id,))
        return [_decoded(r) for r in rows]

    def evidence_of_incident(self, incident_id: int) -> list[dict[str, Any]]:
        """The evidence rows of every report of an incident, in the order the reports joined."""
        rows = self.conn.execute(
            "SELECT e.* FROM evidence e JOIN incident_items r ON r.item_id = e.item_id WHERE r.incident_id = ?"
            " ORDER BY r.joined_at, r.item_id, e.kind = 'archive', e.id", (incident_id,))
        return [_decoded(r) for r in rows]

    def evidence_counts(self) -> dict[str, int]:
        """Rows by status (every status present, 0 when none), plus `retrying`: pending rows that
        have failed at least once. For health: `failed` pages are ones watcher gave up on."""
        counts = dict.fromkeys(_STATUSES, 0)
        rows = self.conn.execute("SELECT status, count(*) FROM evidence GROUP BY status")
        counts.update({r[0]: int(r[1]) for r in rows})
        row = self.conn.execute("SELECT count(*) FROM evidence WHERE status = 'pending' AND attempts > 0").fetchone()
        counts["retrying"] = int(row[0])
        return counts

    def failed_evidence(self, limit: int = 20) -> list[dict[str, Any]]:
        """The pages given up on, newest first, with their last error (for the admin's health)."""
        rows = self.conn.execute(
            "SELECT id, item_id, kind, url, source_id, attempts, last_error, created_at FROM evidence"
            " WHERE status = 'failed' ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]
