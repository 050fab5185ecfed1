"""Upgrades: a database made by the release before issue #14 (schema m007) opens and migrates without loss.

The fixture, tests/fixtures/upgrade/watcher-m007.sql, is a readable dump written by make_m007.py
next to it: what months of running that release leave (alerts in every status and kind with
their parent links, feedback, mutes, evidence...). Opening it with `Store` runs every later
migration (m008 rebuilds the alerts table; m009 turns on incremental vacuum with a VACUUM; m010
drops items' unread url and content_hash indexes).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conftest import rss
from sqlite_utils import Database

from watcher.store import Store
from watcher.store.migrations import migrations

FIXTURE = Path(__file__).parent / "fixtures" / "upgrade" / "watcher-m007.sql"
M007 = ["m001_initial", "m002_source_state", "m003_monitors", "m004_digests", "m005_uncertain_alerts",
        "m006_source_notices", "m007_incidents"]
ALL = [m.name for m in migrations.pending(Database(memory=True))]


def load_fixture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    return path


def tables(conn: Any) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'")]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}


def item_indexes(conn: Any) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")}


def what_matters(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows an upgrade must keep exactly, in the columns the old release had."""
    queries = {
        "alerts": "SELECT id, item_id, destination, status, urgent, created_at, attempts, next_attempt_at, last_error,"
                  " sent_at, message_id, uncertain, kind, incident_id, parent_id, via FROM alerts ORDER BY id",
        "feedback": "SELECT f.alert_id, f.who, f.verdict, a.item_id, a.destination FROM feedback f"
                    " JOIN alerts a ON a.id = f.alert_id ORDER BY f.id",
        "incidents": "SELECT id, case_id, previous_id, people, status FROM incidents ORDER BY id",
        "incident_items": "SELECT item_id, incident_id, reason FROM incident_items ORDER BY item_id",
        "evidence": "SELECT id, item_id, kind, status, sha256, size, length(content), text, archive_url FROM evidence"
                    " ORDER BY id",
        "mutes": "SELECT source_id, rule, until, who FROM mutes ORDER BY id",
        "sources": "SELECT id, state, etag, consecutive_failures, state_json, notice FROM sources ORDER BY id",
        "digests": "SELECT day, recipient, status, attempts FROM digests ORDER BY id",
    }
    return {name: [tuple(r) for r in conn.execute(sql)] for name, sql in queries.items()}


def test_the_fixture_is_the_schema_before_issue_14(tmp_path: Path) -> None:
    """Guards the fixture itself: were it regenerated with today's schema, the test below would prove nothing."""
    conn = sqlite3.connect(load_fixture(tmp_path / "old.db"))
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(alerts)")}
    assert applied == M007 and "topic" not in columns and "kind" in columns
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    assert {"items_url", "items_content_hash"} <= item_indexes(conn)
    statuses = {r[0] for r in conn.execute("SELECT status FROM alerts")}
    kinds = {r[0] for r in conn.execute("SELECT kind FROM alerts")}
    assert statuses == {"sent", "pending", "failed", "sending"} and kinds == {"alert", "also", "followup"}
    assert all(n > 0 for n in tables(conn).values()), tables(conn)


def test_opening_an_m007_database_migrates_it_without_loss(tmp_path: Path) -> None:
    db = load_fixture(tmp_path / "state" / "watcher.db")
    raw = sqlite3.connect(db)
    counts, rows = tables(raw), what_matters(raw)
    raw.close()

    store = Store(db)
    assert tables(store.conn) == {**counts, "incident_blocks": 0}  # m011: old incidents stay unindexed
    assert store.conn.execute("SELECT count(*) FROM incidents WHERE indexed = 0").fetchone()[0] == counts["incidents"]
    assert what_matters(store.conn) == rows
    assert [r[0] for r in store.conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")] == ALL
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert store.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # m009: incremental
    assert item_indexes(store.conn) == {"sqlite_autoindex_items_1", "items_first_seen"}  # m010
    # what the new schema allows works on the old rows' table
    now = datetime(2026, 10, 6, tzinfo=timezone.utc)
    assert store.enqueue_alert(7, "digest:desk", False, now, status="held", incident_id=None)
    assert store.enqueue_notice("checkin:person:Ruslan Bekov:4", "console", "No news of Ruslan Bekov", now)
    assert store.alert(3)["parent_id"] == 1 and store.alert(4)["kind"] == "followup"
    store.close()

    again = Store(db)  # a second open changes nothing
    assert tables(again.conn)["alerts"] == counts["alerts"] + 2
    again.close()


PEOPLE = """\
people:
  - name: Aigerim Testova
    country: KZ
  - name: Ruslan Bekov
  - name: Dilnoza Examplova
    aliases: ["EXAMPLOVA, DILNOZA"]
"""


def test_the_app_polls_and_delivers_on_an_upgraded_database(ws) -> None:
    load_fixture(ws.state / "watcher.db")
    ws.write_rules(PEOPLE)
    ws.write_feeds({"id": "upgrade-news", "url": ws.serve("/f.xml", rss(
        ("bekov-2", "Ruslan Bekov detained in Minsk", "The exile faces extradition to Russia."))),
        "backfill": "alert"})
    result = ws.cli("poll", "--once")
    assert result.exit_code == 0, result.output
    assert "Ruslan Bekov detained in Minsk" in result.stdout  # the new item's alert
    assert "EXAMPLOVA" in result.stdout  # the old release's pending console alert went out too

    store = Store(ws.state / "watcher.db")
    status = {r[0]: r[1] for r in store.conn.execute("SELECT id, status FROM alerts")}
    assert status[7] == "sent"  # pending before the upgrade
    assert status[8] == "sent"  # left mid-send by the old release: printed again (console resends)
    assert status[6] == "pending"  # for Telegram, not configured here: kept, not dropped
    assert status[5] == "failed" and status[1] == "sent"
    new = store.conn.execute("SELECT a.status, a.destination FROM alerts a JOIN items i ON i.id = a.item_id"
                             " WHERE i.source_id = 'upgrade-news'").fetchall()
    assert [tuple(r) for r in new] == [("sent", "console")]
    assert store.conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 4
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    store.close()
