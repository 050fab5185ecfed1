"""RSS and Atom feeds (type: rss): news sites, NGO feeds, anything feedparser reads.

Settings: `url` (required) plus the keys every source has. The body is downloaded by watcher's
own client (conditional GET, size cap) and the parsers are handed the bytes and headers, never a
URL, so they cannot fetch anything themselves. Plain RSS is read by a fast lxml path, anything
else by feedparser, with the same items either way (watcher/sources/_feedparse.py says which).

Quirks handled here, because feeds in this field have all of them:
- HTML served with status 200 instead of a feed (anti-bot challenges, block pages): blocked;
- a 200 with an empty body or a feed with no items (RFE/RL's dead feeds answer 11 bytes): zombie;
- entries without guid (keyed by canonical link, else by a content hash); guids reused for
  different stories and links shared by different stories (`distinct_stories`);
- dates missing or in the future (the fetch time is used), relative links (resolved);
- entity declarations (billion laughs, external entities) are refused before parsing.
"""

from __future__ import annotations

import calendar
import codecs
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import feedparser
from pydantic import HttpUrl

from watcher.errors import EmptyFeed, ParseFailed, SourceBlocked
from watcher.http import Fetcher
from watcher.models import Item, Response, story_key
from watcher.sources import _feedparse
from watcher.sources.base import FetchContext, Source, SourceSettings
from watcher.text import canonical_url, content_hash, html_to_text, looks_like_mojibake

MAX_TITLE = 1_000
MAX_SUMMARY = 20_000
FUTURE_SLACK = timedelta(hours=24)

_HTML_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
# bozo reasons that do not mean the document is broken (it was read despite them)
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_ENTITY_DECLS = (b"<!ENTITY", "<!ENTITY".encode("utf-16-le"), "<!ENTITY".encode("utf-16-be"))


class Settings(SourceSettings):
    type: Literal["rss"]
    url: HttpUrl


class RssSource(Source):
    type = "rss"
    Settings = Settings

    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        settings: Any = self.settings
        return [await fetcher.get(str(settings.url), validators=ctx.validators, proxy=self.settings.proxy)]

    def parse(self, response: Response) -> list[Item]:
        return parse_feed(response, self.settings.id, self.settings.language, self.settings.keep_params)


def _sniffable(content: bytes) -> bytes:
    """The start of a document as UTF-8 without a byte-order mark, for the HTML checks: a block
    page saved by a Windows editor starts with a UTF-8 BOM, one from IIS or .NET may be UTF-16."""
    head = content[:65536]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head.decode(codec, "replace").encode("utf-8")
    return head


def looks_like_html(content: bytes) -> bool:
    return bool(_HTML_START.match(_sniffable(content)[:4096]))


def _html_title(content: bytes) -> str:
    found = _HTML_TITLE.search(content[:65536])
    return " ".join(found.group(1).decode("utf-8", "replace").split())[:120] if found else ""


def refuse_html(content: bytes, expected: str) -> None:
    """A block, challenge or maintenance page where `expected` should be: blocked, never 'nothing new'."""
    if looks_like_html(content):
        raise SourceBlocked(f"an HTML page instead of {expected} (challenge, block or maintenance page?), "
                            f"title {_html_title(_sniffable(content))!r}")


def guard_document(response: Response, expected: str = "a feed") -> None:
    """What every XML source checks before parsing: an empty body (zombie), an HTML page
    (blocked), entity declarations (billion laughs, external entities: refused)."""
    content = response.content
    if not content.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):  # whitespace, NULs and BOMs only
        raise EmptyFeed(f"HTTP {response.status} with an empty body")
    refuse_html(content, expected)
    if any(decl in content for decl in _ENTITY_DECLS):
        raise ParseFailed("the document declares XML entities; refused (entity expansion attack?)")


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_XML_ENCODING = re.compile(rb"^(\s*<\?xml[^>]*?encoding=)([\"'])[^\"']*\2", re.I)
_CHARSET = re.compile(r";\s*charset=[^;]*", re.I)


def normalise_encoding(content: bytes, content_type: str) -> tuple[bytes, str]:
    """Bytes and a content type that feedparser will decode right, for two common lies and one
    silence: a byte-order mark with no (or another) declaration is re-encoded as UTF-8; a body
    that is valid UTF-8 wins over a charset header that says otherwise (Russian sites often send
    windows-1251 headers with UTF-8 pages); a body that declares nothing (no charset header, no
    XML encoding; or only a UTF-8 header it breaks) and is not UTF-8 has its code page detected
    (charset-normalizer) and is re-encoded as UTF-8, since
    feedparser would read it as windows-1252 and "Баходир" would reach the matcher as "Áàõîäèð"."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            text = content.decode(codec, "replace").encode("utf-8")
            return _XML_ENCODING.sub(rb"\1\2utf-8\2", text, count=1), _CHARSET.sub("", content_type) + "; charset=utf-8"
    header = _CHARSET.search(content_type)
    if header and "utf-8" not in header.group(0).lower() and not content.isascii():
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return content, content_type
        declared = _XML_ENCODING.match(content)
        if declared is None or b"utf-8" in declared.group(0).lower():
            return content, _CHARSET.sub("", content_type) + "; charset=utf-8"
    says_utf8_or_nothing = header is None or "utf-8" in header.group(0).lower()
    if says_utf8_or_nothing and not content.isascii() and _XML_ENCODING.match(content) is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            from charset_normalizer import from_bytes  # here: only undeclared non-UTF-8 bodies need it

            best = from_bytes(content).best()
            if best is not None:
                text = content.decode(best.encoding, "replace").encode("utf-8")
                return text, _CHARSET.sub("", content_type) + "; charset=utf-8"
    return content, content_type


def parse_feed(
    response: Response, source_id: str, language: str | None = None, keep_params: tuple[str, ...] = ()
) -> list[Item]:
    """Parse an RSS/Atom document into items. Pure: depends on its arguments only.

    Plain RSS takes the fast path (lxml, watcher/sources/_feedparse.py); whatever it does not
    model, and a document it finds no entries in, goes to feedparser. Both give the same items."""
    return _parse_with("auto", response, source_id, language, keep_params)


def _parse_with(
    parser: Literal["auto", "fast", "feedparser"], response: Response, source_id: str, language: str | None = None,
    keep_params: tuple[str, ...] = (),
) -> list[Item]:
    """`parse_feed` with the parser chosen: "fast" raises `Unsupported` where "auto" falls back
    (tests/test_parse_equivalence.py compares the two on every feed it has)."""
    guard_document(response)
    content, content_type = normalise_encoding(response.content, response.header("content-type") or "application/xml")
    parsed = None
    if parser != "feedparser":
        try:
            parsed = _feedparse.fast(content, content_type, response.url)
        except _feedparse.Unsupported:
            if parser == "fast":
                raise
        if parsed is not None and not parsed.entries and parser == "auto":
            parsed = None  # nothing found: let the tolerant parser look (and say why)
    if parsed is None:
        parsed = _feedparse.with_feedparser(content, content_type, response.url)
    if not parsed.entries:
        problem = parsed.problem
        if problem is not None and not isinstance(problem, _BENIGN):
            raise ParseFailed(f"not a readable feed: {problem}")
        raise EmptyFeed("a feed with no items")
    feed_language = parsed.language[:2].lower() or None
    built = [_item(entry, response, source_id, language or feed_language, keep_params) for entry in parsed.entries]
    items = distinct_stories([item for item in built if item is not None])
    if not items:
        raise EmptyFeed("a feed whose items have neither title, text nor link")
    return items


def distinct_stories(items: list[Item]) -> list[Item]:
    """One item per story of a document, whatever its guids say.

    A guid is a hint, not the identity: feeds reuse one guid for several stories (a CMS that
    numbers per category, a template bug), and a link shared by items of different text (a
    feed whose every link is the home page) identifies nothing. So:
    - exact repeats (same key, link and text) are one item;
    - a key repeated by an item of another link or text gets a key of its own
      (`<guid>#<text hash>`) and the flag "guid_reused";
    - a link shared by items of different text is flagged "link_shared", and those items are
      keyed by guid or text, never by that link (the store does not dedupe them by it either).
    """
    texts_per_link: dict[str, set[str]] = {}
    for item in items:
        if item.url:
            texts_per_link.setdefault(item.url, set()).add(item.content_hash)
    out: list[Item] = []
    seen: dict[str, Item] = {}
    for item in items:
        if item.url and len(texts_per_link[item.url]) > 1:
            key = item.key if item.key != item.url else f"sha256:{item.content_hash}"
            item = replace(item, key=key, flags=(*item.flags, "link_shared"))
        earlier = seen.get(item.key)
        if earlier is not None:
            if earlier.url == item.url and earlier.content_hash == item.content_hash:
                continue
            item = replace(item, key=story_key(item.key, item.content_hash), flags=(*item.flags, "guid_reused"))
            if item.key in seen:
                continue
        seen[item.key] = item
        out.append(item)
    return out


def _published(dates: tuple[time.struct_time | None, ...], fetched_at: datetime) -> datetime:
    for stamp in dates:
        if stamp:
            try:
                when = datetime.fromtimestamp(calendar.timegm(stamp), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
            return fetched_at if when > fetched_at + FUTURE_SLACK else when
    return fetched_at


def _item(
    entry: _feedparse.Entry, response: Response, source_id: str, language: str | None, keep_params: tuple[str, ...] = ()
) -> Item | None:
    title = html_to_text(entry.title)[:MAX_TITLE]
    summary = html_to_text(entry.summary)[:MAX_SUMMARY]
    link = canonical_url(entry.link, keep_params)  # keep_params: the source's own ids
    if not (title or summary or link):
        return None
    digest = content_hash(title, summary)
    guid = " ".join(entry.guid.split())[:500]
    key = guid or link or f"sha256:{digest}"
    return Item(
        source_id=source_id,
        key=key,
        title=title,
        summary=summary,
        url=link,
        published=_published(entry.dates, response.fetched_at),
        language=language,
        content_hash=digest,
        flags=("mojibake",) if looks_like_mojibake(f"{title}\n{summary}") else (),  # a notice, not a refusal
    )
