"""The parse pool (watcher/workers.py): a worker's items, analyses and errors are the in-process
ones, a dead worker costs no poll, rules reloads reach the workers, and the pool stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import rss

from watcher.app import App
from watcher.config import Paths
from watcher.errors import EmptyFeed, ParseFailed, SourceBlocked, SourceError
from watcher.matching import matcher_for
from watcher.models import Item, Response
from watcher.rules import load_rules
from watcher.sources.rss import RssSource, Settings
from watcher.store import Store
from watcher.workers import ParsePool, Parsed, parse_here

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
STORIES = [
    ("k1", "Bakhodir Karimov detained in Moscow", "The Uzbek exile faces extradition to Tashkent."),
    ("k2", "Журналист задержан в Ташкенте", "Суд рассмотрит вопрос об экстрадиции."),
    ("k3", "Weather in Tashkent", "Sunny."),
]
PEOPLE = """\
people:
  - name: Bakhodir Karimov
    aliases: [Баходир Каримов]
"""


def _source(source_id: str = "news") -> RssSource:
    return RssSource(Settings(id=source_id, type="rss", url="https://news.example.org/feed.xml"))


def _response(body: bytes) -> Response:
    return Response("https://news.example.org/feed.xml", 200, {"content-type": "application/rss+xml"}, body, NOW)


class CrashingSource(RssSource):
    """Dies the way a crash in a C parser kills a worker, but only in a worker process."""

    def parse(self, response: Response) -> list[Item]:
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        return super().parse(response)


def _pool(**kwargs) -> ParsePool:
    return ParsePool(1, min_polls=0, min_bytes=0, **kwargs)


def _run(coro):
    return asyncio.run(coro)


def test_what_crosses_to_a_worker_pickles_whole() -> None:
    blocked = pickle.loads(pickle.dumps(SourceBlocked("HTTP 429: rate limited", retry_after=30.0, status=429)))
    assert (type(blocked), str(blocked), blocked.retry_after, blocked.status, blocked.health) == \
        (SourceBlocked, "HTTP 429: rate limited", 30.0, 429, "blocked")
    source = pickle.loads(pickle.dumps(_source()))
    assert source.settings == _source().settings
    response = _response(rss(*STORIES))
    assert pickle.loads(pickle.dumps(response)) == response
    items = parse_here(_source(), [response]).items
    assert pickle.loads(pickle.dumps(items)) == items


def test_a_worker_parses_and_matches_exactly_as_in_process() -> None:
    rules = load_rules(ROOT / "rules")
    body = rss(*STORIES)
    pool = _pool()

    async def go() -> Parsed:
        try:
            return await pool.parse(_source(), [_response(body)], rules, match=True)
        finally:
            await pool.close()

    parsed = _run(go())
    assert pool.sent == 1
    here = parse_here(_source(), [_response(body)])
    assert parsed.items == here.items
    matcher = matcher_for(rules)
    for item in here.items:
        assert parsed.analysis(item.text(), rules) == matcher.analyse(item.text())
    assert any(parsed.analysis(i.text(), rules).incident_types for i in here.items)
    # analyses made with other rules (a reload while the worker matched) are never used for filing
    assert parsed.analysis(here.items[0].text(), load_rules(ROOT / "rules")) is None


@pytest.mark.parametrize("body, error", [
    (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>challenge</body></html>",
     SourceBlocked),
    (b"", EmptyFeed),
    (b"<rss><channel><title>x</title></channel></rss>", EmptyFeed),
    (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaa'>]><rss>&a;</rss>", ParseFailed),
])
def test_a_workers_parse_error_is_the_in_process_error(body: bytes, error: type[SourceError]) -> None:
    with pytest.raises(SourceError) as here:
        parse_here(_source(), [_response(body)])
    pool = _pool()
    rules = load_rules(ROOT / "rules")

    async def go() -> None:
        try:
            await pool.parse(_source(), [_response(body)], rules, match=True)
        finally:
            await pool.close()

    with pytest.raises(SourceError) as there:
        _run(go())
    assert type(there.value) is type(here.value) and issubclass(type(here.value), error)
    assert (str(there.value), there.value.health, there.value.status, there.value.retry_after) == \
        (str(here.value), here.value.health, here.value.status, here.value.retry_after)


def test_a_dead_worker_costs_no_poll_and_the_pool_rests(caplog: pytest.LogCaptureFixture) -> None:
    rules = load_rules(ROOT / "rules")
    body = rss(*STORIES)
    pool = _pool()

    async def go() -> tuple[Parsed, Parsed]:
        try:
            first = await pool.parse(CrashingSource(_source().settings), [_response(body)], rules, match=True)
            second = await pool.parse(_source(), [_response(body)], rules, match=True)
            return first, second
        finally:
            await pool.close()

    with caplog.at_level(logging.WARNING, logger="watcher.workers"):
        first, second = _run(go())
    assert first.items == parse_here(_source(), [_response(body)]).items  # parsed again in-process
    assert second.items == first.items and pool.sent == 0  # resting: in-process, no second crash
    assert first.analyses == {}  # matched in the pipeline instead
    assert "a parse worker process died" in caplog.text and "parsing in-process" in caplog.text


def test_new_rules_start_new_workers_and_close_stops_them() -> None:
    body = rss(*STORIES)
    pool = _pool()
    old, new = load_rules(ROOT / "rules"), load_rules(ROOT / "rules")

    async def go() -> tuple[list[int], list[int], Parsed]:
        try:
            await pool.parse(_source(), [_response(body)], old, match=True)
            before = pool.pids()
            parsed = await pool.parse(_source(), [_response(body)], new, match=True)
            return before, pool.pids(), parsed
        finally:
            await pool.close()

    before, after, parsed = _run(go())
    assert before and after and set(before).isdisjoint(after)
    assert parsed.rules is new and parsed.analysis(parsed.items[0].text(), new) is not None
    assert pool.pids() == []
    for pid in before + after:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_lone_poll_or_a_small_body_parses_in_process() -> None:
    pool = ParsePool(1, min_polls=4, min_bytes=1024)
    small, big = _response(b"x" * 100), _response(b"x" * 4096)
    assert not pool.worth_it([big])  # no other poll in flight
    with pool.polling(), pool.polling(), pool.polling(), pool.polling():
        assert pool.worth_it([big]) and not pool.worth_it([small])
    assert not ParsePool(0, min_polls=0, min_bytes=0).worth_it([big])  # one core: never


def _cycle_rows(ws, workers: int) -> tuple[list, list, list, list]:
    ws.write_rules(PEOPLE)
    ws.write_feeds(*[{"id": f"feed{i}", "backfill": "alert",
                      "url": ws.serve(f"/feed{i}.xml", rss(*[(f"{k}-{i}", t, x) for k, t, x in STORIES]))}
                     for i in range(6)])
    state = ws.root / f"state{workers}"
    app = App.build(Paths(ws.feeds, ws.rules, state), notifiers={"console": _Quiet()})
    app.parse_pool = ParsePool(workers, min_polls=0, min_bytes=0)
    app._context = None

    async def go() -> int:
        try:
            await app.poll(app.enabled(), respect_backoff=False)
            return app.parse_pool.sent
        finally:
            await app.aclose()

    sent = _run(go())
    assert (sent > 0) == bool(workers)  # with a worker: some through it (the rest here, while it is busy)
    store = Store(state / "watcher.db")
    try:
        q = store.conn.execute
        return (q("SELECT s.source_id, s.key, i.title FROM sightings s JOIN items i ON i.id = s.item_id"
                  " ORDER BY 1, 2").fetchall(),
                q("SELECT i.title, m.rule FROM matches m JOIN items i ON i.id = m.item_id ORDER BY 1, 2").fetchall(),
                q("SELECT id, state, last_error FROM sources ORDER BY id").fetchall(),
                q("SELECT destination, status FROM alerts ORDER BY id").fetchall())
    finally:
        store.close()


class _Quiet:
    name = "console"
    unknown_outcome = "resend"

    async def send(self, message) -> str | None:
        return None


def test_a_cycle_through_the_pool_stores_what_an_in_process_cycle_stores(ws) -> None:
    here = _cycle_rows(ws, 0)
    pooled = _cycle_rows(ws, 1)
    assert here == pooled
    assert len(here[0]) == 18 and here[1] and here[3] and all(state == "ok" for _, state, _ in here[2])
