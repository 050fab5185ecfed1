"""Gathering a digest window's incidents from the store: one `DigestEntry` per incident.

An incident is in the digest when any of its alert rows (its first alert, a later report, a
follow-up of its case) was created in the window; it is shown with every report it had by the
window's end, the reports alerted in the window marked new. An alert row without an incident
(it should not happen: the pipeline files every alerted item, and migration m007 gave old ones
an incident each) still becomes an entry of its own, so nothing is lost silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from watcher.digest.model import DigestEntry, EntryReport
from watcher.matching import analyse
from watcher.models import Match
from watcher.rules import Rules
from watcher.store import Store, iso

SNIPPET_RADIUS = 110
_JOIN = "\x00"  # stands for the line break between title, summary and fields while the snippet is cut
_SEPARATOR = re.compile(r"\s*\x00\s*")


@dataclass
class _Alerted:
    """The window's alert rows of one incident."""

    urgent: bool = False
    kinds: set[str] = field(default_factory=set)
    items: list[int] = field(default_factory=list)


def gather_entries(store: Store, start: datetime, end: datetime, rules: Rules | None,
                   destination: str | None = None) -> list[DigestEntry]:
    """The entries of the window (start, end]: urgent first, then the most recently reported.
    With `destination`, only what the routes sent or kept for it (a route's own digest)."""
    only = " AND destination = ?" if destination is not None else ""
    rows = store.conn.execute(
        "SELECT item_id, incident_id, kind, urgent FROM alerts WHERE created_at > ? AND created_at <= ?"
        f" AND item_id IS NOT NULL{only} ORDER BY id",
        (iso(start), iso(end), *([destination] if destination is not None else []))).fetchall()
    alerted: dict[int, _Alerted] = {}
    orphans: dict[int, bool] = {}  # item id -> urgent, for rows no incident claims
    for row in rows:
        item_id = int(row["item_id"])
        incident_id = row["incident_id"] if row["incident_id"] is not None else store.incident_of_item(item_id)
        if incident_id is None:
            orphans[item_id] = orphans.get(item_id, False) or bool(row["urgent"])
            continue
        group = alerted.setdefault(int(incident_id), _Alerted())
        group.urgent = group.urgent or bool(row["urgent"])
        group.kinds.add(str(row["kind"] or "alert"))
        if item_id not in group.items:
            group.items.append(item_id)
    incidents = {int(i["id"]): i for i in store.incidents_alerted_between(start, end)}
    entries = []
    for incident_id, group in alerted.items():
        incident = incidents.get(incident_id) or store.incident(incident_id)
        if incident is None:  # an incident id that points nowhere: show its items alone
            for item_id in group.items:
                orphans[item_id] = orphans.get(item_id, False) or group.urgent
            continue
        entries.append(_incident_entry(store, incident, group, end, rules))
    for item_id, urgent in orphans.items():
        item = store.item(item_id)
        if item is not None:
            entries.append(_build(store, None, [_report_row(item)], {item_id}, urgent, rules))
    entries.sort(key=lambda e: (not e.urgent, -(e.last_seen.timestamp() if e.last_seen else 0.0),
                                -(e.incident_id or 0)))
    return entries


def _report_row(item: dict[str, Any]) -> dict[str, Any]:
    """An item as incident_reports() gives a report, for items no incident lists."""
    return {"item_id": item["id"], **{k: item.get(k) for k in ("source_id", "url", "title", "summary",
                                                               "published", "language", "fields")},
            "evidence": None}


def _incident_entry(store: Store, incident: dict[str, Any], group: _Alerted, end: datetime,
                    rules: Rules | None) -> DigestEntry:
    alerted = set(group.items)
    reports = [r for r in store.incident_reports(int(incident["id"]))
               if r["item_id"] in alerted or not r.get("joined_at") or r["joined_at"] <= iso(end)]
    listed = {r["item_id"] for r in reports}
    for item_id in group.items:  # alerted for the incident but not (or no longer) listed as its report
        item = store.item(item_id) if item_id not in listed else None
        if item is not None:
            reports.append(_report_row(item))
    previous = store.incident(int(incident["previous_id"])) if incident.get("previous_id") else None
    return _build(store, incident, reports, alerted, group.urgent, rules,
                  continued=bool(group.kinds) and group.kinds <= {"also"}, previous=previous)


def _build(store: Store, incident: dict[str, Any] | None, reports: Sequence[dict[str, Any]], alerted: set[int],
           urgent: bool, rules: Rules | None, *, continued: bool = False,
           previous: dict[str, Any] | None = None) -> DigestEntry:
    """One entry from an incident (None: an item alone) and its report rows."""
    incident = incident or {}
    matches = {int(r["item_id"]): store.matches_for(int(r["item_id"])) for r in reports}
    people: list[str] = list(incident.get("people") or [])
    seen_as: dict[str, list[str]] = {}
    types: list[str] = list(incident.get("incident_types") or [])
    for found in matches.values():
        for m in found:
            name = m.rule.split(":", 1)[1]
            if m.kind == "person":
                people.append(name)
                if m.text and m.text.casefold() != name.casefold():
                    seen_as.setdefault(name, []).append(" ".join(m.text.split()))
            elif m.kind == "incident" and not incident.get("incident_types"):
                types.append(name)
    people = list(dict.fromkeys(people))
    origin, host = list(incident.get("origin") or []), list(incident.get("host") or [])
    named: list[str] = []
    if not origin and not host and rules is not None:
        for report in reports:
            named.extend(analyse(_text(report)[0], rules).countries)
    first = reports[0] if reports else None
    before, hit, after = _snippet(first, matches.get(int(first["item_id"]), [])) if first else ("", "", "")
    title = str(incident.get("title") or (first or {}).get("title") or (first or {}).get("url") or "")
    return DigestEntry(
        incident_id=int(incident["id"]) if incident.get("id") is not None else None,
        title=title, urgent=urgent,
        reports=[_report(r, alerted) for r in reports],
        people=people, seen_as={name: list(dict.fromkeys(s)) for name, s in seen_as.items()},
        incident_types=list(dict.fromkeys(types)), origin=origin, host=host, named=list(dict.fromkeys(named)),
        fields={k: str(v) for k, v in ((first or {}).get("fields") or {}).items()},
        snippet_before=before, snippet_match=hit, snippet_after=after,
        case_id=int(incident["case_id"]) if incident.get("case_id") else None,
        follows=int(previous["id"]) if previous else None,
        follows_title=str(previous.get("title") or "") if previous else "",
        follows_seen=_when(previous.get("first_seen")) if previous else None,
        continued=continued,
    )


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _report(row: dict[str, Any], alerted: set[int]) -> EntryReport:
    published = _when(row.get("published")) or _when(row.get("reported")) or datetime.fromtimestamp(0, UTC)
    return EntryReport(
        item_id=int(row["item_id"]), source_id=str(row.get("source_id") or row.get("report_source") or "?"),
        language=row.get("language") or None, title=str(row.get("title") or ""), url=str(row.get("url") or ""),
        published=published, new=int(row["item_id"]) in alerted, evidence=row.get("evidence"))


def _text(item: dict[str, Any]) -> tuple[str, str]:
    """The matched text (title, summary, fields joined by line breaks: match spans index it) and
    the same text with those joins marked, so the snippet can show a separator there."""
    parts = [p for p in (item.get("title"), item.get("summary"), *(item.get("fields") or {}).values()) if p]
    return "\n".join(map(str, parts)), _JOIN.join(map(str, parts))


def _flat(value: str) -> str:
    """One line: whitespace collapsed, a title/summary join shown as ' — '."""
    return _SEPARATOR.sub(" — ", " ".join(value.split()))


def _snippet(item: dict[str, Any], matches: list[Match]) -> tuple[str, str, str]:
    """The first report's snippet split around the match (the first person, else incident type
    match), so the templates can mark it; the title and the summary never run together."""
    _, text = _text(item)
    focus = next((m for m in matches if m.kind == "person"), None) or next(
        (m for m in matches if m.kind == "incident"), None)  # as the Telegram alert picks it
    if focus is None or not 0 <= focus.span[0] <= focus.span[1] <= len(text):
        return "", "", _flat(text[: 2 * SNIPPET_RADIUS]) + ("…" if len(text) > 2 * SNIPPET_RADIUS else "")
    start, end = focus.span
    left, right = text[max(0, start - SNIPPET_RADIUS):start], text[end:end + SNIPPET_RADIUS]
    before = ("…" if start > SNIPPET_RADIUS else "") + _flat(left)
    if left[-1:].isspace() and not before.endswith(" "):
        before += " "
    after = _flat(right)
    if right[:1].isspace() and not after.startswith(" "):
        after = " " + after
    after += "…" if end + SNIPPET_RADIUS < len(text) else ""
    return before, _flat(text[start:end]), after
