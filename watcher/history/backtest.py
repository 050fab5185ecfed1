"""`watcher rules backtest`: proposed rules against the stored items, before and after, per week.

How it is computed, and why:

- Never on the real database. Neither set of rules writes a row of watcher.db; the real
  incidents and alerts are not the baseline either, because they mix every rule the period
  ever had, mutes, silent first polls and routes. Both sides are *simulated the same way*
  from the same stored items, so the difference is the rules' difference and nothing else.
- Each side runs on a throwaway `Store(":memory:")` holding only the period's items (each
  stored item once: not a backup of watcher.db, which also holds the evidence pages and may
  be large). Items are taken oldest first, by when watcher first stored them, analysed, and
  an alert-worthy one (watcher.incidents.alerting.alert_worthy) is placed into its incident
  by watcher.incidents.place, exactly as a poll at that time would have done (its `now` is
  the item's first-seen time). Incidents before the period are not there to be joined: an
  incident that began just before it may count once in its first week.
- "Alerts" are alert-worthy items (one outbox row each, per destination), "incidents" the
  incidents they form. Mutes, routes and `alerts: people` sources are left out: they are the
  same before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from watcher.history.stored import StoredItem, items_seen, week_of
from watcher.incidents import DEFAULT_WINDOW, Report, place
from watcher.incidents.alerting import alert_worthy
from watcher.matching import Analysis, matcher_for
from watcher.rules import Rules
from watcher.store import Store


@dataclass
class Week:
    """One ISO week (starting `monday`): incidents and alerts under each set of rules."""

    monday: date
    incidents_before: int = 0
    incidents_after: int = 0
    alerts_before: int = 0
    alerts_after: int = 0


@dataclass(frozen=True)
class Change:
    """An item that alerts under one set of rules and not the other."""

    item_id: int
    title: str
    source_id: str
    first_seen: datetime
    change: str  # "newly alerted" | "no longer alerted"
    rules: tuple[str, ...]  # the rules that made the difference: matched on one side only


@dataclass
class Backtest:
    since: datetime
    until: datetime
    items: int = 0
    weeks: list[Week] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def totals(self) -> Week:
        total = Week(self.since.date())
        for week in self.weeks:
            total.incidents_before += week.incidents_before
            total.incidents_after += week.incidents_after
            total.alerts_before += week.alerts_before
            total.alerts_after += week.alerts_after
        return total

    def to_json(self) -> dict[str, Any]:
        total = self.totals()
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "items": self.items,
            "weeks": [{"week": w.monday.isoformat(), "incidents": [w.incidents_before, w.incidents_after],
                       "alerts": [w.alerts_before, w.alerts_after]} for w in self.weeks],
            "total": {"incidents": [total.incidents_before, total.incidents_after],
                      "alerts": [total.alerts_before, total.alerts_after]},
            "changes": [{"item_id": c.item_id, "title": c.title, "source": c.source_id,
                         "first_seen": c.first_seen.isoformat(), "change": c.change, "rules": list(c.rules)}
                        for c in self.changes],
        }

    def lines(self) -> list[str]:
        """The table and the changed items as the terminal shows them."""
        out = [f"{self.items} stored item(s) first seen {self.since:%Y-%m-%d} .. {self.until:%Y-%m-%d}",
               f"{'WEEK':<12}{'INCIDENTS before → after':<28}ALERTS before → after"]
        for label, week in [*((str(w.monday), w) for w in self.weeks), ("total", self.totals())]:
            out.append(f"{label:<12}{week.incidents_before:>6} → {week.incidents_after:<18}"
                       f"{week.alerts_before:>6} → {week.alerts_after}")
        if self.changes:
            out.append(f"{len(self.changes)} item(s) change:")
            out += [f"  {c.change:<18} #{c.item_id} {c.first_seen:%Y-%m-%d} [{c.source_id}] {c.title[:80]}"
                    f" — {', '.join(c.rules) or 'incident grouping'}" for c in self.changes]
        else:
            out.append("no item changes: the proposed rules alert on exactly the same items")
        return out


@dataclass(frozen=True)
class _Outcome:
    worthy: bool
    new_incident: bool
    rules: frozenset[str]


def backtest(store: Store, current: Rules, proposed: Rules, now: datetime, since: timedelta, *,
             window: timedelta = DEFAULT_WINDOW) -> Backtest:
    """Simulate the items first stored in the last `since` under `current` and `proposed`
    rules (see the module docstring); `window` is the incident window in force."""
    items = items_seen(store, now - since, now)
    before = _simulate(items, current, window)
    after = _simulate(items, proposed, window)
    start = week_of(now - since)
    weeks = {start + timedelta(weeks=n): Week(start + timedelta(weeks=n))
             for n in range((week_of(now) - start).days // 7 + 1)}
    result = Backtest(now - since, now, len(items))
    for stored, old, new in zip(items, before, after):
        week = weeks.setdefault(week_of(stored.first_seen), Week(week_of(stored.first_seen)))
        week.alerts_before += old.worthy
        week.alerts_after += new.worthy
        week.incidents_before += old.new_incident
        week.incidents_after += new.new_incident
        if old.worthy != new.worthy:
            gained = new.rules - old.rules if new.worthy else old.rules - new.rules
            result.changes.append(Change(stored.id, stored.item.title or stored.item.summary[:200],
                                         stored.item.source_id, stored.first_seen,
                                         "newly alerted" if new.worthy else "no longer alerted",
                                         tuple(sorted(gained))))
    result.weeks = [weeks[monday] for monday in sorted(weeks)]
    return result


def _simulate(items: list[StoredItem], rules: Rules, window: timedelta) -> list[_Outcome]:
    """What each item would have done under `rules`, on a throwaway in-memory store."""
    matcher = matcher_for(rules)
    sim = Store(":memory:")
    out = []
    try:
        with sim.transaction():  # in memory: one transaction is only faster
            for stored in items:
                # a content hash of its own: the simulation never merges two stored items into one
                copy = replace(stored.item, content_hash=f"backtest:{stored.id}", flags=("link_shared",))
                added = sim.add_items([copy], stored.first_seen).new
                analysis = matcher.analyse(stored.item.text())
                worthy = bool(analysis.matches) and alert_worthy(analysis.matches, rules)[0]
                new_incident = False
                if worthy and added:
                    placement = place(sim, _report(added[0].id, stored, analysis), stored.first_seen, window)
                    new_incident = not placement.joined
                out.append(_Outcome(worthy, new_incident, frozenset(m.rule for m in analysis.matches)))
    finally:
        sim.close()
    return out


def _report(sim_id: int, stored: StoredItem, analysis: Analysis) -> Report:
    item = stored.item
    return Report(sim_id, item.source_id, item.title, item.summary, item.published, people=analysis.people,
                  incident_types=analysis.incident_types, origin=analysis.origin, host=analysis.host,
                  fields=item.fields)
