"""A feed URL cannot reach this machine or the local network unless its source allows it."""

from __future__ import annotations

import asyncio

import pytest
from conftest import rss

from watcher.errors import SourceBlocked
from watcher.http import Fetcher, _is_private


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "::1", "fe80::1", "fc00::5", "0.0.0.0"])
def test_private_loopback_link_local_and_metadata_addresses_are_private(address: str) -> None:
    assert _is_private(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_not(address: str) -> None:
    assert not _is_private(address)


def _get(url: str, allow: bool) -> None:
    async def go() -> None:
        async with Fetcher(allow_private=allow) as fetcher:
            await fetcher.get(url)
    asyncio.run(go())


def test_loopback_feed_is_refused_by_default_and_allowed_when_configured(server) -> None:
    from watcher.demo.replay import Route

    server.routes["/f.xml"] = Route(body=rss(("a", "T", "S")))
    with pytest.raises(SourceBlocked, match="private or loopback address"):
        _get(server.url("/f.xml"), allow=False)
    assert server.routes["/f.xml"].hits == 0  # refused before any connection
    _get(server.url("/f.xml"), allow=True)
    assert server.routes["/f.xml"].hits == 1


def test_private_network_address_is_refused_without_connecting() -> None:
    with pytest.raises(SourceBlocked, match="10.9.8.7"):
        _get("http://10.9.8.7/feed.xml", allow=False)


def test_source_setting_allow_private_decides_in_the_pipeline(ws) -> None:
    ws.write_feeds({"id": "local", "url": ws.serve("/f.xml", rss(("a", "T", "S"))), "allow_private": "false"})
    ws.cli("poll", "--once")
    listing = ws.cli("sources").stdout
    assert "blocked" in listing and "private or loopback" in listing
    ws.write_feeds({"id": "local", "url": ws.server.url("/f.xml")})  # the workspace allows loopback
    assert "1 new item(s)" in ws.cli("poll", "--once").stderr
