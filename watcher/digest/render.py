"""Rendering a `Digest` (watcher.digest.model) into the morning digest email.

Both parts come from Jinja templates in watcher/digest/templates: digest.html.j2 (autoescaped, every
style inline, no images, scripts or external CSS, so mail clients show it as written) and
digest.txt.j2 (plain text, wrapped near 78 columns). Both carry the same facts.

Each incident is shown once, in full (urgent ones first, then the others), with every report of
it; "By person" and "By incident type" are short indexes that point at incidents ("Bakhodir
Karimov: incident #3, #7"), so one story told by five outlets is read once, not five times.
Every time shown goes through the `localtime` filter: the digest's zone (WATCHER_TZ).
"""

from __future__ import annotations

import logging
import re
import textwrap
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from watcher import __version__
from watcher.digest.model import Digest, DigestEntry
from watcher.matching.countries import country_name
from watcher.models import Message
from watcher.rules import incident_label

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_RULES_HINT = (
    "To change what watcher looks for, edit rules/*.yaml or use the Telegram bot's /watch, "
    "/unwatch and /keyword commands; `watcher rules check` validates the rules. "
    "Replies to this email are not read."
)
FIELD_MAX = 300  # characters of one court field shown

# Court and notice field keys (see watcher/sources) whose plain humanised form reads badly.
_FIELD_LABELS = {
    "case_number": "Case number",
    "respondent_state": "Respondent state",
    "document_type": "Document type",
    "decision_date": "Decision date",
    "notice_id": "Notice ID",
    "sex_id": "Sex",
    "title_fr": "Title (French)",
    "date_of_birth": "Date of birth",
}
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_BLANKS = re.compile(r"\n{3,}")  # the text template may leave runs of blank lines; one is enough
_CODE = re.compile(r"`([^`]+)`")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r in the digest; showing UTC", name)
        return ZoneInfo("UTC")


def localtime(value: datetime | str | None, tz: str, style: str = "short") -> str:
    """A UTC datetime in the digest's zone: short "24 Oct 07:00 BST", long "24 Oct 2026, 07:00 BST".

    Naive datetimes are taken as UTC; ISO strings are parsed; anything else is shown as given.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(_zone(tz))
    if style == "long":
        return f"{local.day} {local:%b %Y, %H:%M %Z}"
    return f"{local.day} {local:%b %H:%M %Z}"


def http_url(url: str | None) -> str:
    """The URL if it is an absolute http(s) link (safe to put in href), else ""."""
    url = (url or "").strip()
    return url if _HTTP_URL.match(url) and not any(ord(c) < 32 for c in url) else ""


def humanise(key: str) -> str:
    """A field key or incident id as words: case_number -> "Case number"."""
    if key in _FIELD_LABELS:
        return _FIELD_LABELS[key]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def refs(entries: list[DigestEntry]) -> str:
    """An index line's pointers: "incident #3, #7" (an entry without an incident: "item #12")."""
    shown = [e.ref for e in entries]
    return ("incident " if shown and shown[0].startswith("#") else "") + ", ".join(shown)


def countries(codes: list[str]) -> str:
    """ISO codes as names: ["UZ", "TR"] -> "Uzbekistan, Turkey"."""
    return ", ".join(country_name(c) for c in codes)


def clip(value: Any, limit: int = FIELD_MAX) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def wrap(value: Any, width: int = 78, indent: str = "", first: str = "") -> str:
    """Plain text folded to `width`, whitespace collapsed, continuation lines indented by `indent`;
    long words (URLs) are never broken."""
    text = " ".join(str(value).split())
    if not text:
        return first.rstrip()
    return textwrap.fill(text, width=width, initial_indent=first,
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def code_spans(value: str) -> Markup:
    """Escaped text with `backticked` parts in <code> (for the rules hint in HTML)."""
    out = escape(value)
    return Markup(_CODE.sub(
        lambda m: ('<code style="font-family:Consolas,Menlo,monospace;font-size:13px;'
                   'background-color:#eef0f3;color:#1a1a1a;padding:0 3px;">' + m.group(1) + "</code>"),
        str(out)))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(localtime=localtime, http_url=http_url, humanise=humanise, clip=clip,
                       wrap=wrap, code_spans=code_spans, incident=incident_label,
                       country=country_name, countries=countries, refs=refs)
    return env


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def subject(digest: Digest) -> str:
    """'watcher digest 2026-12-02: 3 incidents (1 urgent)': incidents, not reports, are counted."""
    head = f"watcher digest {digest.day.isoformat()}" + (" so far" if digest.partial else "")
    if digest.empty:
        return f"{head}: nothing matched"
    urgent = len(digest.urgent)
    return f"{head}: {_plural(len(digest.entries), 'incident')}" + (f" ({urgent} urgent)" if urgent else "")


def _sections(digest: Digest) -> dict[str, Any]:
    """The incidents in full (urgent, then the others) and the two indexes pointing at them."""
    return {
        "urgent": digest.urgent,
        "others": digest.others,
        "people": list(digest.by_person().items()),
        "incidents": list(digest.by_incident().items()),
    }


def _window(digest: Digest) -> dict[str, str]:
    tz = digest.timezone
    start, end = localtime(digest.start, tz), localtime(digest.end, tz)
    abbrevs = {s.rsplit(" ", 1)[-1] for s in (start, end)}
    zone = "" if abbrevs == {tz} else tz  # "UTC" needs no "(UTC)"
    return {"start": start, "end": end, "zone": zone,
            "text": f"{start} – {end}" + (f" ({zone})" if zone else "")}


def context(digest: Digest, rules_hint: str) -> dict[str, Any]:
    day: date = digest.day
    return {
        "digest": digest,
        "tz": digest.timezone,
        "day_text": f"{day:%A} {day.day} {day:%B %Y}",
        "window": _window(digest),
        "subject": subject(digest),
        "sections": _sections(digest),
        "incident_counts": digest.counts_by_incident(),
        "country_counts": digest.counts_by_country(),
        "rules_hint": rules_hint,
        "version": __version__,
    }


def render_digest(digest: Digest, *, rules_hint: str = DEFAULT_RULES_HINT) -> Message:
    """The digest email for one day: plain text, HTML and subject (the same facts in each)."""
    env = environment()
    ctx = context(digest, rules_hint)
    text = _BLANKS.sub("\n\n", env.get_template("digest.txt.j2").render(ctx))
    html = env.get_template("digest.html.j2").render(ctx)
    return Message(text=text, html=html, subject=ctx["subject"], urgent=bool(digest.urgent))
