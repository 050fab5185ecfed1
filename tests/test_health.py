"""Source health through the whole pipeline: fetch -> parse -> store, with a real loopback server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any


from conftest import Workspace, feed_bytes, rss
from watcher.config import load_feeds
from watcher.http import Fetcher
from watcher.pipeline import Context, PollReport, poll_sources
from watcher.rules import load_rules
from watcher.sources import build_source
from watcher.store import Store, parse_iso

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)  # the day after the items of rss()
GOOD = rss(("a", "Alpha court hears extradition request", "x"), ("b", "Beta", "y"))


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def poll(ws: Workspace, clock: Clock, *, respect_backoff: bool = False, **fetcher_options: Any) -> dict[str, PollReport]:
    """One poll of every source in ws.feeds, into the database `watcher sources` reads."""
    sources = [build_source(s) for s in load_feeds(ws.feeds)]
    store = Store(ws.state / "watcher.db")

    async def go() -> list[PollReport]:
        async with Fetcher(allow_private=True, clock=clock, **fetcher_options) as fetcher:
            ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules),
                          destinations=["console"], clock=clock)
            return await poll_sources(sources, ctx, respect_backoff=respect_backoff)

    try:
        return {r.source_id: r for r in asyncio.run(go())}
    finally:
        store.close()


def row(ws: Workspace, source_id: str) -> dict[str, Any]:
    store = Store(ws.state / "watcher.db")
    try:
        found = store.source(source_id)
        assert found is not None
        return found
    finally:
        store.close()


def counts(ws: Workspace) -> dict[str, int]:
    store = Store(ws.state / "watcher.db")
    try:
        return {t: store.count(t) for t in ("items", "alerts")}
    finally:
        store.close()


def one_source(ws: Workspace, path: str, body: bytes, **route: Any) -> None:
    ws.write_feeds({"id": "src", "url": ws.serve(path, body, **route)})


# -- one test per state ------------------------------------------------------------------------


def test_valid_rss_is_ok(ws: Workspace) -> None:
    one_source(ws, "/feed", GOOD)
    report = poll(ws, Clock())["src"]
    assert (report.state, report.error, report.new) == ("ok", None, 2)
    state = row(ws, "src")
    assert state["state"] == "ok"
    assert state["consecutive_failures"] == 0
    assert state["last_ok"] == T0.isoformat()
    assert state["next_poll_after"] is None
    assert state["etag"] == ws.server.routes["/feed"].etag


def test_recorded_atom_feed_is_ok(ws: Workspace) -> None:
    one_source(ws, "/uksc.xml", feed_bytes("findcaselaw_uksc.xml"), content_type="application/atom+xml")
    report = poll(ws, Clock())["src"]
    assert report.state == "ok"
    assert report.new == 18


def test_http_500_is_failing(ws: Workspace) -> None:
    one_source(ws, "/feed", b"upstream exploded", status=500)
    report = poll(ws, Clock())["src"]
    assert report.state == "failing"
    state = row(ws, "src")
    assert state["state"] == "failing"
    assert "HTTP 500" in state["last_error"]
    assert state["last_ok"] is None


def test_timeout_is_failing(ws: Workspace) -> None:
    one_source(ws, "/feed", GOOD, delay=2.0)
    report = poll(ws, Clock(), timeout=0.5, total_timeout=1.0)["src"]
    assert report.state == "failing"
    assert "timed out" in row(ws, "src")["last_error"]


def test_403_block_page_is_blocked(ws: Workspace) -> None:
    one_source(ws, "/sudrf", feed_bytes("sudrf_block_page.html"), status=403, content_type="text/html; charset=utf-8")
    report = poll(ws, Clock())["src"]
    assert report.state == "blocked"
    state = row(ws, "src")
    assert state["state"] == "blocked"
    assert "HTTP 403" in state["last_error"]


def test_block_page_served_with_200_is_blocked(ws: Workspace) -> None:
    one_source(ws, "/sudrf", feed_bytes("sudrf_block_page.html"), content_type="text/html; charset=utf-8")
    report = poll(ws, Clock())["src"]
    assert report.state == "blocked"
    error = row(ws, "src")["last_error"]
    assert "HTML page" in error
    assert "Правосудие" in error  # the page's title, so a monitor can tell which wall it hit


def test_empty_200_is_zombie(ws: Workspace) -> None:
    one_source(ws, "/dead", b"")
    report = poll(ws, Clock())["src"]
    assert report.state == "zombie"
    assert "empty body" in row(ws, "src")["last_error"]


def test_whitespace_only_200_is_zombie(ws: Workspace) -> None:
    one_source(ws, "/dead", b"\n\n  \r\n")
    assert poll(ws, Clock())["src"].state == "zombie"


def test_channel_without_items_is_zombie(ws: Workspace) -> None:
    one_source(ws, "/dead", rss())
    report = poll(ws, Clock())["src"]
    assert report.state == "zombie"
    assert "no items" in row(ws, "src")["last_error"]


def test_malformed_xml_is_failing(ws: Workspace) -> None:
    one_source(ws, "/broken", b"<<< this is not > xml at all &&&")
    report = poll(ws, Clock())["src"]
    assert report.state == "failing"
    assert "not a readable feed" in row(ws, "src")["last_error"]


def test_truncated_rss_is_failing_not_zombie(ws: Workspace) -> None:
    one_source(ws, "/cut", GOOD[:150])
    assert poll(ws, Clock())["src"].state == "failing"


def test_entity_declaration_is_failing(ws: Workspace) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>' + GOOD.split(b"?>", 1)[1]
    one_source(ws, "/bomb", bomb)
    report = poll(ws, Clock())["src"]
    assert report.state == "failing"
    assert "entities" in row(ws, "src")["last_error"]


def test_body_over_size_cap_is_failing(ws: Workspace) -> None:
    one_source(ws, "/huge", rss(*[(f"k{i}", f"Title {i}", "z" * 200) for i in range(50)]))
    report = poll(ws, Clock(), max_bytes=2_000)["src"]
    assert report.state == "failing"
    assert "cap" in row(ws, "src")["last_error"]
    assert counts(ws)["items"] == 0


def test_no_new_items_past_quiet_after_is_quiet_on_304(ws: Workspace) -> None:
    ws.write_feeds({"id": "src", "url": ws.serve("/feed", GOOD), "quiet_after": "1h"})
    clock = Clock()
    assert poll(ws, clock)["src"].state == "ok"
    clock.advance(minutes=30)
    assert poll(ws, clock)["src"].state == "ok"
    clock.advance(hours=2)
    report = poll(ws, clock)["src"]
    assert report.not_modified  # the server answered 304
    assert report.state == "quiet"
    assert row(ws, "src")["state"] == "quiet"


def test_same_items_past_quiet_after_is_quiet_on_full_body(ws: Workspace) -> None:
    ws.write_feeds({"id": "src", "url": ws.serve("/feed", GOOD, conditional=False), "quiet_after": "1h"})
    clock = Clock()
    assert poll(ws, clock)["src"].state == "ok"
    clock.advance(hours=2)
    report = poll(ws, clock)["src"]
    assert not report.not_modified
    assert (report.state, report.new) == ("quiet", 0)
    assert row(ws, "src")["last_new_item"] == T0.isoformat()


def test_quiet_source_with_a_new_item_is_ok_again(ws: Workspace) -> None:
    ws.write_feeds({"id": "src", "url": ws.serve("/feed", GOOD), "quiet_after": "1h"})
    clock = Clock()
    poll(ws, clock)
    clock.advance(hours=2)
    assert poll(ws, clock)["src"].state == "quiet"
    ws.serve("/feed", rss(("c", "Gamma", "new"), ("a", "Alpha court hears extradition request", "x")))
    clock.advance(minutes=15)
    report = poll(ws, clock)["src"]
    assert (report.state, report.new) == ("ok", 1)


# -- isolation, backoff, recovery --------------------------------------------------------------


def test_failing_source_does_not_affect_healthy_one(ws: Workspace) -> None:
    ws.write_feeds(
        {"id": "bad", "url": ws.serve("/bad", b"oops", status=500)},
        {"id": "good", "url": ws.serve("/good", GOOD), "backfill": "alert"},
    )
    clock = Clock()
    reports = poll(ws, clock)
    assert (reports["good"].state, reports["good"].new, reports["good"].alerts) == ("ok", 2, 1)
    assert counts(ws) == {"items": 2, "alerts": 1}
    assert row(ws, "good")["state"] == "ok"
    bad = row(ws, "bad")
    assert bad["state"] == "failing"
    assert bad["consecutive_failures"] == 1
    assert "HTTP 500" in bad["last_error"]
    assert bad["last_error_at"] == T0.isoformat()
    assert parse_iso(bad["next_poll_after"]) == T0 + timedelta(minutes=15)  # `every: 15m`, first failure


def test_second_failure_doubles_backoff(ws: Workspace) -> None:
    one_source(ws, "/bad", b"oops", status=500)
    clock = Clock()
    poll(ws, clock)
    clock.advance(minutes=20)
    poll(ws, clock, respect_backoff=True)
    state = row(ws, "src")
    assert state["consecutive_failures"] == 2
    assert parse_iso(state["next_poll_after"]) == clock.now + timedelta(minutes=30)
    assert state["state_since"] == T0.isoformat()  # still the same failing spell


def test_failing_source_is_skipped_until_backoff_expires(ws: Workspace) -> None:
    one_source(ws, "/bad", b"oops", status=500)
    clock = Clock()
    poll(ws, clock)
    clock.advance(minutes=5)
    report = poll(ws, clock, respect_backoff=True)["src"]
    assert report.skipped
    assert ws.server.routes["/bad"].hits == 1
    assert row(ws, "src")["consecutive_failures"] == 1


def test_retry_after_longer_than_backoff_wins(ws: Workspace) -> None:
    one_source(ws, "/limited", b"", status=429, headers={"Retry-After": "7200"})
    poll(ws, Clock())
    state = row(ws, "src")
    assert state["state"] == "blocked"
    assert parse_iso(state["next_poll_after"]) == T0 + timedelta(hours=2)


def test_success_after_failure_returns_to_ok(ws: Workspace) -> None:
    one_source(ws, "/flaky", b"oops", status=500)
    clock = Clock()
    poll(ws, clock)
    clock.advance(minutes=20)
    poll(ws, clock)
    assert row(ws, "src")["consecutive_failures"] == 2
    ws.serve("/flaky", GOOD)
    clock.advance(minutes=40)
    report = poll(ws, clock, respect_backoff=True)["src"]
    assert (report.state, report.new) == ("ok", 2)
    state = row(ws, "src")
    assert state["state"] == "ok"
    assert state["consecutive_failures"] == 0
    assert state["next_poll_after"] is None
    assert state["state_since"] == clock.now.isoformat()


# -- through the command line ------------------------------------------------------------------


def test_cli_sources_shows_health_and_last_error(ws: Workspace) -> None:
    ws.write_feeds(
        {"id": "bad", "url": ws.serve("/bad", b"upstream exploded", status=500)},
        {"id": "blocked", "url": ws.serve("/sudrf", feed_bytes("sudrf_block_page.html"), content_type="text/html")},
        {"id": "good", "url": ws.serve("/good", GOOD)},
    )
    polled = ws.cli("poll", "--once")
    assert polled.exit_code == 0, polled.output
    assert "2 source(s) unhealthy" in polled.stderr

    shown = ws.cli("sources")
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line for line in shown.output.splitlines()[1:]}
    assert lines["bad"].split()[2] == "failing"
    assert "HTTP 500" in lines["bad"]
    assert "upstream exploded" in lines["bad"]
    assert lines["blocked"].split()[2] == "blocked"
    assert "HTML page" in lines["blocked"]
    assert lines["good"].split()[2] == "ok"
    assert "HTTP" not in lines["good"]
