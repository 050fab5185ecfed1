"""The SSRF guard: a feed URL a monitor added must not reach this machine or the local network.

Two checks, because one is not enough:
- before each request (and each redirect hop) the URL's host is resolved and refused if any
  address is private; this is all that can be checked when a proxy does the connecting;
- on a direct connection, the network backend resolves the host once more, refuses a private
  answer, connects to the very address it checked (TLS still verifies and sends the host name)
  and checks the peer address of the socket after connecting. A DNS answer that changes between
  the first check and the connection (DNS rebinding) is caught here.

An address is private when it is not globally reachable, and also when it is an IPv6 form that
carries an IPv4 address which is: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
NAT64 (64:ff9b::/96; the local-use 64:ff9b:1::/48 is refused outright), 6to4 (2002::/16) and
Teredo (2001::/32). Those forms reach the IPv4 address on hosts and networks that translate them.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

# Set by the pipeline for the source being polled: may it reach private addresses?
ALLOW_PRIVATE: contextvars.ContextVar[bool] = contextvars.ContextVar("watcher_allow_private", default=False)

# host, port -> the addresses it resolves to; injectable so tests can play a rebinding DNS server
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Hook = Callable[[httpx.Request], Awaitable[None]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HINT = "(set allow_private: true on the source to allow it)"


class PrivateAddress(Exception):
    """A request (or a redirect) led to a loopback, private or link-local address."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo), addresses in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for, in the forms that translate to IPv4."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.teredo is not None:
        server, client = ip.teredo  # the client is the last 32 bits XOR 0xffffffff
        return [client, server]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are checked as they are
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast


def is_private(address: str) -> bool:
    """May a feed URL not reach this address? Strings as getaddrinfo gives them (zone ids allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return True  # a site's own translator (RFC 8215): not a global address
        inner = embedded_ipv4(ip)
        if any(_not_public(v4) for v4 in inner):
            return True
        if ip in _NAT64 or (inner and ip in _IPV4_COMPATIBLE):
            return False  # what counts is the IPv4 address reached (NAT64 networks serve every site so)
    return _not_public(ip)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


async def _checked_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses `host` resolves to, all of them public; raises PrivateAddress otherwise."""
    literal = _ip_literal(host)
    addresses = [literal] if literal else list(await resolver(host, port))
    for address in addresses:
        if is_private(address):
            said = "is" if literal else f"resolves to {address},"
            raise PrivateAddress(f"{host} {said} a private or loopback address {_HINT}")
    return addresses


def request_guard(resolver: Resolver) -> Hook:
    """An httpx request hook: refuse a request (or a redirect hop) whose host is private."""

    async def guard(request: httpx.Request) -> None:
        if ALLOW_PRIVATE.get():
            return
        try:
            await _checked_addresses(request.url.host, request.url.port or 443, resolver)
        except OSError:
            return  # the connection itself will fail with a DNS error

    return guard


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses it has checked itself.

    `inner` does the connecting (httpcore's default); it is handed an IP address, never a name,
    so nothing resolves the host a second time behind the check."""

    def __init__(self, resolver: Resolver = system_resolver, inner: httpcore.AsyncNetworkBackend | None = None):
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if ALLOW_PRIVATE.get():
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = await _checked_addresses(host, port, self._resolver)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        last: Exception | None = None
        for n, address in enumerate(addresses):
            # one address at a time (no happy eyeballs): a dead one may not eat the whole deadline
            wait = timeout if n == len(addresses) - 1 or timeout is None else min(timeout, 5.0)
            try:
                stream = await self._inner.connect_tcp(address, port, wait, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            await self._check_peer(host, stream)
            return stream
        assert last is not None
        raise last

    @staticmethod
    async def _check_peer(host: str, stream: httpcore.AsyncNetworkStream) -> None:
        """Refuse a connection whose far end is private, whatever was asked for (a NAT, a
        resolver or a library between us and the socket may have changed it)."""
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        if is_private(str(peer[0])):
            await stream.aclose()
            raise PrivateAddress(f"{host} connected to {peer[0]}, a private or loopback address {_HINT}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddress(f"a Unix socket ({path}) is a local address {_HINT}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport for direct connections, with the GuardedBackend underneath.

    httpx has no argument for a network backend, so the connection pool is rebuilt with the
    settings httpx's defaults would give it (100 connections, 20 kept alive for 5 s) unless
    `limits` says otherwise (the Fetcher sizes it to its own concurrency)."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, limits: httpx.Limits | None = None):
        super().__init__()
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def guarded_transport(resolver: Resolver = system_resolver, limits: httpx.Limits | None = None) -> GuardedTransport | None:
    """The transport for direct connections, or None when the environment sends requests through
    a proxy (HTTP_PROXY, ...): then httpx's own transport is kept (a guarded one would bypass the
    proxy), and only each hop's host can be checked, since the proxy does the connecting."""
    if any(key in ("http", "https", "all") for key in urllib.request.getproxies()):
        return None
    return GuardedTransport(GuardedBackend(resolver), limits)
