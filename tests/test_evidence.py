"""The evidence archive: the pages of alerted incidents kept as fetched, from a loopback article
server (constructed pages) and a loopback Internet Archive double; faults never delay an alert
and are retried."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import cli
from watcher.demo.replay import ReplayServer, Route
from watcher.evidence import ArchiveSettings, collect_evidence
from watcher.http import Fetcher
from watcher.models import Item
from watcher.sources.rss import Settings as RssSettings
from watcher.store import Store

SENTENCE = "Police in Moscow detained the Uzbek blogger Bakhodir Karimov at the migration office on Monday."
ARTICLE = ("<html><head><title>Blogger detained</title></head><body><nav>Home | News</nav><article>"
           "<h1>Uzbek blogger detained in Moscow</h1>"
           + "".join(f"<p>{SENTENCE} Paragraph {i} of the report gives more detail about the case.</p>"
                     for i in range(6))
           + "</article><footer>© outlet</footer></body></html>").encode()
BLOCK = b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _feed(link: str) -> bytes:
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x/</link>'
            "<description>t</description><item><title>Bakhodir Karimov detained in Moscow</title>"
            f"<link>{link}</link><guid>g1</guid><description>The Uzbek blogger was detained.</description>"
            "<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>").encode()


def _verify(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for report in manifest["reports"]:
        for file in report["files"]:
            assert hashlib.sha256((folder / file["name"]).read_bytes()).hexdigest() == file["sha256"]
    return manifest


def test_an_alerted_incident_keeps_its_page_and_the_bundle_verifies(ws, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WATCHER_EVIDENCE", "1")
    link = ws.serve("/article/1", ARTICLE, content_type="text/html; charset=utf-8")
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed(link)), "backfill": "alert"})
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    assert "[watcher]" in ws.cli("poll", "--once").stdout
    store = Store(ws.state / "watcher.db")
    (page,) = store.evidence_of(1)
    assert page["status"] == "done" and page["content"] == ARTICLE  # stored compressed, returned as served
    assert page["sha256"] == hashlib.sha256(ARTICLE).hexdigest() and SENTENCE in page["text"]
    assert "Home | News" not in page["text"]  # the main text, not the page's furniture
    listed = json.loads(ws.cli("incidents", "--json").stdout)
    assert listed[0]["items"][0]["evidence"] == "done"
    out = tmp_path / "bundle"
    result = ws.cli("evidence", str(listed[0]["id"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = _verify(out)
    (report,) = manifest["reports"]
    assert report["final_url"] == link and report["http_status"] == 200 and len(report["files"]) == 2
    assert manifest["incident"]["people"] == ["Bakhodir Karimov"]
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in out.iterdir())


def test_evidence_command_help_and_unknown_target(ws, tmp_path) -> None:
    assert "INCIDENT_OR_ITEM" in CliRunner().invoke(cli, ["evidence", "--help"]).output
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed("http://x/a")), "backfill": "alert"})
    ws.cli("poll", "--once")
    for target in ("99", "item:99", "nonsense"):
        result = CliRunner().invoke(cli, ["--state", str(ws.state), "evidence", target, "--out", str(tmp_path / "b")])
        assert result.exit_code != 0 and "Traceback" not in result.output and "Error" in result.output


def _store_with_page(tmp: Path, url: str, *, archive: bool = False) -> Store:
    store = Store(tmp / "watcher.db")
    item = Item("news", "k1", "Karimov detained", "", url, NOW, content_hash="h1")
    with store.transaction():
        (new,), _, _ = store.add_items([item], NOW)
        store.want_evidence(new.id, url, "news", NOW, archive=archive)
    return store


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("fault", ["down", "slow", "huge", "block", "http500"])
def test_a_page_that_cannot_be_kept_is_retried_with_backoff_then_kept(tmp_path: Path, fault: str) -> None:
    clock = Clock()
    settings = {"news": RssSettings(id="news", type="rss", url="http://127.0.0.1/f", allow_private=True)}
    with ReplayServer() as server:
        good = Route(body=ARTICLE, content_type="text/html")
        bad = {"slow": Route(body=ARTICLE, content_type="text/html", delay=2.0),
               "huge": Route(body=ARTICLE * 50, content_type="text/html"),
               "block": Route(body=BLOCK, content_type="text/html", status=200),
               "http500": Route(body=b"oops", status=500, content_type="text/html")}.get(fault)
        server.routes["/a"] = bad or good
        url = f"http://127.0.0.1:{_closed_port()}/a" if fault == "down" else server.url("/a")
        store = _store_with_page(tmp_path, url)

        async def run() -> None:
            fetcher = Fetcher(timeout=0.5, total_timeout=1.0, max_bytes=len(ARTICLE) * 10, clock=clock,
                              allow_private=True)
            try:
                report = await collect_evidence(store, fetcher, settings.get, clock)
                assert report.retried == 1 and report.kept == 0
                (row,) = store.evidence_of(1)
                assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
                assert datetime.fromisoformat(row["next_attempt_at"]) > clock.now
                assert (await collect_evidence(store, fetcher, settings.get, clock)).retried == 0  # not due yet
                server.routes["/a"] = good
                clock.now += timedelta(minutes=11)
                if fault == "down":
                    store.conn.execute("UPDATE evidence SET url = ?", (server.url("/a"),))
                assert (await collect_evidence(store, fetcher, settings.get, clock)).kept == 1
            finally:
                await fetcher.aclose()

        asyncio.run(run())
        (row,) = store.evidence_of(1)
        assert row["status"] == "done" and row["content"] == ARTICLE and row["attempts"] == 2


def test_a_fetch_interrupted_by_a_crash_is_fetched_again(tmp_path: Path) -> None:
    store = _store_with_page(tmp_path, "http://127.0.0.1:1/a")
    with store.transaction():
        assert store.claim_evidence(1)
    with store.transaction():
        assert store.recover_evidence() == 1
    assert store.due_evidence(NOW)[0]["status"] == "pending"


def test_the_internet_archive_is_asked_only_when_switched_on(tmp_path: Path) -> None:
    assert ArchiveSettings.from_env({}) is None
    clock = Clock()
    with ReplayServer() as server:
        server.routes["/a"] = Route(body=ARTICLE, content_type="text/html")
        save = Route(body=b"<html>saved</html>", content_type="text/html",
                     headers={"Content-Location": "/web/20261102120000/http://127.0.0.1/a"})
        server.routes["/save/" + server.url("/a")] = save
        archive = ArchiveSettings.from_env({"WATCHER_ARCHIVE_SAVE": "1", "WATCHER_ARCHIVE_API": server.url("")})
        assert archive is not None
        store = _store_with_page(tmp_path, server.url("/a"), archive=True)
        settings = {"news": RssSettings(id="news", type="rss", url="http://127.0.0.1/f", allow_private=True)}

        async def run() -> None:
            fetcher = Fetcher(clock=clock, allow_private=True)
            try:
                assert (await collect_evidence(store, fetcher, settings.get, clock, archive=archive)).kept == 2
            finally:
                await fetcher.aclose()

        asyncio.run(run())
    rows = {r["kind"]: r for r in store.evidence_of(1)}
    assert rows["archive"]["archive_url"].endswith("/web/20261102120000/http://127.0.0.1/a")
    assert save.hits == 1
