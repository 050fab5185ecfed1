"""Health warnings reach the admin chat once per change of state, and recoveries once too."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from watcher.errors import DeliveryError
from watcher.delivery.health import report_health
from watcher.models import Message
from watcher.store import Store, iso

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


class Admin:
    name = "telegram-admin"
    unknown_outcome = "assume_sent"

    def __init__(self) -> None:
        self.said: list[str] = []
        self.down = False

    async def send(self, message: Message) -> str | None:
        if self.down:
            raise DeliveryError("admin chat unreachable")
        self.said.append(message.text)
        return None


def _source(store: Store, state: str, since: datetime, error: str = "") -> None:
    with store.transaction():
        store.ensure_source("hudoc", "hudoc")
        store.update_source("hudoc", state=state, state_since=iso(since), last_error=error)


def test_blocked_source_is_reported_once_and_its_recovery_once(tmp_path) -> None:
    store, admin = Store(tmp_path / "w.db"), Admin()
    _source(store, "blocked", T0, "HTTP 403: access refused")
    assert asyncio.run(report_health(store, admin, lambda: T0)) == 1
    assert admin.said == ["⚠️ source hudoc is blocked since 2026-11-23T08:00:00+00:00: HTTP 403: access refused"]
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(hours=1))) == 0
    _source(store, "ok", T0 + timedelta(hours=2))
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(hours=2))) == 1
    assert admin.said[-1] == "✅ source hudoc is ok again"
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(hours=3))) == 0


def test_failing_is_reported_only_after_its_threshold(tmp_path) -> None:
    store, admin = Store(tmp_path / "w.db"), Admin()
    _source(store, "failing", T0, "HTTP 500")
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(minutes=30))) == 0
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(minutes=61))) == 1


def test_a_warning_that_could_not_be_sent_is_tried_again(tmp_path) -> None:
    store, admin = Store(tmp_path / "w.db"), Admin()
    _source(store, "blocked", T0)
    admin.down = True
    assert asyncio.run(report_health(store, admin, lambda: T0)) == 0
    admin.down = False
    assert asyncio.run(report_health(store, admin, lambda: T0 + timedelta(minutes=1))) == 1


def test_delivery_failing_is_reported_once(tmp_path) -> None:
    store, admin = Store(tmp_path / "w.db"), Admin()
    with store.transaction():
        store.conn.execute(
            "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, first_seen, last_seen)"
            " VALUES ('s', 'k', 'u', 'h', 't', '', ?, ?, ?)", (iso(T0), iso(T0), iso(T0)))
        store.enqueue_alert(1, "telegram", False, T0)
        store.conn.execute("UPDATE alerts SET attempts = 3, last_error = 'Telegram unreachable'")
    assert asyncio.run(report_health(store, admin, lambda: T0)) == 1
    assert "delivery to telegram is failing: 1 alert(s) waiting" in admin.said[0]
    assert asyncio.run(report_health(store, admin, lambda: T0)) == 0
