"""Which incident a newly matched item reports: an earlier one, or a new one (maybe of a known case).

Monitors count incidents, not articles. An item joins an incident when both lie within the
window (default 72 h) of each other's reports and

- they concern the same watched person (one at least in common; not when each also names a
  watched person the other does not, so a lawyer quoted in two clients' stories joins neither
  to the other), unless they clearly describe different events: both name incident types and none in common (extradition ordered, then
  stayed by Strasbourg; detained, then vanished) — that is a new development, a new incident
  of the same case; or
- without a watched person in common, what they share is salient enough (salience.py): a part
  of a watched person's name or two other names, plus numbers, the incident types and the
  countries, adding up to `JOIN_POINTS`. When both name watched people and none is the same,
  only a part of one's name found in the other will do: two detentions of two people on one
  day in one city are two incidents.

An item that joins nothing starts an incident; if it names watched people who were in an
earlier incident (at any time), the new one follows that one as the same case. Why an item
joined is recorded (`reason`, `score`) for `watcher incidents show`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from watcher.incidents.salience import Overlap, blocks, overlap, salient_keys, same_name
from watcher.matching.translit import name_key
from watcher.store import Store

DEFAULT_WINDOW = timedelta(hours=72)
JOIN_POINTS = 3.0
TYPES_POINTS = 1.0  # the incident types have one in common
COUNTRY_POINTS = 0.5  # the origin or host countries have one in common
FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Report:
    """A newly stored, matched item as the clustering sees it."""

    item_id: int
    source_id: str
    title: str
    summary: str
    published: datetime
    people: Sequence[str] = ()
    incident_types: Sequence[str] = ()
    origin: Sequence[str] = ()
    host: Sequence[str] = ()
    fields: Mapping[str, str] = field(default_factory=dict)

    def keys(self) -> dict[str, str]:
        return salient_keys(self.title, self.summary, self.fields.values(), self.people)


@dataclass(frozen=True)
class Placement:
    """Where a report went and why."""

    incident_id: int
    joined: bool  # True: a later report of an existing incident
    previous: int | None  # a new incident's earlier incident in the same case
    reason: str
    score: float | None = None


def reported_at(published: datetime, now: datetime) -> datetime:
    """The time the window compares: the publication time, or the first-seen time when the
    feed gave a date in the future (a wrong clock, a scheduled post)."""
    return now if published > now + FUTURE_SLACK else published


def _incident_keys(incident: Mapping[str, Any]) -> dict[str, str]:
    keys = dict(incident.get("keys") or {})
    for name in incident.get("people") or ():
        for part in name.split():
            if len(part) >= 3:
                keys[name_key(part)] = "person"
    return keys


def _different_events(report: Report, incident: Mapping[str, Any]) -> bool:
    ours, theirs = set(report.incident_types), set(incident.get("incident_types") or ())
    return bool(ours and theirs and not ours & theirs)


@lru_cache(maxsize=16_384)
def _person_keys(people: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name_key(part) for name in people for part in name.split() if len(part) >= 3))


def _salience(report: Report, keys: dict[str, str], incident: Mapping[str, Any],
              ours: frozenset[str] | None = None) -> tuple[float, Overlap] | None:
    """Points for joining by what is shared, or None when it is not enough. `ours`: the blocks
    of the report's keys; an incident sharing none of them shares no key (salience.blocks), which
    is answered without building its keys."""
    if ours is not None and ours.isdisjoint(blocks(tuple(incident.get("keys") or ()))) and ours.isdisjoint(
            blocks(_person_keys(tuple(incident.get("people") or ())))):
        return None
    theirs = _incident_keys(incident)
    if report.people and incident.get("people"):
        # both name watched people, different ones: only a part of one's name found in the
        # other counts, not a name both share (two men called Alexander)
        ours = {k for k, kind in keys.items() if kind == "person"}
        both = {k for k, kind in theirs.items() if kind == "person" and any(same_name(k, o) for o in ours)}
        found = overlap({k: v for k, v in keys.items() if not any(same_name(k, b) for b in both)}, theirs,
                        frozenset(both))
        if not found.person_parts:
            return None
    else:
        found = overlap(keys, theirs)
    if not (found.person_parts or found.names >= 2):
        return None
    points = found.points
    if set(report.incident_types) & set(incident.get("incident_types") or ()):
        points += TYPES_POINTS
    if set([*report.origin, *report.host]) & set([*incident.get("origin", ()), *incident.get("host", ())]):
        points += COUNTRY_POINTS
    return (points, found) if points >= JOIN_POINTS else None


def _bystander_only(report: Report, incident: Mapping[str, Any]) -> bool:
    """Whether the report and the incident share only people quoted in both, while each is
    about a watched person the other does not name (a lawyer, a defender, a spokesperson)."""
    shared = set(report.people) & set(incident.get("people") or ())
    ours, theirs = set(report.people) - shared, set(incident.get("people") or ()) - shared
    return bool(shared and ours and theirs)


def _case_of(report: Report, incidents: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recent of these incidents of the report's people that is the same case."""
    return next((i for i in incidents if not _bystander_only(report, i)), None)


def choose(report: Report, candidates: Sequence[Mapping[str, Any]],
           keys: dict[str, str] | None = None) -> tuple[Mapping[str, Any], str, float] | None:
    """The incident among `candidates` (those within the window, newest first) that the report
    belongs to, with the reason and score; None when it belongs to none. `keys`: the report's
    salient keys, when the caller has them already."""
    keys = report.keys() if keys is None else keys
    ours = blocks(tuple(keys))
    best: tuple[float, Mapping[str, Any], str] | None = None
    for incident in candidates:
        if _different_events(report, incident):
            continue
        if _bystander_only(report, incident):
            continue  # each is about someone else, and shares only a bystander (the lawyer quoted in both)
        shared = [p for p in report.people if p in (incident.get("people") or ())]
        if shared:
            score, reason = 10.0 + len(shared), "shared person: " + ", ".join(shared)
        else:
            found = _salience(report, keys, incident, ours)
            if found is None:
                continue
            score, reason = found[0], f"{found[1].describe()} (score {found[0]:g})"
        if best is None or score > best[0]:
            best = (score, incident, reason)
    return None if best is None else (best[1], best[2], best[0])


@lru_cache(maxsize=8192)
def _names(people_json: str) -> tuple[str, ...]:
    return tuple(json.loads(people_json))


@lru_cache(maxsize=1024)
def _key_blocks(keys_json: str) -> tuple[frozenset[str], frozenset[str]]:
    """The blocks of an incident's stored keys, and of those among them of kind `person`."""
    keys = json.loads(keys_json)
    return blocks(tuple(keys)), blocks(tuple(k for k, kind in keys.items() if kind == "person"))


def _joinable(report: Report, keys: dict[str, str]) -> Callable[[str, str], bool]:
    """Whether `choose` could pick an incident, from its stored people and keys columns: only
    one that shares a watched person or a block of a key (salience.blocks) can be; the others
    are left unread. When both name watched people and none in common, `_salience` needs a
    shared key of which one side is a part of a watched person's name, so the blocks of the
    report's person keys must meet those of the incident's keys, or the report's blocks those of
    the incident's person keys."""
    ours, people = blocks(tuple(keys)), set(report.people)
    our_people = blocks(tuple(k for k, kind in keys.items() if kind == "person"))

    def could_join(people_json: str, keys_json: str) -> bool:
        names = _names(people_json)
        if not people.isdisjoint(names):
            return True
        theirs, their_person_keys = _key_blocks(keys_json)
        their_people = blocks(_person_keys(names)) | their_person_keys
        if people and names:
            return not (our_people.isdisjoint(theirs) and ours.isdisjoint(their_people))
        return not (ours.isdisjoint(theirs) and ours.isdisjoint(their_people))

    return could_join


def _index_blocks(report: Report, stored: dict[str, str]) -> frozenset[str]:
    """What the report adds to its incident's candidate index (Store.incidents_near): the blocks
    of the keys kept on the incident and of its watched people's name parts, which are what
    `could_join` compares."""
    return blocks(tuple(stored)) | blocks(_person_keys(tuple(report.people)))


def place(store: Store, report: Report, now: datetime, window: timedelta = DEFAULT_WINDOW) -> Placement:
    """Put the report into its incident (inside the caller's transaction) and say where."""
    when = reported_at(report.published, now)
    keys = report.keys()
    stored = {k: v for k, v in keys.items() if v != "person"}
    near = store.incidents_near(when - window, when + window, _joinable(report, keys), blocks=blocks(tuple(keys)),
                                people=report.people)
    chosen = choose(report, near, keys)
    if chosen is not None:
        incident, reason, score = chosen
        store.add_report(int(incident["id"]), report.item_id, source_id=report.source_id, reported=when,
                         reason=reason, score=score, now=now, people=report.people,
                         incident_types=report.incident_types, origin=report.origin, host=report.host,
                         keys=stored, blocks=_index_blocks(report, stored))
        return Placement(int(incident["id"]), True, None, reason, score)
    earlier = _case_of(report, store.incidents_of(report.people, before=when))  # the development it follows
    later = _case_of(report, store.incidents_of(report.people)) if earlier is None else None  # a case it precedes
    previous = int(earlier["id"]) if earlier is not None else None
    incident_id = store.create_incident(
        title=report.title or report.summary[:200], people=report.people, incident_types=report.incident_types,
        origin=report.origin, host=report.host, keys=stored, reported=when, now=now, previous=previous,
        case_of=int(later["id"]) if later is not None else None, blocks=_index_blocks(report, stored))
    reason = "first report" + (f"; a new development of the case of incident #{previous}" if previous else "")
    store.add_report(incident_id, report.item_id, source_id=report.source_id, reported=when, reason=reason,
                     score=None, now=now)
    return Placement(incident_id, False, previous, reason)


def alert_kind(store: Store, placement: Placement, destination: str) -> tuple[str, int | None]:
    """How a report that should alert reaches `destination`, and the alert it refers to:
    'also' (the incident already alerted there: edit that message, or reply silently),
    'followup' (a new incident of a case that alerted there: a notifying reply to the case's
    latest alert) or 'alert' (nothing of it was sent there yet)."""
    own = store.incident_alert([placement.incident_id], destination)
    if own is not None:
        return "also", int(own["id"])
    incident = store.incident(placement.incident_id)
    if incident is not None:
        case = [i for i in store.case_incidents(int(incident["case_id"])) if i != placement.incident_id]
        earlier = store.incident_alert(case, destination)
        if earlier is not None:
            return "followup", int(earlier["id"])
    return "alert", None
