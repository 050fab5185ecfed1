"""Polite, bounded HTTP for every source: one client, conditional GET, caps on size and time.

Why each limit exists:
- a global semaphore bounds open connections (100: a poll is waiting on the network, so fewer
  would make 1,000 feeds wait on each other), a per-host one (2) keeps us from hammering one
  site (RFE/RL serves a dozen of our feeds from a few hosts);
- a total deadline per request, because httpx's read timeout resets on every byte and a server
  that trickles one byte a second would otherwise hold a slot forever;
- a body cap checked against Content-Length before reading, and again while streaming the
  decoded body, so a lying header or a gzip bomb cannot fill memory;
- ETag / Last-Modified are sent back so an unchanged feed costs a 304 and no parse.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from watcher import __version__
from watcher.errors import FetchFailed, NotModified, SourceBlocked, TooLarge
from watcher.models import Response

USER_AGENT = f"watcher/{__version__} (human-rights news monitor; +https://github.com/watcher-monitor)"
MAX_BYTES = 10 * 1024 * 1024
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None  # pairs when a key repeats (court=a&court=b)


# Set by the pipeline for the source being polled: may it reach private addresses?
ALLOW_PRIVATE: contextvars.ContextVar[bool] = contextvars.ContextVar("watcher_allow_private", default=False)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Validators:
    """What a server told us last time, sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


class PrivateAddress(Exception):
    """A request (or a redirect) led to a loopback, private or link-local address."""


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def _guard(request: httpx.Request) -> None:
    """SSRF guard: a feed URL a monitor added must not reach this machine or the local network,
    on the first request or after any redirect, unless its source says `allow_private: true`.
    (A DNS answer that changes between this check and the connection is not caught.)"""
    if ALLOW_PRIVATE.get():
        return
    host = request.url.host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, request.url.port or 443, type=socket.SOCK_STREAM)
    except OSError:
        return  # the connection itself will fail with a DNS error
    for info in infos:
        if _is_private(str(info[4][0])):
            raise PrivateAddress(f"{host} resolves to {info[4][0]}, a private or loopback address "
                                 "(set allow_private: true on the source to allow it)")


def _connect_problem(host: str, exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "name or service not known" in lowered or "name resolution" in lowered or "nodename nor servname" in lowered:
        return f"DNS lookup failed for {host}"
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return f"TLS failure with {host}: {text}"
    return f"could not connect to {host}: {text}"


def _snippet(body: bytes, limit: int = 160) -> str:
    text = body[:2000].decode("utf-8", "replace")
    return " ".join(text.split())[:limit]


class Fetcher:
    """Downloads documents for sources. Pass `transport` to serve requests from a test double."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = 100,
        per_host: int = 2,
        timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = MAX_BYTES,
        max_redirects: int = 5,
        user_agent: str = USER_AGENT,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float = 120.0,
        allow_private: bool = False,
    ):
        self._transport = transport
        self._slots = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._timeout = httpx.Timeout(timeout)
        self._total_timeout = total_timeout
        self.max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self.allow_private = allow_private

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        key = None if self._transport is not None else proxy
        client = self._clients.get(key)
        if client is None:
            kwargs: dict[str, Any] = {}
            if self._transport is not None:
                kwargs["transport"] = self._transport
            elif proxy:
                kwargs["proxy"] = proxy
            client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=True,
                max_redirects=self._max_redirects,
                headers={"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"},
                event_hooks={"request": [] if self._transport is not None else [_guard]},
                **kwargs,
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get(
        self,
        url: str,
        *,
        validators: Validators | None = None,
        proxy: str | None = None,
        params: Params = None,
        headers: dict[str, str] | None = None,
        retries: int = 0,
    ) -> Response:
        """GET a document. Raises NotModified, SourceBlocked, TooLarge or FetchFailed.

        With `retries`, a 429 or 5xx answer is tried again after Retry-After (or 2 s, 4 s, ...),
        unless the server asks for a longer wait than `max_wait`."""
        attempt = 0
        while True:
            try:
                return await self._get_once(url, validators, proxy, params, headers)
            except (FetchFailed, SourceBlocked) as exc:
                retryable = exc.status == 429 or exc.status >= 500
                if attempt >= retries or not retryable:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else 2.0 * 2 ** attempt
                if wait > self.max_wait:
                    raise
                attempt += 1
                await self.sleep(wait)

    async def _get_once(
        self,
        url: str,
        validators: Validators | None,
        proxy: str | None,
        params: Params,
        headers: dict[str, str] | None,
    ) -> Response:
        host = urlsplit(url).hostname or ""
        host_slot = self._host_slots.setdefault(host, asyncio.Semaphore(self._per_host))
        request_headers = {**(validators.headers() if validators else {}), **(headers or {})}
        token = ALLOW_PRIVATE.set(True) if self.allow_private else None
        async with self._slots, host_slot:
            try:
                async with asyncio.timeout(self._total_timeout):
                    return await self._get(url, proxy, params, request_headers)
            except PrivateAddress as exc:
                raise SourceBlocked(f"refused: {exc}") from None
            except TimeoutError:
                raise FetchFailed(f"timed out: no complete answer within {self._total_timeout:g}s") from None
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"timed out ({type(exc).__name__})") from None
            except httpx.TooManyRedirects:
                raise FetchFailed(f"more than {self._max_redirects} redirects") from None
            except httpx.UnsupportedProtocol as exc:
                raise FetchFailed(f"unsupported URL scheme: {exc}") from None
            except httpx.ConnectError as exc:
                raise FetchFailed(_connect_problem(host, exc)) from None
            except httpx.DecodingError as exc:
                raise FetchFailed(f"could not decode the body: {exc}") from None
            except httpx.HTTPError as exc:
                raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
            finally:
                if token is not None:
                    ALLOW_PRIVATE.reset(token)

    async def _get(
        self, url: str, proxy: str | None, params: Params, headers: dict[str, str]
    ) -> Response:
        client = self._client(proxy)
        async with client.stream("GET", url, params=params, headers=headers) as resp:
            now = self.clock()
            resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status_code == 304:
                raise NotModified()
            length = resp.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                raise TooLarge(f"body of {int(length):,} bytes is over the {self.max_bytes:,}-byte cap")
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    raise TooLarge(f"body is over the {self.max_bytes:,}-byte cap (stopped reading)")
            content = bytes(body)
            status = resp.status_code
            final_url = str(resp.url)
        if status in (401, 403, 451):
            raise SourceBlocked(f"HTTP {status}: access refused; received: {_snippet(content)!r}", status=status)
        if status == 429:
            wait = retry_after_seconds(resp_headers.get("retry-after"), now)
            raise SourceBlocked(
                "HTTP 429: rate limited" + (f", retry after {wait:g}s" if wait is not None else ""),
                retry_after=wait,
                status=429,
            )
        if status >= 400:
            wait = retry_after_seconds(resp_headers.get("retry-after"), now) if status == 503 else None
            raise FetchFailed(f"HTTP {status}; received: {_snippet(content)!r}", retry_after=wait, status=status)
        return Response(url=final_url, status=status, headers=resp_headers, content=content, fetched_at=now)
