"""The daily digest email on a real SMTP server (aiosmtpd) on loopback: windows across DST,
exactly once per recipient and day, missed days caught up, outages retried, `watcher run`; and
the digest built from the store by incident (two languages, one entry; later reports, follow-ups,
an alert without an incident)."""

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
BK = ("Bakhodir Karimov", "Bakhodir Karimov")  # a person match: canonical name, spelling seen


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


def _item(store: Store, key: str, title: str, summary: str, published: datetime, *, source: str = "news",
          language: str | None = "en", person: tuple[str, str] | None = None,
          incident: tuple[str, str] | None = None) -> int:
    """An item with its matches (person: (canonical name, spelling seen); incident: (type id,
    word)), spans computed against the matched text as watcher.matching gives them."""
    store.ensure_source(source, "rss")
    cursor = store.conn.execute(
        "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, language, first_seen,"
        " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (source, key, f"https://{source}.example.org/{key}", key, title, summary, iso(published), language,
         iso(published), iso(published)))
    item_id = int(cursor.lastrowid or 0)
    text = f"{title}\n{summary}" if summary else title
    for kind, found in (("person", person), ("incident", incident)):
        if found is None:
            continue
        rule, seen = found
        start = text.index(seen)
        store.conn.execute(
            "INSERT INTO matches (item_id, rule, kind, variant, span_start, span_end, text, why, matched_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'x', ?)",
            (item_id, f"{kind}:{rule}", kind, seen, start, start + len(seen), seen, iso(published)))
    return item_id


def _incident(store: Store, item_id: int, at: datetime, *, people=("Bakhodir Karimov",), types=("detention",),
              origin=("UZ",), host=("TR",), previous: int | None = None, title: str = "") -> int:
    item = store.item(item_id)
    assert item is not None
    incident_id = store.create_incident(title=title or item["title"], people=list(people),
                                        incident_types=list(types), origin=list(origin), host=list(host), keys={},
                                        reported=at, now=at, previous=previous)
    store.add_report(incident_id, item_id, source_id=item["source_id"], reported=at, reason="first report",
                     score=None, now=at)
    return incident_id


def _alerted_store(ws, created: datetime, title: str = "Bakhodir Karimov <b>detained</b> & held") -> Store:
    """One alerted item, filed as its incident's first report, as the pipeline leaves it."""
    store = Store(ws.state / "watcher.db")
    with store.transaction():
        item_id = _item(store, "k1", title, "Faces extradition to Uzbekistan.", created,
                        person=BK)
        incident_id = _incident(store, item_id, created)
        store.enqueue_alert(item_id, "console", urgent=True, now=created, kind="alert", incident_id=incident_id)
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


# -- by incident ------------------------------------------------------------------------------------

DAY = date(2026, 12, 2)  # GMT: the window is 1 Dec 07:00 UTC -> 2 Dec 07:00 UTC
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _alert_id(store: Store, item_id: int) -> int:
    return int(store.conn.execute("SELECT id FROM alerts WHERE item_id = ?", (item_id,)).fetchone()[0])


def _two_language_story(store: Store, *, urgent_second: bool = False) -> tuple[int, int, int]:
    """One stabbing reported by RFE/RL in English, then by Fergana in Russian: one incident."""
    with store.transaction():
        en = _item(store, "en1", "Uzbek blogger Bakhodir Karimov stabbed in Istanbul",
                   "Police said the attacker fled.", T0, source="rferl", language="en",
                   person=BK)
        incident_id = _incident(store, en, T0, types=("assassination_attack", "abduction_rendition"))
        store.enqueue_alert(en, "console", urgent=False, now=T0, kind="alert", incident_id=incident_id)
        parent = _alert_id(store, en)
        later = T0 + timedelta(hours=2)
        ru = _item(store, "ru1", "В Стамбуле ранен узбекский блогер",
                   "Баходир Каримов госпитализирован.", later, source="fergana", language="ru",
                   person=("Bakhodir Karimov", "Баходир Каримов"))
        store.add_report(incident_id, ru, source_id="fergana", reported=later, reason="shared person",
                         score=None, now=later)
        store.enqueue_alert(ru, "console", urgent=urgent_second, now=later, kind="also", incident_id=incident_id,
                            parent_id=parent)
    return incident_id, en, ru


def test_two_reports_of_one_incident_in_two_languages_are_one_entry(ws) -> None:
    from watcher.digest.render import render_digest

    store = Store(ws.state / "watcher.db")
    incident_id, en, ru = _two_language_story(store, urgent_second=True)
    digest = build_digest(store, DAY, DigestSchedule(tz=LONDON))
    [entry] = digest.entries
    assert entry.incident_id == incident_id and entry.urgent  # urgent: one of its rows is
    assert [(r.item_id, r.label) for r in entry.reports] == [(en, "rferl (en)"), (ru, "fergana (ru)")]
    assert entry.people == ["Bakhodir Karimov"] and entry.seen_as == {"Bakhodir Karimov": ["Баходир Каримов"]}
    assert (entry.origin, entry.host) == (["UZ"], ["TR"]) and not entry.continued
    assert digest.counts_by_incident() == {"abduction_rendition": 1, "assassination_attack": 1}
    assert digest.counts_by_country() == {"TR": 1, "UZ": 1}
    msg = render_digest(digest)
    assert msg.subject == "watcher digest 2026-12-02: 1 incident (1 urgent)"
    assert msg.text.count("Uzbek blogger Bakhodir Karimov stabbed in Istanbul") == 1
    assert "Reported by: rferl (en), fergana (ru)" in msg.text
    assert "https://rferl.example.org/en1" in msg.text and "https://fergana.example.org/ru1" in msg.text
    assert f"- Bakhodir Karimov: incident #{incident_id}\n" in msg.text
    assert "abduction_rendition" not in msg.text + msg.html and "abduction / rendition" in msg.text
    assert "Where: Uzbekistan → Turkey" in msg.text


def test_the_snippet_separates_the_title_from_the_summary(ws) -> None:
    from watcher.digest.render import render_digest

    store = Store(ws.state / "watcher.db")
    with store.transaction():
        item = _item(store, "k", "Bakhodir Karimov detained", "Faces extradition to Uzbekistan.", T0,
                     person=BK)
        store.enqueue_alert(item, "console", urgent=False, now=T0, incident_id=_incident(store, item, T0))
    [entry] = build_digest(store, DAY, DigestSchedule(tz=LONDON)).entries
    assert (entry.snippet_before, entry.snippet_match) == ("", "Bakhodir Karimov")
    assert entry.snippet_after == " detained — Faces extradition to Uzbekistan."
    text = render_digest(build_digest(store, DAY, DigestSchedule(tz=LONDON))).text
    assert "> **Bakhodir Karimov** detained — Faces extradition to Uzbekistan." in text
    assert "detained Faces" not in text


def test_times_follow_watcher_tz(ws) -> None:
    from watcher.digest.render import render_digest

    store = Store(ws.state / "watcher.db")
    _two_language_story(store)
    tashkent = DigestSchedule(tz=ZoneInfo("Asia/Tashkent"))  # 07:00 +05 = 02:00 UTC
    text = render_digest(build_digest(store, DAY, tashkent)).text
    assert "rferl (en) · 1 Dec 2026, 14:00 +05" in text and "fergana (ru) · 1 Dec 2026, 16:00 +05" in text
    assert "09:00" not in text and "GMT" not in text


def test_a_later_report_of_yesterdays_incident_shows_the_incident_marked_as_continued(ws) -> None:
    store = Store(ws.state / "watcher.db")
    with store.transaction():
        old_at = T0 - timedelta(days=1)
        first = _item(store, "a", "Bakhodir Karimov detained", "", old_at, person=BK)
        incident_id = _incident(store, first, old_at)
        store.enqueue_alert(first, "console", urgent=True, now=old_at, incident_id=incident_id)
        second = _item(store, "b", "Баходир Каримов задержан", "", T0, source="fergana", language="ru",
                       person=("Bakhodir Karimov", "Баходир Каримов"))
        store.add_report(incident_id, second, source_id="fergana", reported=T0, reason="shared person",
                         score=None, now=T0)
        store.enqueue_alert(second, "console", urgent=False, now=T0, kind="also", incident_id=incident_id,
                            parent_id=_alert_id(store, first))
    [entry] = build_digest(store, DAY, DigestSchedule(tz=LONDON)).entries
    assert entry.continued and not entry.urgent  # yesterday's urgent row is yesterday's digest's
    assert [(r.item_id, r.new) for r in entry.reports] == [(first, False), (second, True)]
    # yesterday's digest has the incident with its first report only: the later one came after
    [before] = build_digest(store, DAY - timedelta(days=1), DigestSchedule(tz=LONDON)).entries
    assert [r.item_id for r in before.reports] == [first] and before.urgent and not before.continued


def test_a_new_development_says_which_incident_of_the_case_it_follows(ws) -> None:
    from watcher.digest.render import render_digest

    store = Store(ws.state / "watcher.db")
    with store.transaction():
        week_ago = T0 - timedelta(days=7)
        old = _item(store, "a", "Bakhodir Karimov released", "", week_ago, person=BK)
        earlier = _incident(store, old, week_ago)
        new = _item(store, "b", "Bakhodir Karimov missing again", "", T0, person=BK)
        later = _incident(store, new, T0, previous=earlier)
        store.enqueue_alert(new, "console", urgent=True, now=T0, kind="followup", incident_id=later)
    [entry] = build_digest(store, DAY, DigestSchedule(tz=LONDON)).entries
    assert (entry.incident_id, entry.follows, entry.case_id) == (later, earlier, earlier)
    text = " ".join(render_digest(build_digest(store, DAY, DigestSchedule(tz=LONDON))).text.split())
    assert f"Follows incident #{earlier} of the same case (Bakhodir Karimov released, 24 Nov 2026, 09:00 GMT)" in text


def test_an_alert_without_an_incident_still_appears(ws) -> None:
    from watcher.digest.render import render_digest

    store = Store(ws.state / "watcher.db")
    _two_language_story(store)
    with store.transaction():
        stray = _item(store, "stray", "Stray alert about Bakhodir Karimov", "", T0,
                      person=BK, incident=("detention", "alert"))
        store.enqueue_alert(stray, "console", urgent=False, now=T0)  # no incident_id: should not happen
    digest = build_digest(store, DAY, DigestSchedule(tz=LONDON))
    assert [(e.incident_id, [r.item_id for r in e.reports]) for e in digest.entries][-1] == (None, [stray])
    orphan = digest.entries[-1]
    assert orphan.people == ["Bakhodir Karimov"] and orphan.incident_types == ["detention"]
    msg = render_digest(digest)
    assert msg.subject == "watcher digest 2026-12-02: 2 incidents"
    assert f"* Item #{stray} (no incident): Stray alert about Bakhodir Karimov" in msg.text


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
