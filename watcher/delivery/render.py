"""Turning a stored item and its matches into a readable alert `Message`.

Rendering is kept apart from delivery so every notifier (console, Telegram, email) shows the
same facts: who matched and as what spelling, which incident types, where and when, the title,
the link and a snippet with the match marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
import re
from html import escape, unescape
from typing import Any

from watcher.models import Match, Message

SNIPPET_RADIUS = 110
TITLE_MAX = 300
_TAG = re.compile(r"<[^>]+>")


def _item_text(item: dict[str, Any]) -> str:
    parts = [item["title"], item["summary"], *(item.get("fields") or {}).values()]
    return "\n".join(p for p in parts if p)


def snippet(text: str, span: tuple[int, int], mark: tuple[str, str] = ("**", "**")) -> str:
    """A window of text around `span`, with the matched part between `mark`s, on one line."""
    start, end = span
    left = max(0, start - SNIPPET_RADIUS)
    right = min(len(text), end + SNIPPET_RADIUS)
    head = ("…" if left > 0 else "") + text[left:start]
    tail = text[end:right] + ("…" if right < len(text) else "")
    return " ".join(f"{head}{mark[0]}{text[start:end]}{mark[1]}{tail}".split())


def describe(item: dict[str, Any], matches: list[Match]) -> dict[str, Any]:
    """The facts of an alert, shared by every rendering."""
    people = [m for m in matches if m.kind == "person"]
    incidents = [m for m in matches if m.kind == "incident"]
    focus = (people or incidents or [None])[0]
    text = _item_text(item)
    return {
        "people": [(m.rule.split(":", 1)[1], m.text) for m in people],
        "incidents": [m.rule.split(":", 1)[1] for m in incidents],
        "focus": focus,
        "snippet": snippet(text, focus.span) if focus else text[: 2 * SNIPPET_RADIUS],
        "published": datetime.fromisoformat(item["published"]),
    }


def _html_snippet(text: str, focus: Match | None) -> str:
    """The snippet in HTML: everything escaped, the match in bold."""
    if focus is None:
        return escape(" ".join(text[: 2 * SNIPPET_RADIUS].split()))
    start, end = focus.span
    left, right = max(0, start - SNIPPET_RADIUS), min(len(text), end + SNIPPET_RADIUS)
    head = ("…" if left else "") + " ".join(text[left:start].split())
    tail = " ".join(text[end:right].split()) + ("…" if right < len(text) else "")
    return f"{escape(head)} <b>{escape(' '.join(text[start:end].split()))}</b> {escape(tail)}".strip()


def _link(url: str, title: str) -> str:
    shown = escape(title[:TITLE_MAX] or url)
    return f'<a href="{escape(url, quote=True)}">{shown}</a>' if url.startswith(("http://", "https://")) else shown


def render_html(item: dict[str, Any], matches: list[Match], *, urgent: bool = False) -> str:
    """One alert in Telegram's HTML subset. Feed text is always escaped; each line stands alone."""
    facts = describe(item, matches)
    kinds = ", ".join(facts["incidents"]) or "watched name"
    lines = [("🚨 <b>URGENT</b> " if urgent else "🔔 ") + f"<b>{escape(kinds)}</b>"]
    for name, seen in facts["people"]:
        lines.append(f"👤 <b>{escape(name)}</b>"
                     + (f" (seen as “{escape(seen)}”)" if seen.casefold() != name.casefold() else ""))
    lines.append(_link(item["url"], item["title"]))
    for key, value in (item.get("fields") or {}).items():
        lines.append(f"<i>{escape(key.replace('_', ' ').capitalize())}:</i> {escape(str(value)[:200])}")
    lines.append(f"<i>{escape(item['source_id'])} · {facts['published']:%Y-%m-%d %H:%M} UTC</i>")
    snippet = _html_snippet(_item_text(item), facts["focus"])
    if snippet:
        lines.append(f"<blockquote>{snippet}</blockquote>")
    return "\n".join(lines)


def render_compact_html(item: dict[str, Any], matches: list[Match], *, urgent: bool = False) -> str:
    """One line per alert, for grouped messages when a burst exceeds the flood limits."""
    facts = describe(item, matches)
    who = ", ".join(name for name, _ in facts["people"])
    kinds = ", ".join(facts["incidents"])
    label = " · ".join(escape(p) for p in (who, kinds) if p) or "watched name"
    return (("🚨 " if urgent else "• ") + f"<b>{label}</b>: {_link(item['url'], item['title'][:160])} "
            f"<i>({escape(item['source_id'])}, {facts['published']:%d %b})</i>")


def render_group(entries: Sequence[tuple[int, str, bool]]) -> Message:
    """Several alerts in one message: (alert id, compact html, urgent)."""
    urgent = any(u for _, _, u in entries)
    head = f"<b>{len(entries)} alerts</b> (grouped to respect Telegram's limits)"
    html = "\n".join([head, *(h for _, h, _ in entries)])
    text = "\n".join([f"{len(entries)} alerts", *(_strip_tags(h) for _, h, _ in entries)])
    return Message(text=text, html=html, subject=f"{len(entries)} alerts", urgent=urgent,
                   alert_ids=tuple(i for i, _, _ in entries))


def _strip_tags(html: str) -> str:
    return unescape(_TAG.sub("", html))


def render_alert(item: dict[str, Any], matches: list[Match], *, urgent: bool = False, alert_id: int | None = None) -> Message:
    facts = describe(item, matches)
    lines = []
    head = "URGENT " if urgent else ""
    kinds = ", ".join(facts["incidents"]) or "watched name"
    lines.append(f"[watcher] {head}alert: {kinds}")
    for name, seen in facts["people"]:
        lines.append(f"Person: {name}" + (f' (seen as "{seen}")' if seen.casefold() != name.casefold() else ""))
    if facts["incidents"]:
        lines.append(f"Incident: {', '.join(facts['incidents'])}")
    lines.append(f"Source: {item['source_id']} · {facts['published']:%Y-%m-%d %H:%M} UTC")
    for key, value in (item.get("fields") or {}).items():
        lines.append(f"{key.replace('_', ' ').capitalize()}: {value}")
    lines.append(f"Title: {item['title']}")
    if item["url"]:
        lines.append(f"Link: {item['url']}")
    if facts["snippet"]:
        lines.append(f"> {facts['snippet']}")
    subject = f"{head}{kinds}: {item['title']}"[:200]
    return Message(text="\n".join(lines), html=render_html(item, matches, urgent=urgent), subject=subject,
                   urgent=urgent, alert_ids=(alert_id,) if alert_id is not None else ())
