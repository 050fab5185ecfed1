"""`watcher stats` and `/stats`: what monitors' feedback says about each rule, and what to change.

Per watched person and per incident type, over a period: how many alerts it was in, how many
monitors judged relevant and not relevant, and the precision, relevant / (relevant + not
relevant), None while nobody has judged. An alert's verdict is its monitors' majority (the
latest verdict breaks a tie), so one alert counts once however many monitors pressed a button.

A person whose alerts were judged not relevant is most often taken for a namesake. For them,
`suggestions` lists the other people's full names found beside the watched surname in those
items ("President Islam Karimov" when Bakhodir Karimov is watched): a given name next to it
(before it, or after it as Russian official lists write "Каримов Тулкин") that is not one of the
person's own, in the names' own spelling, most frequent first. Names already in the person's
`not:` list, their own name and aliases are never offered. The bot offers each as a one-tap
`not:` entry (RulesEditor.add_not).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from watcher.history.stored import alerts_between, person_spans, rules_of_items, stored_item
from watcher.matching.namelike import is_patronymic, looks_like_given_name
from watcher.matching.namesakes import FUNCTION_WORDS, ROLES, TITLES, common_given_forms, gap_ok, stem
from watcher.matching.normalize import Token, tokenize
from watcher.matching.translit import name_key, split_suffix
from watcher.rules import Person, Rules, incident_label
from watcher.store import Store

MOST_SUGGESTIONS = 5


@dataclass
class RuleStats:
    """Feedback on the alerts one rule took part in."""

    rule: str  # "person:<name>" or "incident:<type>"
    alerts: int = 0
    relevant: int = 0
    not_relevant: int = 0
    suggestions: list[str] = field(default_factory=list)  # namesakes to add to `not:` (people only)

    @property
    def name(self) -> str:
        return self.rule.split(":", 1)[1]

    @property
    def precision(self) -> float | None:
        judged = self.relevant + self.not_relevant
        return self.relevant / judged if judged else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "alerts": self.alerts, "relevant": self.relevant,
                "not_relevant": self.not_relevant, "precision": self.precision,
                **({"suggestions": self.suggestions} if self.rule.startswith("person:") else {})}


@dataclass
class Stats:
    since: datetime
    until: datetime
    alerts: int = 0
    people: list[RuleStats] = field(default_factory=list)  # most not-relevant alerts first
    incident_types: list[RuleStats] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "alerts": self.alerts,
                "people": [r.to_json() for r in self.people],
                "incident_types": [r.to_json() for r in self.incident_types]}

    def lines(self) -> list[str]:
        """The report as the terminal and the monitors' chat show it (it names people)."""
        out = [f"{self.alerts} alert(s) {self.since:%Y-%m-%d} .. {self.until:%Y-%m-%d}"]
        sections = (("people", self.people, str), ("incident types", self.incident_types, incident_label))
        for title, rows, label in sections:
            out.append(f"{title}: alerts, relevant, not relevant, precision")
            out += [f"  {label(r.name)}: {r.alerts}, {r.relevant}, {r.not_relevant}, {_percent(r.precision)}"
                    + (f" — namesakes seen: {', '.join(r.suggestions)}" if r.suggestions else "") for r in rows]
            if not rows:
                out.append("  -")
        return out


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def feedback_stats(store: Store, since: datetime, until: datetime, rules: Rules) -> Stats:
    """Alerts created in [since, until) and their feedback, per person and incident type."""
    rows = list(alerts_between(store, since, until))
    rules_of = rules_of_items(store, sorted({int(r["item_id"]) for r in rows}))
    by_rule: dict[str, RuleStats] = {}
    judged_wrong: dict[str, set[int]] = {}  # person rule -> items of their not-relevant alerts
    for row in rows:
        verdict = _verdict(int(row["relevant"]), int(row["not_relevant"]), row["latest"])
        for rule in rules_of.get(int(row["item_id"]), []):
            stats = by_rule.setdefault(rule, RuleStats(rule))
            stats.alerts += 1
            stats.relevant += verdict == "relevant"
            stats.not_relevant += verdict == "not_relevant"
            if verdict == "not_relevant" and rule.startswith("person:"):
                judged_wrong.setdefault(rule, set()).add(int(row["item_id"]))
    people = {p.rule_id: p for p in rules.people}
    for rule, item_ids in judged_wrong.items():
        if rule in people:
            by_rule[rule].suggestions = namesake_suggestions(store, people[rule], sorted(item_ids))

    def order(r: RuleStats) -> tuple[int, int, str]:
        return -r.not_relevant, -r.alerts, r.name

    return Stats(since, until, len(rows),
                 sorted((r for r in by_rule.values() if r.rule.startswith("person:")), key=order),
                 sorted((r for r in by_rule.values() if r.rule.startswith("incident:")), key=order))


def _verdict(relevant: int, not_relevant: int, latest: str | None) -> str | None:
    if relevant == not_relevant:
        return latest if relevant else None
    return "relevant" if relevant > not_relevant else "not_relevant"


def namesake_suggestions(store: Store, person: Person, item_ids: list[int]) -> list[str]:
    """Other people's full names beside the person's matched surname in these items."""
    own_given = {name_key(s.split()[0]) for s in person.spellings() if len(s.split()) > 1}
    refused = {n.casefold() for n in (*person.spellings(), *person.not_)}
    found: Counter[str] = Counter()
    for item_id in item_ids:
        stored = stored_item(store, item_id)
        spans = person_spans(store, item_id, person.rule_id)
        if stored is None or not spans:
            continue
        text = stored.item.text()
        surnames = {_surname_stem(text[start:end].split()[-1]) for start, end, _ in spans if text[start:end].split()}
        for name in dict.fromkeys(_names_beside(text, tokenize(text), surnames, own_given)):
            if name.casefold() not in refused:
                found[name] += 1
    return [name for name, _ in found.most_common(MOST_SUGGESTIONS)]


def _surname_stem(word: str) -> str:
    return stem(name_key(split_suffix(word)[0]))


def _names_beside(text: str, tokens: list[Token], surnames: set[str], own_given: set[str]) -> list[str]:
    """'Given Surname' for every given name (not the person's own) beside one of `surnames`."""
    known = common_given_forms()
    out = []
    for i, token in enumerate(tokens):
        if not token.upper or _surname_stem(token.raw) not in surnames:
            continue
        surname = split_suffix(token.raw)[0]
        for j in (i - 1, i + 1):
            if not 0 <= j < len(tokens):
                continue
            other = tokens[j]
            left, right = (other, token) if j < i else (token, other)
            if not other.upper or not gap_ok(text, left, right) or other.norm in TITLES | ROLES | FUNCTION_WORDS:
                continue
            if name_key(other.raw) in own_given or _surname_stem(other.raw) in surnames:
                continue
            if j > i and is_patronymic(other.raw):
                continue  # "Karimov Tulkinovich": a stranger, but no given name to write down
            if looks_like_given_name(other.raw, known):
                out.append(f"{other.raw} {surname}")  # given name first, as `not:` entries are read
    return out
