"""An incident's alert as a monitor reads it at a glance: who, what, where, when, which sources, why.

One story reported by five outlets is one message: the first report's alert names every report
known when it is sent, and each later report edits it ("Also reported by: Fergana (ru), Ozodlik
(uz)") or, when the message cannot be edited, arrives as a short silent reply. A new development
of a case is a notifying reply to the case's earlier alert that says what it follows.

Times are shown in WATCHER_TZ; incident types by their names ("abduction / rendition"), never
their ids; countries as origin -> host, as stored on the incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.delivery.render import SNIPPET_RADIUS, TITLE_MAX, _html_snippet, _item_text, snippet
from watcher.matching.countries import country_name
from watcher.models import Match, Message
from watcher.rules import incident_label

SOURCES_SHOWN = 12  # "Also reported by" names at most this many, then "and N more"


def local_time(value: str | datetime, tz: str) -> str:
    """'2 Dec 2026, 14:05 +05' in the monitors' zone (UTC when the zone is unknown)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = when.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M} {local:%Z}"


def _where(incident: dict[str, Any]) -> str:
    origin = [country_name(c) for c in incident.get("origin") or ()]
    host = [country_name(c) for c in incident.get("host") or () if c not in (incident.get("origin") or ())]
    if origin and host:
        return f"{', '.join(origin)} → {', '.join(host)}"
    return ", ".join(origin or host)


def source_label(report: dict[str, Any]) -> str:
    """'fergana-ru (ru)': the feed and the language of the report."""
    language = report.get("language")
    return f"{report['source_id']} ({language})" if language else str(report["source_id"])


def _why(matches: Sequence[Match]) -> str:
    parts = []
    for m in matches:
        if m.kind == "person":
            parts.append(f"name “{m.text}”")
        else:
            parts.append(f"{incident_label(m.rule.split(':', 1)[1])}: “{m.text}”")
    return "; ".join(dict.fromkeys(parts))


def _what(incident: dict[str, Any], matches: Sequence[Match]) -> str:
    types = incident.get("incident_types") or [m.rule.split(":", 1)[1] for m in matches if m.kind == "incident"]
    return ", ".join(incident_label(t) for t in types) or "watched name"


def _others(reports: Sequence[dict[str, Any]], first: int) -> list[dict[str, Any]]:
    return [r for r in reports if r["item_id"] != first]


def _by_source(others: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any], int]]:
    """(label, first report, how many) per source, in the order they reported."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for report in others:
        grouped.setdefault(source_label(report), []).append(report)
    return [(label, reports[0], len(reports)) for label, reports in grouped.items()]


def _also_text(others: Sequence[dict[str, Any]]) -> str:
    groups = _by_source(others)
    shown = [label + (f" ×{n}" if n > 1 else "") for label, _, n in groups[:SOURCES_SHOWN]]
    more = f" and {len(groups) - SOURCES_SHOWN} more" if len(groups) > SOURCES_SHOWN else ""
    return "Also reported by: " + ", ".join(shown) + more


def _also_html(others: Sequence[dict[str, Any]]) -> str:
    groups = _by_source(others)
    shown = []
    for label, report, n in groups[:SOURCES_SHOWN]:
        url = str(report.get("url") or "")
        text = escape(label) + (f" ×{n}" if n > 1 else "")
        shown.append(f'<a href="{escape(url, quote=True)}">{text}</a>' if url.startswith(("http://", "https://"))
                     else text)
    more = f" and {len(groups) - SOURCES_SHOWN} more" if len(groups) > SOURCES_SHOWN else ""
    return "📰 <b>Also reported by:</b> " + ", ".join(shown) + more


def incident_alert(
    incident: dict[str, Any], reports: Sequence[dict[str, Any]], item: dict[str, Any], matches: Sequence[Match],
    *, tz: str, urgent: bool = False, alert_id: int | None = None, previous: dict[str, Any] | None = None,
) -> Message:
    """The alert of an incident: `item` is the report it was raised by (the first one, or the
    first of a new development), `reports` every report joined so far, `previous` the case's
    incident this one follows (a new development)."""
    people = [(m.rule.split(":", 1)[1], m.text) for m in matches if m.kind == "person"]
    people_names = list(dict.fromkeys([*(n for n, _ in people), *(incident.get("people") or ())]))
    what = _what(incident, matches)
    where = _where(incident)
    when = local_time(item["published"], tz)
    others = _others(reports, item["id"])
    head = "🚨 <b>URGENT</b> " if urgent else "🔔 "
    if previous is not None:
        head = ("🚨 <b>URGENT</b> " if urgent else "") + "🔁 <b>New development</b> · "
    html = [f"{head}<b>{escape(what)}</b>"]
    text = ["[watcher] " + ("URGENT " if urgent else "") + ("new development: " if previous is not None else "alert: ")
            + what]
    for name in people_names:
        seen = next((s for n, s in people if n == name), "")
        extra = f" (seen as “{seen}”)" if seen and seen.casefold() != name.casefold() else ""
        html.append(f"👤 <b>{escape(name)}</b>{escape(extra)}")
        text.append(f"Person: {name}{extra}")
    if where:
        html.append(f"📍 {escape(where)}")
        text.append(f"Where: {where}")
    html.append(f"🕒 {escape(when)}")
    text.append(f"When: {when}")
    url, title = item.get("url") or "", (item.get("title") or item.get("url") or "")[:TITLE_MAX]
    html.append(f'<a href="{escape(url, quote=True)}">{escape(title)}</a>' if url.startswith(("http://", "https://"))
                else escape(title))
    text.append(f"Title: {title}")
    if url:
        text.append(f"Link: {url}")
    for key, value in (item.get("fields") or {}).items():
        label = key.replace("_", " ").capitalize()
        html.append(f"<i>{escape(label)}:</i> {escape(str(value)[:200])}")
        text.append(f"{label}: {str(value)[:200]}")
    focus = next(iter(matches), None)
    quoted = _html_snippet(_item_text(item), focus)
    if quoted:
        html.append(f"<blockquote>{quoted}</blockquote>")
        plain = snippet(_item_text(item), focus.span) if focus else _item_text(item)[: 2 * SNIPPET_RADIUS]
        text.append(f"> {' '.join(plain.split())}")
    html.append(f"<i>Source: {escape(source_label(item))} · why: "
                f"{escape(_why(matches)) or 'matched'}</i>")
    text.append(f"Source: {source_label(item)} · why: {_why(matches) or 'matched'}")
    if others:
        html.append(_also_html(others))
        text.append(_also_text(others))
    if previous is not None:
        follows = (f"Follows incident #{previous['id']} ({_what(previous, ())}, "
                   f"{local_time(previous['first_seen'], tz)})")
        html.append(f"↩ {escape(follows)}")
        text.append(follows)
    html.append(f"<i>Incident #{incident['id']}</i>")
    text.append(f"Incident #{incident['id']}")
    subject = f"{'URGENT ' if urgent else ''}{what}: {title}"[:200]
    return Message(text="\n".join(text), html="\n".join(html), subject=subject, urgent=urgent,
                   alert_ids=(alert_id,) if alert_id is not None else ())


def also_reply(incident: dict[str, Any], reports: Sequence[dict[str, Any]], *, tz: str, reply_to: str | None,
               alert_ids: tuple[int, ...]) -> Message:
    """Later reports as a short silent reply, when the incident's message cannot be edited."""
    html, text = [], []
    for report in reports[:SOURCES_SHOWN]:
        title = (report.get("title") or report.get("url") or "")[:TITLE_MAX]
        url = str(report.get("url") or "")
        link = (f'<a href="{escape(url, quote=True)}">{escape(title)}</a>' if url.startswith(("http://", "https://"))
                else escape(title))
        when = local_time(report["published"], tz)
        html.append(f"📰 <b>Also reported by {escape(source_label(report))}</b> · {escape(when)}\n{link}")
        text.append(f"+ also reported by {source_label(report)} · {when}\n  {title}" + (f"\n  {url}" if url else ""))
    if len(reports) > SOURCES_SHOWN:
        html.append(f"… and {len(reports) - SOURCES_SHOWN} more")
        text.append(f"... and {len(reports) - SOURCES_SHOWN} more")
    html.append(f"<i>Incident #{incident['id']}</i>")
    text.append(f"  (incident #{incident['id']}; not a new alert)")
    return Message(text="\n".join(text), html="\n".join(html), subject=f"also reported: incident #{incident['id']}",
                   alert_ids=alert_ids, reply_to=reply_to, silent=True)
