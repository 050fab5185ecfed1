"""`watcher rematch`: today's rules applied again to the items stored in a period.

A person watched today was maybe named last week: the pipeline matches an item once, when it
arrives, so without this those items stay unseen. `rematch` analyses every item first stored
in the period (oldest first, as the pipeline met them: cases build in order), stores the
matches that are new (`Store.add_matches` keeps the ones there), and lists the items a rule
newly matches.

With `alert=True` such items are filed as the pipeline files them
(watcher.incidents.alerting.file_item: incident, routes, mutes as they are now), once:

- never an item that has any outbox row (alerted, held for a digest, failed);
- never an item that was already alert-worthy when it was polled, by the matches stored then
  (a match stored by the poll carries the item's first-seen time; a later one, a rematch's):
  such an item was not alerted on purpose, because its source or person was muted or the
  source's first poll was silent, and a mute that has ended since must not bring it back;
- never an item a previous rematch filed into an incident (it was muted then).

So `rematch` and then `rematch --alert` alerts what the first one found, and a second
`rematch --alert` alerts nothing.

Items are analysed in batches of `BATCH` outside any transaction (a running watcher's polls
need the write lock), then each batch is written in one transaction: a crash or ^C loses at
most the batch in hand, which the next run does again.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watcher.history.stored import StoredItem, has_alert, items_seen, matched_rules
from watcher.incidents.alerting import Filing, alert_worthy, file_item
from watcher.matching import Analysis, matcher_for
from watcher.rules import Rules
from watcher.store import Store

BATCH = 200


@dataclass(frozen=True)
class Rematched:
    """An item that today's rules match with a rule no stored match had."""

    item_id: int
    title: str
    source_id: str
    published: datetime
    url: str
    rules: tuple[str, ...]  # the newly matching rules: "person:<name>", "incident:<type>"
    alerts: int = 0  # outbox rows this run recorded to be sent
    held: int = 0  # rows kept for a digest only


@dataclass
class RematchReport:
    examined: int = 0  # items first stored in the period
    matched: int = 0  # of them, items today's rules match
    new_matches: int = 0  # match rows stored by this run
    newly: list[Rematched] = field(default_factory=list)  # oldest first
    alerts: int = 0  # outbox rows recorded to be sent
    held: int = 0  # rows recorded for a digest only
    not_refiled: int = 0  # newly matched alert-worthy items left alone: alerted, muted or filed before


def rematch(store: Store, rules: Rules, filing: Filing, now: datetime, since: timedelta, *, alert: bool,
            progress: Callable[[int, int], None] | None = None,
            people_only: Container[str] = frozenset()) -> RematchReport:
    """Apply `rules` again to the items first stored in the last `since`; store new matches;
    with `alert`, file what has newly become alert-worthy (see the module docstring).
    `progress(done, total)` is called after each item; `people_only`: ids of the sources set to
    `alerts: people`."""
    items = items_seen(store, now - since)
    report = RematchReport(examined=len(items))
    matcher = matcher_for(rules)
    done = 0
    for start in range(0, len(items), BATCH):
        batch = [(s, matcher.analyse(s.item.text())) for s in items[start:start + BATCH]]
        with store.transaction():
            for stored, analysis in batch:
                _one(store, rules, filing, now, stored, analysis, alert, people_only, report)
        for _ in batch:
            done += 1
            if progress is not None:
                progress(done, len(items))
    return report


def _one(store: Store, rules: Rules, filing: Filing, now: datetime, stored: StoredItem, analysis: Analysis,
         alert: bool, people_only: Container[str], report: RematchReport) -> None:
    """One item, inside the batch's transaction."""
    if not analysis.matches:
        return
    report.matched += 1
    before = matched_rules(store, stored.id)
    new_rules = tuple(dict.fromkeys(m.rule for m in analysis.matches if m.rule not in before))
    report.new_matches += len(new_rules)
    # stamped after the poll even when run in the poll's own second: a later rematch must read
    # these matches as found after the poll (see _newly_worthy)
    store.add_matches(stored.id, analysis.matches, max(now, stored.first_seen + timedelta(seconds=1)))
    alerts = held = 0
    filed = False
    if alert and _newly_worthy(store, rules, stored, analysis, before):
        if has_alert(store, stored.id) or store.incident_of_item(stored.id) is not None:
            report.not_refiled += 1
        else:
            result = file_item(store, stored.id, stored.item, analysis, rules, filing, now,
                               muted=store.active_mutes(stored.item.source_id, now),
                               people_only=stored.item.source_id in people_only)
            alerts, held, filed = result.alerts, result.held, True
    report.alerts += alerts
    report.held += held
    if new_rules or filed:
        # filed without new rules: matched by an earlier rematch that did not alert
        shown = new_rules or tuple(r for r, when in before.items() if when > stored.first_seen)
        item = stored.item
        report.newly.append(Rematched(stored.id, item.title or item.summary[:200], item.source_id, item.published,
                                      item.url, shown, alerts, held))


def _newly_worthy(store: Store, rules: Rules, stored: StoredItem, analysis: Analysis,
                  before: dict[str, datetime]) -> bool:
    """Alert-worthy now, and not by the matches its poll stored (those carry its first-seen
    time): it became worth an alert through rules added since."""
    if not alert_worthy(analysis.matches, rules)[0]:
        return False
    at_poll = {rule for rule, when in before.items() if when <= stored.first_seen}
    polled = [m for m in store.matches_for(stored.id) if m.rule in at_poll]
    return not alert_worthy(polled, rules)[0]
