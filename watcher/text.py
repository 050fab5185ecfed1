"""Text helpers shared by parsers: HTML to plain text, canonical links, content hashes.

Canonical links are what lets the same article from two feeds be stored once: scheme and host
lower-cased, default ports and tracking parameters (utm_*, fbclid, ...) dropped. Fragments are
kept, because some sources (HUDOC) put the document id in the fragment.
"""

from __future__ import annotations

import hashlib
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_EXACT = {
    "fbclid", "gclid", "dclid", "yclid", "msclkid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
    "ref_src", "cmpid", "ocid", "sr_share", "spm", "mkt_tok", "s_cid", "at_medium", "at_campaign",
    "at_custom1", "at_custom2", "at_custom3", "at_custom4", "wt_mc", "xtor", "share",
}
_TRACKING_PREFIXES = ("utm_", "ns_", "pk_", "mtm_", "hsa_")
_BLOCK_TAGS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote",
               "section", "article", "header", "footer", "table", "pre", "hr", "figure", "figcaption"}
_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg"}
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b\u200c\u200d\u2060\ufeff]")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """A stable form of a link for deduplication; returns the input stripped if it is not a URL."""
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
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)])
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


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace tidied."""
    if not html:
        return ""
    if "<" not in html:
        text = unescape(html)
    else:
        parser = _TextExtractor()
        try:
            parser.feed(html)
            parser.close()
            text = "".join(parser.parts)
        except Exception:  # HTMLParser is lenient; this is a last resort for pathological input
            text = re.sub(r"<[^>]*>", " ", html)
    return tidy(text)


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
