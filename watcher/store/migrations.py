"""The database schema, as ordered migrations kept in code (sqlite-utils Migrations).

A new column or table is a new function at the end of migrations_later.py (m011 on: incident_blocks);
never edit one that has shipped.

Tables:
- sources: one row per configured source, with its health and conditional-GET validators.
- items: one row per distinct article/document. UNIQUE(source_id, key) for the source that first
  brought it; indexed by first_seen (rematch, previews). Its `url` and `content_hash` are not
  indexed since m010: the same story arriving from another feed is recognised through sightings.
- sightings: every (source_id, key) ever seen, pointing at its item, with that copy's own URL and
  content hash (both indexed): a later copy is recognised, and counted (`seen_count`) instead of
  stored twice, if it shares either with *any* earlier copy, whichever feed happened to be
  stored first.
- matches: why an item matched a rule (one row per item and rule).
- alerts: the outbox, one row per (item, destination); pending -> sending -> sent | failed; its
  kind says whether it is an incident's first alert, a later report (also) or a new development.
- incidents, incident_people, incident_items: one row per incident, who it concerns, which items
  report it and why each joined (m007); incident_blocks, their candidate index (m011).
- evidence: the reported pages as fetched, hashed, with their main text (m007).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("watcher")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE sources (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'new',
            state_since TEXT,
            etag TEXT,
            last_modified TEXT,
            last_polled TEXT,
            last_ok TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            first_ok TEXT,
            next_poll_after TEXT,
            last_new_item TEXT
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL,
            key TEXT NOT NULL,
            url TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            published TEXT NOT NULL,
            language TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            seen_count INTEGER NOT NULL DEFAULT 1,
            UNIQUE (source_id, key)
        );
        CREATE INDEX items_url ON items (url);
        CREATE INDEX items_content_hash ON items (content_hash);
        CREATE INDEX items_first_seen ON items (first_seen);
        CREATE TABLE sightings (
            source_id TEXT NOT NULL,
            key TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items (id),
            first_seen TEXT NOT NULL,
            published TEXT NOT NULL,
            url TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            PRIMARY KEY (source_id, key)
        );
        CREATE INDEX sightings_item ON sightings (item_id);
        CREATE INDEX sightings_url ON sightings (url);
        CREATE INDEX sightings_content_hash ON sightings (content_hash);
        CREATE INDEX sightings_source_published ON sightings (source_id, published);
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items (id),
            rule TEXT NOT NULL,
            kind TEXT NOT NULL,
            variant TEXT NOT NULL,
            span_start INTEGER NOT NULL,
            span_end INTEGER NOT NULL,
            text TEXT NOT NULL,
            why TEXT NOT NULL,
            matched_at TEXT NOT NULL,
            UNIQUE (item_id, rule)
        );
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items (id),
            destination TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            urgent INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            message_id TEXT,
            UNIQUE (item_id, destination)
        );
        CREATE INDEX alerts_due ON alerts (destination, status, next_attempt_at);
        """
    )


@migrations()
def m002_source_state(db: Database) -> None:
    """Sources that list a whole set (INTERPOL notices) remember it between polls, to see what vanished."""
    db.execute("ALTER TABLE sources ADD COLUMN state_json TEXT NOT NULL DEFAULT '{}'")


@migrations()
def m003_monitors(db: Database) -> None:
    """What monitors do through the bot: edits (audit), verdicts on alerts, mutes; and which
    health states the admin chat has last been told about (one message per change)."""
    db.executescript(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            who TEXT NOT NULL,          -- 'telegram:<user id>' or 'cli:<login>'
            action TEXT NOT NULL,       -- watch, unwatch, keyword, unkeyword, mute, ...
            file TEXT,
            detail TEXT NOT NULL        -- JSON: what changed
        );
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            who TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('relevant', 'not_relevant')),
            at TEXT NOT NULL,
            UNIQUE (alert_id, who)
        );
        CREATE TABLE mutes (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL,
            rule TEXT,                  -- NULL: the whole source; else e.g. 'person:<name>'
            until TEXT,                 -- NULL: until lifted
            who TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX mutes_source ON mutes (source_id);
        CREATE TABLE admin_notices (
            topic TEXT PRIMARY KEY,     -- 'source:<id>', 'delivery:<destination>'
            state TEXT NOT NULL,        -- the state the admin chat was last told about
            since TEXT,
            at TEXT NOT NULL
        );
        """
    )


@migrations()
def m004_digests(db: Database) -> None:
    """The daily digest email: one row per day and recipient, pending -> sending -> sent."""
    db.executescript(
        """
        CREATE TABLE digests (
            id INTEGER PRIMARY KEY,
            day TEXT NOT NULL,                -- the local date it is sent on (YYYY-MM-DD)
            recipient TEXT NOT NULL,
            window_start TEXT NOT NULL,       -- UTC; what the digest covers
            window_end TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            message_id TEXT,
            UNIQUE (day, recipient)
        );
        """
    )


@migrations()
def m005_uncertain_alerts(db: Database) -> None:
    """Alerts assumed sent after an unknown outcome wait (1) to be announced to the admin chat,
    then are marked announced (2): the notice survives a crash like the alert would."""
    db.execute("ALTER TABLE alerts ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0")


@migrations()
def m006_source_notices(db: Database) -> None:
    """What the latest content of a source showed that is not a failure but loses matches if
    nobody knows (guids reused for different stories, garbled text): shown with its health."""
    db.execute("ALTER TABLE sources ADD COLUMN notice TEXT")


@migrations()
def m007_incidents(db: Database) -> None:
    """Incidents, not items: the reports of one story (any outlet, any language) belong to one
    incident; incidents of the same watched people form a case. Alerts gain a kind: the first
    report's 'alert', an 'also' (a later report of the incident: the alert's message is edited,
    or a silent reply is posted) and a 'followup' (a new development of the case: a notifying
    reply to the case's earlier alert). Evidence: the reported pages, kept as fetched.

    Items alerted before incidents existed each become an incident of their own, so the digest
    and `watcher incidents` show them."""
    db.executescript(
        """
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL,           -- the case's first incident (its own id when first)
            previous_id INTEGER REFERENCES incidents (id),  -- the incident of the case it follows
            first_seen TEXT NOT NULL,           -- the earliest report's time (published, UTC)
            last_seen TEXT NOT NULL,            -- the latest report's time
            created_at TEXT NOT NULL,
            title TEXT NOT NULL,
            people TEXT NOT NULL DEFAULT '[]',  -- JSON: canonical names of watched people
            incident_types TEXT NOT NULL DEFAULT '[]',
            origin TEXT NOT NULL DEFAULT '[]',  -- JSON: ISO country codes
            host TEXT NOT NULL DEFAULT '[]',
            keys TEXT NOT NULL DEFAULT '{}',    -- JSON: salient spelling key -> name | place | number
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'followed'))
        );
        CREATE INDEX incidents_last_seen ON incidents (last_seen);
        CREATE INDEX incidents_case ON incidents (case_id);
        CREATE TABLE incident_people (
            person TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            PRIMARY KEY (person, incident_id)
        );
        CREATE TABLE incident_items (
            item_id INTEGER PRIMARY KEY REFERENCES items (id),  -- an item reports one incident
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            source_id TEXT NOT NULL,            -- the feed that brought it to the incident
            reported TEXT NOT NULL,             -- the time the window uses: published, else first seen
            joined_at TEXT NOT NULL,
            reason TEXT NOT NULL,               -- why it belongs: first report, shared person, score
            score REAL
        );
        CREATE INDEX incident_items_incident ON incident_items (incident_id);
        ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';  -- alert | also | followup
        ALTER TABLE alerts ADD COLUMN incident_id INTEGER REFERENCES incidents (id);
        ALTER TABLE alerts ADD COLUMN parent_id INTEGER REFERENCES alerts (id);
        ALTER TABLE alerts ADD COLUMN via TEXT;  -- set before the send: message | edit | reply
        CREATE INDEX alerts_incident ON alerts (incident_id, destination);
        CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items (id),
            kind TEXT NOT NULL DEFAULT 'page' CHECK (kind IN ('page', 'archive')),
            url TEXT NOT NULL,                  -- what was asked for (the item's link)
            source_id TEXT NOT NULL,            -- whose fetch settings (proxy, private) apply
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'fetching', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            fetched_at TEXT,
            final_url TEXT,
            http_status INTEGER,
            headers TEXT,                       -- JSON: the response headers
            content BLOB,                       -- the raw bytes, gzip-compressed
            size INTEGER,                       -- bytes before compression
            sha256 TEXT,                        -- of the raw bytes
            text TEXT,                          -- the main text (trafilatura)
            archive_url TEXT,                   -- kind 'archive': the Internet Archive's copy
            UNIQUE (item_id, kind)
        );
        CREATE INDEX evidence_due ON evidence (status, next_attempt_at);
        """
    )
    _incidents_for_old_alerts(db)


def _incidents_for_old_alerts(db: Database) -> None:
    import json

    conn = db.conn
    rows = conn.execute(
        "SELECT DISTINCT i.id, i.title, i.published, i.first_seen, i.source_id FROM items i"
        " JOIN alerts a ON a.item_id = i.id ORDER BY i.id").fetchall()
    for item_id, title, published, first_seen, source_id in rows:
        rules = [r[0] for r in conn.execute("SELECT rule FROM matches WHERE item_id = ? ORDER BY id", (item_id,))]
        people = [r.split(":", 1)[1] for r in rules if r.startswith("person:")]
        types = [r.split(":", 1)[1] for r in rules if r.startswith("incident:")]
        cursor = conn.execute(
            "INSERT INTO incidents (case_id, first_seen, last_seen, created_at, title, people, incident_types)"
            " VALUES (0, ?, ?, ?, ?, ?, ?)",
            (published, published, first_seen, title, json.dumps(people, ensure_ascii=False), json.dumps(types)))
        incident_id = cursor.lastrowid
        conn.execute("UPDATE incidents SET case_id = id WHERE id = ?", (incident_id,))
        conn.executemany("INSERT OR IGNORE INTO incident_people (person, incident_id) VALUES (?, ?)",
                         [(p, incident_id) for p in people])
        conn.execute("INSERT INTO incident_items (item_id, incident_id, source_id, reported, joined_at, reason)"
                     " VALUES (?, ?, ?, ?, ?, 'alerted before incidents existed')",
                     (item_id, incident_id, source_id, published, first_seen))
        conn.execute("UPDATE alerts SET incident_id = ? WHERE item_id = ?", (incident_id, item_id))


@migrations(transactional=False)
def m008_routes(db: Database) -> None:
    """Routes and check-ins. Alerts may be 'held': recorded for a route's digest only, never
    sent to a chat (notify: digest, or urgent for a non-urgent incident). A check-in alert ("no
    news of X for 14 days") names no item: item_id may be NULL, `topic` says which silence it
    is (unique per destination, so each silence alerts once) and `body` is its text. `muted`
    lists the watched people (rules) an alert must not name; `route` the route that chose it.

    SQLite cannot change a CHECK or NOT NULL in place: the table is rebuilt with its ids, the
    way SQLite's documentation says (foreign keys off, one transaction, checked before the
    commit). Run outside sqlite-utils' transaction because foreign keys cannot be switched off
    inside one; a rerun after a crash between the commit and the record finds it done."""
    conn = db.conn
    columns = {row[1] for row in conn.execute("PRAGMA table_info(alerts)")}
    if "topic" in columns:
        return
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _M008.split(";"):
                if statement.strip():
                    conn.execute(statement)
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"m008: {len(problems)} broken reference(s) after rebuilding alerts")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


_M008 = """
            CREATE TABLE alerts_m008 (
                id INTEGER PRIMARY KEY,
                item_id INTEGER REFERENCES items (id),
                destination TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held')),
                urgent INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT NOT NULL,
                last_error TEXT,
                sent_at TEXT,
                message_id TEXT,
                uncertain INTEGER NOT NULL DEFAULT 0,
                kind TEXT NOT NULL DEFAULT 'alert',   -- alert | also | followup | checkin
                incident_id INTEGER REFERENCES incidents (id),
                parent_id INTEGER REFERENCES alerts (id),
                via TEXT,
                topic TEXT,                           -- checkin:<person rule>:<last item id or none>
                body TEXT,                            -- the text of an alert that names no item
                muted TEXT,                           -- JSON: person rules this alert must not name
                route TEXT,                           -- the route that chose this destination
                UNIQUE (item_id, destination),
                UNIQUE (topic, destination)
            );
            INSERT INTO alerts_m008 (id, item_id, destination, status, urgent, created_at, attempts, next_attempt_at,
                                last_error, sent_at, message_id, uncertain, kind, incident_id, parent_id, via)
                SELECT id, item_id, destination, status, urgent, created_at, attempts, next_attempt_at, last_error,
                       sent_at, message_id, uncertain, kind, incident_id, parent_id, via FROM alerts;
            DROP TABLE alerts;
            ALTER TABLE alerts_m008 RENAME TO alerts;
            CREATE INDEX alerts_due ON alerts (destination, status, next_attempt_at);
            CREATE INDEX alerts_incident ON alerts (incident_id, destination)
"""


@migrations(transactional=False)
def m009_incremental_vacuum(db: Database) -> None:
    """Pages freed by pruning go back to the file system: with auto_vacuum INCREMENTAL,
    `PRAGMA incremental_vacuum` (Store.vacuum, after each prune) shrinks the file; without it
    watcher.db never gets smaller. An existing database takes the setting only through a
    VACUUM, which cannot run inside a transaction; a rerun after a crash finds it done."""
    conn = db.conn
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # 2: incremental
        return
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")


@migrations()
def m010_unread_item_indexes(db: Database) -> None:
    """Drop the indexes on items' `url` and `content_hash`: no query reads them (the dedupe
    lookups go through sightings' own `url` and `content_hash` indexes, which every copy of a
    story has), yet every insert updated them at scattered places, and in a database of a
    million items those scattered pages made each poll's commit and checkpoint several times
    dearer. `items_first_seen` stays (rematch and the previews read items by first_seen). The
    freed pages are reused by later inserts, or given back by the daily vacuum after a prune."""
    db.execute("DROP INDEX IF EXISTS items_url")
    db.execute("DROP INDEX IF EXISTS items_content_hash")

from watcher.store import migrations_later  # noqa: E402,F401  (m011 on: registered after the above)
