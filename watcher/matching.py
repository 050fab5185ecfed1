"""Matching items against the rules: `match(item, rules) -> list[Match]`.

Version 0: case-insensitive whole-word matching of each person's name and aliases and of the
incident keywords (a trailing `*` matches any word with that stem), on the item's text. A person
never matches in an item that names someone on their `not` list. The next version replaces the
inside of `match` only; callers depend on nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from watcher.models import Item, Match
from watcher.rules import Rules

_WORD = r"[^\W_]"


def _pattern(phrase: str) -> str:
    stem = phrase.endswith("*")
    words = phrase.rstrip("*").split()
    body = r"\s+".join(re.escape(w) for w in words)
    tail = rf"{_WORD}*" if stem else ""
    return rf"(?<!{_WORD}){body}{tail}(?!{_WORD})"


@dataclass(frozen=True)
class _Compiled:
    people: list[tuple[str, re.Pattern[str], re.Pattern[str] | None, dict[str, str]]]
    incidents: list[tuple[str, re.Pattern[str], dict[str, str]]]


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    ordered = sorted(set(phrases), key=len, reverse=True)
    return re.compile("|".join(f"(?P<v{i}>{_pattern(p)})" for i, p in enumerate(ordered)), re.IGNORECASE)


def _variants(phrases: list[str]) -> dict[str, str]:
    ordered = sorted(set(phrases), key=len, reverse=True)
    return {f"v{i}": p for i, p in enumerate(ordered)}


def _compile(rules: Rules) -> _Compiled:
    people = []
    for person in rules.people:
        spellings = list(person.spellings())
        blocked = _alternation(list(person.not_)) if person.not_ else None
        people.append((person.rule_id, _alternation(spellings), blocked, _variants(spellings)))
    incidents = []
    for type_id, incident in rules.incident_types.items():
        words = [w for ws in incident.keywords.values() for w in ws]
        if words:
            incidents.append((f"incident:{type_id}", _alternation(words), _variants(words)))
    return _Compiled(people, incidents)


def match(item: Item, rules: Rules) -> list[Match]:
    """Every rule the item matches, at most one Match per rule (its first occurrence)."""
    compiled: _Compiled = rules.compiled("matching-v0", _compile)
    text = item.text()
    found: list[Match] = []
    for rule_id, pattern, blocked, variants in compiled.people:
        hit = pattern.search(text)
        if hit is None or (blocked is not None and blocked.search(text)):
            continue
        variant = variants[hit.lastgroup or ""]
        found.append(Match(rule_id, "person", variant, hit.span(), hit.group(0), f"whole-word match of {variant!r}"))
    for rule_id, pattern, variants in compiled.incidents:
        hit = pattern.search(text)
        if hit is None:
            continue
        variant = variants[hit.lastgroup or ""]
        found.append(Match(rule_id, "incident", variant, hit.span(), hit.group(0), f"keyword {variant!r}"))
    return found
