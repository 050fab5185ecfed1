"""The daily digest email on a real SMTP server (aiosmtpd) on loopback: windows across DST,
exactly once per recipient and day, missed days caught up, outages retried, `watcher run`."""

from __future__ import annotations

import asyncio
import email
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from conftest import free_port
from aiosmtpd.controller import Controller
from apscheduler.triggers.cron import CronTrigger
from click.testing import CliRunner

from watcher.cli import cli
from watcher.digest import DigestSchedule, DigestService, build_digest
from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings
from watcher.store import Store, iso

LONDON = ZoneInfo("Europe/London")


class Sink:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"




@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


def _env(ws, port: int, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
            "WATCHER_SMTP_HOST": "127.0.0.1", "WATCHER_SMTP_PORT": str(port), "WATCHER_SMTP_SECURITY": "none",
            "WATCHER_DIGEST_FROM": "watcher@example.org", "WATCHER_DIGEST_TO": "a@example.org, b@example.org",
            "WATCHER_TZ": "Europe/London", **extra}


def _alerted_store(ws, created: datetime, title: str = "Bakhodir Karimov <b>detained</b> & held") -> Store:
    store = Store(ws.state / "watcher.db")
    with store.transaction():
        store.ensure_source("news", "rss")
        store.conn.execute(
            "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, first_seen, last_seen)"
            " VALUES ('news', 'k1', 'https://news.example.org/k1', 'h', ?, 'Faces extradition to Uzbekistan.', ?, ?, ?)",
            (title, iso(created), iso(created), iso(created)))
        store.conn.execute(
            "INSERT INTO matches (item_id, rule, kind, variant, span_start, span_end, text, why, matched_at)"
            " VALUES (1, 'person:Bakhodir Karimov', 'person', 'Bakhodir Karimov', 0, 16, 'Bakhodir Karimov', 'x', ?)",
            (iso(created),))
        store.enqueue_alert(1, "console", urgent=True, now=created)
    return store


def test_window_is_send_time_to_send_time_in_local_time_across_dst() -> None:
    schedule = DigestSchedule(at=time(7, 0), tz=LONDON)
    start, end = schedule.window(date(2026, 10, 25))  # clocks go back at 02:00 that night
    assert start == datetime(2026, 10, 24, 6, 0, tzinfo=timezone.utc)  # 07:00 BST
    assert end == datetime(2026, 10, 25, 7, 0, tzinfo=timezone.utc)  # 07:00 GMT
    assert end - start == timedelta(hours=25)
    start, end = schedule.window(date(2026, 3, 29))  # clocks go forward
    assert end - start == timedelta(hours=23)


def test_cron_trigger_fires_at_local_send_time_across_dst() -> None:
    trigger = CronTrigger(hour=7, minute=0, timezone=LONDON)
    before = datetime(2026, 10, 24, 8, 0, tzinfo=LONDON)
    assert trigger.get_next_fire_time(None, before) == datetime(2026, 10, 25, 7, 0, tzinfo=LONDON)
    assert trigger.get_next_fire_time(None, before).astimezone(timezone.utc).hour == 7  # GMT now


def test_send_delivers_one_email_per_recipient_then_nothing_then_again_with_force(ws, smtp) -> None:
    controller, sink = smtp
    # the day's send time has passed (a send before it is a partial digest, see test_silent_losses)
    sent_at = datetime.now(LONDON) - timedelta(hours=1)
    today = sent_at.date()
    _alerted_store(ws, datetime.now(timezone.utc) - timedelta(hours=2))
    runner = CliRunner(env=_env(ws, controller.port, WATCHER_DIGEST_AT=sent_at.strftime("%H:%M")))
    first = runner.invoke(cli, ["digest", "--send", "--date", today.isoformat()])
    assert first.exit_code == 0, first.output
    assert sorted(to for _, (to,), _ in sink.mails) == ["a@example.org", "b@example.org"]
    mail = sink.mails[0][2]
    assert mail.get_content_type() == "multipart/alternative"
    text, html = (part.get_payload(decode=True).decode() for part in mail.get_payload())
    assert "Bakhodir Karimov" in text and "Bakhodir Karimov" in html
    assert "&lt;b&gt;detained&lt;/b&gt; &amp; held" in html and "<b>detained</b>" not in html
    again = runner.invoke(cli, ["digest", "--send", "--date", today.isoformat()])
    assert again.exit_code == 0 and len(sink.mails) == 2 and "2 already sent" in again.stderr
    forced = runner.invoke(cli, ["digest", "--send", "--date", today.isoformat(), "--force"])
    assert forced.exit_code == 0 and len(sink.mails) == 4


def test_preview_writes_html_grouped_and_prints_text(ws, tmp_path) -> None:
    _alerted_store(ws, datetime.now(timezone.utc) - timedelta(minutes=5))
    out = tmp_path / "d.html"
    result = CliRunner(env={"WATCHER_STATE": str(ws.state), "WATCHER_RULES": str(ws.rules),
                            "WATCHER_DIGEST_AT": "23:59"}).invoke(cli, ["digest", "--preview", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Bakhodir Karimov" in html and "https://news.example.org/k1" in html
    assert "Bakhodir Karimov" in result.stdout


def _service(store: Store, port: int, now: list[datetime], **schedule: object) -> DigestService:
    settings = SmtpSettings.from_env({"WATCHER_SMTP_HOST": "127.0.0.1", "WATCHER_SMTP_PORT": str(port),
                                      "WATCHER_SMTP_SECURITY": "none", "WATCHER_DIGEST_FROM": "w@example.org",
                                      "WATCHER_DIGEST_TO": "a@example.org"})
    assert settings is not None
    return DigestService(store, DigestSchedule(tz=LONDON, **schedule), settings.recipients,
                         lambda r: EmailNotifier(settings, r), lambda: None, lambda: now[0])


def test_first_run_sends_only_the_latest_day_and_a_missed_day_is_caught_up_with_its_window(ws, smtp) -> None:
    controller, sink = smtp
    store = Store(ws.state / "watcher.db")
    now = [datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)]
    service = _service(store, controller.port, now)
    assert asyncio.run(service.run()).sent == 1  # the 20th only, not a week of history
    now[0] = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)  # down on the 21st and 22nd at 07:00
    assert asyncio.run(service.run()).sent == 3
    days = [r[0] for r in store.conn.execute("SELECT day FROM digests ORDER BY day")]
    assert days == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]
    windows = {r[0]: (r[1], r[2]) for r in store.conn.execute("SELECT day, window_start, window_end FROM digests")}
    assert windows["2026-11-22"] == ("2026-11-21T07:00:00+00:00", "2026-11-22T07:00:00+00:00")
    assert asyncio.run(service.run()).sent == 0 and len(sink.mails) == 4


def test_smtp_outage_is_retried_with_backoff_and_nothing_is_lost(ws) -> None:
    store = Store(ws.state / "watcher.db")
    port = free_port()
    now = [datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)]
    service = _service(store, port, now)
    report = asyncio.run(service.run())
    assert report.deferred == 1 and report.sent == 0
    (status, next_at) = store.conn.execute("SELECT status, next_attempt_at FROM digests").fetchone()
    assert status == "pending" and next_at == "2026-11-23T08:01:00+00:00"
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert asyncio.run(service.run()).sent == 0  # not due yet
        now[0] += timedelta(minutes=2)
        assert asyncio.run(service.run()).sent == 1 and len(sink.mails) == 1
    finally:
        controller.stop()


def test_empty_day_sends_a_short_note_or_nothing_when_off(ws, smtp) -> None:
    controller, sink = smtp
    store = Store(ws.state / "watcher.db")
    now = [datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)]
    assert asyncio.run(_service(store, controller.port, now).run()).sent == 1
    text = sink.mails[0][2].get_payload()[0].get_payload(decode=True).decode()
    assert "othing matched" in text
    now[0] += timedelta(days=1)
    report = asyncio.run(_service(store, controller.port, now, send_empty=False).run())
    assert report.skipped == 1 and len(sink.mails) == 1


def test_build_digest_lists_failing_sources(ws) -> None:
    store = _alerted_store(ws, datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc))
    with store.transaction():
        store.ensure_source("interpol", "interpol")
        store.update_source("interpol", state="blocked", state_since="2026-11-22T03:00:00+00:00",
                            last_error="HTTP 403: access refused", last_error_at="2026-11-22T03:00:00+00:00")
    digest = build_digest(store, date(2026, 11, 23), DigestSchedule(tz=LONDON))
    assert [e.title for e in digest.entries] == ["Bakhodir Karimov <b>detained</b> & held"]
    assert [(p.source_id, p.state) for p in digest.problems] == [("interpol", "blocked")]


def test_run_sends_the_digest_when_its_local_time_has_come(ws, smtp) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time as clock

    controller, sink = smtp
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", b"")})
    past = (datetime.now(LONDON) - timedelta(minutes=1)).strftime("%H:%M")
    env = {**os.environ, **_env(ws, controller.port, WATCHER_DIGEST_AT=past)}
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = clock.monotonic() + 20
        while len(sink.mails) < 2 and clock.monotonic() < deadline:
            clock.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert len(sink.mails) == 2, err
    assert "daily digest at" in err
