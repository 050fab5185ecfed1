"""Monitors' rules: watched people and incident types, from the YAML files in rules/.

Every `*.yaml` file in the rules folder may hold a `people:` list and/or an `incident_types:`
mapping, so monitors can split a long watchlist by country or team. A broken file is refused
as a whole with file:line errors; `RulesHolder` (holder.py) keeps the previous rules in force.

Errors name people by position ("person #3"), never by name: the watchlist is sensitive and
error text ends up in logs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from watcher.durations import parse_duration
from watcher.errors import ConfigError, ConfigProblem
from watcher.rules.routes import ROUTE_KEYS, ROUTES_FILE, RouteTable, load_routes
from watcher.yamlfile import Located, describe_validation_error, load_yaml

log = logging.getLogger(__name__)

INCIDENT_TYPES = (
    "extradition", "interpol_red_notice", "abduction_rendition", "deportation", "detention",
    "assassination_attack", "threats_to_family", "threats_surveillance", "asylum_refusal", "ecthr_rule39",
)
# How each built-in incident type reads in an alert or the digest; a monitor's own type reads as
# its id in words (threats_online -> "threats online").
INCIDENT_LABELS = {
    "extradition": "extradition",
    "interpol_red_notice": "INTERPOL Red Notice",
    "abduction_rendition": "abduction / rendition",
    "deportation": "deportation",
    "detention": "detention",
    "assassination_attack": "assassination / attack",
    "threats_to_family": "threats to family",
    "threats_surveillance": "threats / surveillance",
    "asylum_refusal": "asylum refused",
    "ecthr_rule39": "ECtHR interim measure (Rule 39)",
}


def incident_label(type_id: str) -> str:
    """An incident type as a monitor reads it: abduction_rendition -> "abduction / rendition"."""
    return INCIDENT_LABELS.get(type_id) or type_id.replace("_", " ")


_LANG = re.compile(r"^[a-z]{2,3}$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_KNOWN_KEYS = {"people", "incident_types", "monitors"}  # monitors: the bot's allowlist (watcher.bot)


def _clean(value: str) -> str:
    return " ".join(value.split())


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> Any:
    """A monitor's pattern on RE2 (linear time: no pattern can hang the bot), case-insensitive.

    Raises ValueError with RE2's reason; RE2's own logging is off, since patterns may hold names."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 8 << 20
    try:
        return re2.compile("(?i)" + pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"RE2 refuses this pattern: {reason}") from None


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        if not value.strip():
            raise ValueError("must not be empty")
        compile_regex(value)
    return value


class Person(BaseModel):
    """A watched person. `name` is canonical; `not` lists namesakes that must never trigger them."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    aliases: tuple[str, ...] = ()
    country: str | None = None
    not_: tuple[str, ...] = Field(default=(), alias="not")
    notes: str = ""
    regex: str | None = None  # an extra pattern (RE2 syntax) that counts as naming this person
    # may the surname alone name this person? auto: when it is distinctive (or after a full
    # mention) and nothing beside it says it is somebody else; always: also when other watched
    # people share it; never: only a full mention counts
    surname_alone: Literal["auto", "always", "never"] = "auto"
    team: str | None = None  # which team's route their incidents take (rules/routes.yaml `team:`)
    tags: tuple[str, ...] = ()  # free labels routes can select on (`tag:`)
    # alert when no item has named them for this long ("no news of X for 14 days"), e.g. 14d
    check_in: timedelta | None = None

    _check_regex = field_validator("regex")(classmethod(lambda cls, v: _check_regex(v)))

    def compiled_regex(self) -> Any:
        return compile_regex(self.regex or "")

    @field_validator("check_in", mode="before")
    @classmethod
    def _check_in(cls, value: object) -> object:
        if value is None or isinstance(value, timedelta):
            return value
        length = parse_duration(value)
        if length < timedelta(days=1):
            raise ValueError(f"{value!r}: a check-in is at least 1d")
        return length

    @field_validator("team", "tags", mode="before")
    @classmethod
    def _labels(cls, value: object) -> object:
        values = [value] if isinstance(value, str) else value
        if values is None:
            return value
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and _LABEL.match(v) for v in values):
            raise ValueError("labels are lowercase letters, digits, '-' and '_', like tajik-desk")
        return value

    # the validators below run 30,000 times for a watchlist of 10,000: written out, not composed
    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("name must not be empty")
        return value

    @field_validator("aliases", "not_")
    @classmethod
    def _names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple([" ".join(v.split()) for v in values])
        if "" in cleaned:
            raise ValueError("names must not be empty")
        return cleaned

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not _COUNTRY.match(value):
            raise ValueError(f"{value!r} is not an ISO 3166 country code like UZ, TJ")
        return value

    @property
    def rule_id(self) -> str:
        return f"person:{self.name}"

    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


class IncidentType(BaseModel):
    """An incident concept with keywords per language. `alone`: may a keyword alert without a person?

    `not` lists phrases per language that look like the type but are not it ("terrorist
    attack", "in absentia + prison"): a keyword hit they overlap does not count. Both lists
    take the keyword syntax checked by `check_keyword` (matching/keywords.py reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    urgent: bool = False
    alone: bool = True
    keywords: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    not_: dict[str, tuple[str, ...]] = Field(default_factory=dict, alias="not")
    regex: str | None = None  # an extra pattern (RE2 syntax) for this incident type

    _check_regex = field_validator("regex")(classmethod(lambda cls, v: _check_regex(v)))

    def compiled_regex(self) -> Any:
        return compile_regex(self.regex or "")

    @field_validator("keywords", "not_")
    @classmethod
    def _keywords(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        out = {}
        for lang, words in value.items():
            if not _LANG.match(str(lang)):
                raise ValueError(f"{lang!r} is not a language code like en, ru, uz")
            cleaned = tuple(_clean(w) for w in words or ())
            for word in cleaned:
                check_keyword(str(lang), word)
            out[str(lang)] = cleaned
        return out

    @model_validator(mode="after")
    def _something_to_match(self) -> IncidentType:
        if not any(self.keywords.values()) and not self.regex:
            raise ValueError("needs keywords (per language) or a regex")
        return self


_WORD = re.compile(r"[^\W_]", re.UNICODE)


def check_keyword(lang: str, keyword: str) -> None:
    """An incident keyword: words (each also matching its other forms), `word*` a stem,
    `a/b` either word, `A + B` both parts in one sentence. Raises ValueError saying what is wrong."""
    if not keyword.strip("*"):
        raise ValueError(f"{lang}: empty keyword")
    for part in keyword.split("+"):
        if not _WORD.search(part):
            raise ValueError(f"{lang}: {keyword!r}: an empty part around '+'")
        for chunk in part.split():
            alternatives = chunk.split("/")
            for alternative in alternatives:
                if len(alternatives) > 1 and not _WORD.search(alternative):
                    raise ValueError(f"{lang}: {keyword!r}: an empty alternative around '/'")
                if "*" in alternative[:-1]:
                    raise ValueError(f"{lang}: {keyword!r}: '*' is allowed only at the end of a keyword or of a word")
                if len(alternatives) > 1 and re.search(r"[^\w*@'ʻʼ’‘`´]", alternative):
                    raise ValueError(f"{lang}: {keyword!r}: alternatives around '/' must be single words")


@dataclass(frozen=True)
class Rules:
    """Everything matching needs, as loaded from one rules folder."""

    people: tuple[Person, ...] = ()
    incident_types: dict[str, IncidentType] = field(default_factory=dict)
    fingerprint: tuple[tuple[str, int, int], ...] = ()
    routes: RouteTable = field(default_factory=RouteTable)  # rules/routes.yaml (routes.py)
    _compiled: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def compiled(self, key: str, build: Any) -> Any:
        """Cache for the matcher's compiled form of these rules (built once per load)."""
        if key not in self._compiled:
            self._compiled[key] = build(self)
        return self._compiled[key]

    def forget_compiled(self) -> None:
        """Drop the compiled forms (these rules were replaced): the matcher refers back to its
        rules, so the pair is freed now instead of at the next full collection. Whoever still
        holds these rules gets a fresh compile if they match again."""
        self._compiled.clear()


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        out.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def load_rules(folder: Path) -> Rules:
    """Load every rules file of a folder; raise ConfigError with all problems found."""
    if not folder.is_dir():
        raise ConfigError([ConfigProblem(str(folder), None, "rules folder not found")])
    fingerprint = _fingerprint(folder)
    problems: list[ConfigProblem] = []
    people: list[Person] = []
    incident_types: dict[str, IncidentType] = {}
    names_seen: dict[str, tuple[Located, int]] = {}
    types_seen: dict[str, tuple[Located, tuple[str, str]]] = {}
    routes_doc: Located | None = None
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = load_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if path.name == ROUTES_FILE:
            routes_doc = doc
        problems.extend(_load_file(doc, people, incident_types, names_seen, types_seen))
    routes = RouteTable()
    if routes_doc is not None and isinstance(routes_doc.data, dict):
        routes, route_problems = load_routes(routes_doc, routes_doc.data, incident_types)
        problems.extend(route_problems)
    if problems:
        raise ConfigError(problems)
    return Rules(tuple(people), incident_types, fingerprint, routes)


def _load_file(
    doc: Located,
    people: list[Person],
    incident_types: dict[str, IncidentType],
    names_seen: dict[str, tuple[Located, int]],
    types_seen: dict[str, tuple[Located, tuple[str, str]]],
) -> list[ConfigProblem]:
    data = doc.data
    if data is None:
        return []
    if not isinstance(data, dict):
        return [doc.problem((), "expected a mapping with 'people:' and/or 'incident_types:'")]
    known = _KNOWN_KEYS | ROUTE_KEYS if doc.path.name == ROUTES_FILE else _KNOWN_KEYS
    problems = [doc.problem((k,), f"unknown top-level key '{k}'" + (f" (routes belong in {ROUTES_FILE})" if k in ROUTE_KEYS else ""))
                for k in data if k not in known]
    entries = data.get("people") or []
    if not isinstance(entries, list):
        problems.append(doc.problem(("people",), "'people' must be a list"))
        entries = []
    for index, entry in enumerate(entries):
        label = f"person #{index + 1}"
        if not isinstance(entry, dict):
            problems.append(doc.problem(("people", index), f"{label}: expected a mapping with name, aliases, ..."))
            continue
        try:
            person = Person.model_validate(entry)
        except ValidationError as exc:
            problems.extend(describe_validation_error(doc, exc, ("people", index), label))
            continue
        key = person.name.casefold()
        if key in names_seen:
            first_doc, first_index = names_seen[key]
            where = f"{first_doc.display}:{first_doc.line_of(('people', first_index))}"
            problems.append(doc.problem(("people", index), f"{label}: the same person is already listed at {where}"))
            continue
        names_seen[key] = (doc, index)
        people.append(person)
    types = data.get("incident_types") or {}
    if not isinstance(types, dict):
        problems.append(doc.problem(("incident_types",), "'incident_types' must be a mapping of type id to settings"))
        types = {}
    for type_id, body in types.items():
        loc = ("incident_types", type_id)
        label = f"incident type {type_id!r}"
        if not _TYPE_ID.match(str(type_id)):
            problems.append(doc.problem(loc, f"{label}: ids are lowercase letters, digits and '_'"))
            continue
        if not isinstance(body, dict):
            problems.append(doc.problem(loc, f"{label}: expected a mapping with urgent, keywords"))
            continue
        try:
            incident = IncidentType.model_validate(body)
        except ValidationError as exc:
            problems.extend(describe_validation_error(doc, exc, loc, label))
            continue
        if type_id in types_seen:
            first_doc, first_loc = types_seen[type_id]
            problems.append(doc.problem(loc, f"{label}: already defined at {first_doc.display}:{first_doc.line_of(first_loc)}"))
            continue
        types_seen[type_id] = (doc, loc)
        incident_types[type_id] = incident
    return problems
