"""Keeping watcher.db small over months: evidence retention and giving freed pages back (a `Store` mixin).

Two things grow without bound on a server nobody looks at: unmatched items (Store.prune,
WATCHER_RETENTION) and the pages kept as evidence (`prune_evidence`, WATCHER_EVIDENCE_RETENTION).
Deleting rows only marks pages free inside the file; `vacuum` hands them back to the file
system (auto_vacuum INCREMENTAL is set by migration m009), so the file shrinks after a prune.

Evidence retention keeps the record of what was fetched (url, final_url, fetched_at, HTTP
status, headers, size, sha256) and drops the bulk (the page's bytes and its main text): a report
can still cite the hash and the address years later, and the Internet Archive's copy (kind
'archive') is untouched. A pruned row is `status = 'done'` with `content IS NULL AND size IS NOT
NULL`. Nothing of an incident whose case is still active is dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.durations import parse_duration
from watcher.store.times import iso

RETENTION_DEFAULT = "180d"  # unmatched items (WATCHER_RETENTION)
EVIDENCE_RETENTION_DEFAULT = "365d"  # page content of old incidents (WATCHER_EVIDENCE_RETENTION)
_OFF = ("off", "0", "never", "no", "keep")


def retention_period(value: str | None, default: str) -> timedelta | None:
    """A retention setting as written ('180d', 'off'): the period, or None for "keep forever".
    Raises ValueError (with a message fit for a config error) for anything else."""
    text = (value if value is not None and value.strip() else default).strip().lower()
    if text in _OFF:
        return None
    return parse_duration(text)


@dataclass(frozen=True)
class Retention:
    """How long watcher keeps what it does not need forever, from the environment."""

    items: timedelta | None  # unmatched items (None: kept)
    evidence: timedelta | None  # page content of evidence (None: kept)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Retention:
        """WATCHER_RETENTION (default 180d) and WATCHER_EVIDENCE_RETENTION (default 365d); 'off' keeps.
        Raises ValueError naming the variable when one is malformed."""
        out = {}
        for field, name, default in (("items", "WATCHER_RETENTION", RETENTION_DEFAULT),
                                     ("evidence", "WATCHER_EVIDENCE_RETENTION", EVIDENCE_RETENTION_DEFAULT)):
            try:
                out[field] = retention_period(env.get(name), default)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc} (or 'off' to keep everything)") from None
        return cls(**out)


# Evidence rows whose page content may go: fetched before the cutoff, still holding content,
# and not reporting an incident of a case that has had a report since the cutoff.
_OLD_EVIDENCE = """
    (content IS NOT NULL OR text IS NOT NULL)
    AND coalesce(fetched_at, created_at) < :before
    AND NOT EXISTS (
        SELECT 1 FROM incident_items r
        JOIN incidents i ON i.id = r.incident_id
        JOIN incidents c ON c.case_id = i.case_id
        WHERE r.item_id = evidence.item_id AND c.last_seen >= :before)
"""


class MaintenanceStore:
    """Evidence retention and incremental vacuum (see the module docstring)."""

    conn: sqlite3.Connection

    def prune_evidence(self, before: datetime) -> int:
        """Drop the page bytes and main text of evidence fetched before `before` whose incident
        (and every incident of its case) has had no report since; keep the row with its hash,
        addresses, headers and times. Returns how many rows lost their content."""
        cursor = self.conn.execute(
            f"UPDATE evidence SET content = NULL, text = NULL WHERE {_OLD_EVIDENCE}", {"before": iso(before)})
        return int(cursor.rowcount or 0)

    def database_bytes(self) -> int:
        """The database's size in pages times the page size (what the file shrinks to once the
        write-ahead log is checkpointed)."""
        pages = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        return pages * int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def vacuum(self, pages: int | None = None) -> int:
        """Give free pages back to the file system (`pages` at most; all by default) and
        checkpoint, so the file itself shrinks. Returns the bytes freed (0 when the database
        is not in incremental auto_vacuum, e.g. before migration m009)."""
        if pages is not None and pages <= 0:
            return 0
        if self.conn.in_transaction:
            raise RuntimeError("vacuum runs outside a transaction (it commits as it goes)")
        before = self.database_bytes()
        # executescript steps the pragma to the end; execute() would free one page per call
        self.conn.executescript("PRAGMA incremental_vacuum;" if pages is None else f"PRAGMA incremental_vacuum({int(pages)});")
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return max(0, before - self.database_bytes())
