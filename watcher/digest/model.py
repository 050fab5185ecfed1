"""What a daily digest says, as plain data: built by watcher.digest.service, rendered by templates.

Kept apart so the templates (watcher/digest/templates/digest.*.j2) and the code that gathers the
day's alerts can change independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class DigestEntry:
    """One alerted item of the day."""

    item_id: int
    title: str
    url: str
    source_id: str
    published: datetime  # UTC
    urgent: bool
    people: list[str]  # canonical names
    seen_as: list[str]  # the spellings found, same order as people
    incident_types: list[str]
    countries: list[str]  # ISO codes named in the item
    fields: dict[str, str]  # court fields: court, case_number, respondent_state, ...
    snippet_before: str  # the snippet, split around the match so templates can mark it
    snippet_match: str
    snippet_after: str


@dataclass(frozen=True)
class SourceProblem:
    """A source that was failing, blocked, zombie or quiet during the period."""

    source_id: str
    state: str
    since: str | None
    last_error: str


@dataclass
class Digest:
    day: date  # the local date the digest is for (sent on)
    timezone: str  # e.g. Europe/London
    start: datetime  # UTC, exclusive
    end: datetime  # UTC, inclusive
    entries: list[DigestEntry] = field(default_factory=list)  # urgent first, then newest first
    problems: list[SourceProblem] = field(default_factory=list)
    sources_total: int = 0
    sources_healthy: int = 0
    # sent on request before the day's send time: covers start -> the moment it was made, and
    # the day's own digest still goes out at the send time with the whole window
    partial: bool = False

    @property
    def empty(self) -> bool:
        return not self.entries

    @property
    def urgent(self) -> list[DigestEntry]:
        return [e for e in self.entries if e.urgent]

    def by_person(self) -> dict[str, list[DigestEntry]]:
        groups: dict[str, list[DigestEntry]] = {}
        for entry in self.entries:
            for person in entry.people:
                groups.setdefault(person, []).append(entry)
        return dict(sorted(groups.items()))

    def by_incident(self) -> dict[str, list[DigestEntry]]:
        groups: dict[str, list[DigestEntry]] = {}
        for entry in self.entries:
            for kind in entry.incident_types or ["(no incident type)"]:
                groups.setdefault(kind, []).append(entry)
        return dict(sorted(groups.items()))

    def counts_by_incident(self) -> dict[str, int]:
        return {kind: len(entries) for kind, entries in self.by_incident().items()}

    def counts_by_country(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            for country in entry.countries:
                counts[country] = counts.get(country, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
