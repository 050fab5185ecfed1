"""The fast parse path gives feedparser's items, field by field, or steps aside (issue #16).

Every RSS/Atom document in the repo (tests/fixtures/**, watcher/demo/feeds/, the constructed
corpus in tests/fixtures/feeds_corpus/) is parsed with feedparser and with `parse_feed`'s
automatic choice; the items must be equal. Where the fast path takes a document itself, its own
output is compared too, and the corpus cases it must hand to feedparser are named.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import FIXTURES

from watcher.errors import EmptyFeed, ParseFailed, SourceBlocked
from watcher.models import Response
from watcher.sources import _feedparse
from watcher.sources.rss import _parse_with, parse_feed

ROOT = Path(__file__).resolve().parent.parent
CORPUS = FIXTURES / "feeds_corpus"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:RDF", b"<RDF")
# corpus files served with a header of their own
HEADERS = {"windows1251_undeclared.xml": "text/xml", "windows1251_declared.xml": "application/rss+xml; charset=windows-1251"}


def _feed_files() -> list[Path]:
    found = []
    for path in sorted([*FIXTURES.rglob("*"), *(ROOT / "watcher" / "demo" / "feeds").glob("*")]):
        if path.is_file() and path.suffix in (".xml", ".rss", ".atom", ""):
            head = path.read_bytes()[:4096].replace(b"\x00", b"")
            if any(root in head for root in FEED_ROOTS):
                found.append(path)
    return found


FILES = _feed_files()


def _response(path: Path) -> Response:
    ctype = HEADERS.get(path.name, "application/rss+xml")
    return Response(url="https://news.example.org/section/feed.xml", status=200, headers={"content-type": ctype},
                    content=path.read_bytes(), fetched_at=NOW)


def _outcome(parser: str, response: Response) -> object:
    try:
        return _parse_with(parser, response, "s", None, ("id",))  # type: ignore[arg-type]
    except (EmptyFeed, ParseFailed, SourceBlocked) as error:
        return type(error).__name__


def test_the_repo_has_feeds_of_every_shape() -> None:
    names = {p.name for p in FILES}
    assert len(FILES) >= 40 and {"rss10_rdf.xml", "atom03.xml", "utf16_bom.xml", "news-ru.xml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_parse_feed_gives_feedparser_items_field_by_field(path: Path) -> None:
    response = _response(path)
    reference = _outcome("feedparser", response)
    assert _outcome("auto", response) == reference
    try:
        fast = _parse_with("fast", response, "s", None, ("id",))
    except (_feedparse.Unsupported, EmptyFeed, ParseFailed, SourceBlocked):
        return
    assert isinstance(reference, list)
    for mine, theirs in zip(fast, reference, strict=True):
        for field in ("key", "title", "summary", "url", "published", "language", "content_hash", "flags"):
            assert getattr(mine, field) == getattr(theirs, field), (field, theirs.title)


# what the fast path reads itself, and what it hands over (the module docstring says why)
FAST = {"rss_cdata.xml", "rss_relative_nobase.xml", "windows1251_declared.xml",
        "windows1251_undeclared.xml", "utf16_bom.xml", "odd_dates.xml",
        "escaped_entities.xml", "guid_permalink.xml", "empty_titles.xml", "rss092_enclosure.xml",
        "rss_no_channel_language.xml", "missing_dates_plain.xml", "rss20_dc_content.xml"}
FALLBACK = {"rss091_netscape.xml", "rss10_rdf.xml", "atom03.xml", "atom10_plain.xml", "atom10_xmlbase.xml",
            "missing_dates.xml", "rss20_namespaces.xml", "rss_unescaped_html.xml",
            "rss_item_xmlbase.xml"}


def test_the_corpus_is_split_as_documented() -> None:
    assert {p.name for p in CORPUS.glob("*.xml")} == FAST | FALLBACK
    for name in sorted(FAST | FALLBACK):
        response = _response(CORPUS / name)
        if name in FAST:
            assert _parse_with("fast", response, "s"), name
        else:
            with pytest.raises(_feedparse.Unsupported):
                _parse_with("fast", response, "s")


def _rss(items: str, head: str = '<?xml version="1.0"?>') -> bytes:
    return f'{head}<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize("body", [
    _rss("<item><title>broken & unescaped</title></item>"),  # not well-formed: loose parser
    _rss("<item><title>x</title><media:group xmlns:media='http://search.yahoo.com/mrss/'>"
         "<media:description>caption</media:description></media:group></item>"),
    _rss("<item><title>x</title><itunes:summary xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd'>s"
         "</itunes:summary></item>"),
    _rss("<item><title>x</title><description>a <!-- note --> b</description></item>"),
    _rss("<item><title>x</title><content:encoded xmlns:content='http://purl.org/rss/1.0/modules/content/'>first"
         "</content:encoded><description>second</description></item>"),
    _rss("<item><title>one</title><title>two</title></item>"),
    _rss("<item><title type='html'>x</title></item>"),
    _rss("<item><title>x</title><guid isPermaLink='false'>a</guid><guid>b</guid></item>"),
    _rss('<item><title>deep</title><description>' + "<b>" * 300 + "</b>" * 300 + "</description></item>"),
    _rss("<item><title>x</title></item>", head='<?xml version="1.0" encoding="x-unknown-thing"?>'),
    b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>a</title></item></channel>'
    b'<item><title>stray</title></item></rss>',
])
def test_what_the_fast_path_does_not_model_goes_to_feedparser(body: bytes) -> None:
    response = Response(url="https://x.org/feed", status=200, headers={"content-type": "application/rss+xml"},
                        content=body, fetched_at=NOW)
    with pytest.raises(_feedparse.Unsupported):
        _parse_with("fast", response, "s")
    assert _outcome("auto", response) == _outcome("feedparser", response)


def test_no_entries_found_fast_is_looked_at_by_feedparser() -> None:
    response = Response(url="https://x.org/feed", status=200, headers={"content-type": "application/rss+xml"},
                        content=_rss(""), fetched_at=NOW)
    assert _feedparse.fast(response.content, "application/rss+xml", response.url).entries == []
    with pytest.raises(EmptyFeed):
        parse_feed(response, "s")


def test_the_fast_path_reads_nothing_outside_the_bytes(tmp_path: Path) -> None:
    """No DTD, no external entity, no XInclude: the entity guard runs first, and lxml is set
    not to load or resolve anything even if a declaration got past it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file://{secret}"><rss version="2.0"><channel>'
            "<item><title>t</title></item></channel></rss>").encode()
    response = Response(url="https://x.org/feed", status=200, headers={}, content=body, fetched_at=NOW)
    with pytest.raises(_feedparse.Unsupported):  # a DOCTYPE is feedparser's to read
        _parse_with("fast", response, "s")
    from lxml import etree

    # and the parser itself neither loads the DTD nor expands an external entity
    external = etree.fromstring(f'<!DOCTYPE r [<!ENTITY e SYSTEM "file://{secret}">]><r>&e;</r>'.encode(), _feedparse._PARSER)
    assert "SECRET" not in "".join(external.itertext())
    assert b"SECRET" not in etree.tostring(etree.fromstring(body, _feedparse._PARSER))


@pytest.mark.parametrize("body", [
    b'<rss version="2.0"><channel><item><title>t</title></item>' + b"<x>" * 5000 + b"</x>" * 5000 + b"</channel></rss>",
    b'<rss version="2.0"><channel><item><title>t</title><description>' + b"a" * (11 * 1024 * 1024)
    + b"</description></item></channel></rss>",
])
def test_libxml2_limits_stay_on_for_deep_or_huge_documents(body: bytes) -> None:
    """huge_tree is off: nesting past 256 levels or a text node over 10 MB stops the fast parse
    at once (feedparser's streaming parser then reads it, as it always did)."""
    with pytest.raises(_feedparse.Unsupported, match="XML_PARSE_HUGE"):
        _feedparse.fast(body, "application/rss+xml", "https://x.org/feed")


def test_html_left_unparsed_is_what_feedparser_would_give_back() -> None:
    """The fast path skips feedparser's SGML re-serialisation for text it would return unchanged
    (no "&", only bare lower-case tags): 5,000 random fragments of those tags, others, stray
    angle brackets, entities and text, each either taken as is and equal to feedparser's output,
    or handed to feedparser."""
    import random

    from feedparser.urls import resolve_relative_uris

    rng = random.Random(16)
    pieces = ["<p>", "</p>", "<b>", "</i>", "<li>", "<ul>", "</h3>", "<div>", "</span>", "<sub>", "<P>", "<br>",
              "<p class=x>", "<a href='/x'>", "</a>", "<img src=y>", "<br/>", "<!-- c -->", "<![CDATA[z]]>", "<!x>",
              "&amp;", "&#39;", "&nbsp;", "&bogus;", "a < b", "c > d", "<", ">", " ", "\n", "Каримов", "é", "word",
              "'", '"', "=", "/", "<p >", "< p>", "<script>", "</script>", "<pre>", "<u>x</u>"]
    taken = 0
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        resolved = resolve_relative_uris(text, "https://news.example.org/", "utf-8", "text/html")
        if _feedparse._serialised_as_is(text):
            taken += 1
            assert resolved == text, text
    assert 300 < taken < 4000, taken
