"""The two feed parsers behind `parse_feed`: a fast path for plain RSS 2.0 and feedparser.

feedparser reads anything (it falls back to a forgiving SGML parser on broken XML), but it
walks every element through Python SAX handlers: about 30 ms for a 50-item feed, most of a
fresh poll cycle's CPU. The fast path parses the document with lxml (libxml2, in C) and reads
the few fields watcher uses itself, applying feedparser's own helpers in feedparser's own order
(its character decoding, URI joining, HTML re-serialisation, date parser, cp1252 repair), so its
entries are feedparser's, field by field (tests/test_parse_equivalence.py proves it on every
feed fixture of the repo and a corpus of feeds of all shapes).

It only takes documents whose every relevant element it models, and hands anything else to
feedparser (`Unsupported`). fastfeedparser was tried first and rejected for this path: its
entries cannot be made equal to feedparser's (no raw dates, so odd formats parse differently
and "yesterday" becomes the clock's now, which would make parsing impure; ids invented from
links, so a guid-less item could not be told from one whose guid is its link; relative links
and xml:base left unresolved; summaries synthesised from content; element order lost), and
recovering those fields needs this very tree, after which it is a second parse of equal cost.

Why a document goes to feedparser (each is a test in tests/test_parse_equivalence.py):
- the encoding step was not clean (feedparser's `convert_to_utf8` flagged it) or there is a
  DOCTYPE (feedparser strips it and may then fall back to its loose parser on HTML entities);
- lxml's strict parser refuses it: not well-formed, an undefined entity, an unbound namespace
  prefix, nesting deeper than 256 or a text node over 10 MB (huge_tree is off; no network, no
  DTD, no entity resolution, so nothing outside the bytes is ever read);
- it is not RSS 0.9x/2.0 (`<rss><channel>` without namespace): RSS 1.0 (RDF) and Atom take the
  tolerant path for now;
- it uses xml:base or xml:lang (feedparser tracks them per element), or has an item anywhere
  but directly in the channel (the count of `item` elements must equal the channel's);
- an item has an element the fast path does not model (media:group, itunes:summary, atom:link,
  raw XHTML inside a description, a comment...), an attribute on a text element, two of a
  field, or content:encoded before its description (feedparser then keeps the first as the
  summary by a rule of its own).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri, resolve_relative_uris
from lxml import etree

_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
# item children that change none of the fields watcher reads (feedparser keeps them elsewhere)
_IGNORED = frozenset({
    "category", "author", "comments", "enclosure", "source", f"{_DC}creator", f"{_DC}subject",
    "{http://wellformedweb.org/CommentAPI/}commentRss", "{http://purl.org/rss/1.0/modules/slash/}comments",
    "{http://search.yahoo.com/mrss/}content", "{http://search.yahoo.com/mrss/}thumbnail",
})
# item children read here, with the attributes they may carry
_READ = {"title": (), "link": (), "description": (), "guid": ("isPermaLink",), "pubDate": (),
         f"{_DC}date": (), _CONTENT_ENCODED: ()}
_ENTITY_IN_LINK = re.compile("&([A-Za-z0-9_]+);")
_C1 = re.compile("[\x80-\x9f]")  # the only characters feedparser's _cp1252 table maps
_DOCTYPE = re.compile(rb"<!doctype", re.I)


class Unsupported(Exception):
    """The fast path does not model this document; feedparser reads it."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What `parse_feed` reads of one feed entry, as feedparser gives it."""

    title: str
    summary: str  # the summary, else the first non-empty content block
    link: str
    guid: str
    dates: tuple[time.struct_time | None, ...]  # published, updated, created: the first usable wins


@dataclass(frozen=True, slots=True)
class Parsed:
    entries: list[Entry]
    language: str  # the feed's, as written ("" when it has none)
    problem: Exception | None  # feedparser's bozo exception, when it had one


# nothing outside the bytes: no DTD, no entity expansion, no network, libxml2's size and depth
# limits kept (huge_tree off). collect_ids stays on: off, libxml2 reads a DOCTYPE's external
# subset from disk (found by tests/test_parse_equivalence.py; fastfeedparser 0.6.5 sets it off)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def with_feedparser(content: bytes, content_type: str, url: str) -> Parsed:
    """The tolerant parser, with watcher's arguments: bytes (never a URL), no sanitising."""
    import io

    parsed = feedparser.parse(io.BytesIO(content), response_headers={"content-type": content_type, "content-location": url},
                              resolve_relative_uris=True, sanitize_html=False)
    entries = [Entry(title=str(e.get("title") or ""), summary=_entry_summary(e), link=str(e.get("link") or ""),
                     guid=str(e.get("id") or ""), dates=_entry_dates(e)) for e in parsed.get("entries") or []]
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return Parsed(entries, str(parsed.feed.get("language") or ""), problem)


def _entry_summary(entry: Any) -> str:
    if entry.get("summary"):
        return str(entry["summary"])
    for block in entry.get("content") or []:
        if block.get("value"):
            return str(block["value"])
    return ""


def _entry_dates(entry: Any) -> tuple[time.struct_time | None, ...]:
    import warnings

    with warnings.catch_warnings():  # feedparser warns about its updated->published fallback
        warnings.simplefilter("ignore", DeprecationWarning)
        return tuple(entry.get(key) for key in ("published_parsed", "updated_parsed", "created_parsed"))


def fast(content: bytes, content_type: str, url: str) -> Parsed:
    """Plain RSS 0.9x/2.0 read with lxml, or `Unsupported`."""
    if _DOCTYPE.search(content):
        raise Unsupported("a DOCTYPE")
    result: dict[str, Any] = {}
    data = convert_to_utf8({"content-type": content_type, "content-location": url}, content, result)
    if result.get("bozo") or not result.get("encoding"):
        raise Unsupported(f"encoding: {result.get('bozo_exception')}")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise Unsupported(f"not strict XML: {error}") from None
    if root.tag != "rss":
        raise Unsupported(f"root {root.tag!r}")
    if b"xml:" in data and root.xpath("//@xml:base | //@xml:lang"):
        raise Unsupported("xml:base or xml:lang")
    channels = [child for child in root if child.tag == "channel"]
    if len(channels) != 1:
        raise Unsupported("not one channel")
    channel = channels[0]
    items = [child for child in channel if child.tag == "item"]
    if len(items) != sum(1 for _ in root.iter("{*}item", "{*}entry")):
        raise Unsupported("items outside the channel")
    base = make_safe_absolute_uri("", url) or make_safe_absolute_uri(url) or ""
    languages = [child for child in channel if child.tag in ("language", f"{_DC}language")]
    if len(languages) > 1:
        raise Unsupported("two languages")
    language = _plain(_text(languages[0])) if languages else ""
    return Parsed([_rss_entry(item, base) for item in items], language, None)


def _text(element: Any) -> str:
    if len(element):  # child elements, comments or processing instructions: feedparser's to read
        raise Unsupported(f"markup inside {element.tag}")
    return (element.text or "").strip()


def _plain(text: str) -> str:
    """What feedparser's `pop` does to every value last: undo UTF-8 read as Latin-1, map C1 controls."""
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(_cp1252) if _C1.search(text) else text


_BARE_TAGS = frozenset(f"<{end}{name}>" for end in ("", "/") for name in (
    "p", "b", "i", "em", "strong", "u", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "div", "span", "small", "sub", "sup"))
_ANY_TAG = re.compile(r"<[^<>]*>")


def _serialised_as_is(text: str) -> bool:
    """Whether feedparser's SGML re-serialisation gives `text` back unchanged: no "&" (entities
    and character references are rewritten) and only these lower-case tags without attributes,
    which are written back as they came (tests/test_parse_equivalence.py checks it). Most news
    descriptions are "<p>…</p>" and need no parsing here."""
    if "&" in text:
        return False
    tags = _ANY_TAG.findall(text)
    return len(tags) == text.count("<") and _BARE_TAGS.issuperset(tags)


def _html(text: str, base: str) -> str:
    """feedparser's re-serialisation of HTML (relative URIs resolved); text it would give back
    unchanged (plain text, bare paragraphs) is not parsed at all."""
    if not _serialised_as_is(text):
        text = resolve_relative_uris(text, base, "utf-8", "text/html")
    return _plain(text)


def _rss_entry(item: Any, base: str) -> Entry:
    fields: dict[str, Any] = {}
    for child in item:
        tag = child.tag
        if tag in _IGNORED:
            if tag.startswith("{http://search.yahoo.com/mrss/}") and len(child):
                raise Unsupported("media element with children")
            continue
        allowed = _READ.get(tag) if isinstance(tag, str) else None
        if allowed is None:
            raise Unsupported(f"item element {tag!r}")
        if tag in fields:
            raise Unsupported(f"two {tag}")
        if any(name not in allowed for name in child.attrib):
            raise Unsupported(f"attributes on {tag}")
        if tag == _CONTENT_ENCODED and "description" not in fields and "description" in (c.tag for c in item):
            raise Unsupported("content:encoded before description")
        fields[tag] = child
    title = ""
    if "title" in fields:
        title = _text(fields["title"])
        title = _html(title, base) if _FeedParserMixin.looks_like_html(title) else _plain(title)
    summary = _html(_text(fields["description"]), base) if "description" in fields else ""
    if not summary and _CONTENT_ENCODED in fields:
        summary = _html(_text(fields[_CONTENT_ENCODED]), base)
    guid, link = "", None
    if "guid" in fields:
        permalink = fields["guid"].get("isPermaLink", "true") == "true"
        guid = _text(fields["guid"])
        if guid and permalink:
            guid = _urljoin(base, guid)
        guid = _plain(guid)
        if permalink:
            link = guid
    if "link" in fields:
        link = _text(fields["link"])
        link = _plain(_urljoin(base, link) if link else link)
        link = _ENTITY_IN_LINK.sub(r"&\g<1>", link.replace("&amp;", "&"))
    published = _parse_date(_plain(_text(fields["pubDate"]))) if "pubDate" in fields else None
    # feedparser's entry.updated_parsed falls back to published_parsed when there is no dc:date
    updated = _parse_date(_plain(_text(fields[f"{_DC}date"]))) if f"{_DC}date" in fields else published
    return Entry(title=title, summary=summary, link=link or "", guid=guid, dates=(published, updated, None))
