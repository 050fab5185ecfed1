"""The evidence archive: the pages of alerted incidents kept as fetched, from a loopback article
server (constructed pages) and a loopback Internet Archive emulator; faults never delay an alert,
are recorded and retried (time driven by an injected clock), and the bundle's hashes verify."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import free_port
from watcher.cli import cli
from watcher.demo.replay import ReplayServer, Route
from watcher.errors import ConfigError
from watcher.evidence import (
    ArchiveSettings,
    BundleError,
    collect_evidence,
    write_bundle,
)
from watcher.evidence.collect import MAX_ATTEMPTS, backoff
from watcher.evidence.page import block_reason, main_text
from watcher.http import Fetcher
from watcher.models import Item, Response
from watcher.sources.rss import Settings as RssSettings
from watcher.store import Store

SENTENCE = "Police in Moscow detained the Uzbek blogger Bakhodir Karimov at the migration office on Monday."
ARTICLE = ("<html><head><title>Blogger detained</title></head><body><nav>Home | News</nav><article>"
           "<h1>Uzbek blogger detained in Moscow</h1>"
           + "".join(f"<p>{SENTENCE} Paragraph {i} of the report gives more detail about the case.</p>"
                     for i in range(6))
           + "</article><footer>© outlet</footer></body></html>").encode()
BLOCK = b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"
CAPTCHA = (b"<html><head><title>news.example.org</title></head><body><div class='g-recaptcha' data-sitekey='x'>"
           b"</div><p>Please confirm you are not a robot.</p></body></html>")
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LOCAL = {"news": RssSettings(id="news", type="rss", url="http://127.0.0.1/f", allow_private=True)}


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
    """Recompute every hash the bundle claims: per file in the manifest, and SHA256SUMS."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for report in manifest["reports"]:
        for file in report["files"]:
            assert hashlib.sha256((folder / file["name"]).read_bytes()).hexdigest() == file["sha256"]
    sums = (folder / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    assert {line.split("  ", 1)[1] for line in sums} == {p.name for p in folder.iterdir()} - {"SHA256SUMS"}
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    return manifest


def _private(folder: Path) -> None:
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())


def _store_with_page(tmp: Path, url: str, *, archive: bool = False, incident: bool = False) -> Store:
    store = Store(tmp / "watcher.db")
    item = Item("news", "k1", "Karimov detained", "", url, NOW, content_hash="h1")
    with store.transaction():
        (new,), _, _ = store.add_items([item], NOW)
        if incident:
            number = store.create_incident(title="Karimov detained", people=["Bakhodir Karimov"],
                                           incident_types=["detention"], origin=["UZ"], host=["RU"], keys={},
                                           reported=NOW, now=NOW)
            store.add_report(number, new.id, source_id="news", reported=NOW, reason="first report", score=None,
                             now=NOW)
        store.want_evidence(new.id, url, "news", NOW, archive=archive)
    return store


def _fresh(tmp: Path, name: str) -> Path:
    """A second database's folder in the same test."""
    (tmp / name).mkdir()
    return tmp / name


def _collect(store: Store, clock: Clock, *, settings: dict[str, Any] | None = None,
             fetcher: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
    """One run of the evidence job, in its own event loop, with a fetcher made for it: by
    default one that may reach loopback, with short deadlines and a small size cap."""
    async def run() -> Any:
        own = fetcher() if fetcher is not None else Fetcher(
            timeout=0.5, total_timeout=1.0, max_bytes=len(ARTICLE) * 10, clock=clock, allow_private=True)
        try:
            return await collect_evidence(store, own, (settings if settings is not None else LOCAL).get, clock,
                                          **kwargs)
        finally:
            if hasattr(own, "aclose"):
                await own.aclose()

    return asyncio.run(run())


def _stream_without_length(request: BaseHTTPRequestHandler) -> None:
    """A huge page whose size no header announces: the cap must stop it while reading."""
    request.send_response(200)
    request.send_header("Content-Type", "text/html")
    request.send_header("Connection", "close")
    request.end_headers()
    try:
        for _ in range(40):
            request.wfile.write(ARTICLE)
    except (BrokenPipeError, ConnectionResetError):
        pass
    request.close_connection = True


# -- end to end: poll, alert, keep, bundle ------------------------------------------------------


def test_an_alerted_incident_keeps_its_page_and_the_bundle_verifies(ws, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WATCHER_EVIDENCE", "1")
    link = ws.serve("/article/1", ARTICLE, content_type="text/html; charset=utf-8")
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed(link)), "backfill": "alert"})
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    assert "[watcher]" in ws.cli("poll", "--once").stdout
    store = Store(ws.state / "watcher.db")
    raw = store.conn.execute("SELECT content, size FROM evidence WHERE item_id = 1").fetchone()
    assert gzip.decompress(raw["content"]) == ARTICLE and raw["size"] == len(ARTICLE)  # kept compressed
    (page,) = store.evidence_of(1)
    assert page["status"] == "done" and page["content"] == ARTICLE and page["attempts"] == 1
    assert page["sha256"] == hashlib.sha256(ARTICLE).hexdigest() and SENTENCE in page["text"]
    assert "Home | News" not in page["text"]  # the main text, not the page's furniture
    assert page["headers"]["content-type"].startswith("text/html") and page["final_url"] == link
    listed = json.loads(ws.cli("incidents", "--json").stdout)
    assert listed[0]["items"][0]["evidence"] == "done"
    out = tmp_path / "bundle"
    result = ws.cli("evidence", str(listed[0]["id"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    manifest = _verify(out)
    (report,) = manifest["reports"]
    assert report["final_url"] == link and report["url"] == link and report["http_status"] == 200
    assert report["source"] == "news" and report["item"] == 1 and report["sha256"] == page["sha256"]
    assert datetime.fromisoformat(report["fetched_at"]).utcoffset() == timedelta(0)
    page_file, text_file = report["files"]
    assert (out / page_file["name"]).read_bytes() == ARTICLE and page_file["name"].endswith(".html")
    assert SENTENCE in (out / text_file["name"]).read_text(encoding="utf-8")
    assert manifest["incident"]["people"] == ["Bakhodir Karimov"] and manifest["incident"]["first_seen"]
    assert manifest["watcher_version"] and datetime.fromisoformat(manifest["created"])
    _private(out)
    again = ws.cli("evidence", f"incident:{listed[0]['id']}", "--out", str(out))  # never mixed with another bundle
    assert again.exit_code != 0 and "not empty" in again.output


def test_a_failing_article_server_never_delays_the_alert(ws, monkeypatch) -> None:
    """The article is asked for only once the alert is delivered, and its 500 is left for a retry."""
    monkeypatch.setenv("WATCHER_EVIDENCE", "1")
    seen: list[list[str]] = []

    def answer(request: BaseHTTPRequestHandler) -> None:
        with sqlite3.connect(ws.state / "watcher.db") as conn:
            seen.append([r[0] for r in conn.execute("SELECT status FROM alerts")])
        ReplayServer._answer(request, 500, {"Content-Type": "text/plain"}, b"down for maintenance")

    link = ws.serve("/article/1", b"", handler=answer)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed(link)), "backfill": "alert"})
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    assert "[watcher]" in ws.cli("poll", "--once").stdout
    assert seen == [["sent"]]
    (page,) = Store(ws.state / "watcher.db").evidence_of(1)
    assert page["status"] == "pending" and page["attempts"] == 1 and "HTTP 500" in page["last_error"]


def test_evidence_command_help_and_unknown_targets(ws, tmp_path) -> None:
    help_text = CliRunner().invoke(cli, ["evidence", "--help"]).output
    assert "INCIDENT_OR_ITEM" in help_text and "--out" in help_text and "manifest" in help_text
    nothing = CliRunner().invoke(cli, ["--state", str(tmp_path / "none"), "evidence", "1",
                                       "--out", str(tmp_path / "b")])
    assert nothing.exit_code != 0 and "no database" in nothing.output
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed("http://x/a")), "backfill": "alert"})
    ws.cli("poll", "--once")
    for target in ("99", "incident:99", "item:99", "nonsense", "item:"):
        result = CliRunner().invoke(cli, ["--state", str(ws.state), "evidence", target, "--out", str(tmp_path / "b")])
        assert result.exit_code != 0 and "Traceback" not in result.output and "Error" in result.output, target
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "b").exists()  # nothing written for a target that does not exist


# -- faults: recorded, retried with backoff, kept once the server recovers ----------------------


@pytest.mark.parametrize(("fault", "said"), [
    ("down", "could not connect"), ("slow", "timed out"), ("huge", "size cap"), ("huge_streamed", "size cap"),
    ("block", "block or challenge"), ("captcha", "captcha"), ("http500", "HTTP 500"), ("http403", "HTTP 403"),
    ("empty", "empty page"),
])
def test_a_page_that_cannot_be_kept_is_retried_with_backoff_then_kept(tmp_path: Path, fault: str, said: str) -> None:
    clock = Clock()
    with ReplayServer() as server:
        good = Route(body=ARTICLE, content_type="text/html")
        bad = {"slow": Route(body=ARTICLE, content_type="text/html", delay=2.0),
               "huge": Route(body=ARTICLE * 50, content_type="text/html"),
               "huge_streamed": Route(handler=_stream_without_length),
               "block": Route(body=BLOCK, content_type="text/html"),
               "captcha": Route(body=CAPTCHA, content_type="text/html"),
               "http500": Route(body=b"oops", status=500, content_type="text/html"),
               "http403": Route(body=b"forbidden", status=403, content_type="text/html"),
               "empty": Route(body=b"  \n", content_type="text/html")}.get(fault)
        server.routes["/a"] = bad or good
        url = f"http://127.0.0.1:{free_port()}/a" if fault == "down" else server.url("/a")
        store = _store_with_page(tmp_path, url)
        report = _collect(store, clock)
        assert (report.retried, report.done, report.failed) == (1, 0, 0)
        (row,) = store.evidence_of(1)
        assert row["status"] == "pending" and row["attempts"] == 1 and said in row["last_error"], row["last_error"]
        assert row["content"] is None and row["sha256"] is None  # a failure is not evidence
        assert datetime.fromisoformat(row["next_attempt_at"]) == clock.now + timedelta(minutes=10)
        clock.now += timedelta(minutes=5)
        assert _collect(store, clock).retried == 0  # not due yet
        server.routes["/a"] = good
        clock.now += timedelta(minutes=6)
        if fault == "down":  # the server "comes up" where the page is
            store.conn.execute("UPDATE evidence SET url = ?", (server.url("/a"),))
        assert _collect(store, clock).done == 1
    (row,) = store.evidence_of(1)
    assert row["status"] == "done" and row["content"] == ARTICLE and row["attempts"] == 2 and row["last_error"] is None
    assert store.evidence_counts()["done"] == 1


def test_a_page_that_never_comes_is_given_up_with_its_error_kept(tmp_path: Path) -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert backoff(20) == timedelta(hours=12)
    clock = Clock()
    with ReplayServer({"/a": Route(body=b"gone", status=410, content_type="text/plain")}) as server:
        store = _store_with_page(tmp_path, server.url("/a"))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            report = _collect(store, clock)
            (row,) = store.evidence_of(1)
            assert row["attempts"] == attempt
            if attempt < MAX_ATTEMPTS:
                assert report.retried == 1 and row["status"] == "pending"
                clock.now = datetime.fromisoformat(row["next_attempt_at"])
        assert report.failed == 1 and row["status"] == "failed" and "HTTP 410" in row["last_error"]
        clock.now += timedelta(days=30)
        assert _collect(store, clock).retried == 0 and server.routes["/a"].hits == MAX_ATTEMPTS
    assert store.evidence_counts()["failed"] == 1 and store.failed_evidence()[0]["last_error"] == row["last_error"]
    assert clock.now - NOW > timedelta(hours=20)  # about a day of trying


def test_an_unexpected_fault_is_recorded_as_that_pages_failure(tmp_path: Path) -> None:
    class Broken:
        async def get(self, url: str, **kwargs: Any) -> Response:
            raise RuntimeError("a bug")

    clock = Clock()
    store = _store_with_page(tmp_path, "http://127.0.0.1:1/a")
    report = _collect(store, clock, fetcher=Broken)
    (row,) = store.evidence_of(1)
    assert report.retried == 1 and row["status"] == "pending" and "internal error: RuntimeError" in row["last_error"]

    def no_settings(source_id: str) -> Any:
        raise KeyError(source_id)

    clock.now += timedelta(hours=1)
    assert _collect(store, clock, settings={}, fetcher=Broken).retried == 1
    clock.now += timedelta(hours=1)
    assert asyncio.run(collect_evidence(store, Broken(), no_settings, clock)).retried == 1  # no raise
    (row,) = store.evidence_of(1)
    assert row["attempts"] == 3 and "internal error: KeyError" in row["last_error"]


def test_the_sources_fetch_settings_apply(tmp_path: Path) -> None:
    """The SSRF guard refuses loopback for a source that may not reach it; the proxy is the source's."""
    clock = Clock()
    with ReplayServer({"/a": Route(body=ARTICLE, content_type="text/html")}) as server:
        store = _store_with_page(tmp_path, server.url("/a"))
        public = {"news": RssSettings(id="news", type="rss", url="http://127.0.0.1/f")}
        assert _collect(store, clock, settings=public, fetcher=lambda: Fetcher(clock=clock)).retried == 1
        assert "private or loopback" in store.evidence_of(1)[0]["last_error"] and server.routes["/a"].hits == 0
        clock.now += timedelta(minutes=10)
        assert _collect(store, clock, settings=LOCAL, fetcher=lambda: Fetcher(clock=clock)).done == 1

    asked: list[Any] = []

    class Recording:
        async def get(self, url: str, **kwargs: Any) -> Response:
            asked.append(kwargs.get("proxy"))
            return Response(url=url, status=200, headers={"content-type": "text/html"}, content=ARTICLE,
                            fetched_at=clock())

    store2 = _store_with_page(_fresh(tmp_path, "b"), "https://a.example/x")
    proxied = {"news": RssSettings(id="news", type="rss", url="https://a.example/f", proxy="socks5://127.0.0.1:9050")}
    assert _collect(store2, clock, settings=proxied, fetcher=Recording).done == 1 and asked == ["socks5://127.0.0.1:9050"]


def test_an_article_with_a_comment_captcha_is_still_an_article() -> None:
    page = (b"<html><head><title>Access denied to lawyers</title>"
            b"<script src='/cdn-cgi/challenge-platform/scripts/jsd/main.js'></script></head><body><article>"
            + ARTICLE[ARTICLE.index(b"<h1>"):ARTICLE.index(b"</article>")]
            + b"</article><form><div class='g-recaptcha'></div></form></body></html>")
    response = Response(url="https://a.example/x", status=200, headers={"content-type": "text/html"}, content=page,
                        fetched_at=NOW)
    text = main_text(response)
    assert text and SENTENCE in text and block_reason(response, text) is None
    blocked = Response(url="https://a.example/x", status=200, headers={}, content=BLOCK, fetched_at=NOW)
    assert "challenge" in (block_reason(blocked, main_text(blocked)) or "")
    pdf = Response(url="https://a.example/x.pdf", status=200, headers={"content-type": "application/pdf"},
                   content=b"%PDF-1.4 ...", fetched_at=NOW)
    assert main_text(pdf) is None and block_reason(pdf, None) is None  # kept as it is, without a text


def test_a_fetch_interrupted_by_a_crash_is_fetched_again(tmp_path: Path) -> None:
    clock = Clock()
    with ReplayServer({"/a": Route(body=ARTICLE, content_type="text/html")}) as server:
        store = _store_with_page(tmp_path, server.url("/a"))
        with store.transaction():
            assert store.claim_evidence(1, NOW)  # ... and the process dies mid-fetch
        store.close()
        store = Store(tmp_path / "watcher.db")
        assert store.due_evidence(NOW) == []  # claimed: not fetched twice at once
        with store.transaction():
            assert store.recover_evidence() == 1  # on start
        assert store.due_evidence(NOW)[0]["status"] == "pending"
        assert _collect(store, clock).done == 1
        (row,) = store.evidence_of(1)
        assert row["status"] == "done" and row["attempts"] == 2

        store2 = _store_with_page(_fresh(tmp_path, "x"), server.url("/a"))
        with store2.transaction():
            assert store2.claim_evidence(1, NOW)  # a run that died without anyone recovering it ...
        assert store2.due_evidence(NOW + timedelta(minutes=5)) == []
        clock.now = NOW + timedelta(minutes=16)  # ... is due again when its lease runs out
        assert _collect(store2, clock).done == 1


# -- the Internet Archive (Save Page Now), off by default ---------------------------------------


def _archive_server(server: ReplayServer) -> Route:
    server.routes["/a"] = Route(body=ARTICLE, content_type="text/html")
    save = Route(body=b"<html>saved</html>", content_type="text/html",
                 headers={"Content-Location": "/web/20261102120000/" + server.url("/a")})
    server.routes["/save/" + server.url("/a")] = save
    return save


def test_the_internet_archive_is_not_asked_unless_switched_on(tmp_path: Path) -> None:
    assert ArchiveSettings.from_env({}) is None and ArchiveSettings.from_env({"WATCHER_ARCHIVE_SAVE": "0"}) is None
    with ReplayServer() as server:
        save = _archive_server(server)
        store = _store_with_page(tmp_path, server.url("/a"), archive=True)
        assert _collect(store, Clock(), archive=ArchiveSettings.from_env({"WATCHER_ARCHIVE_API": server.url("")})).done == 1
    rows = {r["kind"]: r for r in store.evidence_of(1)}
    assert save.hits == 0 and rows["archive"]["status"] == "pending" and rows["archive"]["attempts"] == 0
    assert rows["page"]["status"] == "done"


def test_the_internet_archive_copy_is_recorded_when_switched_on(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ArchiveSettings.from_env({"WATCHER_ARCHIVE_SAVE": "1", "WATCHER_ARCHIVE_API": "web.archive.org"})
    assert ArchiveSettings.from_env({"WATCHER_ARCHIVE_SAVE": "1"}) == ArchiveSettings("https://web.archive.org")
    clock = Clock()
    with ReplayServer() as server:
        save = _archive_server(server)
        archive = ArchiveSettings.from_env({"WATCHER_ARCHIVE_SAVE": "1", "WATCHER_ARCHIVE_API": server.url("/")})
        assert archive is not None and archive.allow_private  # the operator's own address may be loopback
        store = _store_with_page(tmp_path, server.url("/a"), archive=True, incident=True)
        # no allow_private on the Fetcher: the source's setting and the archive's own apply
        made = _collect(store, clock, fetcher=lambda: Fetcher(clock=clock), archive=archive)
        assert made.done == 2
        rows = {r["kind"]: r for r in store.evidence_of(1)}
        assert rows["archive"]["archive_url"] == f"{server.url('')}/web/20261102120000/{server.url('/a')}"
        assert rows["archive"]["content"] is None and save.hits == 1
        manifest = _verify(Path(write_bundle(store, "item:1", tmp_path / "bundle")).parent)
        assert manifest["reports"][0]["archive"]["archive_url"] == rows["archive"]["archive_url"]

        no_copy = _store_with_page(_fresh(tmp_path, "n"),
                                   server.url("/a"), archive=True)
        server.routes["/save/" + server.url("/a")] = Route(body=b"<html>try later</html>", content_type="text/html")
        assert _collect(no_copy, clock, archive=archive).retried == 1  # an answer naming no copy is no copy
        archived = next(r for r in no_copy.evidence_of(1) if r["kind"] == "archive")
        assert archived["status"] == "pending" and "without naming a saved copy" in archived["last_error"]


# -- the bundle ---------------------------------------------------------------------------------


def test_a_report_without_a_page_is_listed_with_why(tmp_path: Path) -> None:
    clock = Clock()
    with ReplayServer({"/a": Route(body=b"no", status=500, content_type="text/plain")}) as server:
        store = _store_with_page(tmp_path, server.url("/a"), incident=True)
        _collect(store, clock)
    number = store.incident_of_item(1)
    out = tmp_path / "bundle"
    manifest = _verify(write_bundle(store, f"incident:{number}", out, now=NOW).parent)
    (report,) = manifest["reports"]
    assert report["files"] == [] and report["status"] == "pending" and "HTTP 500" in report["last_error"]
    assert report["joined_because"] == "first report" and manifest["created"] == "2026-11-02T12:00:00+00:00"
    assert manifest["incident"]["incident_types"] == ["detention"] and manifest["incident"]["id"] == number
    _private(out)
    with pytest.raises(BundleError):
        write_bundle(store, "incident:77", tmp_path / "other")
    with pytest.raises(BundleError):
        write_bundle(store, "item:1", out)  # not empty


def test_logs_name_no_one_above_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with ReplayServer() as server:
        server.routes["/bakhodir-karimov-detained"] = Route(body=b"<h1>Bakhodir Karimov</h1> not found", status=404,
                                                            content_type="text/html")
        store = _store_with_page(tmp_path, server.url("/bakhodir-karimov-detained"))
        with caplog.at_level(logging.DEBUG):
            _collect(store, clock)
    assert "Karimov" in store.evidence_of(1)[0]["last_error"]  # the row keeps everything ...
    loud = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    assert loud and not any("karimov" in m.lower() for m in loud)  # ... the log above DEBUG does not


def test_a_pruned_page_still_shows_what_was_fetched(tmp_path: Path) -> None:
    """After the evidence retention drops a page's bytes, the bundle still names its address,
    time, size and SHA-256, and says why there is no file."""
    clock = Clock()
    with ReplayServer({"/a": Route(body=b"<p>Bakhodir Karimov was detained</p>", content_type="text/html")}) as server:
        store = _store_with_page(tmp_path, server.url("/a"), incident=True)
        assert _collect(store, clock).done == 1
    (kept,) = [r for r in store.evidence_of(1) if r["kind"] != "archive"]
    with store.transaction():
        store.conn.execute("UPDATE evidence SET content = NULL, text = NULL")
    manifest = _verify(write_bundle(store, "item:1", tmp_path / "bundle", now=NOW).parent)
    (report,) = manifest["reports"]
    assert report["files"] == [] and "pruned" in report["pruned"]
    assert report["sha256"] == kept["sha256"] and report["size"] == kept["size"]
    assert report["final_url"] == kept["final_url"] and report["fetched_at"] == kept["fetched_at"]
