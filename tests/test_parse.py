"""Parsing is pure: a recorded response in, items out. Keys, links, text and dates."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from conftest import feed_bytes

from watcher.errors import EmptyFeed, ParseFailed, SourceBlocked
from watcher.models import Response
from watcher.sources.rss import parse_feed
from watcher.text import canonical_url, html_to_text

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def _response(body: bytes, url: str = "https://news.example.org/feed.xml", ctype: str = "application/rss+xml") -> Response:
    return Response(url=url, status=200, headers={"content-type": ctype}, content=body, fetched_at=NOW)


def _rss(items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def test_hudoc_recording_parses_with_links_and_dates() -> None:
    items = parse_feed(_response(feed_bytes("hudoc_short.xml")), "hudoc", "en")
    assert len(items) == 12
    first = items[0]
    assert first.url.startswith("http://hudoc.echr.coe.int/eng#") and "itemid" in first.url
    assert first.key == first.url  # no guid in HUDOC RSS: the canonical link is the key
    assert len({i.key for i in items}) == 12  # the fragment carries the id, so it must be kept
    assert all(i.published.tzinfo is not None and i.published <= NOW for i in items)
    assert all(i.language == "en" and i.title and not i.title.endswith("\n") for i in items)


def test_canonical_url_drops_tracking_and_normalises_host() -> None:
    assert canonical_url("HTTPS://News.Example.ORG:443/a/b?id=7&utm_source=rss&fbclid=x#frag") == \
        "https://news.example.org/a/b?id=7#frag"
    assert canonical_url("http://example.org") == "http://example.org/"
    assert canonical_url("not a url") == "not a url"


def test_html_summary_becomes_plain_text() -> None:
    html = "<p>Detained&nbsp;at <b>migration</b> office.</p><script>alert(1)</script><p>Second&amp;para</p>"
    assert html_to_text(html) == "Detained at migration office.\nSecond&para"


def test_key_falls_back_from_guid_to_link_to_content_hash() -> None:
    items = parse_feed(_response(_rss(
        "<item><guid isPermaLink='false'>urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66</guid><link>https://x.org/1</link><title>A</title></item>"
        "<item><link>https://x.org/2?utm_medium=x</link><title>B</title></item>"
        "<item><title>C</title><description>no link at all</description></item>"
    )), "s")
    assert [i.key for i in items[:2]] == ["urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "https://x.org/2"]
    assert items[2].key.startswith("sha256:") and items[2].key[7:] == items[2].content_hash


def test_a_guid_reused_for_another_story_is_a_story_of_its_own() -> None:
    """A guid is a hint, not the identity (issue #11): exact repeats are one item, a different
    text under the same guid is another story with a key of its own, flagged for the health."""
    items = parse_feed(_response(_rss(
        "<item><guid isPermaLink='false'>same</guid><link>https://x.org/1</link><title>first</title></item>"
        "<item><guid isPermaLink='false'>same</guid><link>https://x.org/2</link><title>second</title></item>"
        "<item><guid isPermaLink='false'>same</guid><link>https://x.org/1</link><title>first</title></item>"
    )), "s")
    assert [i.title for i in items] == ["first", "second"]
    assert items[0].key == "same" and items[1].key.startswith("same#") and items[1].flags == ("guid_reused",)


def test_missing_future_and_past_dates() -> None:
    items = parse_feed(_response(_rss(
        "<item><guid>a</guid><title>no date</title></item>"
        "<item><guid>b</guid><title>future</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
        "<item><guid>c</guid><title>1970</title><pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate></item>"
        "<item><guid>d</guid><title>garbage</title><pubDate>yesterday-ish</pubDate></item>"
    )), "s")
    assert [i.published for i in items] == [NOW, NOW, datetime(1970, 1, 1, tzinfo=timezone.utc), NOW]


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    (item,) = parse_feed(_response(_rss("<item><title>x</title><link>/news/1</link></item>")), "s")
    assert item.url == "https://news.example.org/news/1"


def test_html_challenge_page_is_blocked_not_empty() -> None:
    with pytest.raises(SourceBlocked, match="HTML page instead of a feed"):
        parse_feed(_response(feed_bytes("sudrf_block_page.html"), ctype="text/html"), "s")


def test_empty_body_and_itemless_feed_are_zombie() -> None:
    with pytest.raises(EmptyFeed):
        parse_feed(_response(b"   \n"), "s")
    with pytest.raises(EmptyFeed):
        parse_feed(_response(_rss("")), "s")


def test_malformed_xml_fails_to_parse() -> None:
    with pytest.raises(ParseFailed, match="not a readable feed"):
        parse_feed(_response(b"<<<this is not xml at all"), "s")


def test_entity_declarations_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><rss version="2.0"><channel><item><title>&b;</title></item></channel></rss>'
    with pytest.raises(ParseFailed, match="entities"):
        parse_feed(_response(bomb), "s")


def test_windows_1251_feed_is_decoded() -> None:
    body = '<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel><title>т</title>' \
           '<item><guid>1</guid><title>Экстрадиция в Узбекистан</title></item></channel></rss>'
    (item,) = parse_feed(_response(body.encode("cp1251"), ctype="application/xml"), "s")
    assert item.title == "Экстрадиция в Узбекистан"
