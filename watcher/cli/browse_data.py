"""What `watcher browse` shows: Datasette metadata, canned queries, and the full-text index.

Kept apart from the command so it can be tested without Datasette: the metadata is a plain
dict (generated here rather than shipped as a file, so incident labels and country names come
from the code that defines them), and every canned query is plain SQL that the tests run on a
real watcher database.

Full-text search lives in a sidecar database, `state/search.db`, rebuilt from the items table
each time `watcher browse` starts. watcher.db stays exactly as watcher's migrations made it (an
FTS table inside it would need triggers on every insert, i.e. a schema change on the poll
path), the browser never needs write access to watcher.db, and the sidecar can be deleted at
any time. Its cost: search shows the items as they were when browse started (restart it to
refresh); the tables of watcher.db are always live.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from watcher.matching.countries import country_name
from watcher.rules.model import INCIDENT_LABELS

SEARCH_TABLE = "items_fts"

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "incidents": ("One row per incident: one story, however many outlets and languages reported it. "
                  "Lists (people, incident types, countries) are JSON arrays; the facets count them.", {
        "id": "The incident's number, as in alerts and `watcher incidents`.",
        "case_id": "The case: the first incident of the same watched people it continues (its own id when first).",
        "previous_id": "The incident of the case this one follows (a new development), if any.",
        "first_seen": "When the earliest report was published (UTC).",
        "last_seen": "When the latest report was published (UTC).",
        "created_at": "When watcher filed it.",
        "title": "The first report's title.",
        "people": "Watched people it concerns (names as in people.yaml).",
        "incident_types": "What happened (the tactic): incident type ids from the rules.",
        "origin": "Origin state(s): ISO country codes of the country the person fled.",
        "host": "Host country(ies): ISO codes of where it happened.",
        "keys": "Salient names, places and numbers shared by its reports (how reports are grouped).",
        "status": "open, or followed (a later incident of the case follows it).",
    }),
    "incident_people": ("Which watched people each incident concerns (one row per person and incident).", {
        "person": "The watched person's name as in people.yaml.",
        "incident_id": "The incident.",
    }),
    "incident_items": ("Which items report each incident, and why each one joined it.", {
        "item_id": "The report (an item).",
        "incident_id": "The incident it reports.",
        "source_id": "The source that brought it to the incident.",
        "reported": "Its time for grouping: published, else first seen.",
        "joined_at": "When watcher filed it into the incident.",
        "reason": "Why it belongs: first report, a shared watched person, or shared names and numbers.",
        "score": "How much it shares with the incident's other reports (shared names and numbers only).",
    }),
    "items": ("Every article, judgment or notice watcher has read (pruned after the retention period).", {
        "source_id": "The source that first brought it.",
        "key": "Its stable key within that source (guid, link or content hash).",
        "url": "Its canonical link.",
        "content_hash": "A hash of its text (recognises the same story from another feed).",
        "title": "Its title.",
        "summary": "Its summary as plain text.",
        "published": "When the source says it was published (UTC).",
        "language": "Its language, when the source says.",
        "fields": "Structured extras (court, case number, ...), JSON.",
        "first_seen": "When watcher first read it.",
        "last_seen": "When watcher last read it.",
        "seen_count": "How many feeds or polls have carried it.",
    }),
    "matches": ("Why an item matched a rule: one row per item and rule.", {
        "item_id": "The item.",
        "rule": "person:<name> or incident:<type id>.",
        "kind": "person or incident.",
        "variant": "The name, alias or keyword that matched.",
        "span_start": "Where the match starts in the item's text (title, summary, fields).",
        "span_end": "Where it ends.",
        "text": "The text found there.",
        "why": "The explanation shown to monitors.",
        "matched_at": "When it matched.",
    }),
    "alerts": ("The alerts outbox: one row per message to a destination (a chat, the console, a digest).", {
        "item_id": "The item it reports (empty for a check-in).",
        "destination": "Where it goes.",
        "status": "pending, sending, sent, failed, or held (recorded for the digest only).",
        "urgent": "1 when the incident type is urgent.",
        "kind": "alert (an incident's first), also (a later report), followup (a new development), checkin.",
        "incident_id": "The incident.",
        "parent_id": "The earlier alert it edits or replies to.",
        "created_at": "When it was queued.",
        "sent_at": "When it was sent.",
        "attempts": "Delivery attempts so far.",
        "last_error": "The last delivery error.",
        "route": "The route (routes.yaml) that chose this destination.",
    }),
    "evidence": ("The reported pages, kept as fetched: hashed, with their main text and headers.", {
        "item_id": "The item whose page it is.",
        "kind": "page (watcher's own copy) or archive (the Internet Archive's).",
        "url": "The link asked for.",
        "status": "pending, fetching, done or failed.",
        "fetched_at": "When the page was fetched.",
        "final_url": "Where the link led after redirects.",
        "http_status": "The HTTP status of the page.",
        "content": "The raw bytes, gzip-compressed (`watcher evidence` writes them out).",
        "size": "Bytes before compression.",
        "sha256": "SHA-256 of the raw bytes: cite it to show the page is unchanged.",
        "text": "The article's main text.",
        "archive_url": "The Internet Archive's copy (kind archive).",
    }),
    "sources": ("The configured sources and their health.", {
        "id": "The source's id in feeds.yaml.",
        "type": "rss, hudoc, findcaselaw, courtlistener or interpol.",
        "state": "Its health: new, ok, degraded, failing, ...",
        "last_ok": "The last successful poll.",
        "last_error": "The last error.",
        "consecutive_failures": "Failed polls in a row.",
        "last_new_item": "When it last brought something new.",
    }),
    "feedback": ("Monitors' verdicts on alerts (the buttons under each alert).", {
        "alert_id": "The alert.",
        "who": "Who gave it (telegram:<user id>).",
        "verdict": "relevant or not_relevant.",
        "at": "When.",
    }),
    "mutes": ("Sources or people muted by monitors.", {
        "source_id": "The muted source.",
        "rule": "Empty: the whole source; person:<name>: one person in it.",
        "until": "When the mute ends (empty: until lifted).",
        "who": "Who muted it.",
        "at": "When.",
    }),
    "audit": ("Every change monitors made to the rules and mutes, who made it and when.", {
        "at": "When.",
        "who": "telegram:<user id> or cli:<login>.",
        "action": "watch, unwatch, keyword, mute, ...",
        "file": "The rules file changed.",
        "detail": "What changed (JSON).",
    }),
}

SEARCH_COLUMNS = {
    "item_id": "The item (open it in watcher/items).",
    "incident_id": "The incident it reports, if any (watcher/incidents).",
    "title": "Its title (searched).",
    "summary": "Its summary (searched).",
    "source_id": "The source that brought it.",
    "published": "When it was published (UTC).",
    "url": "Its link.",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _values(name: str, columns: str, pairs: Iterable[tuple[str, str]]) -> str:
    """A CTE of constant rows; starts with a row that matches nothing, as VALUES needs one."""
    rows = ", ".join(f"({_literal(a)}, {_literal(b)})" for a, b in [("", ""), *pairs])
    return f"{name}({columns}) AS (VALUES {rows})"


def _prelude(country_codes: Iterable[str]) -> str:
    labels = _values("labels", "id, label", sorted(INCIDENT_LABELS.items()))
    names = _values("names", "code, name", [(c, country_name(c)) for c in sorted(set(country_codes))])
    return f"WITH {labels}, {names}"


_INCIDENT_COLUMNS = """
  i.id AS incident, substr(i.first_seen, 1, 10) AS date, i.last_seen, i.title,
  (SELECT group_concat(p.person, '; ') FROM incident_people p WHERE p.incident_id = i.id) AS people,
  (SELECT group_concat(coalesce(n.name, o.value), '; ') FROM json_each(i.origin) o
     LEFT JOIN names n ON n.code = o.value) AS origin,
  (SELECT group_concat(coalesce(n.name, h.value), '; ') FROM json_each(i.host) h
     LEFT JOIN names n ON n.code = h.value) AS host,
  (SELECT group_concat(coalesce(l.label, replace(t.value, '_', ' ')), '; ') FROM json_each(i.incident_types) t
     LEFT JOIN labels l ON l.id = t.value) AS tactic,
  (SELECT count(*) FROM incident_items r WHERE r.incident_id = i.id) AS reports,
  i.case_id AS "case"
"""


def canned_queries(country_codes: Iterable[str] = ()) -> dict[str, dict[str, str]]:
    """The canned queries of the watcher database. `country_codes`: the codes to show by name
    (those in the database when browse starts; any other shows as its code)."""
    head = _prelude(country_codes)
    return {
        "incidents_by_person": {
            "title": "Incidents by person",
            "description": "Incidents concerning a watched person (any part of the name, any case), newest first.",
            "sql": f"{head} SELECT {_INCIDENT_COLUMNS} FROM incidents i WHERE i.id IN (SELECT incident_id FROM"
                   " incident_people WHERE person LIKE '%' || :person || '%') ORDER BY i.last_seen DESC, i.id DESC",
        },
        "incidents_by_country": {
            "title": "Incidents by country",
            "description": "Incidents with this country as origin state or host country: an ISO code (UZ) "
                           "or an English name (Uzbekistan); `role` says which.",
            "sql": f"{head}, roles(id, role, code) AS (SELECT i.id, 'origin', o.value FROM incidents i, json_each(i.origin) o"
                   " UNION ALL SELECT i.id, 'host', h.value FROM incidents i, json_each(i.host) h)"
                   f" SELECT (SELECT group_concat(DISTINCT r.role) FROM roles r LEFT JOIN names n ON n.code = r.code"
                   " WHERE r.id = i.id AND (upper(r.code) = upper(:country) OR lower(n.name) = lower(:country))) AS role,"
                   f" {_INCIDENT_COLUMNS} FROM incidents i WHERE role IS NOT NULL ORDER BY i.last_seen DESC, i.id DESC",
        },
        "incidents_by_month": {
            "title": "Incidents by month",
            "description": "How many incidents were first reported each month, of how many cases and people.",
            "sql": "SELECT substr(i.first_seen, 1, 7) AS month, count(*) AS incidents,"
                   " count(DISTINCT i.case_id) AS cases, (SELECT count(DISTINCT p.person) FROM incident_people p"
                   " JOIN incidents j ON j.id = p.incident_id WHERE substr(j.first_seen, 1, 7) ="
                   " substr(i.first_seen, 1, 7)) AS people FROM incidents i GROUP BY month ORDER BY month DESC",
        },
        "incidents_by_type": {
            "title": "Incidents by incident type",
            "description": "Incidents of one type (the tactic): its id (detention) or label; empty: all.",
            "sql": f"{head} SELECT {_INCIDENT_COLUMNS} FROM incidents i WHERE :type = '' OR EXISTS (SELECT 1 FROM"
                   " json_each(i.incident_types) t LEFT JOIN labels l ON l.id = t.value WHERE lower(t.value) ="
                   " lower(:type) OR lower(l.label) = lower(:type)) ORDER BY i.last_seen DESC, i.id DESC",
        },
        "incident_type_counts": {
            "title": "Incident types counted",
            "description": "How many incidents of each type, and when the first and the latest were reported.",
            "sql": f"{head} SELECT t.value AS type, coalesce(l.label, replace(t.value, '_', ' ')) AS tactic,"
                   " count(*) AS incidents, min(i.first_seen) AS first, max(i.last_seen) AS latest"
                   " FROM incidents i, json_each(i.incident_types) t LEFT JOIN labels l ON l.id = t.value"
                   " GROUP BY t.value ORDER BY incidents DESC, type",
        },
    }


SEARCH_QUERY = {
    "title": "Search items",
    "description": "Items whose title or summary contain this phrase (words in this order, any case); "
                   "the items_fts table's search box finds the words anywhere.",
    "sql": f"SELECT item_id, incident_id, published, source_id, title, snippet({SEARCH_TABLE}, 3, '[', ']', '…', 12)"
           f" AS excerpt, url FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH '\"' || replace(:q, '\"', '\"\"') || '\"'"
           " ORDER BY rank LIMIT 200",
}


def metadata(main: str, search: str, country_codes: Iterable[str] = ()) -> dict[str, Any]:
    """Datasette's metadata for the watcher database (named `main`) and the search sidecar."""
    tables: dict[str, Any] = {name: {"description": text, "columns": columns}
                              for name, (text, columns) in TABLES.items()}
    tables["incidents"].update(sort_desc="last_seen", label_column="title", facets=[
        {"array": "people"}, {"array": "incident_types"}, {"array": "origin"}, {"array": "host"}, "status"])
    tables["items"].update(sort_desc="id", label_column="title")
    return {
        "title": "watcher: incidents and reports",
        "description": "Read-only view of watcher.db. It holds the watchlist: keep it on this computer.",
        "databases": {
            main: {"tables": tables, "queries": canned_queries(country_codes)},
            search: {
                "description": "Full-text search over items (title, summary), built when `watcher browse` started.",
                "tables": {SEARCH_TABLE: {"description": "Items by their words: use the search box.",
                                          "columns": SEARCH_COLUMNS}},
                "queries": {"search_items": SEARCH_QUERY},
            },
        },
    }


def _readonly_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def country_codes(db: Path) -> list[str]:
    """The ISO codes that incidents name as origin or host (read-only)."""
    conn = sqlite3.connect(_readonly_uri(db), uri=True)
    try:
        rows = conn.execute("SELECT value FROM incidents, json_each(incidents.origin)"
                            " UNION SELECT value FROM incidents, json_each(incidents.host)").fetchall()
    finally:
        conn.close()
    return sorted(str(r[0]) for r in rows if r[0])


def build_search_db(db: Path, target: Path) -> int:
    """(Re)build the full-text index of the items of `db` (opened read-only) in `target`,
    created 0600 and swapped in whole, so a crash leaves the old index or none. Returns how
    many items it holds."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    conn = sqlite3.connect(f"file:{quote(str(partial.resolve()))}", uri=True, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS w", (_readonly_uri(db),))
        conn.execute("BEGIN")
        conn.execute(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(item_id UNINDEXED, incident_id UNINDEXED,"
                     " title, summary, source_id UNINDEXED, published UNINDEXED, url UNINDEXED,"
                     " tokenize = 'unicode61 remove_diacritics 2')")
        conn.execute(f"INSERT INTO {SEARCH_TABLE} (rowid, item_id, incident_id, title, summary, source_id, published,"
                     " url) SELECT i.id, i.id, r.incident_id, i.title, i.summary, i.source_id, i.published, i.url"
                     " FROM w.items i LEFT JOIN w.incident_items r ON r.item_id = i.id ORDER BY i.id")
        count = int(conn.execute(f"SELECT count(*) FROM {SEARCH_TABLE}").fetchone()[0])
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE w")
    except BaseException:
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(partial, target)
    return count
