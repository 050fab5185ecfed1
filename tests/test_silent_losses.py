"""Silent losses found from outside (issue #11): each case on the real pipeline, on loopback.

A loss that says nothing is worse for monitors than a crash, so each test checks both that the
item is no longer lost and that whatever watcher did on purpose is said (health, log, output).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from test_hostile_sources import KARIMOV, T0, entry, feed, items, person_matches, poll_pair, row

from conftest import Workspace
from test_digest import smtp  # noqa: F401  (the aiosmtpd fixture)
from watcher.config import load_feeds
from watcher.http import Fetcher
from watcher.pipeline import Context, PollReport, poll_sources
from watcher.rules import load_rules
from watcher.sources import build_source
from watcher.store import Store

ALERT = {"backfill": "alert"}


def poll(ws: Workspace, source: dict[str, Any]) -> PollReport:
    """One poll of one source through the real pipeline (poll_pair adds a healthy neighbour)."""
    ws.write_feeds(source)
    sources = [build_source(s) for s in load_feeds(ws.feeds)]
    store = Store(ws.state / "watcher.db")

    async def go() -> list[PollReport]:
        async with Fetcher(clock=lambda: T0) as fetcher:
            ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules),
                          destinations=["console"], clock=lambda: T0)
            return await poll_sources(sources, ctx, respect_backoff=False)

    try:
        return asyncio.run(go())[0]
    finally:
        store.close()


def test_three_stories_under_one_guid_are_three_items_and_the_watched_one_alerts(
        ws: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    ws.write_rules(people=KARIMOV)
    guid = "https://odd.example.org/?p=1"
    body = feed(entry("Court hearing in Tashkent", link="https://odd.example.org/a", guid=guid),
                entry("Bakhodir Karimov detained in Istanbul", link="https://odd.example.org/b", guid=guid),
                entry("Weather", link="https://odd.example.org/c", guid=guid)).encode()
    with caplog.at_level(logging.WARNING, logger="watcher"):
        reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/guids", body), **ALERT})
    assert (reports["odd"].state, reports["odd"].new, reports["odd"].alerts) == ("ok", 3, 1)
    assert person_matches(ws, "odd")["Bakhodir Karimov detained in Istanbul"] == ["person:Bakhodir Karimov"]
    notice = row(ws, "odd")["notice"]
    assert "one guid to different stories" in notice and "2 this poll" in notice
    said = [r.getMessage() for r in caplog.records if "odd" in r.getMessage()]
    assert any("guid" in m for m in said), said
    assert not any("Karimov" in m for m in said)  # the watchlist never reaches the log


def test_a_new_story_under_an_old_guid_on_a_later_poll_is_stored_and_alerts(ws: Workspace) -> None:
    ws.write_rules(people=KARIMOV)
    guid = "tag:odd.example.org,2026:latest"
    first = feed(entry("Court hearing in Tashkent", link="https://odd.example.org/a", guid=guid)).encode()
    source = {"id": "odd", "url": ws.serve("/latest", first), **ALERT}
    report = poll(ws, source)
    assert (report.new, report.alerts) == (1, 0)
    ws.serve("/latest", feed(entry("Bakhodir Karimov detained in Istanbul", link="https://odd.example.org/b",
                                   guid=guid)).encode())
    report = poll(ws, source)
    assert (report.new, report.alerts) == (1, 1)
    assert "one guid to different stories (1 this poll)" in row(ws, "odd")["notice"]
    # and the same story polled again is neither stored nor alerted twice
    report = poll(ws, source)
    assert (report.new, report.alerts) == (0, 0)
    assert len(items(ws, "odd")) == 2


def test_an_edited_story_under_its_guid_and_link_is_not_a_new_story(ws: Workspace) -> None:
    guid, link = "https://odd.example.org/a", "https://odd.example.org/a"
    source = {"id": "odd", "url": ws.serve("/edit", feed(entry("Hearing", link=link, guid=guid)).encode())}
    assert poll(ws, source).new == 1
    ws.serve("/edit", feed(entry("Hearing (updated)", link=link, guid=guid)).encode())
    assert poll(ws, source).new == 0
    assert row(ws, "odd")["notice"] is None


def test_stories_sharing_one_link_are_told_apart_by_text(ws: Workspace) -> None:
    ws.write_rules(people=KARIMOV)
    home = "https://odd.example.org/"
    body = feed(entry("Court hearing in Tashkent", link=home),
                entry("Bakhodir Karimov detained in Istanbul", link=home),
                entry("Court hearing in Tashkent", link=home)).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/home", body), **ALERT})
    assert (reports["odd"].new, reports["odd"].alerts) == (2, 1)
    assert "share one link" in row(ws, "odd")["notice"]


# -- an emptied or truncated watchlist -----------------------------------------------------------

THREE = """\
people:
  - name: Bakhodir Karimov
    country: UZ
  - name: Dilshod Yusupov
    country: UZ
  - name: Zarina Nazarova
    country: TJ
"""


class AdminChat:
    """A Notifier that keeps what it was asked to send (the admin chat)."""

    name = "admin"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Any) -> None:
        self.sent.append(message.text)


def _holder(ws: Workspace, people: str) -> Any:
    from watcher.rules import RulesHolder

    ws.write_rules(people=people)
    return RulesHolder(ws.rules)


def _rewrite_people(ws: Workspace, text: str) -> None:
    path = ws.rules / "people.yaml"
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))  # seen as changed even within one clock tick


@pytest.mark.parametrize("emptied", ["", "people: []\n", "people:\n", "people:\n  - name: Bakhodir Karimov\n"],
                         ids=["empty_file", "empty_list", "null_list", "truncated_to_one"])
def test_a_reload_that_drops_every_or_most_people_is_refused_and_the_old_rules_stay(
        ws: Workspace, caplog: pytest.LogCaptureFixture, emptied: str) -> None:
    holder = _holder(ws, THREE)
    old = holder.rules
    _rewrite_people(ws, emptied)
    with caplog.at_level(logging.INFO, logger="watcher"):
        assert holder.refresh() is False
    assert holder.rules is old and len(holder.rules.people) == 3
    assert holder.last_error is not None and "stop watching" in str(holder.last_error)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "rules refused" in errors[0] and "3 people stay watched" in errors[0]
    assert "rules reloaded" not in caplog.text
    assert not any(w in caplog.text for w in ("Karimov", "Yusupov", "Nazarova"))
    assert holder.refresh() is False and not holder.changed()  # refused once, not on every poll


def test_removing_one_person_by_hand_is_accepted(ws: Workspace) -> None:
    holder = _holder(ws, THREE)
    _rewrite_people(ws, THREE.replace("  - name: Zarina Nazarova\n    country: TJ\n", ""))
    assert holder.refresh() is True and len(holder.rules.people) == 2


def test_unwatch_one_by_one_down_to_nobody_is_accepted(ws: Workspace) -> None:
    from watcher.rules import RulesEditor

    holder = _holder(ws, THREE)
    store = Store(ws.state / "watcher.db")
    try:
        editor = RulesEditor(ws.rules, store)
        for name in ("Zarina Nazarova", "Dilshod Yusupov", "Bakhodir Karimov"):
            editor.remove_person("telegram:1", name)
        assert holder.refresh() is True
        assert holder.rules.people == () and holder.last_error is None
    finally:
        store.close()


def test_the_admin_chat_hears_of_a_refused_reload_once_and_of_the_return(ws: Workspace) -> None:
    from watcher.delivery.rules_health import report_rules

    holder = _holder(ws, THREE)
    admin = AdminChat()
    store = Store(ws.state / "watcher.db")
    try:
        assert asyncio.run(report_rules(store, admin, holder, lambda: T0)) == 0  # all well: silence
        _rewrite_people(ws, "")
        holder.refresh()
        assert asyncio.run(report_rules(store, admin, holder, lambda: T0)) == 1
        assert asyncio.run(report_rules(store, admin, holder, lambda: T0)) == 0  # once per change
        assert "refused" in admin.sent[0] and "3 people" in admin.sent[0]
        _rewrite_people(ws, THREE)
        holder.refresh()
        assert asyncio.run(report_rules(store, admin, holder, lambda: T0)) == 1
        assert admin.sent[-1].startswith("✅")
    finally:
        store.close()


def test_an_empty_watchlist_at_start_is_a_loud_warning_in_the_log_and_the_admin_chat(
        ws: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    from watcher.app import App
    from watcher.config import Paths
    from watcher.delivery.rules_health import report_rules

    ws.write_rules(people="people: []\n")
    ws.write_feeds({"id": "odd", "url": ws.serve("/f", feed(entry("x", link="https://odd.example.org/x")).encode())})
    admin = AdminChat()
    with caplog.at_level(logging.WARNING, logger="watcher"):
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), notifiers={}, admin=admin)
    try:
        assert any("WATCHLIST IS EMPTY" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert asyncio.run(report_rules(app.store, admin, app.rules, lambda: T0)) == 1
        assert "watchlist is empty" in admin.sent[0]
    finally:
        asyncio.run(app.aclose())


# -- a digest sent early --------------------------------------------------------------------------


def test_a_digest_sent_before_the_send_time_does_not_close_the_day(ws: Workspace, smtp: Any) -> None:  # noqa: F811
    """`watcher digest --send` at 05:00 sends the day so far; an alert raised at 06:00 still
    reaches the day's own digest at 07:00, which covers the whole window."""
    from datetime import date, datetime, timezone

    from test_digest import _alerted_store, _service

    controller, sink = smtp
    day = date(2026, 12, 2)  # GMT: 07:00 London = 07:00 UTC
    store = _alerted_store(ws, datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc), title="Bakhodir Karimov: first story")
    now = [datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)]
    service = _service(store, controller.port, now)
    try:
        service.ensure_rows(now[0], day=day)
        early = asyncio.run(service.send(now[0], day=day))
        assert (early.early, early.sent, early.failed) == (1, 0, 0)
        assert len(sink.mails) == 1 and "so far" in sink.mails[0][2]["Subject"]
        row = dict(store.conn.execute("SELECT status, next_attempt_at FROM digests WHERE day = ?",
                                      (day.isoformat(),)).fetchone())
        assert row == {"status": "pending", "next_attempt_at": "2026-12-02T07:00:00+00:00"}
        # the scheduled sweep before the send time sends nothing
        now[0] = datetime(2026, 12, 2, 6, 30, tzinfo=timezone.utc)
        with store.transaction():
            store.conn.execute(
                "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, first_seen,"
                " last_seen) VALUES ('news', 'k2', 'https://news.example.org/k2', 'h2', 'Second story', '', ?, ?, ?)",
                (now[0].isoformat(), now[0].isoformat(), now[0].isoformat()))
            store.enqueue_alert(2, "console", urgent=False, now=now[0])
        assert asyncio.run(service.run(now[0])).sent == 0 and len(sink.mails) == 1
        now[0] = datetime(2026, 12, 2, 7, 1, tzinfo=timezone.utc)
        assert asyncio.run(service.run(now[0])).sent == 1
        full = sink.mails[1][2]
        assert "so far" not in full["Subject"] and "2 incidents" in full["Subject"]
    finally:
        store.close()


# -- poll --once and the slowest source ---------------------------------------------------------


class _Held(BaseHTTPRequestHandler):
    """A source that answers only once released (or after 20 s): the slowloris of the battery."""

    release: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).release.wait(20)
        body = feed(entry("Late story", link="https://slow.example.org/1")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_poll_once_delivers_each_source_s_alerts_without_waiting_for_the_slowest(ws: Workspace) -> None:
    from watcher.app import App
    from watcher.config import Paths

    release = threading.Event()
    handler = type("Held", (_Held,), {"release": release})
    slow = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    sent_while_held: list[bool] = []

    class Recorder:
        name = "console"
        unknown_outcome = "resend"

        async def send(self, message: Any) -> None:
            sent_while_held.append(not release.is_set())
            release.set()  # the alert is out: now let the slow source answer

    ws.write_rules(people=KARIMOV)
    ws.write_feeds({"id": "fast", "backfill": "alert",
                    "url": ws.serve("/fast", feed(entry("Bakhodir Karimov detained", link="https://f.example.org/1"))
                                    .encode())},
                   {"id": "slow", "url": f"http://127.0.0.1:{slow.server_address[1]}/feed"})
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), notifiers={"console": Recorder()})

    async def go() -> tuple[list[PollReport], Any]:
        try:
            return await app.poll_and_deliver(app.enabled(), respect_backoff=False)
        finally:
            await app.aclose()

    try:
        reports, delivery = asyncio.run(go())
    finally:
        release.set()
        slow.shutdown()
        slow.server_close()
    assert sent_while_held == [True]  # delivered while the slow source was still answering
    assert delivery.sent == 1
    assert {r.source_id: r.state for r in reports} == {"fast": "ok", "slow": "ok"}


def test_a_server_that_answers_304_without_ever_sending_the_feed_is_failing(ws: Workspace) -> None:
    url = ws.serve("/never", b"", status=304, conditional=False)
    reports = poll_pair(ws, {"id": "bad", "url": url})
    assert reports["bad"].state == "failing"
    saved = row(ws, "bad")
    assert saved["state"] == "failing" and "304" in saved["last_error"] and "never sent" in saved["last_error"]
    assert saved["first_ok"] is None


def test_a_304_after_the_feed_was_sent_is_still_ok(ws: Workspace) -> None:
    source = {"id": "odd", "url": ws.serve("/f", feed(entry("x", link="https://odd.example.org/x")).encode())}
    assert poll(ws, source).state == "ok"
    again = poll(ws, source)
    assert (again.state, again.not_modified) == ("ok", True)


def test_a_feed_whose_text_is_still_mojibake_is_marked_in_the_source_s_health(ws: Workspace) -> None:
    """Double-encoded text (UTF-8 read as cp1252 upstream, then sent as valid UTF-8) cannot be
    repaired by decoding: the source carries a notice, so nobody trusts its silence."""
    garbled = "Баходир Каримов задержан в Стамбуле".encode("utf-8").decode("cp1252", errors="replace")
    body = feed(entry(garbled, link="https://odd.example.org/1"), entry("Plain news", link="https://odd.example.org/2"))
    report = poll(ws, {"id": "odd", "url": ws.serve("/garbled", body.encode("utf-8"))})
    assert report.state == "ok"
    assert "garbled" in row(ws, "odd")["notice"] and "1 item(s)" in row(ws, "odd")["notice"]
