"""Filing one matched item: its matches stored, its incident found, its outbox rows recorded.

The one place that decides whether and where an item alerts, used by a poll (pipeline.py) and
by `watcher rematch --alert` (watcher/history), so both follow the same rules:

- an item alerts when it names a watched person, or an incident type that may alert alone
  (`alone: true`) matches; people muted for the source do not count, and are recorded on the
  row (`muted`) so the alert never names them, whichever rule made it alert;
- the routes (rules/routes.yaml) choose the destinations; each gets one outbox row, sent
  ('pending') or kept for the digest only ('held') as the route's `notify` says;
- a report of an incident that already alerted at a destination edits or replies to that
  alert (`alert_kind`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.incidents.cluster import DEFAULT_WINDOW, Placement, Report, alert_kind, place
from watcher.matching import Analysis
from watcher.models import Item, Match
from watcher.rules import Rules
from watcher.rules.routes import Facts, Target
from watcher.store import Store


@dataclass(frozen=True)
class Filing:
    """How items are filed: the incident window, the notifiers the destination `default`
    stands for, and whether the pages of alerted incidents are kept (and archived)."""

    window: timedelta = DEFAULT_WINDOW
    default: Sequence[str] = ("console",)
    evidence: bool = True
    archive: bool = False


@dataclass
class Filed:
    alerts: int = 0  # outbox rows recorded to be sent
    held: int = 0  # rows kept for a digest only
    silenced: int = 0  # 1 when it would have alerted but the source's first poll is silent
    worthy: bool = False
    incident_id: int | None = None


def alert_worthy(matches: list[Match], rules: Rules) -> tuple[bool, bool]:
    """(should alert, is urgent). A watched person always alerts; an incident keyword alone
    alerts only for incident types marked `alone: true`."""
    people = any(m.kind == "person" for m in matches)
    types = [rules.incident_types.get(m.rule.split(":", 1)[1]) for m in matches if m.kind == "incident"]
    types = [t for t in types if t is not None]
    urgent = any(t.urgent for t in types)
    return people or any(t.alone for t in types), urgent


def facts_of(analysis: Analysis, rules: Rules, source_id: str, urgent: bool, muted: set[str | None]) -> Facts:
    """What the routes look at: the (unmuted) people's teams, tags and countries, the types,
    the origin and host countries, the source and the urgency."""
    by_name = {p.name: p for p in rules.people}
    people = [by_name[name] for name in analysis.people if name in by_name and f"person:{name}" not in muted]
    return Facts(
        people=tuple(p.name for p in people),
        teams=frozenset(p.team for p in people if p.team),
        tags=frozenset(tag for p in people for tag in p.tags),
        countries=frozenset({*(p.country for p in people if p.country), *analysis.origin, *analysis.host}),
        origin=frozenset(analysis.origin),
        host=frozenset(analysis.host),
        types=frozenset(analysis.incident_types),
        source=source_id,
        urgent=urgent,
    )


def file_item(store: Store, item_id: int, item: Item, analysis: Analysis, rules: Rules, filing: Filing,
              now: datetime, *, muted: set[str | None] = frozenset(), people_only: bool = False,  # type: ignore[assignment]
              silent: bool = False) -> Filed:
    """Store an analysed item's matches, file it into an incident and record its outbox rows.
    Call inside `store.transaction()`. `muted`: rules muted for the item's source (None: the
    whole source); `people_only`: the source alerts only when a watched person is named;
    `silent`: a first poll that records without alerting."""
    matches = analysis.matches
    filed = Filed()
    if not matches:
        return filed
    store.add_matches(item_id, matches, now)
    if not alert_worthy(matches, rules)[0]:
        return filed
    known = store.incident_of_item(item_id)
    placement = (Placement(known, True, None, "already filed") if known is not None
                 else place(store, _report(item_id, item, analysis), now, filing.window))
    filed.incident_id = placement.incident_id
    if None in muted:
        return filed  # the whole source is muted: stored, matched and filed, not alerted
    counted = [m for m in matches if m.rule not in muted]
    worthy, urgent = alert_worthy(counted, rules)
    if people_only and not any(m.kind == "person" for m in counted):
        worthy = False
    filed.worthy = worthy
    if not worthy:
        return filed
    if silent:
        filed.silenced = 1
        return filed
    hidden = sorted(m.rule for m in matches if m.kind == "person" and m.rule in muted)
    targets = rules.routes.targets(facts_of(analysis, rules, item.source_id, urgent, muted), filing.default)
    for target in targets:
        sends = target.sends(urgent) and not rules.routes.held_only(target.destination)
        recorded = _enqueue(store, item_id, target, sends, urgent, placement, now, hidden)
        if recorded and sends:
            filed.alerts += 1
        elif recorded:
            filed.held += 1
    if filed.alerts and filing.evidence:
        store.want_evidence(item_id, item.url, item.source_id, now, archive=filing.archive)
    return filed


def _report(item_id: int, item: Item, analysis: Analysis) -> Report:
    return Report(item_id, item.source_id, item.title, item.summary, item.published, people=analysis.people,
                  incident_types=analysis.incident_types, origin=analysis.origin, host=analysis.host,
                  fields=item.fields)


def _enqueue(store: Store, item_id: int, target: Target, sends: bool, urgent: bool, placement: Placement,
             now: datetime, hidden: list[str]) -> bool:
    """The item's outbox row for one destination: the incident's first alert, a later report
    of it (edits that alert) or a new development of its case (replies to the case's alert);
    held for the digest when the route does not send it now."""
    kind, parent = alert_kind(store, placement, target.destination) if sends else ("alert", None)
    return store.enqueue_alert(item_id, target.destination, urgent, now, kind=kind,
                               incident_id=placement.incident_id, parent_id=parent,
                               status="pending" if sends else "held", route=target.route,
                               muted=json.dumps(hidden, ensure_ascii=False) if hidden else None)
