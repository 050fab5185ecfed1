"""Is a fetched page the article, and what is its main text?

A block, challenge or captcha page answered with 200 is not evidence: keeping it would mark
the report "done" with a page that shows nothing. It is told by two things together: a sign
of a challenge (a challenge page's title, or a challenge or captcha widget) and almost no
main text. Either alone is not enough: Cloudflare injects its challenge-platform script into
ordinary articles, and many articles carry a reCAPTCHA in a comment or newsletter form; an
article titled "Access denied" exists too. (A 401/403/429/451 never gets here: the Fetcher
raises SourceBlocked for those, as it does for the sources.)

The main text comes from trafilatura, imported on first use: importing it takes about a
second, which `watcher --help` and every poll that keeps no page should not pay.
"""

from __future__ import annotations

import logging
import re

from watcher.models import Response

log = logging.getLogger(__name__)

SCAN_BYTES = 64 * 1024  # a challenge page says what it is near the top
LITTLE_TEXT = 400  # characters of main text under which a page with a challenge sign is a block page
_TITLE = re.compile(rb"<title[^>]*>\s*([^<]{0,200})", re.IGNORECASE)
_CHALLENGE_TITLE = re.compile(
    r"^(just a moment|attention required|access denied|access to this page has been denied|are you a robot"
    r"|are you human|security check|verifying you are human|please verify|one more step|pardon our interruption"
    r"|ddos-guard|ddos protection|403 forbidden|request rejected|captcha|bot verification|checking your browser)",
    re.IGNORECASE)
_CHALLENGE_MARK = re.compile(
    rb"_cf_chl_opt|cf-chl-|cf_chl_|challenges\.cloudflare\.com|g-recaptcha|h-captcha|hcaptcha\.com|captcha-delivery"
    rb"|px-captcha|geo\.captcha|ddos-guard|sucuri_cloudproxy|incapsula incident|/_incapsula_resource"
    rb"|checking your browser before accessing|enable javascript and cookies to continue",
    re.IGNORECASE)


def title_of(content: bytes) -> str:
    """The page's <title>, whitespace collapsed ('' when there is none)."""
    found = _TITLE.search(content[:SCAN_BYTES])
    return " ".join(found.group(1).decode("utf-8", "replace").split()) if found else ""


def block_reason(response: Response, text: str | None) -> str | None:
    """Why this 200 answer is not the article (a block, challenge or captcha page, or an empty
    body), or None when it may be kept. `text` is the extracted main text."""
    if not response.content.strip():
        return "the server sent an empty page"
    if len((text or "").strip()) >= LITTLE_TEXT:
        return None
    title = title_of(response.content)
    if _CHALLENGE_TITLE.match(title):
        return f"a block or challenge page instead of the article (its title: {title[:80]!r})"
    mark = _CHALLENGE_MARK.search(response.content[:SCAN_BYTES])
    if mark:
        return f"a block, challenge or captcha page instead of the article ({mark.group(0).decode('ascii', 'replace')})"
    return None


def _charset(content_type: str) -> str | None:
    found = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    return found.group(1) if found else None


def main_text(response: Response) -> str | None:
    """The article's main text (trafilatura), or None when there is none to find (a PDF, an
    image, a page of links). Never raises: an extractor fault must not lose the page itself."""
    content_type = response.header("content-type").lower()
    if content_type and not any(kind in content_type for kind in ("html", "xml", "text/plain")):
        return None
    document: str | bytes = response.content
    charset = _charset(content_type)
    if charset:
        try:
            document = response.content.decode(charset, "replace")
        except LookupError:
            pass  # an unknown charset name: let trafilatura guess from the bytes
    try:
        import trafilatura  # slow to import; only evidence needs it

        text = trafilatura.extract(document, url=response.url, include_comments=False, include_tables=True)
    except Exception as exc:  # a bug in the extractor (or a part of it missing)
        log.warning("the main text of an evidence page could not be extracted: %s", type(exc).__name__)
        log.debug("extraction failure", exc_info=True)
        return None
    return text.strip() or None if text else None
