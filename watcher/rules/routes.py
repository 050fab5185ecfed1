"""Routes: which destinations an incident goes to, and how soon (rules/routes.yaml).

    destinations:
      tajik-desk: {telegram: "-1001111111111"}
      chechnya-desk: {telegram: "@chechnya_alerts"}
      tajik-mail: {email: [desk@example.org]}      # digests only
    routes:
      - name: tajikistan
        when: {team: tajik, country: TJ}           # every key must hold; any value of a key
        to: [tajik-desk, tajik-mail]
      - name: background
        when: {type: [threats_to_family, detention]}
        to: [default]
        notify: digest
    default: {to: [default], notify: now}

`when` keys: team and tag (of a watched person the item names), country (of the person, or the
incident's origin or host country), origin, host, type (incident type), urgent (true/false),
source (source id). Every route whose `when` holds adds its destinations; the default route
applies only when none does. `notify`: now (sent at once), urgent (sent at once when the
incident is urgent, else kept for the digest), digest (only in the digests). When several
routes send to one destination, the soonest wins. The destination `default` is the chat of
WATCHER_TELEGRAM_CHAT (the console when no Telegram token is set).

Errors say file:line and name routes by their `name` (never a person: routes name teams).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from watcher.errors import ConfigProblem
from watcher.yamlfile import Located, describe_validation_error

ROUTES_FILE = "routes.yaml"
ROUTE_KEYS = {"destinations", "routes", "default"}
DEFAULT = "default"  # the destination name standing for WATCHER_TELEGRAM_CHAT (or the console)
RESERVED = {DEFAULT, "telegram", "console", "telegram-admin"}  # names watcher gives its own notifiers
NOTIFY_ORDER = {"now": 0, "urgent": 1, "digest": 2}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _listed(value: object) -> object:
    """A scalar where a list is expected reads as a list of one (`team: tajik`)."""
    return [value] if isinstance(value, (str, int, bool)) and not isinstance(value, list) else value


class Destination(BaseModel):
    """A Telegram chat (alerts) or email recipients (digests)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telegram: str | None = None
    email: tuple[str, ...] = ()

    @field_validator("telegram", mode="before")
    @classmethod
    def _chat(cls, value: object) -> object:
        if value is None:
            return value
        text = str(value).strip()
        if not _CHAT.match(text):
            raise ValueError(f"{text!r} is not a Telegram chat id like -1001234567890 or @channelname")
        return text

    @field_validator("email", mode="before")
    @classmethod
    def _emails(cls, value: object) -> object:
        values = _listed(value)
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError("email: a list of addresses")
        for address in values:
            if not isinstance(address, str) or not _EMAIL.match(address.strip()):
                raise ValueError(f"{address!r} is not an email address")
        return tuple(a.strip() for a in values)

    @model_validator(mode="after")
    def _one_kind(self) -> Destination:
        if (self.telegram is None) == (not self.email):
            raise ValueError("a destination is either `telegram: <chat id>` or `email: [addresses]`")
        return self

    @property
    def kind(self) -> str:
        return "telegram" if self.telegram is not None else "email"


class When(BaseModel):
    """Conditions of a route: every key given must hold, any listed value of a key will do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    origin: tuple[str, ...] = ()
    host: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    urgent: bool | None = None

    _lists = field_validator("team", "tag", "country", "origin", "host", "type", "source", mode="before")(
        classmethod(lambda cls, v: _listed(v)))

    @field_validator("country", "origin", "host")
    @classmethod
    def _countries(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not re.match(r"^[A-Z]{2}$", value):
                raise ValueError(f"{value!r} is not an ISO 3166 country code like UZ, TJ")
        return values

    def holds(self, facts: Facts) -> bool:
        checks = [
            (self.team, facts.teams), (self.tag, facts.tags), (self.country, facts.countries),
            (self.origin, facts.origin), (self.host, facts.host), (self.type, facts.types),
            (self.source, {facts.source}),
        ]
        if any(wanted and not set(wanted) & set(have) for wanted, have in checks):
            return False
        return self.urgent is None or self.urgent == facts.urgent


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    when: When = Field(default_factory=When)
    to: tuple[str, ...]
    notify: Literal["now", "urgent", "digest"] = "now"

    _to = field_validator("to", mode="before")(classmethod(lambda cls, v: _listed(v)))

    @field_validator("to")
    @classmethod
    def _some(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("`to:` names at least one destination")
        return values


@dataclass(frozen=True)
class Facts:
    """What routing looks at in one report of an incident."""

    people: tuple[str, ...] = ()
    teams: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    origin: frozenset[str] = frozenset()
    host: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    source: str = ""
    urgent: bool = False


@dataclass(frozen=True)
class Target:
    """One destination an incident goes to: `send` at once, or held for the digest."""

    destination: str
    notify: str
    route: str

    def sends(self, urgent: bool) -> bool:
        return self.notify == "now" or (self.notify == "urgent" and urgent)


@dataclass(frozen=True)
class RouteTable:
    """The routes in force; empty (no routes.yaml) sends everything to the default chat at once."""

    destinations: dict[str, Destination] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    default: Route = field(default_factory=lambda: Route(name="default", to=(DEFAULT,)))

    def targets(self, facts: Facts, default: Sequence[str]) -> list[Target]:
        """The destinations of one report, each once, with the soonest notify of the routes
        sending there. `default` are the notifier names the destination `default` stands for."""
        chosen = [route for route in self.routes if route.when.holds(facts)] or [self.default]
        best: dict[str, Target] = {}
        for number, route in enumerate(chosen, 1):
            label = route.name or f"route #{number}"
            names: Iterable[str] = [n for name in route.to for n in (default if name == DEFAULT else [name])]
            for name in names:
                target = Target(name, route.notify, label)
                if name not in best or NOTIFY_ORDER[route.notify] < NOTIFY_ORDER[best[name].notify]:
                    best[name] = target
        return list(best.values())

    def held_only(self, destination: str) -> bool:
        """An email destination: what is routed there waits for that route's digest."""
        known = self.destinations.get(destination)
        return known is not None and known.kind == "email"

    def chats(self) -> dict[str, str]:
        """Telegram destinations: name -> chat id."""
        return {name: d.telegram for name, d in self.destinations.items() if d.telegram is not None}

    def emails(self) -> dict[str, tuple[str, ...]]:
        """Email destinations: name -> recipients of that route's digest."""
        return {name: d.email for name, d in self.destinations.items() if d.email}

    def describe(self) -> list[str]:
        """The routes as monitors read them (/routes, `watcher routes`)."""
        lines = [f"destination {name}: " + (f"Telegram chat {d.telegram}" if d.telegram else
                                             f"digest to {len(d.email)} address(es)")
                 for name, d in sorted(self.destinations.items())]
        for number, route in enumerate([*self.routes, self.default], 1):
            when = ", ".join(f"{key}={'/'.join(map(str, value)) if isinstance(value, tuple) else value}"
                             for key, value in route.when.model_dump(exclude_defaults=True).items()) or "always"
            name = "default" if route is self.default else route.name or f"route #{number}"
            lines.append(f"route {name}: when {when} -> {', '.join(route.to)} ({route.notify})")
        return lines


def load_routes(doc: Located, data: dict[str, Any], types: Iterable[str] | None = None) -> tuple[RouteTable, list[ConfigProblem]]:
    """The route table of rules/routes.yaml, with every problem at its file:line."""
    problems: list[ConfigProblem] = []
    destinations: dict[str, Destination] = {}
    raw = data.get("destinations") or {}
    if not isinstance(raw, dict):
        return RouteTable(), [doc.problem(("destinations",), "'destinations' must map names to a chat or emails")]
    for name, body in raw.items():
        loc = ("destinations", name)
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED:
            problems.append(doc.problem(loc, f"destination {name!r}: names are lowercase letters, digits, '-', '_'"
                                        f" and not one of {', '.join(sorted(RESERVED))}"))
            continue
        try:
            destinations[name] = Destination.model_validate(body if isinstance(body, dict) else {"telegram": body})
        except ValidationError as exc:
            problems.extend(describe_validation_error(doc, exc, loc, f"destination {name!r}"))
    routes: list[Route] = []
    entries = data.get("routes") or []
    if not isinstance(entries, list):
        problems.append(doc.problem(("routes",), "'routes' must be a list"))
        entries = []
    known = set(destinations) | {DEFAULT}
    for index, entry in enumerate(entries):
        label = f"route #{index + 1}" + (f" ({entry.get('name')})" if isinstance(entry, dict) and entry.get("name") else "")
        route = _route(doc, ("routes", index), entry, label, known, types, problems)
        if route is not None:
            routes.append(route)
    default = Route(name="default", to=(DEFAULT,))
    if data.get("default") is not None:
        body = data["default"]
        body = {"to": body} if isinstance(body, (list, str)) else body
        route = _route(doc, ("default",), body, "the default route", known, types, problems, allow_when=False)
        default = route if route is not None else default
    return RouteTable(destinations, tuple(routes), default), problems


def _route(doc: Located, loc: tuple[Any, ...], entry: object, label: str, known: set[str],
           types: Iterable[str] | None, problems: list[ConfigProblem], *, allow_when: bool = True) -> Route | None:
    if not isinstance(entry, dict):
        problems.append(doc.problem(loc, f"{label}: expected a mapping with when, to, notify"))
        return None
    if not allow_when and "when" in entry:
        problems.append(doc.problem((*loc, "when"), f"{label}: takes no `when:` (it applies when no route does)"))
        return None
    try:
        route = Route.model_validate(entry)
    except ValidationError as exc:
        problems.extend(describe_validation_error(doc, exc, loc, label))
        return None
    unknown = [name for name in route.to if name not in known]
    if unknown:
        problems.append(doc.problem((*loc, "to"), f"{label}: unknown destination(s) {', '.join(unknown)}"
                                    f" (known: {', '.join(sorted(known))})"))
        return None
    if types is not None:
        missing = [t for t in route.when.type if t not in set(types)]
        if missing:
            problems.append(doc.problem((*loc, "when"), f"{label}: unknown incident type(s) {', '.join(missing)}"))
            return None
    return route
