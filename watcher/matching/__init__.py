"""Matching items against the rules: `match(item, rules) -> list[Match]`.

The engine (names.py for people, keywords.py for incident types, countries.py for places) is
compiled once per rules load and reused for every item. `analyse` gives the full picture used
by `watcher match` and `watcher rules test`: people, incident types, countries, and every
match with the variant, span and reason.

Invisible characters (soft hyphens, bidi controls, ...) are removed before anything is read,
and the spans found in the visible text are mapped back to the text as it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from watcher.matching.countries import tag_countries
from watcher.matching.keywords import IncidentHit, IncidentIndex
from watcher.matching.names import NameIndex, mention_match
from watcher.matching.normalize import Token, tokenize, visible
from watcher.models import Item, Match
from watcher.rules import Rules

__all__ = ["Analysis", "Matcher", "analyse", "match", "matcher_for"]


@dataclass
class Analysis:
    people: list[str] = field(default_factory=list)
    incident_types: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    ignored: list[Match] = field(default_factory=list)  # incident hits not counted, and why (rules test)


class Matcher:
    """The rules compiled for matching: a name index, a keyword index, the monitors' regexes."""

    def __init__(self, rules: Rules):
        self.rules = rules
        self.names = NameIndex(rules.people)
        self.incidents = IncidentIndex(rules.incident_types)
        self.person_regexes = [(p, p.compiled_regex()) for p in rules.people if p.regex]
        self.countries = {p.name: p.country or "" for p in rules.people}
        self.incident_regexes = [(t, i.compiled_regex()) for t, i in rules.incident_types.items() if i.regex]

    def analyse(self, text: str) -> Analysis:
        """Everything the rules find in `text`; spans index `text` itself, invisible characters
        and all (a name hyphenated by a CMS, "Bakho\u00addir", is found and reported whole)."""
        shown = visible(text)
        result = self._analyse(shown.text)
        if shown.changed:
            result.matches = [_restored(m, text, shown.span(*m.span)) for m in result.matches]
            result.ignored = [_restored(m, text, shown.span(*m.span)) for m in result.ignored]
        return result

    def _analyse(self, text: str) -> Analysis:
        tokens = tokenize(text)
        result = Analysis()
        people_seen: dict[str, None] = {}
        for mention in self.names.find(text, tokens):
            found = mention_match(self.names, mention, text)
            result.matches.append(found)
            people_seen.setdefault(self.names.entries[mention.person].person.name)
        for person, pattern in self.person_regexes:
            for hit in pattern.finditer(text):
                result.matches.append(Match(person.rule_id, "person", person.regex or "", hit.span(), hit.group(0),
                                            "the person's regex"))
                people_seen.setdefault(person.name)
                break
        types: dict[str, None] = {}
        counted, ignored = self.incidents.find(text, tokens)
        result.matches.extend(_incident_match(hit, tokens, text) for hit in counted)
        result.ignored = [_incident_match(hit, tokens, text) for hit in ignored]
        types.update(dict.fromkeys(hit.label for hit in counted))
        for type_id, pattern in self.incident_regexes:
            hit = pattern.search(text)
            rule = f"incident:{type_id}"
            if hit is not None and not any(m.rule == rule and m.span == hit.span() for m in result.matches):
                result.matches.append(Match(f"incident:{type_id}", "incident", self.rules.incident_types[type_id].regex or "",
                                            hit.span(), hit.group(0), "the incident type's regex"))
                types.setdefault(type_id)
        result.people = list(people_seen)
        result.incident_types = list(types)
        result.countries, result.origin, result.host = tag_countries(tokens, [self.countries[n] for n in result.people])
        result.matches.sort(key=lambda m: (m.kind != "person", m.span))
        return result


def _incident_match(hit: IncidentHit, tokens: list[Token], text: str) -> Match:
    start, end = tokens[hit.first].start, tokens[hit.last].end
    return Match(f"incident:{hit.label}", "incident", hit.keyword, (start, end), text[start:end], hit.why)


def _restored(found: Match, text: str, span: tuple[int, int]) -> Match:
    return replace(found, span=span, text=text[span[0]:span[1]])


def matcher_for(rules: Rules) -> Matcher:
    """The compiled matcher of these rules, built on first use and kept with them."""
    return rules.compiled("matcher", Matcher)


def analyse(text: str, rules: Rules) -> Analysis:
    return matcher_for(rules).analyse(text)


def match(item: Item, rules: Rules) -> list[Match]:
    """Every match of the item's text (title, summary, structured fields) against the rules."""
    return matcher_for(rules).analyse(item.text()).matches
