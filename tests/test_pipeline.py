"""The whole cycle on loopback: items stored once, alerts created once and delivered once."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import datetime, timedelta, timezone

from conftest import feed_bytes, rss

from watcher.app import App
from watcher.config import Paths
from watcher.errors import DeliveryError
from watcher.models import Message
from watcher.store import Store

PEOPLE = """\
people:
  - name: Bakhodir Karimov
    aliases: [Баходир Каримов]
    not: [Islam Karimov]
"""
KARIMOV = ("k1", "Bakhodir Karimov detained in Moscow", "The Uzbek exile faces extradition.")
OTHER = ("o1", "Weather in Tashkent", "Sunny.")


class Recorder:
    """A notifier that keeps what it was given, and can be told to fail."""

    name = "recorder"
    unknown_outcome = "resend"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.fail_with: DeliveryError | None = None

    async def send(self, message: Message) -> str | None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return f"m{len(self.sent)}"


def _app(ws, recorder: Recorder, clock=None) -> App:
    kwargs = {"clock": clock} if clock else {}
    return App.build(Paths(ws.feeds, ws.rules, ws.state), notifiers={"recorder": recorder}, **kwargs)


def _cycle(app: App):
    async def go():
        try:
            reports = await app.poll(app.enabled(), respect_backoff=False)
            return reports, await app.deliver()
        finally:
            await app.aclose()
    return asyncio.run(go())


def test_poll_once_stores_items_and_prints_one_alert_per_matching_item(ws) -> None:
    url = ws.serve("/feed.xml", rss(KARIMOV, OTHER))
    ws.write_feeds({"id": "news", "url": url, "backfill": "alert"})
    ws.write_rules(PEOPLE)
    result = ws.cli("poll", "--once")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("[watcher]") == 1
    assert "Person: Bakhodir Karimov" in result.stdout and "URGENT alert: detention, extradition" in result.stdout
    assert "Link: https://news.example.org/k1" in result.stdout and "utm_source" not in result.stdout
    assert "2 new item(s), 1 alert(s) delivered" in result.stderr
    store = Store(ws.state / "watcher.db")
    assert store.count("items") == 2 and store.count("alerts") == 1


def test_second_poll_in_a_new_process_prints_nothing(ws) -> None:
    url = ws.serve("/feed.xml", rss(KARIMOV, OTHER))
    ws.write_feeds({"id": "news", "url": url, "backfill": "alert"})
    ws.write_rules(PEOPLE)
    assert ws.cli("poll", "--once").stdout.count("[watcher]") == 1
    ws.server.routes["/feed.xml"].conditional = False  # force a full download: dedupe, not 304, must hold
    again = ws.cli("poll", "--once")
    assert again.stdout == ""
    assert "0 new item(s), 0 alert(s) delivered" in again.stderr


def test_first_poll_is_silent_by_default_and_later_items_alert(ws) -> None:
    url = ws.serve("/feed.xml", rss(KARIMOV, OTHER))
    ws.write_feeds({"id": "news", "url": url})
    ws.write_rules(PEOPLE)
    first = ws.cli("poll", "--once")
    assert first.stdout == "" and "2 new item(s), 0 alert(s)" in first.stderr
    assert "1 matching item(s) not alerted: first poll of a new source" in first.stderr
    rules_matched = Store(ws.state / "watcher.db").conn.execute("SELECT rule FROM matches ORDER BY rule").fetchall()
    # matched and kept (person + two incident types of one item), just not alerted
    assert [r[0] for r in rules_matched] == ["incident:detention", "incident:extradition", "person:Bakhodir Karimov"]
    later = ("k2", "Баходир Каримов задержан", "Суд рассмотрит вопрос об экстрадиции.")
    ws.serve("/feed.xml", rss(later, KARIMOV, OTHER))
    second = ws.cli("poll", "--once")
    assert second.stdout.count("[watcher]") == 1 and "Баходир Каримов задержан" in second.stdout


def test_same_article_in_two_feeds_and_twice_in_one_feed_alerts_once(ws) -> None:
    twin = ("k1", "Bakhodir Karimov detained (updated)", "Different wording, same link.")
    a = ws.serve("/a.xml", rss(KARIMOV, KARIMOV))
    b = ws.serve("/b.xml", rss(twin))
    ws.write_feeds({"id": "a", "url": a, "backfill": "alert"}, {"id": "b", "url": b, "backfill": "alert"})
    ws.write_rules(PEOPLE)
    recorder = Recorder()
    reports, delivery = _cycle(_app(ws, recorder))
    assert delivery.sent == 1 and len(recorder.sent) == 1
    store = Store(ws.state / "watcher.db")
    assert store.count("items") == 1 and store.count("sightings") == 2
    assert store.item(1)["seen_count"] == 2
    ws.serve("/c.xml", rss(("other-key", KARIMOV[1], KARIMOV[2])))  # same text, another URL
    ws.write_feeds({"id": "a", "url": a}, {"id": "b", "url": b}, {"id": "c", "url": ws.server.url("/c.xml"), "backfill": "alert"})
    _cycle(_app(ws, recorder))
    assert len(recorder.sent) == 1 and Store(ws.state / "watcher.db").count("items") == 1


def test_unchanged_feed_is_answered_304_and_not_parsed(ws) -> None:
    url = ws.serve("/feed.xml", rss(KARIMOV))
    ws.write_feeds({"id": "news", "url": url})
    ws.cli("poll", "--once")
    recorder = Recorder()
    reports, _ = _cycle(_app(ws, recorder))
    assert reports[0].not_modified and reports[0].state == "ok"
    path, headers = ws.server.requests[-1]
    assert headers.get("if-none-match") == ws.server.routes["/feed.xml"].etag
    assert headers.get("if-modified-since")


def test_namesake_and_keyword_only_rules(ws) -> None:
    items = [
        ("n1", "President Islam Karimov spoke", "Karimov said relations are cold."),
        ("n2", "Three detained at a rally", "No watched person."),
        ("n3", "Extradition request filed", "No watched person, but extradition may alert alone."),
    ]
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(*items)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    recorder = Recorder()
    _cycle(_app(ws, recorder))
    assert [m.text.split("Title: ")[1].splitlines()[0] for m in recorder.sent] == ["Extradition request filed"]
    assert recorder.sent[0].urgent


def test_failed_delivery_stays_pending_and_is_retried_after_backoff(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    now = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    clock = [now]
    recorder = Recorder()
    recorder.fail_with = DeliveryError("service down")
    app = _app(ws, recorder, clock=lambda: clock[0])
    _, delivery = _cycle(app)
    assert delivery.deferred == 1 and recorder.sent == []
    store = Store(ws.state / "watcher.db")
    (row,) = store.conn.execute("SELECT status, attempts, next_attempt_at, last_error FROM alerts").fetchall()
    assert tuple(row) == ("pending", 1, "2026-11-02T12:00:30+00:00", "service down")
    recorder.fail_with = None
    app = _app(ws, recorder, clock=lambda: clock[0] + timedelta(seconds=10))
    assert asyncio.run(app.deliver()).sent == 0  # not due yet
    app = _app(ws, recorder, clock=lambda: clock[0] + timedelta(seconds=31))
    assert asyncio.run(app.deliver()).sent == 1 and len(recorder.sent) == 1
    assert asyncio.run(app.deliver()).sent == 0


def test_permanent_delivery_error_marks_failed_with_reason(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    recorder = Recorder()
    recorder.fail_with = DeliveryError("message refused", permanent=True)
    _, delivery = _cycle(_app(ws, recorder))
    assert delivery.failed == 1
    assert Store(ws.state / "watcher.db").alert_counts() == {"failed": 1}


def test_alert_interrupted_mid_send_is_resolved_once_on_restart(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    recorder = Recorder()
    app = _app(ws, recorder)

    async def poll_then_die() -> None:
        await app.poll(app.enabled())
        (row,) = app.store.due_alerts("recorder", app.clock())
        app.store.claim_alert(row["id"])  # the process dies here, after recording 'sending'
        await app.aclose()

    asyncio.run(poll_then_die())
    app = _app(ws, recorder)
    assert asyncio.run(app.deliver()).sent == 0  # a row in 'sending' is never picked up blindly
    assert asyncio.run(app.recover()) == 1
    assert asyncio.run(app.deliver()).sent == 1
    assert asyncio.run(app.recover()) == 0 and asyncio.run(app.deliver()).sent == 0
    assert len(recorder.sent) == 1


def test_atom_feed_from_find_case_law_is_stored(ws) -> None:
    ws.write_feeds({"id": "tna", "url": ws.serve("/atom.xml", feed_bytes("findcaselaw_uksc.xml"))})
    result = ws.cli("poll", "--once")
    assert "18 new item(s)" in result.stderr
    store = Store(ws.state / "watcher.db")
    titles = [r[0] for r in store.conn.execute("SELECT title FROM items")]
    assert len(titles) == 18 and all(titles)


def test_state_files_are_private(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV))})
    ws.cli("poll", "--once")
    assert stat.S_IMODE(os.stat(ws.state).st_mode) == 0o700
    for path in ws.state.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_prune_forgets_old_unmatched_items_and_keeps_matched_ones(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV, OTHER)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    ws.cli("poll", "--once")
    store = Store(ws.state / "watcher.db")
    assert store.prune(datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0  # nothing that old
    assert store.prune(datetime.now(timezone.utc) + timedelta(days=1)) == 1  # only the weather item
    titles = [r[0] for r in store.conn.execute("SELECT title FROM items")]
    assert titles == ["Bakhodir Karimov detained in Moscow"] and store.count("alerts") == 1
    assert store.count("sightings") == 1
