"""Text helpers shared by parsers: HTML to plain text, canonical links, content hashes.

Canonical links are what lets the same article from two feeds be stored once: scheme and host
lower-cased, default ports and tracking parameters (utm_*, fbclid, ref, from, ...) dropped.
Fragments are kept, because some sources (HUDOC) put the document id in the fragment.

Tracking parameters are courlan's list (TRACKERS_RE, compiled from AdGuard's TrackParamFilter,
ClearURLs and Firefox's query stripping; courlan is trafilatura's URL library and is kept up to
date), read one word of the name at a time, plus the exact names below that it lacks (`src`,
`from`, `rss`, ...). A source whose article id is such a parameter lists it in `keep_params`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from functools import cache, lru_cache
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# names courlan's list does not cover: feed and share markers of news sites ("?from=rss",
# "?src=telegram", "?rss=1"), Yandex's _openstat, the Guardian's CMP, Google's gclsrc/srsltid
_TRACKING_EXACT = {
    "fbclid", "gclid", "dclid", "yclid", "msclkid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
    "ref_src", "cmpid", "ocid", "sr_share", "spm", "mkt_tok", "s_cid", "at_medium", "at_campaign",
    "at_custom1", "at_custom2", "at_custom3", "at_custom4", "wt_mc", "xtor", "share",
    "ref", "src", "from", "rss", "cmp", "_openstat", "gclsrc", "srsltid",
}
_TRACKING_PREFIXES = ("utm_", "ns_", "pk_", "mtm_", "hsa_")
_NAME_WORDS = re.compile(r"[_.\-]")
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote",
               "section", "article", "header", "footer", "table", "pre", "hr", "figure", "figcaption"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg"}
# Dropped from stored text: C0 controls, soft hyphens (a CMS's hyphenation hints, &shy;) and
# zero-width characters. Bidi marks are kept for display, C1 controls as evidence of mojibake
# (feedparser already reads them as cp1252); the matcher ignores both (matching/normalize.py).
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u00ad\u200b\u200c\u200d\u2060\ufeff]")


@cache
def _trackers() -> re.Pattern[str]:
    """courlan's pattern, imported on first use: courlan brings babel and tld (170 ms, 3.5 MB),
    which commands that never read a link (rules check, match) need not pay for."""
    from courlan.clean import TRACKERS_RE

    return TRACKERS_RE


@lru_cache(maxsize=4096)
def _is_tracking(lowered: str) -> bool:
    """Is this (lower-cased) query parameter name a tracking parameter?

    courlan's pattern is meant for `search`, and unanchored it also takes `gallery` and `game`
    (for `ga`) or `reference` (for `ref`); so a name counts if the pattern's prefixes (utm_,
    mc_, fbclid, ...) start it, or if one of its words (split at _ . -) is wholly one of the
    pattern's names: `at_medium`, `_ga`, `affiliate_id`, `ref`, but not `gallery`."""
    if lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES):
        return True
    pattern = _trackers()
    start = pattern.match(lowered)
    if start is not None and (start.end() == len(lowered) or start.group(0).endswith("_")):
        return True
    return any(pattern.fullmatch(word) for word in _NAME_WORDS.split(lowered) if word)


def canonical_url(url: str, keep: Collection[str] = ()) -> str:
    """A stable form of a link for deduplication; returns the input stripped if it is not a URL.

    `keep`: query parameter names (any case) never dropped, a source's `keep_params` for the
    sites whose article id looks like a tracking parameter (`?from=123`)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # http://host:99999/ or http://host:abc/: keep the link as it came
        return url
    if (scheme, port) in (("http", 80), ("https", 443)):
        port = None
    netloc = host if port is None else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    kept = {name.lower() for name in keep}
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() in kept or not _is_tracking(k.lower())])
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, parts.fragment))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_TAG_SPLIT = re.compile(r"(<[^<>]*>)")
_BARE_TAG = re.compile(r"</?([a-z][a-z0-9]*)>")
_RAW_TEXT_TAGS = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
                  "plaintext"}  # whose content HTMLParser may read as raw text: parse them


def _bare_markup_text(html: str) -> str | None:
    """The text `_TextExtractor` would find in markup that is only bare lower-case tags (no
    attributes, comments or entities): a line break for a block tag, nothing for any other;
    None for anything else. Most feed descriptions are "<p>…</p>", and HTMLParser costs
    tens of microseconds each (tests/test_text.py compares the two on random markup)."""
    if "&" in html:
        return None
    pieces = _TAG_SPLIT.split(html)
    for at in range(1, len(pieces), 2):
        bare = _BARE_TAG.fullmatch(pieces[at])
        if bare is None or bare.group(1) in _SKIP_TAGS or bare.group(1) in _RAW_TEXT_TAGS:
            return None
        pieces[at] = "\n" if bare.group(1) in _BLOCK_TAGS else ""
    text = "".join(pieces)
    return None if "<" in text else text


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace tidied."""
    if not html:
        return ""
    if "<" not in html:
        text = unescape(html)
    else:
        bare = _bare_markup_text(html)
        text = _extracted(html) if bare is None else bare
    return tidy(text)


def _extracted(html: str) -> str:
    """The text HTMLParser finds in `html` (before tidying)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
        return "".join(parser.parts)
    except Exception:  # HTMLParser is lenient; this is a last resort for pathological input
        return re.sub(r"<[^>]*>", " ", html)


def tidy(text: str) -> str:
    """Drop control and zero-width characters, collapse spaces, keep paragraph breaks."""
    text = _INVISIBLE.sub("", text).replace("\r", "")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out = "\n".join(line for line in lines if line)
    return out.strip()


def content_hash(title: str, summary: str) -> str:
    """Hash of the words of an item, blind to case and spacing, to spot one story in two feeds."""
    basis = " ".join(f"{title}\n{summary}".casefold().split())
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


# -- mojibake ------------------------------------------------------------------------------------
# Text decoded with the wrong code page, which no name matcher can read: UTF-8 read as cp1252 or
# Latin-1 ("Ð¡Ð¾" for "Со", "Ã©" for "é") or as cp1251 ("РЎРѕ"), and cp1251 or KOI8-R read as
# cp1252/Latin-1 ("Áàõîäèð" for "Баходир"). Found by undoing it: a run of characters that
# re-encodes to bytes which are valid UTF-8 for letters or punctuation was mis-decoded UTF-8;
# a genuine accent (é, ß, ğ, ə) or a Russian word is never such a run, except by rare accident,
# so it takes two such characters covering half of the text's high characters to say so.


def _high_chars(codec: str) -> dict[str, int]:
    """Character -> its byte (0x80..0xFF) in `codec`; undefined bytes read as Latin-1 controls."""
    table = {}
    for byte in range(0x80, 0x100):
        try:
            table[bytes([byte]).decode(codec)] = byte
        except UnicodeDecodeError:
            table[chr(byte)] = byte
    return table


_READ_AS = {codec: _high_chars(codec) for codec in ("cp1252", "cp1251")}
_RUNS = {codec: re.compile("[" + "".join(re.escape(c) for c in table) + "]+") for codec, table in _READ_AS.items()}
# what a mis-decoded UTF-8 sequence plausibly stood for: Latin, ə, Greek, Cyrillic, Armenian to
# Arabic, general punctuation, currency and letterlike symbols (not N'Ko or CJK, which accidental
# pairs like "ß“" or "é »" would give)
_PLAUSIBLE = ((0x00A0, 0x024F), (0x0259, 0x0259), (0x0370, 0x06FF), (0x2010, 0x214F))
# cp1251/KOI8-R Cyrillic read as cp1252: a word of 4+ characters all from À..ÿ (and ¸ ¨ ¢ ¡ ³ ²
# º ª ¿ ¯, the cp1251 places of ё Ё ў Ў і І є Є ї Ї), which no Latin-script language writes
_CYRILLIC_AS_LATIN1 = re.compile("[\u00c0-\u00ff\u00b8\u00a8\u00a2\u00a1\u00b3\u00b2\u00ba\u00aa\u00bf\u00af]{4,}")


def _sequences(table: dict[str, int]) -> re.Pattern[str]:
    """Characters that re-encode to a well-formed multi-byte UTF-8 sequence (a lead byte and its
    continuation bytes): without one, `_utf8_misread` can undo nothing, so most genuine text is
    answered by one regex search instead of a decode per word."""
    def chars(low: int, high: int) -> str:
        return "[" + "".join(re.escape(c) for c, b in table.items() if low <= b <= high) + "]"

    cont = chars(0x80, 0xBF)
    return re.compile(f"{chars(0xC2, 0xDF)}{cont}|{chars(0xE0, 0xEF)}{cont}{{2}}|{chars(0xF0, 0xF4)}{cont}{{3}}")


_SEQUENCES = {codec: _sequences(table) for codec, table in _READ_AS.items()}


def _plausible(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _PLAUSIBLE)


def _utf8_misread(text: str, codec: str) -> bool:
    if _SEQUENCES[codec].search(text) is None:
        return False
    table, high, undone, consumed = _READ_AS[codec], 0, 0, 0
    for run in _RUNS[codec].finditer(text):
        high += len(run.group())
        decoded = bytes(table[c] for c in run.group()).decode("utf-8", "replace")
        good = [ch for ch in decoded if ch != "\ufffd" and _plausible(ch)]
        undone += len(good)
        consumed += sum(len(ch.encode("utf-8")) for ch in good)
    return undone >= 2 and consumed * 2 >= high


def looks_like_mojibake(text: str) -> bool:
    """Does `text` look decoded with the wrong code page? Pure; false for genuine French, German,
    Turkish, Azerbaijani, Uzbek, Russian text (see tests/test_fetch_faults.py)."""
    if text.isascii():
        return False
    runs = [r for r in _CYRILLIC_AS_LATIN1.findall(text) if len(set(r)) >= 3]  # not Estonian "jäääär"
    if len(runs) >= 2 or any(len(r) >= 6 for r in runs):
        return True
    return _utf8_misread(text, "cp1252") or _utf8_misread(text, "cp1251")
