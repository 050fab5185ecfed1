"""Polite, bounded HTTP for every source: one client, conditional GET, caps on size and time.

Why each limit exists:
- a global semaphore bounds open connections (256, httpx's pools sized to match; workers.PollGate
  keeps a CPU-bound cycle from starving them), a per-host one (2) keeps us from hammering one
  site (RFE/RL serves a dozen of our feeds from a few hosts);
- a total deadline per request, because httpx's read timeout resets on every byte and a server
  that trickles one byte a second would otherwise hold a slot forever;
- a body cap checked against Content-Length before reading, and again while streaming the
  decoded body, so a lying header or a gzip bomb cannot fill memory;
- gzip and deflate are undone here, not by httpx, whose decoder never checks that the stream
  ended: a cut body would read as a shorter feed, its missing items as "nothing new";
- ETag / Last-Modified are sent back so an unchanged feed costs a 304 and no parse.
A broken connection is told in words ("the server closed the connection before ..."), never as
an exception name with nothing after it. The SSRF guard is watcher/ssrf.py.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import ssl
import sys
import urllib.request
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpcore._utils import is_socket_readable

from watcher import __version__
from watcher.errors import FetchFailed, NotModified, SourceBlocked, TooLarge
from watcher.models import Response
from watcher.ssrf import ALLOW_PRIVATE, GuardedBackend, PrivateAddress, Resolver, _ip_literal, request_guard, system_resolver
from watcher.ssrf import is_private as _is_private  # noqa: F401  (tests and older callers import it from here)

if importlib.util.find_spec("sniffio") is None:  # httpcore imports it (optional, absent with anyio 4) for each
    sys.modules.setdefault("sniffio", None)  # type: ignore[assignment]  # lock: a sys.path scan each, 6 a request

USER_AGENT = f"watcher/{__version__} (human-rights news monitor; +https://github.com/watcher-monitor)"
MAX_BYTES = 10 * 1024 * 1024
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None  # pairs when a key repeats (court=a&court=b)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Validators:
    """What a server told us last time, sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        sent = (("If-None-Match", self.etag), ("If-Modified-Since", self.last_modified))
        return {name: value for name, value in sent if value}


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    value = (value or "").strip()
    if not value or value.isdigit():
        return float(value) if value else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.replace(tzinfo=when.tzinfo or timezone.utc) - now).total_seconds())  # no zone: UTC


def _connect_problem(host: str, exc: Exception) -> str:
    lowered = (text := _message(exc) or type(exc).__name__).lower()
    if "name or service not known" in lowered or "name resolution" in lowered or "nodename nor servname" in lowered:
        return f"DNS lookup failed for {host}"
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return f"TLS failure with {host}: {text}"
    return f"could not connect to {host}: {text}"


def _snippet(body: bytes, limit: int = 160) -> str:
    return " ".join(body[:2000].decode("utf-8", "replace").split())[:limit]


def _message(exc: BaseException) -> str:
    """The first message in the exception's chain: httpx's own is often empty (a connection reset
    surfaces as a bare ReadError whose cause says '[Errno 104] Connection reset by peer')."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or str(seen).strip():
            return str(seen).strip() if seen is not None else ""
        seen = seen.__cause__ or seen.__context__
    return ""


def _detail(exc: BaseException) -> str:
    """'ReadError: [Errno 104] Connection reset by peer', never 'ReadError: ' and nothing."""
    return f"{type(exc).__name__}: {_message(exc) or 'no detail given'}"


def _said(what: str, exc: BaseException) -> str:
    text = _message(exc)
    return f"{what}: {text}" if text else f"{what} ({type(exc).__name__})"


def _closed_early(exc: httpx.HTTPError) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.CloseError)) or (
        isinstance(exc, httpx.RemoteProtocolError) and ("disconnect" in text or "peer closed" in text))


def _transport_problem(exc: httpx.HTTPError) -> str:
    """What a monitor reads in the source's health for an HTTP failure before any response."""
    if _closed_early(exc):
        return f"the server closed the connection before sending a response ({_detail(exc)})"
    if isinstance(exc, httpx.ProtocolError):
        return f"the server's answer is not valid HTTP ({_detail(exc)})"
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy failed ({_detail(exc)})"
    return _detail(exc)


def _body_problem(exc: httpx.HTTPError, received: int, expected: int | None) -> str:
    """The same, once the response has started: how much of the body came."""
    if not _closed_early(exc):
        return f"the response broke off after {received:,} bytes ({_detail(exc)})"
    if expected is not None:
        return (f"the response ended early: {received:,} of {expected:,} bytes; the server closed the "
                f"connection before the response ended ({_detail(exc)})")
    return f"the server closed the connection before the response ended, after {received:,} bytes ({_detail(exc)})"


class _Inflate:
    """One gzip or deflate layer undone in bounded steps: never more than `limit` bytes of output
    (a gzip bomb stops there), and `finish` tells a stream that never reached its end."""

    def __init__(self, coding: str, limit: int):
        self.coding = "gzip" if coding in ("gzip", "x-gzip") else "deflate"
        self._limit, self._out, self._fed, self._raw_deflate = limit, 0, False, False
        self._z = self._new()

    def _new(self) -> Any:
        wbits = 16 + zlib.MAX_WBITS if self.coding == "gzip" else -zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS
        return zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            if self._z.eof:
                if self.coding != "gzip" or data[:1] != b"\x1f":
                    return bytes(out)  # bytes after the end of the stream: ignored, as gzip(1) does
                self._z = self._new()  # a second gzip member
            try:
                chunk = self._z.decompress(data, self._limit - self._out + 1)
            except zlib.error:
                if self.coding != "deflate" or self._fed or self._raw_deflate:
                    raise
                self._raw_deflate = True  # "deflate" without the zlib wrapper, as some servers send it
                self._z = self._new()
                continue
            self._fed = True
            self._out += len(chunk)
            if self._out > self._limit:
                raise TooLarge(f"body is over the {self._limit:,}-byte cap (stopped reading)")
            out += chunk
            data = self._z.unused_data if self._z.eof else b""  # below the cap all input is consumed
        return bytes(out)

    def finish(self) -> None:
        if self._fed and not self._z.eof:
            raise FetchFailed(f"the {self.coding} stream ended early, after {self._out:,} bytes of content: "
                              "the body was cut short")


def _decoders(content_encoding: str, limit: int) -> list[_Inflate]:
    """The layers to undo, last applied first; identity and unknown values pass through, as in httpx."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    return [_Inflate(c, limit) for c in reversed(codings) if c in ("gzip", "x-gzip", "deflate")]


async def _io(step: Awaitable[Any], timeout: float | None, slow: type[Exception], broken: type[Exception]) -> Any:
    """One socket step under `timeout`, its failures as the httpcore errors httpx maps to its own."""
    try:
        async with asyncio.timeout(timeout):
            return await step
    except TimeoutError as exc:
        raise slow(exc) from exc
    except OSError as exc:  # ssl.SSLError, ConnectionResetError, ...
        raise broken(exc) from exc


class _Stream(httpcore.AsyncNetworkStream):
    """A connection on asyncio's own streams: httpcore's anyio backend, with cancel scopes around every
    step, cost 0.4 ms of CPU a request, a fifth of an unchanged feed's poll."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await _io(self._reader.read(max_bytes), timeout, httpcore.ReadTimeout, httpcore.ReadError)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._writer.write(buffer)  # a lost connection is told by drain
        await _io(self._writer.drain(), timeout, httpcore.WriteTimeout, httpcore.WriteError)

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        handshake = self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        await _io(handshake, timeout, httpcore.ConnectTimeout, httpcore.ConnectError)
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection the server has closed is not reused
            return self._reader.at_eof() or is_socket_readable(self._writer.get_extra_info("socket"))
        return self._writer.get_extra_info({"server_addr": "peername", "client_addr": "sockname"}.get(info, info))


class _Backend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        # happy eyeballs (as anyio) for a name, not for an address: it costs a task per connection
        connect = asyncio.open_connection(host, port, local_addr=(local_address, 0) if local_address else None,
                                          happy_eyeballs_delay=None if _ip_literal(host) else 0.25)
        reader, writer = await _io(connect, timeout, httpcore.ConnectTimeout, httpcore.ConnectError)
        return _Stream(reader, writer)  # socket_options: never set, the Fetcher's pools take none

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Fetcher:
    """Downloads documents for sources. Pass `transport` to serve requests from a test double
    (no SSRF guard then), `resolver` to answer DNS questions for the SSRF guard."""

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, concurrency: int = 256, per_host: int = 2,
        timeout: float = 20.0, total_timeout: float = 60.0, max_bytes: int = MAX_BYTES, max_redirects: int = 5,
        user_agent: str = USER_AGENT, clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, max_wait: float = 120.0,
        allow_private: bool = False, resolver: Resolver = system_resolver,
    ):
        self._transport, self._resolver, self._per_host = transport, resolver, per_host
        self.concurrency = concurrency  # workers.PollGate lets as many polls fetch at once
        self._slots = asyncio.Semaphore(concurrency)
        # httpx's pools as wide as the semaphore, in shards of 8 by host (httpcore scans all of a pool's connections,
        # twice a request: 0.3 ms at 32 a pool); one host always uses one shard, so it reuses connections
        self._shards = max(1, concurrency // 8)
        self._pool_limits = {"max_connections": concurrency, "max_keepalive_connections": 8, "keepalive_expiry": 5.0}
        self._limits = httpx.Limits(**self._pool_limits)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._timeout, self._total_timeout = httpx.Timeout(timeout), total_timeout
        self.max_bytes, self._max_redirects, self._user_agent = max_bytes, max_redirects, user_agent
        # one client per proxy, per allow_private and per shard, so a connection opened for a source that may
        # reach private addresses is never reused for one that may not
        self._clients: dict[tuple[str | None, bool, int], httpx.AsyncClient] = {}
        self._ssl: ssl.SSLContext | None = None
        self.clock, self.sleep, self.max_wait, self.allow_private = clock, sleep, max_wait, allow_private

    def _client(self, proxy: str | None, host: str = "") -> httpx.AsyncClient:
        private = ALLOW_PRIVATE.get()
        key = (None, False, 0) if self._transport is not None else (proxy, private, zlib.crc32(host.encode()) % self._shards)
        if (client := self._clients.get(key)) is None:
            client = self._clients[key] = self._new_client(proxy, private)
        return client

    def _new_client(self, proxy: str | None, private: bool) -> httpx.AsyncClient:
        kwargs: dict[str, Any] = {}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        elif proxy or any(key in ("http", "https", "all") for key in urllib.request.getproxies()):
            kwargs["proxy"] = proxy  # None: httpx's own transport, through the environment's proxies
        else:  # direct: asyncio's sockets, guarded unless the source may go private; httpx takes no backend, so its
            # pool is replaced (as in ssrf.GuardedTransport), and every pool shares one SSL context (~40 ms to load)
            self._ssl = self._ssl or httpx.create_ssl_context()
            backend = _Backend() if private else GuardedBackend(self._resolver, _Backend())
            transport = kwargs["transport"] = httpx.AsyncHTTPTransport(verify=self._ssl, limits=self._limits)
            transport._pool = httpcore.AsyncConnectionPool(ssl_context=self._ssl, network_backend=backend, **self._pool_limits)
        return httpx.AsyncClient(
            timeout=self._timeout, limits=self._limits,  # limits: for httpx's own transport (proxies)
            follow_redirects=True, max_redirects=self._max_redirects,
            headers={"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"},
            event_hooks={"request": [] if self._transport is not None else [request_guard(self._resolver)]},
            **kwargs)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get(self, url: str, *, validators: Validators | None = None, proxy: str | None = None,
                  params: Params = None, headers: dict[str, str] | None = None, retries: int = 0) -> Response:
        """GET a document. Raises NotModified, SourceBlocked, TooLarge or FetchFailed.

        With `retries`, a 429 or 5xx answer is tried again after Retry-After (or 2 s, 4 s, ...),
        unless the server asks for a longer wait than `max_wait`."""
        attempt = 0
        while True:
            try:
                return await self._get_once(url, validators, proxy, params, headers)
            except (FetchFailed, SourceBlocked) as exc:
                wait = exc.retry_after if exc.retry_after is not None else 2.0 * 2 ** attempt
                if attempt >= retries or not (exc.status == 429 or exc.status >= 500) or wait > self.max_wait:
                    raise
                attempt += 1
                await self.sleep(wait)

    async def _get_once(self, url: str, validators: Validators | None, proxy: str | None, params: Params,
                        headers: dict[str, str] | None) -> Response:
        host = urlsplit(url).hostname or ""
        host_slot = self._host_slots.setdefault(host, asyncio.Semaphore(self._per_host))
        request_headers = {**(validators.headers() if validators else {}), **(headers or {})}
        token = ALLOW_PRIVATE.set(True) if self.allow_private else None
        async with self._slots, host_slot:
            try:
                async with asyncio.timeout(self._total_timeout):
                    return await self._get(url, host, proxy, params, request_headers)
            except PrivateAddress as exc:
                raise SourceBlocked(f"refused: {exc}") from None
            except TimeoutError:
                raise FetchFailed(f"timed out: no complete answer within {self._total_timeout:g}s") from None
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"timed out ({type(exc).__name__})") from None
            except httpx.TooManyRedirects:
                raise FetchFailed(f"more than {self._max_redirects} redirects") from None
            except httpx.UnsupportedProtocol as exc:
                raise FetchFailed(_said("unsupported URL scheme", exc)) from None
            except httpx.ConnectError as exc:
                raise FetchFailed(_connect_problem(host, exc)) from None
            except httpx.DecodingError as exc:
                raise FetchFailed(_said("could not decode the body", exc)) from None
            except httpx.HTTPError as exc:
                raise FetchFailed(_transport_problem(exc)) from None
            finally:
                if token is not None:
                    ALLOW_PRIVATE.reset(token)

    async def _get(self, url: str, host: str, proxy: str | None, params: Params, headers: dict[str, str]) -> Response:
        async with self._client(proxy, host).stream("GET", url, params=params, headers=headers) as resp:
            now = self.clock()
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status_code == 304:
                raise NotModified()
            expected = int(length) if (length := resp.headers.get("content-length", "")).isdigit() else None
            if expected is not None and expected > self.max_bytes:
                raise TooLarge(f"body of {expected:,} bytes is over the {self.max_bytes:,}-byte cap")
            content = await self._read_body(resp, expected)
            status, final_url = resp.status_code, str(resp.url)
        if status in (401, 403, 451):
            raise SourceBlocked(f"HTTP {status}: access refused; received: {_snippet(content)!r}", status=status)
        if status == 429:
            wait = retry_after_seconds(resp_headers.get("retry-after"), now)
            raise SourceBlocked("HTTP 429: rate limited" + (f", retry after {wait:g}s" if wait is not None else ""),
                                retry_after=wait, status=429)
        if status >= 400:
            wait = retry_after_seconds(resp_headers.get("retry-after"), now) if status == 503 else None
            raise FetchFailed(f"HTTP {status}; received: {_snippet(content)!r}", retry_after=wait, status=status)
        return Response(url=final_url, status=status, headers=resp_headers, content=content, fetched_at=now)

    async def _read_body(self, resp: httpx.Response, expected: int | None) -> bytes:
        """The whole body, decoded, under the cap; FetchFailed if it was cut short."""
        if resp.is_stream_consumed:  # a test double (httpx.MockTransport) answers with a body already read
            if len(resp.content) > self.max_bytes:
                raise TooLarge(f"body is over the {self.max_bytes:,}-byte cap (stopped reading)")
            return resp.content
        layers = _decoders(resp.headers.get("content-encoding", ""), self.max_bytes)
        body, received = bytearray(), 0
        try:
            async for chunk in resp.aiter_raw():
                received += len(chunk)
                for layer in layers:
                    chunk = layer.feed(chunk)
                body.extend(chunk)
                if len(body) > self.max_bytes or received > self.max_bytes:
                    raise TooLarge(f"body is over the {self.max_bytes:,}-byte cap (stopped reading)")
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise FetchFailed(_body_problem(exc, received, expected)) from None
        except zlib.error as exc:
            raise FetchFailed(_said("could not decode the body", exc)) from None
        if expected is not None and received < expected and "chunked" not in resp.headers.get("transfer-encoding", "").lower():
            raise FetchFailed(f"the response ended early: {received:,} of {expected:,} bytes")
        for layer in layers:
            layer.finish()
        return bytes(body)
