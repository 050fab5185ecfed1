"""SSRF gaps an outside battery found (issue 11, item 10), each on loopback.

IPv6 forms that carry an IPv4 address (IPv4-compatible ::a.b.c.d, IPv4-mapped, NAT64, 6to4,
Teredo) reach that IPv4 address on hosts and networks that translate them, so the embedded
address decides; and a DNS answer that changes between the check and the connection (DNS
rebinding) must not reach loopback: the address actually connected to is checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import Any

import httpcore
import pytest

from conftest import Workspace, rss
from test_hostile_sources import assert_refused, poll_pair
from watcher.demo.replay import ReplayServer, Route
from watcher.errors import SourceBlocked
from watcher.http import ALLOW_PRIVATE, Fetcher, _is_private
from watcher.ssrf import GuardedBackend, PrivateAddress, embedded_ipv4

# Teredo: 2001:0:<server>:<flags>:<port ^ 0xffff>:<client ^ 0xffffffff>
TEREDO_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1
TEREDO_METADATA = "2001:0:4136:e378:8000:63bf:5601:5601"  # client 169.254.169.254

EMBEDDED_PRIVATE = {
    "ipv4-compatible-loopback": "::127.0.0.1",
    "ipv4-compatible-metadata": "::a9fe:a9fe",
    "ipv4-mapped-loopback": "::ffff:127.0.0.1",
    "ipv4-mapped-private": "::ffff:10.0.0.1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "nat64-loopback": "64:ff9b::127.0.0.1",
    "nat64-private": "64:ff9b::c0a8:101",
    "nat64-local-use": "64:ff9b:1::a9fe:a9fe",
    "6to4-metadata": "2002:a9fe:a9fe::1",
    "6to4-loopback": "2002:7f00:1::1",
    "6to4-private": "2002:ac10:1::1",
    "teredo-loopback": TEREDO_LOOPBACK,
    "teredo-metadata": TEREDO_METADATA,
}


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP_PROXY in the environment would do the connecting (and keep httpx's own transport)."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- the address check -------------------------------------------------------------------------


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE.values(), ids=EMBEDDED_PRIVATE.keys())
def test_ipv6_forms_embedding_a_private_ipv4_address_are_private(address: str) -> None:
    assert _is_private(address)


@pytest.mark.parametrize("address", ["64:ff9b::5db8:d822", "2002:5db8:d822::1"], ids=["nat64", "6to4"])
def test_ipv6_forms_embedding_a_public_ipv4_address_are_not_private(address: str) -> None:
    # an IPv6-only network with DNS64 reaches every IPv4 site as 64:ff9b::a.b.c.d: those must work
    assert not _is_private(address)


def test_teredo_client_address_is_the_inverted_last_32_bits() -> None:
    assert [str(a) for a in embedded_ipv4(ipaddress.IPv6Address(TEREDO_METADATA))] == [
        "169.254.169.254", "65.54.227.120"]


# -- redirects, end to end -------------------------------------------------------------------------


def _redirect_through_proxy(ws: Workspace, address: str) -> None:
    """As in test_hostile_sources: the feed's public host is answered by a loopback HTTP proxy
    with a redirect to `address`; the source does not allow private addresses."""
    ws.server.routes["http://public-feed.example/rss"] = Route(
        status=302, headers={"Location": f"http://[{address}]/latest/meta-data/"})
    reports = poll_pair(ws, {"id": "bad", "url": "http://public-feed.example/rss", "allow_private": "false",
                             "proxy": ws.server.url("")})
    assert_refused(ws, reports, "blocked", address, "private or loopback", "allow_private")
    assert ws.server.routes["http://public-feed.example/rss"].hits == 1
    assert not any("meta-data" in path for path, _ in ws.server.requests)  # the second hop never went out


def test_redirect_to_ipv4_compatible_loopback_address_is_refused(ws: Workspace) -> None:
    _redirect_through_proxy(ws, "::127.0.0.1")


def test_redirect_to_nat64_metadata_address_is_refused(ws: Workspace) -> None:
    _redirect_through_proxy(ws, "64:ff9b::a9fe:a9fe")


def test_redirect_to_6to4_metadata_address_is_refused(ws: Workspace) -> None:
    _redirect_through_proxy(ws, "2002:a9fe:a9fe::1")


def test_redirect_to_teredo_loopback_address_is_refused(ws: Workspace) -> None:
    _redirect_through_proxy(ws, TEREDO_LOOPBACK)


def test_redirect_to_ipv4_mapped_metadata_address_is_refused(ws: Workspace) -> None:
    _redirect_through_proxy(ws, "::ffff:169.254.169.254")


# -- the connection itself -------------------------------------------------------------------------


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE.values(), ids=EMBEDDED_PRIVATE.keys())
def test_guarded_backend_refuses_each_form_without_connecting(address: str) -> None:
    class Never(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            raise AssertionError(f"connected: {args}")

    with pytest.raises(PrivateAddress, match="private or loopback"):
        asyncio.run(GuardedBackend(inner=Never()).connect_tcp(address, 80))


class Rebinding:
    """A DNS server playing rebinding: a public answer first (what the request check sees), then
    loopback (what a second lookup at connection time would get)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return ["93.184.216.34"] if len(self.asked) == 1 else ["127.0.0.1"]


def test_dns_rebinding_to_loopback_is_refused_at_connect_time(ws: Workspace) -> None:
    ws.serve("/feed", rss(("r", "Rebound", "z")))
    resolver = Rebinding()
    url = f"http://rebind.example:{ws.server.port}/feed"
    reports = poll_pair(ws, {"id": "bad", "url": url, "allow_private": "false"}, resolver=resolver)
    assert_refused(ws, reports, "blocked", "rebind.example", "127.0.0.1", "private or loopback")
    assert resolver.asked == ["rebind.example", "rebind.example"]  # checked, then resolved once more to connect
    assert ws.server.routes["/feed"].hits == 0


class Diverting(httpcore.AsyncNetworkBackend):
    """A network that sends every connection to one loopback port, whatever address was asked
    (a NAT or interception proxy on the path): the peer address is what tells."""

    def __init__(self, port: int):
        self.port = port
        self.asked: list[str] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        self.asked.append(host)
        return await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", self.port, timeout)


async def _public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def test_peer_address_is_checked_after_connecting(server: ReplayServer) -> None:
    server.routes["/feed"] = Route(body=rss(("p", "Peer", "z")))
    network = Diverting(server.port)
    with pytest.raises(PrivateAddress, match="connected to 127.0.0.1"):
        asyncio.run(GuardedBackend(_public, inner=network).connect_tcp("feed.example", server.port))
    assert network.asked == ["93.184.216.34"]  # handed the checked address, never the name
    assert server.routes["/feed"].hits == 0


def test_guarded_backend_honours_allow_private(server: ReplayServer) -> None:
    network = Diverting(server.port)

    async def go() -> None:
        token = ALLOW_PRIVATE.set(True)
        try:
            stream = await GuardedBackend(_public, inner=network).connect_tcp("127.0.0.1", server.port)
            await stream.aclose()
        finally:
            ALLOW_PRIVATE.reset(token)

    asyncio.run(go())
    assert network.asked == ["127.0.0.1"]


def test_direct_fetch_of_a_loopback_name_is_refused_at_connect_time(server: ReplayServer) -> None:
    # the request check is told the name is public; the connection-time lookup is not fooled
    server.routes["/feed"] = Route(body=rss(("d", "Direct", "z")))

    async def go() -> None:
        async with Fetcher(resolver=Rebinding()) as fetcher:
            await fetcher.get(f"http://feed.example:{server.port}/feed")

    with pytest.raises(SourceBlocked, match="127.0.0.1"):
        asyncio.run(go())
    assert server.routes["/feed"].hits == 0
