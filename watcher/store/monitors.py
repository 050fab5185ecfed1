"""What monitors set through the bot, read back: mutes in force, lifting one, and audit rows.

A mixin of `Store` (store.py keeps adding and checking mutes, `add_mute` / `active_mutes`; this
module lists and lifts them for /mutes and /unmute, and writes the audit rows of changes that are
not rules edits: mutes, unmutes). A mute ends by the clock: a row whose `until` has passed is
no longer in force (nor listed), whatever is left in the table.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from watcher.store.times import iso


class MonitorsStore:
    """Reads and writes of the mutes and audit tables for the monitors' bot (see migrations m003)."""

    conn: sqlite3.Connection

    def list_mutes(self, now: datetime) -> list[dict[str, Any]]:
        """The mutes in force at `now`, oldest first: id, source_id, rule (None: the whole
        source, else 'person:<name>'), until (None: until lifted), who, at."""
        rows = self.conn.execute(
            "SELECT id, source_id, rule, until, who, at FROM mutes WHERE until IS NULL OR until > ? ORDER BY id",
            (iso(now),))
        return [dict(r) for r in rows]

    def set_mute(self, source_id: str, rule: str | None, until: datetime | None, who: str, now: datetime) -> int:
        """Mute `rule` (None: the whole source) for a source until `until` (None: until lifted).
        A mute of the same rule and source is updated (same id, the new end, who, when), so
        muting again sets a new end rather than leaving the longer one in force. Returns its id."""
        ids = [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM mutes WHERE source_id = ? AND rule IS ? ORDER BY id", (source_id, rule))]
        stamp = iso(until) if until else None
        if not ids:
            cursor = self.conn.execute("INSERT INTO mutes (source_id, rule, until, who, at) VALUES (?, ?, ?, ?, ?)",
                                       (source_id, rule, stamp, who, iso(now)))
            return int(cursor.lastrowid or 0)
        self.conn.execute("UPDATE mutes SET until = ?, who = ?, at = ? WHERE id = ?", (stamp, who, iso(now), ids[0]))
        self.conn.executemany("DELETE FROM mutes WHERE id = ?", [(i,) for i in ids[1:]])
        return ids[0]

    def lift_mute(self, mute_id: int) -> dict[str, Any] | None:
        """Delete one mute; returns the row it was (None when there is no such mute)."""
        row = self.conn.execute("SELECT id, source_id, rule, until, who, at FROM mutes WHERE id = ?",
                                (int(mute_id),)).fetchone()
        if row is None:
            return None
        self.conn.execute("DELETE FROM mutes WHERE id = ?", (int(mute_id),))
        return dict(row)

    def audit(self, at: datetime, who: str, action: str, detail: Any, file: str | None = None) -> None:
        """One audit row: `who` ('telegram:<id>', 'cli:<login>') did `action` ('mute', 'unmute',
        ...) at `at`; `detail` is stored as JSON (a string as it is)."""
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, default=str)
        self.conn.execute("INSERT INTO audit (at, who, action, file, detail) VALUES (?, ?, ?, ?, ?)",
                          (iso(at), who, action, file, text))
