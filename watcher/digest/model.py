"""What a daily digest says, as plain data: built by watcher.digest.gather, rendered by templates.

Kept apart so the templates (watcher/digest/templates/digest.*.j2) and the code that gathers the
day's alerts can change independently.

The unit is the incident, not the item: monitors count cases and incidents, and one stabbing
reported in English and Russian is one event, so each `DigestEntry` is one incident holding
every report of it. The "by person" and "by incident type" views only point at entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from watcher.rules import incident_label

NO_TYPE = "(no incident type)"


@dataclass(frozen=True)
class EntryReport:
    """One report (an item from one feed) of an incident."""

    item_id: int
    source_id: str
    language: str | None
    title: str
    url: str
    published: datetime  # UTC
    new: bool = True  # alerted in this digest's window (False: shown in an earlier digest)
    evidence: str | None = None  # the kept page's state (watcher/evidence), None when not asked for

    @property
    def label(self) -> str:
        """'fergana-ru (ru)': the feed and the report's language, as the Telegram alert says it."""
        return f"{self.source_id} ({self.language})" if self.language else self.source_id


@dataclass(frozen=True)
class DigestEntry:
    """One incident of the day with all its reports (or, should an alert row ever lack an
    incident, that alert's item alone: `incident_id` None, so nothing vanishes silently)."""

    incident_id: int | None
    title: str
    urgent: bool
    reports: list[EntryReport]  # in the order they joined; the first is the one quoted
    people: list[str]  # canonical names
    seen_as: dict[str, list[str]]  # canonical name -> spellings seen that differ from it
    incident_types: list[str]  # ids; templates show incident_label()
    origin: list[str] = field(default_factory=list)  # ISO codes: where the person is from
    host: list[str] = field(default_factory=list)  # ISO codes: where it happened
    named: list[str] = field(default_factory=list)  # ISO codes named in the text, when origin/host are unknown
    fields: dict[str, str] = field(default_factory=dict)  # the first report's court fields
    snippet_before: str = ""  # the first report's snippet, split around the match to mark it
    snippet_match: str = ""
    snippet_after: str = ""
    case_id: int | None = None
    follows: int | None = None  # the case's earlier incident this one follows (previous_id)
    follows_title: str = ""
    follows_seen: datetime | None = None
    continued: bool = False  # first alerted before this window; the window brought later reports

    @property
    def ref(self) -> str:
        """How indexes point at the entry: '#3' (incident 3), 'item #12' without an incident."""
        if self.incident_id is not None:
            return f"#{self.incident_id}"
        return f"item #{self.reports[0].item_id}" if self.reports else "item"

    @property
    def anchor(self) -> str:
        """The HTML id the indexes link to."""
        return f"incident-{self.incident_id}" if self.incident_id is not None else self.ref.replace(" #", "-")

    @property
    def first(self) -> EntryReport | None:
        return self.reports[0] if self.reports else None

    @property
    def url(self) -> str:
        return self.reports[0].url if self.reports else ""

    @property
    def first_seen(self) -> datetime | None:
        return min((r.published for r in self.reports), default=None)

    @property
    def last_seen(self) -> datetime | None:
        return max((r.published for r in self.reports), default=None)

    @property
    def countries(self) -> list[str]:
        """Every country the entry concerns, for the counts: origin and host, else those named."""
        return list(dict.fromkeys([*self.origin, *self.host])) or list(self.named)

    @property
    def where_host(self) -> list[str]:
        """Host countries other than the origin (Uzbekistan → Turkey, not → Uzbekistan, Turkey)."""
        return [c for c in self.host if c not in self.origin]

    @property
    def source_labels(self) -> list[str]:
        """Each reporting feed once, in order, with ×N when it sent several reports."""
        counts: dict[str, int] = {}
        for report in self.reports:
            counts[report.label] = counts.get(report.label, 0) + 1
        return [label + (f" ×{n}" if n > 1 else "") for label, n in counts.items()]


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

    @property
    def others(self) -> list[DigestEntry]:
        return [e for e in self.entries if not e.urgent]

    @property
    def reports_total(self) -> int:
        return sum(len(e.reports) for e in self.entries)

    def by_person(self) -> dict[str, list[DigestEntry]]:
        groups: dict[str, list[DigestEntry]] = {}
        for entry in self.entries:
            for person in entry.people:
                groups.setdefault(person, []).append(entry)
        return dict(sorted(groups.items()))

    def by_incident(self) -> dict[str, list[DigestEntry]]:
        """Incident type id (or NO_TYPE, last) -> the entries of that type, by the type's name."""
        groups: dict[str, list[DigestEntry]] = {}
        for entry in self.entries:
            for kind in entry.incident_types or [NO_TYPE]:
                groups.setdefault(kind, []).append(entry)
        return dict(sorted(groups.items(), key=lambda kv: (kv[0] == NO_TYPE, incident_label(kv[0]).casefold())))

    def counts_by_incident(self) -> dict[str, int]:
        return {kind: len(entries) for kind, entries in self.by_incident().items()}

    def counts_by_country(self) -> dict[str, int]:
        """ISO code -> how many incidents concern it, most first."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            for country in entry.countries:
                counts[country] = counts.get(country, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
