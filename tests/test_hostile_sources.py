"""Hostile sources (issue #7): each kind is polled through the real pipeline beside a healthy feed.

Every test runs one `poll_sources` over two sources, the hostile one and `good`, against real
HTTP servers on loopback, and checks (1) the health state and message the hostile source is left
in (or, for odd-but-readable feeds, that its items were stored as they should be) and (2) that
`good` still got its items. The Fetcher is built without `allow_private`, so the per-source
setting (true for loopback sources, see Workspace.write_feeds) is what the SSRF guard obeys.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import Workspace, free_port, rss
from watcher.config import load_feeds
from watcher.http import Fetcher
from watcher.pipeline import Context, PollReport, poll_sources
from watcher.demo.replay import Route
from watcher.rules import load_rules
from watcher.sources import build_source
from watcher.sources.rss import MAX_TITLE
from watcher.store import Store, parse_iso

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)  # the day after the items of rss()
GOOD = rss(("a", "Alpha court hears extradition request", "x"), ("b", "Beta", "y"))
GOOD_KEYS = ["https://news.example.org/a", "https://news.example.org/b"]
KARIMOV = "people:\n  - name: Bakhodir Karimov\n    aliases: [Баходир Каримов]\n    country: UZ\n"


# -- harness -----------------------------------------------------------------------------------


def poll_pair(ws: Workspace, hostile: dict[str, Any], **fetcher_options: Any) -> dict[str, PollReport]:
    """One poll_sources call over the hostile source and a healthy one (`good`); reports by id."""
    ws.write_feeds(hostile, {"id": "good", "url": ws.serve("/good", GOOD)})
    sources = [build_source(s) for s in load_feeds(ws.feeds)]
    store = Store(ws.state / "watcher.db")

    async def go() -> list[PollReport]:
        async with Fetcher(clock=lambda: T0, **fetcher_options) as fetcher:
            ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules),
                          destinations=["console"], clock=lambda: T0)
            return await poll_sources(sources, ctx)

    try:
        reports = {r.source_id: r for r in asyncio.run(go())}
    finally:
        store.close()
    assert_good_unaffected(ws, reports)
    return reports


def assert_good_unaffected(ws: Workspace, reports: dict[str, PollReport]) -> None:
    good = reports["good"]
    assert (good.state, good.error, good.new) == ("ok", None, 2)
    assert row(ws, "good")["state"] == "ok"
    assert [i["key"] for i in items(ws, "good")] == GOOD_KEYS


def row(ws: Workspace, source_id: str) -> dict[str, Any]:
    store = Store(ws.state / "watcher.db")
    try:
        found = store.source(source_id)
        assert found is not None
        return found
    finally:
        store.close()


def items(ws: Workspace, source_id: str) -> list[dict[str, Any]]:
    store = Store(ws.state / "watcher.db")
    try:
        rows = store.conn.execute("SELECT * FROM items WHERE source_id = ? ORDER BY id", (source_id,))
        return [dict(r) for r in rows]
    finally:
        store.close()


def person_matches(ws: Workspace, source_id: str) -> dict[str, list[str]]:
    """Title of each stored item of the source -> the person rules it matched."""
    store = Store(ws.state / "watcher.db")
    try:
        rows = store.conn.execute("SELECT id, title FROM items WHERE source_id = ? ORDER BY id", (source_id,))
        return {r["title"]: [m.rule for m in store.matches_for(r["id"]) if m.kind == "person"] for r in rows}
    finally:
        store.close()


def assert_refused(ws: Workspace, reports: dict[str, PollReport], state: str, *fragments: str) -> str:
    """The hostile source `bad` is in `state`, its last_error names the problem, nothing stored."""
    assert reports["bad"].state == state, reports["bad"].error
    saved = row(ws, "bad")
    assert saved["state"] == state
    error = saved["last_error"]
    for fragment in fragments:
        assert fragment in error, error
    assert saved["consecutive_failures"] == 1
    assert parse_iso(saved["next_poll_after"]) is not None
    assert items(ws, "bad") == []
    return error


def feed(*entries: str, encoding: str = "utf-8", declaration: bool = True) -> str:
    head = f'<?xml version="1.0" encoding="{encoding}"?>' if declaration else ""
    return (head + '<rss version="2.0"><channel><title>Odd feed</title><link>https://odd.example.org/</link>'
            "<description>d</description>" + "".join(entries) + "</channel></rss>")


def entry(title: str, *, link: str | None = None, guid: str | None = None, date: str | None = None,
          description: str | None = None) -> str:
    return ("<item>" + f"<title>{title}</title>"
            + (f"<link>{link}</link>" if link is not None else "")
            + (f"<guid>{guid}</guid>" if guid is not None else "")
            + (f"<pubDate>{date}</pubDate>" if date is not None else "")
            + (f"<description>{description}</description>" if description is not None else "")
            + "</item>")


def _start(h: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
    h.send_response(200)
    for key, value in {**headers, "Connection": "close"}.items():
        h.send_header(key, value)
    h.end_headers()




# -- broken or dangerous XML -------------------------------------------------------------------


def test_malformed_xml_is_failing_as_unreadable(ws: Workspace) -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</titel><<>>&&;</rss></channel>'
    reports = poll_pair(ws, {"id": "bad", "url": ws.serve("/broken", body)})
    assert_refused(ws, reports, "failing", "not a readable feed", "mismatched tag")


def test_malformed_xml_with_readable_items_is_read_leniently(ws: Workspace) -> None:
    # a bare '&' and an unclosed tag are common in the wild: the items are still read
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Tom & Jerry news</title>'
            b"<item><title>Court & prosecutor</title><link>https://odd.example.org/1</link></item>"
            b"<item><title>Second <b>bold</title><link>https://odd.example.org/2</link></item></channel>")
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/sloppy", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 2)
    assert [i["title"] for i in items(ws, "odd")] == ["Court & prosecutor", "Second bold"]


def test_xml_bomb_billion_laughs_is_refused_as_failing(ws: Workspace) -> None:
    laughs = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = ('<?xml version="1.0"?><!DOCTYPE rss [' + "".join(laughs) + "]>"
            '<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>')
    started = time.monotonic()
    reports = poll_pair(ws, {"id": "bad", "url": ws.serve("/lol", bomb.encode())})
    assert time.monotonic() - started < 3  # refused, not expanded to 10^9 "lol"s
    assert_refused(ws, reports, "failing", "entities", "refused")


def test_xml_external_entity_is_refused_as_failing(ws: Workspace) -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
           "<link>https://odd.example.org/1</link></item></channel></rss>")
    reports = poll_pair(ws, {"id": "bad", "url": ws.serve("/xxe", xxe.encode())})
    assert_refused(ws, reports, "failing", "entities")
    assert "root:" not in row(ws, "bad")["last_error"]


def test_xml_bomb_encoded_as_utf16_is_refused_as_failing(ws: Workspace) -> None:
    bomb = ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<rss version="2.0"><channel><title>t</title><item><title>&b;</title></item></channel></rss>')
    reports = poll_pair(ws, {"id": "bad", "url": ws.serve("/lol16", bomb.encode("utf-16"))})
    assert_refused(ws, reports, "failing", "entities")


# -- size and time -----------------------------------------------------------------------------


def test_one_gigabyte_streamed_body_is_cut_at_the_default_cap(ws: Workspace) -> None:
    sent = 0

    def endless(h: BaseHTTPRequestHandler) -> None:
        nonlocal sent
        _start(h, {"Content-Type": "application/rss+xml", "Transfer-Encoding": "chunked"})
        chunk = b"<item><title>" + b"x" * 65_000 + b"</title></item>"
        try:
            while sent < 1024 ** 3:  # 1 GB if the client never stopped reading
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    ws.server.routes["/gigabyte"] = Route(handler=endless)
    started = time.monotonic()
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/gigabyte")})
    assert time.monotonic() - started < 3
    assert_refused(ws, reports, "failing", "10,485,760-byte cap", "stopped reading")
    assert sent < 100 * 1024 ** 2  # the server was cut off long before 1 GB


def test_one_gigabyte_declared_content_length_is_refused_before_reading(ws: Workspace) -> None:
    def declared(h: BaseHTTPRequestHandler) -> None:
        _start(h, {"Content-Type": "application/rss+xml", "Content-Length": str(1024 ** 3)})
        try:
            h.wfile.write(b"<rss>")
            time.sleep(3)  # reading the body would hang here
        except (BrokenPipeError, ConnectionResetError):
            pass

    ws.server.routes["/declared"] = Route(handler=declared)
    started = time.monotonic()
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/declared")}, max_bytes=1_000_000)
    assert time.monotonic() - started < 2
    assert_refused(ws, reports, "failing", "1,073,741,824 bytes", "cap")


def test_server_sending_one_byte_a_second_times_out_as_failing(ws: Workspace) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        _start(h, {"Content-Type": "application/rss+xml", "Content-Length": "100"})
        try:
            for byte in GOOD[:5]:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(1.0)
        except (BrokenPipeError, ConnectionResetError):
            pass

    ws.server.routes["/trickle"] = Route(handler=trickle)
    started = time.monotonic()
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/trickle")}, total_timeout=1.0)
    assert time.monotonic() - started < 2.5
    assert_refused(ws, reports, "failing", "timed out", "1s")


# -- redirects ---------------------------------------------------------------------------------


def test_redirect_loop_is_failing_after_the_redirect_limit(ws: Workspace) -> None:
    url = ws.serve("/loop", b"", status=302, headers={"Location": "/loop"})
    reports = poll_pair(ws, {"id": "bad", "url": url}, max_redirects=3)
    assert_refused(ws, reports, "failing", "more than 3 redirects")
    assert ws.server.routes["/loop"].hits <= 4


def test_redirect_to_ftp_scheme_is_failing_without_following(ws: Workspace) -> None:
    url = ws.serve("/to-ftp", b"", status=301, headers={"Location": "ftp://127.0.0.1/pub/feed.xml"})
    reports = poll_pair(ws, {"id": "bad", "url": url})
    assert_refused(ws, reports, "failing", "unsupported URL scheme", "ftp")


def test_redirect_to_file_url_is_failing_and_reads_nothing(ws: Workspace) -> None:
    url = ws.serve("/to-file", b"", status=302, headers={"Location": "file:///etc/passwd"})
    reports = poll_pair(ws, {"id": "bad", "url": url})
    error = assert_refused(ws, reports, "failing", "unsupported URL scheme", "file")
    assert "root:" not in error


def test_redirect_to_private_address_is_blocked_by_the_ssrf_guard(ws: Workspace) -> None:
    # The feed's host is public (not resolvable here, so the guard lets it through) and reached
    # through an HTTP proxy on loopback, which answers for it with a redirect to the cloud
    # metadata address. The source does not allow private addresses: that hop must be refused.
    ws.server.routes["http://public-feed.example/rss"] = Route(
        status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    reports = poll_pair(ws, {"id": "bad", "url": "http://public-feed.example/rss", "allow_private": "false",
                             "proxy": ws.server.url("")})
    assert_refused(ws, reports, "blocked", "169.254.169.254", "private or loopback", "allow_private")
    assert ws.server.routes["http://public-feed.example/rss"].hits == 1  # the first hop did go out
    assert not any("169.254" in path for path, _ in ws.server.requests)  # the second never did


def test_loopback_feed_without_allow_private_is_blocked_before_connecting(ws: Workspace) -> None:
    url = ws.serve("/local", rss(("l", "Local", "z")))
    reports = poll_pair(ws, {"id": "bad", "url": url, "allow_private": "false"})
    assert_refused(ws, reports, "blocked", "127.0.0.1", "private or loopback")
    assert ws.server.routes["/local"].hits == 0


# -- charsets ----------------------------------------------------------------------------------

RU_TITLE = "Суд продлил арест Баходира Каримова"


def _assert_russian_title_stored_and_matched(ws: Workspace, reports: dict[str, PollReport]) -> None:
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 1)
    assert person_matches(ws, "odd") == {RU_TITLE: ["person:Bakhodir Karimov"]}


def test_missing_charset_on_utf8_feed_is_read_as_utf8(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), declaration=False).encode()
    url = ws.serve("/nocharset", body, content_type="text/xml")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


def test_wrong_utf8_charset_header_on_windows_1251_feed_is_read_by_its_declaration(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), encoding="windows-1251").encode("cp1251")
    url = ws.serve("/liar", body, content_type="application/rss+xml; charset=utf-8")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


def test_wrong_windows_1251_charset_header_on_utf8_feed_is_read_as_utf8(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1")).encode()
    url = ws.serve("/liar", body, content_type="text/xml; charset=windows-1251")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


def test_windows_1251_feed_is_decoded_and_matched(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), encoding="windows-1251").encode("cp1251")
    url = ws.serve("/cp1251", body, content_type="application/rss+xml")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


def test_utf16_feed_is_decoded_and_matched(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), encoding="utf-16").encode("utf-16")
    url = ws.serve("/utf16", body, content_type="application/rss+xml")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


def test_utf16_feed_with_bom_and_no_encoding_declaration_is_decoded(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), declaration=False).encode("utf-16")
    url = ws.serve("/utf16bom", body, content_type="application/rss+xml")
    _assert_russian_title_stored_and_matched(ws, poll_pair(ws, {"id": "odd", "url": url}))


# -- answers that are not feeds ----------------------------------------------------------------


def test_html_challenge_page_with_status_200_is_blocked(ws: Workspace) -> None:
    page = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
            b"<body><noscript>Enable JavaScript and cookies to continue</noscript></body></html>")
    url = ws.serve("/challenge", page, content_type="text/html; charset=utf-8")
    reports = poll_pair(ws, {"id": "bad", "url": url})
    assert_refused(ws, reports, "blocked", "HTML page instead of a feed", "Just a moment...")


def test_empty_200_is_zombie(ws: Workspace) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": ws.serve("/empty", b"")})
    assert_refused(ws, reports, "zombie", "HTTP 200 with an empty body")


def test_json_api_returning_html_is_blocked(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_COURTLISTENER_TOKEN", "test-token")
    ws.serve("/api/rest/v4/search/", b"<!DOCTYPE html><html><head><title>Down for maintenance</title></head>"
                                     b"<body>Back soon</body></html>", content_type="text/html")
    reports = poll_pair(ws, {"id": "bad", "type": "courtlistener", "base_url": ws.server.url(""), "every": "6h",
                             "retries": "0"})
    error = assert_refused(ws, reports, "blocked", "HTML page instead of search results")
    assert "test-token" not in error
    assert ws.server.routes["/api/rest/v4/search/"].hits == 1
    [(_, sent)] = [(path, h) for path, h in ws.server.requests if path.startswith("/api/")]
    assert sent["authorization"] == "Token test-token"  # the JSON API was asked, with the token


def test_429_with_retry_after_is_blocked_until_then(ws: Workspace) -> None:
    url = ws.serve("/limited", b"slow down", status=429, headers={"Retry-After": "7200"})
    reports = poll_pair(ws, {"id": "bad", "url": url})
    assert_refused(ws, reports, "blocked", "HTTP 429", "retry after 7200s")
    assert parse_iso(row(ws, "bad")["next_poll_after"]) == T0 + timedelta(hours=2)  # not `every: 15m`


# -- transport failures ------------------------------------------------------------------------


def test_tls_handshake_with_a_plain_http_port_is_failing(ws: Workspace) -> None:
    ws.serve("/feed", rss(("t", "TLS", "z")))
    url = f"https://127.0.0.1:{ws.server.port}/feed"  # this port speaks plain HTTP
    reports = poll_pair(ws, {"id": "bad", "url": url}, timeout=3.0)
    assert_refused(ws, reports, "failing", "TLS failure with 127.0.0.1", "SSL")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[str]:
    """An HTTPS server on loopback with a self-signed certificate; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = rss(("s", "Self-signed", "z"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_self_signed_certificate_is_failing(ws: Workspace, tls_server: str) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": tls_server + "/feed"}, timeout=3.0)
    assert_refused(ws, reports, "failing", "TLS failure with 127.0.0.1", "certificate verify failed")


def test_dns_failure_is_failing(ws: Workspace) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": "http://no-such-feed.watcher-test.invalid/rss"})
    assert_refused(ws, reports, "failing", "DNS lookup failed for no-such-feed.watcher-test.invalid")


def test_connection_refused_is_failing(ws: Workspace) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": f"http://127.0.0.1:{free_port()}/rss"}, timeout=3.0)
    assert_refused(ws, reports, "failing", "could not connect to 127.0.0.1")


# -- gzip --------------------------------------------------------------------------------------


def _gzip_route(body: bytes, content_length: int) -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(h: BaseHTTPRequestHandler) -> None:
        _start(h, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip",
                   "Content-Length": str(content_length)})
        try:
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handler


def test_gzip_that_claims_more_bytes_than_it_sends_is_failing(ws: Workspace) -> None:
    packed = gzip.compress(rss(*[(f"g{i}", f"Gzip item {i}", "z" * 50) for i in range(20)]))
    ws.server.routes["/gz-long"] = Route(handler=_gzip_route(packed, len(packed) * 2))
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/gz-long")}, timeout=3.0)
    assert_refused(ws, reports, "failing", "RemoteProtocolError", "without sending complete message body")


def test_gzip_that_claims_fewer_bytes_than_it_sends_is_failing(ws: Workspace) -> None:
    packed = gzip.compress(rss(*[(f"g{i}", f"Gzip item {i}", "z" * 50) for i in range(20)]))
    ws.server.routes["/gz-short"] = Route(handler=_gzip_route(packed, len(packed) // 2))
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/gz-short")}, timeout=3.0)
    error = assert_refused(ws, reports, "failing")
    assert "gzip" in error or "truncated" in error or "incomplete" in error, error


def test_gzip_with_a_corrupt_checksum_is_failing(ws: Workspace) -> None:
    packed = bytearray(gzip.compress(rss(("c", "Corrupt", "z"))))
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer
    ws.serve("/gz-crc", bytes(packed), headers={"Content-Encoding": "gzip"})
    reports = poll_pair(ws, {"id": "bad", "url": ws.server.url("/gz-crc")})
    assert_refused(ws, reports, "failing", "could not decode the body")


# -- odd but readable feeds: items stored as they should be -------------------------------------


def test_feed_with_10000_items_is_stored_whole(ws: Workspace) -> None:
    body = feed(*[entry(f"Item {i}", link=f"https://odd.example.org/{i}", guid=f"https://odd.example.org/{i}")
                  for i in range(10_000)]).encode()
    url = ws.serve("/many", body)
    reports = poll_pair(ws, {"id": "odd", "url": url})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 10_000)
    assert len(items(ws, "odd")) == 10_000


def test_items_without_guids_are_keyed_by_link_else_by_content(ws: Workspace) -> None:
    body = feed(entry("Linked", link="https://odd.example.org/linked?utm_source=rss"),
                entry("Unlinked one", description="first"), entry("Unlinked two", description="second")).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/noguid", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 3)
    stored = {i["title"]: i["key"] for i in items(ws, "odd")}
    assert stored["Linked"] == "https://odd.example.org/linked"
    assert stored["Unlinked one"].startswith("sha256:") and stored["Unlinked two"].startswith("sha256:")
    assert stored["Unlinked one"] != stored["Unlinked two"]


def test_duplicate_guids_inside_one_feed_are_stored_once(ws: Workspace) -> None:
    same = "https://odd.example.org/story/1"
    body = feed(entry("Story", link=same, guid=same), entry("Other", link="https://odd.example.org/2"),
                entry("Story", link=same, guid=same), entry("Story", link=same, guid=same)).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/dups", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 2)
    assert sorted(i["key"] for i in items(ws, "odd")) == ["https://odd.example.org/2", same]


def test_dates_in_the_future_are_replaced_by_the_fetch_time(ws: Workspace) -> None:
    body = feed(entry("Next century", link="https://odd.example.org/1", date="Fri, 01 Jan 2100 00:00:00 GMT"),
                entry("Next week", link="https://odd.example.org/2", date="Tue, 10 Nov 2026 00:00:00 GMT"),
                entry("Tomorrow", link="https://odd.example.org/3", date="Tue, 03 Nov 2026 20:00:00 GMT")).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/future", body)})
    assert reports["odd"].state == "ok"
    published = {i["title"]: i["published"] for i in items(ws, "odd")}
    assert published == {"Next century": T0.isoformat(), "Next week": T0.isoformat(),
                         "Tomorrow": "2026-11-03T20:00:00+00:00"}  # within a day's slack: kept


def test_dates_in_1970_are_kept_as_published(ws: Workspace) -> None:
    body = feed(entry("Epoch", link="https://odd.example.org/1", date="Thu, 01 Jan 1970 00:00:00 GMT"),
                entry("Before epoch", link="https://odd.example.org/2", date="Wed, 31 Dec 1969 23:59:59 GMT")).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/epoch", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 2)
    published = {i["title"]: i["published"] for i in items(ws, "odd")}
    assert published == {"Epoch": "1970-01-01T00:00:00+00:00", "Before epoch": "1969-12-31T23:59:59+00:00"}


def test_unparsable_dates_fall_back_to_the_fetch_time(ws: Workspace) -> None:
    body = feed(entry("Words", link="https://odd.example.org/1", date="yesterday-ish, after lunch"),
                entry("Month 13", link="https://odd.example.org/2", date="2026-13-45T99:99:99Z"),
                entry("Year 99999", link="https://odd.example.org/3", date="Mon, 01 Jan 99999 00:00:00 GMT"),
                entry("Empty", link="https://odd.example.org/4", date="")).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/baddates", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 4)
    assert {i["published"] for i in items(ws, "odd")} == {T0.isoformat()}


def test_relative_links_are_resolved_against_the_feed_url(ws: Workspace) -> None:
    body = feed(entry("Root", link="/news/1"), entry("Sibling", link="news/2"),
                entry("Parent", link="../3?utm_source=rss&id=3")).encode()
    url = ws.serve("/feeds/main.xml", body)
    reports = poll_pair(ws, {"id": "odd", "url": url})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 3)
    base = ws.server.url("")
    assert {i["title"]: i["url"] for i in items(ws, "odd")} == {
        "Root": f"{base}/news/1", "Sibling": f"{base}/feeds/news/2", "Parent": f"{base}/3?id=3"}


def test_one_megabyte_title_is_capped(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    huge = "Bakhodir Karimov " + "x" * 1_000_000
    body = feed(entry(huge, link="https://odd.example.org/1", description="y" * 1_000_000)).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/hugetitle", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 1)
    [stored] = items(ws, "odd")
    assert len(stored["title"]) == MAX_TITLE
    assert len(stored["summary"]) <= 20_000
    assert list(person_matches(ws, "odd").values()) == [["person:Bakhodir Karimov"]]


def test_nul_bytes_are_dropped_from_stored_text(ws: Workspace) -> None:
    body = feed(entry("Al\x00pha\x00 court", link="https://odd.example.org/1", description="sum\x00mary"),
                entry("\x00Beta", link="https://odd.example.org/2")).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/nul", body)})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 2)
    stored = items(ws, "odd")
    assert [(i["title"], i["summary"]) for i in stored] == [("Alpha court", "summary"), ("Beta", "")]
    assert not any("\x00" in str(value) for i in stored for value in i.values())


def test_zero_width_characters_in_names_do_not_stop_a_match(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    titles = ["Bakhodir\u200b Karimov detained in Istanbul", "Bakho\u200cdir Kari\u200dmov\u2060 released",
              "\ufeffBa\u00adkhodir Karimov faces extradition"]
    body = feed(*[entry(t, link=f"https://odd.example.org/{n}") for n, t in enumerate(titles)]).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/zw", body), "backfill": "alert"})
    assert (reports["odd"].state, reports["odd"].new, reports["odd"].alerts) == ("ok", 3, 3)
    matched = person_matches(ws, "odd")
    assert all(rules == ["person:Bakhodir Karimov"] for rules in matched.values()), matched
    assert not any(ch in title for title in matched for ch in "\u200b\u200c\u200d\u2060\ufeff")


def test_rtl_marks_and_embeddings_in_names_do_not_stop_a_match(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    titles = ["\u200fBakhodir Karimov\u200f detained", "\u202bBakhodir\u202c \u202bKarimov\u202c released",
              "\u200eБаходир\u200e Каримов задержан", "\u2067Bakhodir Karimov\u2069 extradited"]
    body = feed(*[entry(t, link=f"https://odd.example.org/{n}") for n, t in enumerate(titles)]).encode()
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/rtl", body), "backfill": "alert"})
    assert (reports["odd"].state, reports["odd"].new, reports["odd"].alerts) == ("ok", 4, 4)
    matched = person_matches(ws, "odd")
    assert len(matched) == 4
    assert all(rules == ["person:Bakhodir Karimov"] for rules in matched.values()), matched
