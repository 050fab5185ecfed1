"""Check-ins: "no news of X for 14 days", the silence that often means a transfer or worse.

A person with `check_in: 14d` is checked on every run: when no stored item has named them for
that long, one alert says so, to the person's routes (as an urgent incident would go: a route
with `notify: digest` keeps it for the digest). It fires once per silence: its topic names the
last item that named them, so the next item starts a new silence and a later one alerts
again. Someone never named yet is counted from when watcher first checked on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from watcher.incidents.alerting import Filing
from watcher.rules import Person, Rules
from watcher.rules.routes import Facts
from watcher.store import Store, iso, parse_iso


@dataclass
class CheckinReport:
    checked: int = 0
    alerts: int = 0  # rows recorded to be sent
    held: int = 0  # rows kept for a digest


def _last_named(store: Store, person: Person) -> tuple[int, str, str, str] | None:
    """(item id, title, source, first seen) of the latest stored item that named the person."""
    row = store.conn.execute(
        "SELECT i.id, i.title, i.source_id, i.first_seen FROM matches m JOIN items i ON i.id = m.item_id"
        " WHERE m.rule = ? ORDER BY i.first_seen DESC, i.id DESC LIMIT 1", (person.rule_id,)).fetchone()
    return (int(row[0]), str(row[1]), str(row[2]), str(row[3])) if row else None


def _watched_since(store: Store, person: Person, now: datetime) -> datetime:
    """When watcher first checked on someone never named (remembered in admin_notices)."""
    topic = f"checkin-since:{person.rule_id}"
    known = store.admin_notice(topic)
    if known is not None and known.get("since"):
        return parse_iso(known["since"]) or now
    store.set_admin_notice(topic, "watching", iso(now), iso(now))
    return now


def checkin_text(person: Person, days: int, last: tuple[int, str, str, str] | None, since: datetime) -> str:
    every = f"{person.check_in.days}d" if person.check_in else "?"
    if last is None:
        seen = f"last: nothing since watcher began checking on {since:%d %b %Y}"
    else:
        _, title, source, first_seen = last
        seen = f"last: “{title[:200]}” ({source}, {first_seen[:10]})"
    return f"🔕 Check-in: no news of {person.name} for {days} days (check-in every {every}); {seen}"


def check_ins(store: Store, rules: Rules, filing: Filing, now: datetime) -> CheckinReport:
    """Record the check-in alerts that are due; call inside `store.transaction()`."""
    report = CheckinReport()
    for person in rules.people:
        if person.check_in is None:
            continue
        report.checked += 1
        last = _last_named(store, person)
        since = parse_iso(last[3]) if last else _watched_since(store, person, now)
        if since is None or now - since < person.check_in:
            continue
        topic = f"checkin:{person.rule_id}:{last[0] if last else 'none'}"
        facts = Facts(people=(person.name,), teams=frozenset({person.team} if person.team else ()),
                      tags=frozenset(person.tags), countries=frozenset({person.country} if person.country else ()),
                      urgent=True)
        text = checkin_text(person, (now - since).days, last, since)
        for target in rules.routes.targets(facts, filing.default):
            sends = target.sends(True) and not rules.routes.held_only(target.destination)
            if store.enqueue_notice(topic, target.destination, text, now, urgent=True, route=target.route,
                                    status="pending" if sends else "held"):
                report.alerts += int(sends)
                report.held += int(not sends)
    return report
