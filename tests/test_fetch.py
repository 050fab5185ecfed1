"""Fetcher against a real HTTP server on 127.0.0.1: validators, caps, deadlines, error mapping."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import rss
from watcher.errors import FetchFailed, NotModified, SourceBlocked, TooLarge
from watcher.http import Fetcher, Validators
from watcher.models import Response
from watcher.demo.replay import ReplayServer, Route

DOC = rss(("a", "Alpha", "first"), ("b", "Beta", "second"))


def fetch(url: str, *, validators: Validators | None = None, **options: object) -> Response:
    """One GET with a fresh Fetcher inside its own event loop."""

    async def go() -> Response:
        async with Fetcher(allow_private=True, **options) as fetcher:  # type: ignore[arg-type]
            return await fetcher.get(url, validators=validators)

    return asyncio.run(go())


def _start(h: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
    h.send_response(200)
    for key, value in {**headers, "Connection": "close"}.items():
        h.send_header(key, value)
    h.end_headers()


# -- conditional GET, headers, encodings -----------------------------------------------------


def test_conditional_get_second_request_raises_not_modified(server: ReplayServer) -> None:
    route = server.routes["/feed"] = Route(body=DOC)
    first = fetch(server.url("/feed"))
    assert first.status == 200
    assert first.content == DOC
    assert first.header("etag") == route.etag
    assert first.header("last-modified") == server.last_modified

    with pytest.raises(NotModified):
        fetch(server.url("/feed"), validators=Validators(first.header("etag"), first.header("last-modified")))
    sent = server.requests[-1][1]
    assert sent["if-none-match"] == route.etag
    assert sent["if-modified-since"] == server.last_modified
    assert "if-none-match" not in server.requests[0][1]


def test_stale_etag_gets_full_body(server: ReplayServer) -> None:
    server.routes["/feed"] = Route(body=DOC)
    response = fetch(server.url("/feed"), validators=Validators('"stale"', None))
    assert response.content == DOC
    assert server.requests[-1][1]["if-none-match"] == '"stale"'


def test_user_agent_identifies_watcher(server: ReplayServer) -> None:
    server.routes["/feed"] = Route(body=DOC)
    fetch(server.url("/feed"))
    user_agent = server.requests[-1][1]["user-agent"]
    assert user_agent.startswith("watcher/")
    assert "python-httpx" not in user_agent


def test_gzip_encoded_body_is_decoded(server: ReplayServer) -> None:
    server.routes["/feed.gz"] = Route(body=gzip.compress(DOC), headers={"Content-Encoding": "gzip"})
    response = fetch(server.url("/feed.gz"))
    assert response.content == DOC
    assert "gzip" in server.requests[-1][1]["accept-encoding"]


def test_single_redirect_is_followed_to_final_url(server: ReplayServer) -> None:
    server.routes["/old"] = Route(status=301, headers={"Location": "/feed"})
    server.routes["/feed"] = Route(body=DOC)
    response = fetch(server.url("/old"))
    assert response.content == DOC
    assert response.url == server.url("/feed")


# -- size cap ----------------------------------------------------------------------------------


def test_content_length_over_cap_raises_too_large_without_reading(server: ReplayServer) -> None:
    def lying_length(h: BaseHTTPRequestHandler) -> None:
        # Claims a terabyte, sends a few bytes and keeps the connection open: reading the body
        # would hang until the timeout instead of failing at once.
        _start(h, {"Content-Type": "application/xml", "Content-Length": str(10**12)})
        h.wfile.write(b"<rss>")
        time.sleep(3)

    server.routes["/huge"] = Route(handler=lying_length)
    started = time.monotonic()
    with pytest.raises(TooLarge, match="1,000,000,000,000 bytes"):
        fetch(server.url("/huge"), max_bytes=1000, timeout=5)
    assert time.monotonic() - started < 2


def test_plain_body_over_cap_raises_too_large(server: ReplayServer) -> None:
    server.routes["/big"] = Route(body=b"x" * 5000)
    with pytest.raises(TooLarge):
        fetch(server.url("/big"), max_bytes=4999)


def test_body_exactly_at_cap_is_accepted(server: ReplayServer) -> None:
    server.routes["/big"] = Route(body=b"x" * 5000)
    assert len(fetch(server.url("/big"), max_bytes=5000).content) == 5000


def _chunked(total_chunks: int, size: int = 1024):
    def handler(h: BaseHTTPRequestHandler) -> None:
        _start(h, {"Content-Type": "application/xml", "Transfer-Encoding": "chunked"})
        chunk = b"x" * size
        try:
            for _ in range(total_chunks):
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handler


def test_chunked_body_over_cap_raises_too_large_while_streaming(server: ReplayServer) -> None:
    server.routes["/stream"] = Route(handler=_chunked(total_chunks=200_000))  # ~200 MB if read in full
    started = time.monotonic()
    with pytest.raises(TooLarge, match="stopped reading"):
        fetch(server.url("/stream"), max_bytes=10_000)
    assert time.monotonic() - started < 3


def test_chunked_body_under_cap_is_read_whole(server: ReplayServer) -> None:
    server.routes["/stream"] = Route(handler=_chunked(total_chunks=5))
    assert fetch(server.url("/stream"), max_bytes=10_000).content == b"x" * 5120


def test_gzip_bomb_raises_too_large_on_decoded_size(server: ReplayServer) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 100_000
    server.routes["/bomb"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLarge, match="stopped reading"):
        fetch(server.url("/bomb"), max_bytes=1_000_000)


# -- time limits -------------------------------------------------------------------------------


def test_trickling_server_trips_total_timeout(server: ReplayServer) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        _start(h, {"Content-Type": "application/xml", "Content-Length": "100"})
        try:
            for _ in range(30):  # one byte every 0.3 s: ~9 s in all, each byte resets the read timeout
                h.wfile.write(b"x")
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass

    server.routes["/slow"] = Route(handler=trickle)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="timed out") as caught:
        fetch(server.url("/slow"), timeout=5.0, total_timeout=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.5
    assert "1s" in str(caught.value)


def test_slow_first_byte_trips_read_timeout(server: ReplayServer) -> None:
    server.routes["/late"] = Route(body=DOC, delay=2.0)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="timed out"):
        fetch(server.url("/late"), timeout=0.5, total_timeout=10.0)
    assert time.monotonic() - started < 1.5


# -- status codes and connection errors ---------------------------------------------------------


def test_http_500_raises_fetch_failed_with_status(server: ReplayServer) -> None:
    server.routes["/err"] = Route(body=b"internal oops", status=500)
    with pytest.raises(FetchFailed) as caught:
        fetch(server.url("/err"))
    assert "HTTP 500" in str(caught.value)
    assert "internal oops" in str(caught.value)
    assert caught.value.health == "failing"


def test_http_503_retry_after_is_kept(server: ReplayServer) -> None:
    server.routes["/busy"] = Route(status=503, headers={"Retry-After": "30"})
    with pytest.raises(FetchFailed, match="HTTP 503") as caught:
        fetch(server.url("/busy"))
    assert caught.value.retry_after == 30


def test_http_403_raises_source_blocked(server: ReplayServer) -> None:
    server.routes["/blocked"] = Route(body=b"<html>go away</html>", status=403, content_type="text/html")
    with pytest.raises(SourceBlocked, match="HTTP 403") as caught:
        fetch(server.url("/blocked"))
    assert caught.value.health == "blocked"
    assert "go away" in str(caught.value)


def test_http_429_retry_after_seconds_is_parsed(server: ReplayServer) -> None:
    server.routes["/limited"] = Route(status=429, headers={"Retry-After": "120"})
    with pytest.raises(SourceBlocked, match="429") as caught:
        fetch(server.url("/limited"))
    assert caught.value.retry_after == 120


def test_http_429_retry_after_http_date_is_relative_to_clock(server: ReplayServer) -> None:
    now = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=300), usegmt=True)
    server.routes["/limited"] = Route(status=429, headers={"Retry-After": later})
    with pytest.raises(SourceBlocked) as caught:
        fetch(server.url("/limited"), clock=lambda: now)
    assert caught.value.retry_after == 300


def test_redirect_loop_raises_fetch_failed(server: ReplayServer) -> None:
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchFailed, match="redirects"):
        fetch(server.url("/loop"), max_redirects=3)
    assert 3 <= server.routes["/loop"].hits <= 4


def test_connection_refused_raises_fetch_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed, match="could not connect"):
        fetch(f"http://127.0.0.1:{port}/feed", timeout=2.0)


def test_unsupported_scheme_raises_fetch_failed() -> None:
    with pytest.raises(FetchFailed, match="unsupported URL scheme"):
        fetch("ftp://127.0.0.1/feed")


# -- concurrency -------------------------------------------------------------------------------


def test_per_host_limit_bounds_concurrent_requests(server: ReplayServer) -> None:
    lock = threading.Lock()
    in_flight = 0
    peak = 0

    def counted(h: BaseHTTPRequestHandler) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.15)
        with lock:
            in_flight -= 1
        h.send_response(200)
        h.send_header("Connection", "close")
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")

    server.routes["/slowish"] = Route(handler=counted)

    async def go() -> list[Response]:
        async with Fetcher(allow_private=True, per_host=2) as fetcher:
            return await asyncio.gather(*(fetcher.get(server.url("/slowish")) for _ in range(6)))

    responses = asyncio.run(go())
    assert [r.content for r in responses] == [b"ok"] * 6
    assert peak == 2
