"""Turning a stored item and its matches into a readable alert `Message`.

Rendering is kept apart from delivery so every notifier (console, Telegram, email) shows the
same facts: who matched and as what spelling, which incident types, where and when, the title,
the link and a snippet with the match marked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from watcher.models import Match, Message

SNIPPET_RADIUS = 110


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


def render_alert(item: dict[str, Any], matches: list[Match], *, urgent: bool = False) -> Message:
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
    return Message(text="\n".join(lines), subject=subject, urgent=urgent)
