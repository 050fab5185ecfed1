"""Incidents in the database: what one story is, who it concerns, which items report it and why.

A mixin of `Store` (kept in its own file so store.py stays readable). Deciding which incident an
item belongs to is watcher/incidents/'s job; this module only reads and writes the rows. JSON
columns (people, incident types, countries, salient keys) are decoded on the way out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from watcher.store.times import iso

_JSON_LISTS = ("people", "incident_types", "origin", "host")
# the lowest incident id of a window, read through the last_seen index ("+id": SQLite would
# otherwise walk the whole history from the first incident to find the smallest id)
WINDOW_FIRST_ID = "SELECT min(+id) FROM incidents WHERE last_seen >= ? AND first_seen <= ?"


_PARSED: dict[str, Any] = {}  # JSON text -> its value: a new report reads its candidate incidents again
_PARSED_CHARS = 2_000_000  # at most this much JSON text (and what it decodes to) is remembered
_parsed_chars = 0


def _json(text: str | None, empty: str) -> Any:
    """json.loads, remembered by the text (bounded by its length: a busy incident's keys are
    kilobytes), returned as a fresh shallow copy: the columns hold lists of strings and a dict of
    strings, so a copy cannot share anything a caller could change."""
    global _parsed_chars
    text = text or empty
    value = _PARSED.get(text)
    if value is None:
        if _parsed_chars + len(text) > _PARSED_CHARS:
            _PARSED.clear()
            _parsed_chars = 0
        value = _PARSED[text] = json.loads(text)
        _parsed_chars += len(text)
    return dict(value) if isinstance(value, dict) else list(value)


def _decode(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    for key in _JSON_LISTS:
        out[key] = _json(out.get(key), "[]")
    out["keys"] = _json(out.get("keys"), "{}")
    return out


def _merged(old: Sequence[str], new: Iterable[str]) -> list[str]:
    """`old` followed by what `new` adds, in order, without repeats."""
    return list(dict.fromkeys([*old, *new]))


class IncidentStore:
    """Reads and writes of incidents, incident_people and incident_items (see migrations m007)."""

    conn: sqlite3.Connection

    def create_incident(
        self, *, title: str, people: Sequence[str], incident_types: Sequence[str], origin: Sequence[str],
        host: Sequence[str], keys: dict[str, str], reported: datetime, now: datetime,
        previous: int | None = None, case_of: int | None = None, blocks: Iterable[str] | None = None,
    ) -> int:
        """A new incident; `previous` is the case's incident it follows (it shares the case),
        `case_of` an incident of the case it joins without following it (an older event
        reported late). `blocks`: its candidate-index blocks (see `incidents_near`); without
        them the incident is a candidate for every report of its window."""
        case_id = None
        if previous is not None or case_of is not None:
            row = self.conn.execute("SELECT case_id FROM incidents WHERE id = ?", (previous or case_of,)).fetchone()
            case_id = int(row[0]) if row else None
        if previous is not None:
            self.conn.execute("UPDATE incidents SET status = 'followed' WHERE id = ?", (previous,))
        cursor = self.conn.execute(
            "INSERT INTO incidents (case_id, previous_id, first_seen, last_seen, created_at, title, people,"
            " incident_types, origin, host, keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id or 0, previous, iso(reported), iso(reported), iso(now), title[:500],
             json.dumps(list(people), ensure_ascii=False), json.dumps(list(incident_types)),
             json.dumps(list(origin)), json.dumps(list(host)), json.dumps(keys, ensure_ascii=False)),
        )
        incident_id = int(cursor.lastrowid or 0)
        if case_id is None:
            self.conn.execute("UPDATE incidents SET case_id = id WHERE id = ?", (incident_id,))
        self._add_people(incident_id, people)
        if blocks is not None:
            self.conn.execute("UPDATE incidents SET indexed = 1 WHERE id = ?", (incident_id,))
            self._add_blocks(incident_id, blocks)
        return incident_id

    def _add_blocks(self, incident_id: int, blocks: Iterable[str]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO incident_blocks (block, incident_id) VALUES (?, ?)",
                              [(b, incident_id) for b in blocks])

    def _add_people(self, incident_id: int, people: Iterable[str]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO incident_people (person, incident_id) VALUES (?, ?)",
                              [(p, incident_id) for p in people])

    def add_report(
        self, incident_id: int, item_id: int, *, source_id: str, reported: datetime, reason: str,
        score: float | None, now: datetime, people: Sequence[str] = (), incident_types: Sequence[str] = (),
        origin: Sequence[str] = (), host: Sequence[str] = (), keys: dict[str, str] | None = None,
        blocks: Iterable[str] | None = None,
    ) -> None:
        """Record that `item_id` reports the incident, and widen the incident by what it adds.
        `blocks`: the index blocks of what it adds (its keys and people); a report that adds
        keys or people without them leaves the incident unindexed (a candidate for every report)."""
        self.conn.execute(
            "INSERT INTO incident_items (item_id, incident_id, source_id, reported, joined_at, reason, score)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
            (item_id, incident_id, source_id, iso(reported), iso(now), reason[:500], score),
        )
        current = self.incident(incident_id)
        if current is None:
            return
        stamp = iso(reported)
        self.conn.execute(
            "UPDATE incidents SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), people = ?,"
            " incident_types = ?, origin = ?, host = ?, keys = ? WHERE id = ?",
            (stamp, stamp,
             json.dumps(_merged(current["people"], people), ensure_ascii=False),
             json.dumps(_merged(current["incident_types"], incident_types)),
             json.dumps(_merged(current["origin"], origin)),
             json.dumps(_merged(current["host"], host)),
             json.dumps({**(keys or {}), **current["keys"]}, ensure_ascii=False),
             incident_id),
        )
        self._add_people(incident_id, people)
        if blocks is not None:
            self._add_blocks(incident_id, blocks)
        elif keys or people:
            self.conn.execute("UPDATE incidents SET indexed = 0 WHERE id = ?", (incident_id,))

    def incident(self, incident_id: int) -> dict[str, Any] | None:
        return _decode(self.conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone())

    def incidents_near(self, earliest: datetime, latest: datetime,
                       could_join: Callable[[str, str], bool] | None = None, *,
                       blocks: Iterable[str] | None = None, people: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Incidents with a report between `earliest` and `latest` or spanning them (the window
        candidates for a new report), newest first. `could_join(people_json, keys_json)`, given
        the two columns as stored, leaves out before decoding the incidents it says the report
        cannot join: a busy window holds thousands, read again for every new report.

        With `blocks` (the report's), only the window's incidents that hold one of them in
        incident_blocks, or concern one of `people`, or are not indexed, are read: looked up by
        the blocks' and people's primary keys from the window's lowest incident id on, so the
        cost follows what the report shares, not the size of the window or of the history."""
        window = (iso(earliest), iso(latest))
        if blocks is None:
            rows = self.conn.execute(
                "SELECT * FROM incidents WHERE last_seen >= ? AND first_seen <= ? ORDER BY last_seen DESC, id DESC",
                window)
        else:
            found = self.conn.execute(WINDOW_FIRST_ID, window).fetchone()
            if found is None or found[0] is None:
                return []
            ours, names = sorted(set(blocks)), sorted(set(people))
            rows = self.conn.execute(
                "SELECT * FROM incidents WHERE last_seen >= ? AND first_seen <= ? AND (indexed = 0"
                f" OR id IN (SELECT incident_id FROM incident_blocks WHERE block IN ({','.join('?' * len(ours))})"
                " AND incident_id >= ?)"
                f" OR id IN (SELECT incident_id FROM incident_people WHERE person IN ({','.join('?' * len(names))})"
                " AND incident_id >= ?)) ORDER BY last_seen DESC, id DESC",
                (*window, *ours, found[0], *names, found[0]))
        if could_join is not None:
            rows = (r for r in rows if could_join(r["people"] or "[]", r["keys"] or "{}"))
        return [d for d in map(_decode, rows) if d is not None]

    def latest_incident_of(self, people: Iterable[str], before: datetime | None = None) -> dict[str, Any] | None:
        """The most recent incident concerning any of `people` (the case a new development joins)."""
        found = self.incidents_of(people, before, limit=1)
        return found[0] if found else None

    def incidents_of(self, people: Iterable[str], before: datetime | None = None,
                     limit: int = 20) -> list[dict[str, Any]]:
        """The most recent incidents concerning any of `people`, newest first."""
        names = list(people)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        sql = (f"SELECT i.* FROM incidents i JOIN incident_people p ON p.incident_id = i.id WHERE p.person IN ({marks})"
               + (" AND i.first_seen <= ?" if before is not None else "")
               + " GROUP BY i.id ORDER BY i.last_seen DESC, i.id DESC LIMIT ?")
        params: tuple[Any, ...] = (*names, iso(before)) if before is not None else tuple(names)
        return [d for d in map(_decode, self.conn.execute(sql, (*params, limit))) if d is not None]

    def incident_of_item(self, item_id: int) -> int | None:
        row = self.conn.execute("SELECT incident_id FROM incident_items WHERE item_id = ?", (item_id,)).fetchone()
        return int(row[0]) if row else None

    def incident_reports(self, incident_id: int) -> list[dict[str, Any]]:
        """The items reporting an incident, in the order they joined, with why each joined and
        its evidence's state (None when none was asked for)."""
        rows = self.conn.execute(
            "SELECT r.item_id, r.source_id AS report_source, r.reported, r.joined_at, r.reason, r.score, i.title,"
            " i.url, i.published, i.language, i.source_id, i.summary, i.fields,"
            " (SELECT e.status FROM evidence e WHERE e.item_id = r.item_id AND e.kind = 'page') AS evidence,"
            " (SELECT e.sha256 FROM evidence e WHERE e.item_id = r.item_id AND e.kind = 'page') AS evidence_sha256"
            " FROM incident_items r JOIN items i ON i.id = r.item_id WHERE r.incident_id = ?"
            " ORDER BY r.joined_at, r.item_id", (incident_id,))
        out = []
        for row in rows:
            report = dict(row)
            report["fields"] = json.loads(report["fields"] or "{}")
            out.append(report)
        return out

    def list_incidents(self, since: datetime | None = None, person: str | None = None,
                       limit: int = 1000) -> list[dict[str, Any]]:
        """Incidents with a report since `since` (all when None), concerning `person` when given
        (its canonical name, case-insensitively), newest first."""
        sql = "SELECT i.* FROM incidents i"
        where, params = [], []
        if person:
            sql += " JOIN incident_people p ON p.incident_id = i.id"
            where.append("lower(p.person) = lower(?)")
            params.append(person)
        if since is not None:
            where.append("i.last_seen >= ?")
            params.append(iso(since))
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY i.last_seen DESC, i.id DESC LIMIT ?"
        rows = self.conn.execute(sql, (*params, limit))
        return [d for d in map(_decode, rows) if d is not None]

    def incidents_alerted_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Incidents that had an alert row (first alert, later report or follow-up) created in
        (start, end]: what the day's digest covers, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM incidents WHERE id IN (SELECT DISTINCT a.incident_id FROM alerts a"
            " WHERE a.created_at > ? AND a.created_at <= ? AND a.incident_id IS NOT NULL) ORDER BY first_seen, id",
            (iso(start), iso(end)))
        return [d for d in map(_decode, rows) if d is not None]

    def incident_alert(self, incident_ids: Sequence[int], destination: str) -> dict[str, Any] | None:
        """The latest notifying alert (first alert or follow-up, not a later report) of any of
        these incidents to `destination`: the message a later report edits or a follow-up
        replies to."""
        if not incident_ids:
            return None
        marks = ",".join("?" * len(incident_ids))
        row = self.conn.execute(
            f"SELECT * FROM alerts WHERE incident_id IN ({marks}) AND destination = ? AND kind IN ('alert', 'followup')"
            " AND status != 'held' ORDER BY id DESC LIMIT 1", (*incident_ids, destination)).fetchone()
        return dict(row) if row else None

    def case_incidents(self, case_id: int) -> list[int]:
        return [int(r[0]) for r in self.conn.execute("SELECT id FROM incidents WHERE case_id = ? ORDER BY id",
                                                     (case_id,))]
