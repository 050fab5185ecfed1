"""Read-only queries of stored history that the history wing needs and `Store` does not offer.

Kept here, read-only, so the history wing asks no migration and no new `Store` methods: every
write still goes through `Store` (add_matches, the incidents mixin) or through
watcher.incidents.alerting. Items come back as the `Item` the pipeline matched, so the text
matched now (`Item.text()`) is the very text whose spans the matches table holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from watcher.models import Item
from watcher.store import Store, iso, parse_iso

_COLUMNS = "id, source_id, key, url, content_hash, title, summary, published, language, fields, first_seen"


@dataclass(frozen=True)
class StoredItem:
    """One stored item as the pipeline saw it, with when watcher first stored it."""

    id: int
    item: Item
    first_seen: datetime


def _stored(row: sqlite3.Row) -> StoredItem:
    published = parse_iso(row["published"])
    first_seen = parse_iso(row["first_seen"])
    assert published is not None and first_seen is not None  # NOT NULL columns
    try:
        fields = json.loads(row["fields"] or "{}")
    except ValueError:
        fields = {}
    item = Item(row["source_id"], row["key"], row["title"], row["summary"], row["url"], published,
                language=row["language"], content_hash=row["content_hash"],
                fields={str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {})
    return StoredItem(int(row["id"]), item, first_seen)


def items_seen(store: Store, since: datetime, until: datetime | None = None) -> list[StoredItem]:
    """Items first stored in [since, until), oldest first (the order the pipeline met them)."""
    sql = f"SELECT {_COLUMNS} FROM items WHERE first_seen >= ?"
    params: list[str] = [iso(since)]
    if until is not None:
        sql += " AND first_seen < ?"
        params.append(iso(until))
    return [_stored(r) for r in store.conn.execute(sql + " ORDER BY first_seen, id", params)]


def count_seen(store: Store, since: datetime) -> int:
    """How many items were first stored since `since` (the length of a progress bar)."""
    return int(store.conn.execute("SELECT count(*) FROM items WHERE first_seen >= ?", (iso(since),)).fetchone()[0])


def stored_item(store: Store, item_id: int) -> StoredItem | None:
    row = store.conn.execute(f"SELECT {_COLUMNS} FROM items WHERE id = ?", (item_id,)).fetchone()
    return _stored(row) if row else None


def matched_rules(store: Store, item_id: int) -> dict[str, datetime]:
    """The rules stored as matching an item, with when each match was stored."""
    rows = store.conn.execute("SELECT rule, matched_at FROM matches WHERE item_id = ?", (item_id,))
    return {r[0]: parse_iso(r[1]) or datetime.min.replace(tzinfo=timezone.utc) for r in rows}


def has_alert(store: Store, item_id: int) -> bool:
    """Whether any outbox row (any destination, kind or status) exists for the item."""
    return store.conn.execute("SELECT 1 FROM alerts WHERE item_id = ? LIMIT 1", (item_id,)).fetchone() is not None


def person_spans(store: Store, item_id: int, rule: str) -> list[tuple[int, int, str]]:
    """Where a rule matched an item: (start, end, text as found)."""
    rows = store.conn.execute("SELECT span_start, span_end, text FROM matches WHERE item_id = ? AND rule = ?",
                              (item_id, rule))
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def alerts_between(store: Store, since: datetime, until: datetime) -> Iterator[sqlite3.Row]:
    """Outbox rows created in [since, until) with their monitors' verdicts, oldest first: id,
    item_id, created_at, and per alert `relevant`, `not_relevant` (verdict counts) and
    `latest` (the newest verdict, which breaks a tie). Rows held for the digest only are left
    out: nobody saw them in a chat, so nobody could judge them there; so are check-ins (no item)."""
    yield from store.conn.execute(
        "SELECT a.id, a.item_id, a.created_at,"
        " (SELECT count(*) FROM feedback f WHERE f.alert_id = a.id AND f.verdict = 'relevant') AS relevant,"
        " (SELECT count(*) FROM feedback f WHERE f.alert_id = a.id AND f.verdict = 'not_relevant') AS not_relevant,"
        " (SELECT f.verdict FROM feedback f WHERE f.alert_id = a.id ORDER BY f.at DESC, f.id DESC LIMIT 1) AS latest"
        " FROM alerts a WHERE a.created_at >= ? AND a.created_at < ? AND a.status != 'held' AND a.item_id IS NOT NULL"
        " ORDER BY a.id",
        (iso(since), iso(until)))


def rules_of_items(store: Store, item_ids: list[int]) -> dict[int, list[str]]:
    """The stored matching rules of each of these items."""
    out: dict[int, list[str]] = {i: [] for i in item_ids}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in store.conn.execute(f"SELECT item_id, rule FROM matches WHERE item_id IN ({marks}) ORDER BY id",
                                      chunk):
            out[int(row[0])].append(str(row[1]))
    return out


def week_of(when: datetime | date) -> date:
    """The Monday that starts the ISO week of `when` (UTC for datetimes)."""
    day = when.date() if isinstance(when, datetime) else when
    return day - timedelta(days=day.weekday())
