"""SQLite storage: what was seen, what matched, what must be sent, and each source's health.

One `Store` per process. Every poll of a source is written in one transaction
(`with store.transaction():`), so a crash or SIGTERM leaves either the whole poll or none of it.
The database file and its WAL/SHM companions are created 0600 inside a 0700 folder: they hold
watchlist matches.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlite_utils import Database

from watcher.models import Item, Match, story_key
from watcher.store.connect import FROM_ENV, connect
from watcher.store.evidence import EvidenceStore
from watcher.store.incidents import IncidentStore
from watcher.store.maintenance import MaintenanceStore
from watcher.store.migrations import migrations
from watcher.store.monitors import MonitorsStore
from watcher.store.times import iso, parse_iso
from watcher.store.wal import AUTOCHECKPOINT, WalKeeper, wal_checkpoint


@dataclass(frozen=True)
class NewItem:
    """An item stored for the first time by this poll."""

    id: int
    item: Item


class Added(NamedTuple):
    """What `Store.add_items` did with one poll's items."""

    new: list[NewItem]  # stored for the first time
    sightings: int  # new to this source (maybe known from another feed)
    guid_reused: int  # arrived under a key this source had used for another story


def _same_story(earlier: sqlite3.Row | tuple, item: Item) -> bool:
    """Is `item` the story this source already brought under the same key? Only if the link
    (when it identifies anything) or the text is the same: a reused guid is a new story."""
    url, digest = earlier[0], earlier[1]
    return bool(digest and digest == item.content_hash) or bool(
        item.url and url == item.url and "link_shared" not in item.flags)


class Store(IncidentStore, EvidenceStore, MonitorsStore, MaintenanceStore):
    """All reads and writes of watcher's state. Pass ":memory:" for a throwaway database."""

    def __init__(self, path: Path | str, key: Any = FROM_ENV):
        """`key`: the SQLCipher key of an encrypted database; by default WATCHER_DB_KEY (unset or
        empty: a plain SQLite file)."""
        if key is FROM_ENV:
            key = os.environ.get("WATCHER_DB_KEY") or None
        conn = connect(path, key)
        if str(path) == ":memory:":
            conn.row_factory = sqlite3.Row
        self.conn = conn
        self.encrypted = key is not None
        self.db = Database(conn)
        # Checkpoints: SQLite's automatic ones (every AUTOCHECKPOINT pages, inside a commit) until
        # the scheduler takes them over, then `self.wal` in a worker thread (see store/wal.py).
        self.wal = WalKeeper(None if str(path) == ":memory:" else path, key, conn)
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        migrations.apply(self.db)
        self._depth = 0

    def close(self) -> None:
        """Checkpoint (without waiting for other processes' readers) and close: the WAL of a
        command that ran without the scheduler is copied in, and removed by the last to close."""
        if not self.wal.closed:
            self.wal.close()
            if self.wal.path is not None and not self.conn.in_transaction:
                wal_checkpoint(self.conn, "PASSIVE")
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all (nests: the outermost one commits)."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    # -- sources -------------------------------------------------------------------------

    def ensure_source(self, source_id: str, type_: str) -> None:
        self.conn.execute(
            "INSERT INTO sources (id, type) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET type = excluded.type",
            (source_id, type_),
        )

    def source(self, source_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM sources WHERE id = ?", (source_id,))
        return dict(row) if row else None

    def sources(self) -> list[dict[str, Any]]:
        """Every source with its health, and how many items it has brought."""
        rows = self.conn.execute(
            "SELECT s.*, (SELECT count(*) FROM sightings WHERE source_id = s.id) AS items_seen"
            " FROM sources s ORDER BY s.id"
        )
        return [dict(r) for r in rows]

    def update_source(self, source_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self.conn.execute(f"UPDATE sources SET {sets} WHERE id = :id", {**values, "id": source_id})

    def recent_published(self, source_id: str, limit: int = 20) -> list[datetime]:
        rows = self.conn.execute(
            "SELECT published FROM sightings WHERE source_id = ? ORDER BY published DESC LIMIT ?",
            (source_id, limit),
        )
        return [datetime.fromisoformat(r[0]) for r in rows]

    # -- items ---------------------------------------------------------------------------

    def add_items(self, items: list[Item], now: datetime) -> Added:
        """Store what is new; count what another feed already brought.

        Returns the items stored for the first time, how many of `items` this source had not
        brought before (new to the source, though maybe known from another feed), and how many
        came under a key this source had already used for another story (a reused guid: the
        guid is a hint, not the identity, so such an item is a new story with a key of its own).
        """
        new: list[NewItem] = []
        sightings = reused = 0
        stamp = iso(now)
        for item in items:
            earlier = self._one("SELECT url, content_hash FROM sightings WHERE source_id = ? AND key = ?",
                                (item.source_id, item.key))
            if earlier is not None:
                if _same_story(earlier, item):
                    continue
                item = replace(item, key=story_key(item.key, item.content_hash))
                reused += 1
                if self._one("SELECT 1 FROM sightings WHERE source_id = ? AND key = ?", (item.source_id, item.key)):
                    continue
            sightings += 1
            existing = self._existing_item(item)
            if existing is not None:
                self.conn.execute(
                    "UPDATE items SET seen_count = seen_count + 1, last_seen = ? WHERE id = ?", (stamp, existing)
                )
                item_id = existing
            else:
                cursor = self.conn.execute(
                    "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, language,"
                    " fields, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (item.source_id, item.key, item.url, item.content_hash, item.title, item.summary,
                     iso(item.published), item.language, json.dumps(item.fields, ensure_ascii=False), stamp, stamp),
                )
                item_id = int(cursor.lastrowid or 0)
                new.append(NewItem(item_id, item))
            self.conn.execute(
                "INSERT INTO sightings (source_id, key, item_id, first_seen, published, url, content_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.source_id, item.key, item_id, stamp, iso(item.published), item.url, item.content_hash),
            )
        return Added(new, sightings, reused)

    def _existing_item(self, item: Item) -> int | None:
        if item.url and "link_shared" not in item.flags:
            row = self._one("SELECT item_id FROM sightings WHERE url = ? LIMIT 1", (item.url,))
            if row:
                return int(row[0])
        if item.content_hash and (item.title or item.summary):
            row = self._one("SELECT item_id FROM sightings WHERE content_hash = ? LIMIT 1", (item.content_hash,))
            if row:
                return int(row[0])
        return None

    def known_keys(self, source_id: str, keys: Any) -> set[str]:
        """Which of `keys` this source has already brought."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key FROM sightings WHERE source_id = ? AND key IN ({marks})", (source_id, *chunk))
            found.update(r[0] for r in rows)
        return found

    def item_by_key(self, source_id: str, key: str) -> dict[str, Any] | None:
        """The stored item a source's key points at (through its sighting)."""
        row = self._one("SELECT item_id FROM sightings WHERE source_id = ? AND key = ?", (source_id, key))
        return self.item(int(row[0])) if row else None

    def item(self, item_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM items WHERE id = ?", (item_id,))
        if row is None:
            return None
        out = dict(row)
        out["fields"] = json.loads(out["fields"] or "{}")
        return out

    def prune(self, before: datetime) -> int:
        """Forget items last seen before `before` that never matched and never alerted (with
        their sightings). Matched items, their matches and all alerts are kept. Returns how many."""
        stale = ("SELECT id FROM items WHERE last_seen < ? AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.item_id = items.id)"
                 " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.item_id = items.id)")
        with self.transaction():
            self.conn.execute(f"DELETE FROM sightings WHERE item_id IN ({stale})", (iso(before),))
            cursor = self.conn.execute(f"DELETE FROM items WHERE id IN ({stale})", (iso(before),))
        return cursor.rowcount

    def count(self, table: str) -> int:
        if table not in ("items", "sightings", "matches", "alerts", "sources"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    # -- matches -------------------------------------------------------------------------

    def add_matches(self, item_id: int, matches: list[Match], now: datetime) -> None:
        self.conn.executemany(
            "INSERT INTO matches (item_id, rule, kind, variant, span_start, span_end, text, why, matched_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, rule) DO NOTHING",
            [(item_id, m.rule, m.kind, m.variant, m.span[0], m.span[1], m.text, m.why, iso(now)) for m in matches],
        )

    def matches_for(self, item_id: int) -> list[Match]:
        rows = self.conn.execute("SELECT * FROM matches WHERE item_id = ? ORDER BY kind DESC, id", (item_id,))
        return [Match(r["rule"], r["kind"], r["variant"], (r["span_start"], r["span_end"]), r["text"], r["why"]) for r in rows]

    # -- alerts outbox -------------------------------------------------------------------

    def enqueue_alert(self, item_id: int, destination: str, urgent: bool, now: datetime, *, kind: str = "alert",
                      incident_id: int | None = None, parent_id: int | None = None, status: str = "pending",
                      route: str | None = None, muted: str | None = None) -> bool:
        """One outbox row per (item, destination), ever. Returns False if it already existed.

        `kind`: 'alert' (an incident's first report), 'also' (a later report: edits the
        `parent_id` alert's message) or 'followup' (a new development: replies to it).
        `status` 'held': for the digest only (the route's notify); `muted`: JSON list of the
        person rules the alert must not name; `route`: which route chose the destination."""
        cursor = self.conn.execute(
            "INSERT INTO alerts (item_id, destination, urgent, created_at, next_attempt_at, kind, incident_id,"
            " parent_id, status, route, muted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (item_id, destination) DO NOTHING",
            (item_id, destination, int(urgent), iso(now), iso(now), kind, incident_id, parent_id, status, route, muted),
        )
        return cursor.rowcount == 1

    def enqueue_notice(self, topic: str, destination: str, body: str, now: datetime, *, kind: str = "checkin",
                       urgent: bool = False, route: str | None = None, status: str = "pending") -> bool:
        """An alert that names no item (a check-in: "no news of X for 14 days"), once per
        (topic, destination) ever. Returns False if it already existed."""
        cursor = self.conn.execute(
            "INSERT INTO alerts (item_id, destination, urgent, created_at, next_attempt_at, kind, topic, body, route,"
            " status) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic, destination) DO NOTHING",
            (destination, int(urgent), iso(now), iso(now), kind, topic, body, route, status),
        )
        return cursor.rowcount == 1

    def due_alerts(self, destination: str, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Pending alerts whose next attempt is due, urgent first, then oldest first. A later
        report waits until the alert it edits is settled (sent or failed): it needs that
        message. A follow-up does not wait (a new development must not): it is threaded under
        the case's alert when that has been sent, which the order of a wave makes likely."""
        rows = self.conn.execute(
            "SELECT * FROM alerts WHERE destination = ? AND status = 'pending' AND next_attempt_at <= ?"
            " AND (kind != 'also' OR parent_id IS NULL OR (SELECT p.status FROM alerts p WHERE p.id = alerts.parent_id)"
            " IN ('sent', 'failed')) ORDER BY urgent DESC, id LIMIT ?",
            (destination, iso(now), limit),
        )
        return [dict(r) for r in rows]

    def claim_alert(self, alert_id: int, via: str | None = None) -> bool:
        """pending -> sending, recorded before the send with what the send does (`via`: message,
        edit, reply); False if someone else took it."""
        cursor = self.conn.execute(
            "UPDATE alerts SET status = 'sending', attempts = attempts + 1, via = coalesce(?, via)"
            " WHERE id = ? AND status = 'pending'", (via, alert_id),
        )
        return cursor.rowcount == 1

    def mark_sent(self, alert_id: int, now: datetime, message_id: str | None = None) -> None:
        self.conn.execute(
            "UPDATE alerts SET status = 'sent', sent_at = ?, message_id = ?, last_error = NULL WHERE id = ?",
            (iso(now), message_id, alert_id),
        )

    def defer_alert(self, alert_id: int, error: str, next_attempt: datetime) -> None:
        self.conn.execute(
            "UPDATE alerts SET status = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?",
            (error[:500], iso(next_attempt), alert_id),
        )

    def fail_alert(self, alert_id: int, error: str) -> None:
        self.conn.execute("UPDATE alerts SET status = 'failed', last_error = ? WHERE id = ?", (error[:500], alert_id))

    def interrupted_alerts(self, destination: str) -> list[dict[str, Any]]:
        """Rows left in 'sending' by a crash: the send may or may not have happened."""
        rows = self.conn.execute("SELECT * FROM alerts WHERE destination = ? AND status = 'sending'", (destination,))
        return [dict(r) for r in rows]

    def next_retry(self, destinations: list[str]) -> datetime | None:
        """When the next pending alert for these destinations is due."""
        marks = ",".join("?" * len(destinations))
        row = self._one(f"SELECT min(next_attempt_at) FROM alerts WHERE status = 'pending' AND destination IN ({marks})"
                        " AND (kind != 'also' OR parent_id IS NULL OR (SELECT p.status FROM alerts p"
                        " WHERE p.id = alerts.parent_id) IN ('sent', 'failed'))", tuple(destinations))
        return parse_iso(row[0]) if row and row[0] else None

    def unannounced_uncertain(self) -> list[dict[str, Any]]:
        """Alerts assumed sent after an unknown outcome that the admin chat has not been told about."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM alerts WHERE uncertain = 1 ORDER BY id")]

    def mark_announced(self, alert_ids: list[int]) -> None:
        self.conn.executemany("UPDATE alerts SET uncertain = 2 WHERE id = ?", [(i,) for i in alert_ids])

    def stuck_deliveries(self, attempts: int) -> list[tuple[str, int, str]]:
        """Per destination: alerts still pending after `attempts` tries, and the last error."""
        rows = self.conn.execute(
            "SELECT destination, sum(status = 'pending' AND attempts >= ?), "
            "(SELECT last_error FROM alerts b WHERE b.destination = a.destination AND b.last_error IS NOT NULL "
            " ORDER BY b.id DESC LIMIT 1) FROM alerts a GROUP BY destination", (attempts,))
        return [(r[0], int(r[1] or 0), r[2] or "") for r in rows]

    # -- monitors: notices, mutes, feedback, audit --------------------------------------

    def admin_notice(self, topic: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM admin_notices WHERE topic = ?", (topic,))
        return dict(row) if row else None

    def set_admin_notice(self, topic: str, state: str, since: str | None, at: str) -> None:
        self.conn.execute(
            "INSERT INTO admin_notices (topic, state, since, at) VALUES (?, ?, ?, ?) ON CONFLICT (topic)"
            " DO UPDATE SET state = excluded.state, since = excluded.since, at = excluded.at",
            (topic, state, since, at))

    def add_mute(self, source_id: str, rule: str | None, until: datetime | None, who: str, now: datetime) -> None:
        self.conn.execute("INSERT INTO mutes (source_id, rule, until, who, at) VALUES (?, ?, ?, ?, ?)",
                          (source_id, rule, iso(until) if until else None, who, iso(now)))

    def lift_mutes(self, source_id: str, rule: str | None = None) -> int:
        cursor = self.conn.execute("DELETE FROM mutes WHERE source_id = ? AND rule IS ?", (source_id, rule))
        return cursor.rowcount

    def active_mutes(self, source_id: str, now: datetime) -> set[str | None]:
        """Rules muted for a source right now; None in the set means the whole source."""
        rows = self.conn.execute(
            "SELECT rule FROM mutes WHERE source_id = ? AND (until IS NULL OR until > ?)", (source_id, iso(now)))
        return {r[0] for r in rows}

    def add_feedback(self, alert_id: int, who: str, verdict: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO feedback (alert_id, who, verdict, at) VALUES (?, ?, ?, ?) ON CONFLICT (alert_id, who)"
            " DO UPDATE SET verdict = excluded.verdict, at = excluded.at", (alert_id, who, verdict, iso(now)))

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return dict(row) if row else None

    def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT a.*, i.title, i.source_id, i.url,"
            " (SELECT group_concat(substr(rule, 8), ', ') FROM matches m WHERE m.item_id = a.item_id AND m.kind = 'person') AS people,"
            " (SELECT sum(verdict = 'relevant') FROM feedback f WHERE f.alert_id = a.id) AS relevant,"
            " (SELECT sum(verdict = 'not_relevant') FROM feedback f WHERE f.alert_id = a.id) AS not_relevant"
            " FROM alerts a LEFT JOIN items i ON i.id = a.item_id ORDER BY a.id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def alert_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, count(*) FROM alerts GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}
