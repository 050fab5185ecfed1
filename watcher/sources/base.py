"""What every source is: declarative settings from feeds.yaml, a network-only `fetch`, a pure `parse`.

Fetching and parsing are separate (as in lemon24/reader): `fetch` talks HTTP and returns
`Response`s; `parse(response)` turns one response into items with no network, clock or
database, so it can be tested on a recorded file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, field_validator

from watcher.durations import parse_duration
from watcher.models import Item, Response

if TYPE_CHECKING:
    from watcher.http import Fetcher, Validators

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Pause = Annotated[timedelta, BeforeValidator(lambda v: parse_duration(v, allow_zero=True))]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PARAM_NAME_BAD = re.compile(r"[\s=&?#]")


class SourceSettings(BaseModel):
    """Keys every source accepts in feeds.yaml; each source type adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    type: str
    every: Duration = timedelta(minutes=30)
    enabled: bool = True
    language: str | None = None
    countries: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    proxy: str | None = None
    backfill: Literal["silent", "alert"] = "silent"
    quiet_after: Duration | None = None
    # what alerts: any matching rule, or only a watched person (the type's default if unset)
    alerts: Literal["matches", "people"] | None = None
    allow_private: bool = False  # may this source reach loopback/private addresses (a local mirror)?
    # query parameters never dropped from this source's links, for a site whose article id looks
    # like a tracking parameter (`?from=123`); see watcher.text.canonical_url
    keep_params: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} must be lowercase letters, digits, '-' or '_'")
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str | None) -> str | None:
        if value is not None and not _LANG.match(value):
            raise ValueError(f"{value!r} is not an ISO 639 language code like en, ru, uz")
        return value

    @field_validator("countries")
    @classmethod
    def _check_countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not _COUNTRY.match(code):
                raise ValueError(f"{code!r} is not an ISO 3166 country code like UZ, TJ")
        return value

    @field_validator("keep_params", mode="before")
    @classmethod
    def _check_keep_params(cls, value: Any) -> Any:
        """A list of names: a bare string would otherwise be refused with pydantic's 'valid tuple'."""
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{value!r} must be a list of query parameter names, like [from, id]")
        names = []
        for name in value:
            name = str(name).strip()
            if not name:
                raise ValueError("a query parameter name must not be empty")
            if _PARAM_NAME_BAD.search(name):
                raise ValueError(f"{name!r} is not a query parameter name (no spaces, =, &, ?, #)")
            names.append(name)
        return tuple(names)

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|socks5h?)://[^\s/]+", value):
            raise ValueError(f"{value!r} is not a proxy URL like http://host:3128 or socks5://host:9050")
        return value


class DatabaseSettings(SourceSettings):
    """Keys that court and notice databases add to every source's."""

    base_url: HttpUrl | None = None  # a mirror or a loopback replay instead of the real address
    delay: Pause | None = None  # politeness pause between requests; each database has a default
    max_pages: int = Field(default=5, ge=1, le=100)  # pages fetched per poll at most
    backfill_days: int = Field(default=30, ge=1, le=3650)  # first poll: how far back (silently)
    retries: int = Field(default=2, ge=0, le=5)  # on 429 and 5xx, honouring Retry-After


@dataclass
class FetchContext:
    """What a source's fetch may know of the past: validators, its own saved state, seen keys.

    `state` is a JSON-able dict saved after a successful poll (a cursor, the last snapshot);
    `known(keys)` says which item keys this source has already stored; `pause()` waits the
    source's politeness delay through the fetcher's clock, so tests do not sleep."""

    validators: Validators
    now: datetime
    first_run: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    known: Callable[[Iterable[str]], set[str]] = lambda keys: set()
    sleep: Callable[[float], Awaitable[None]] | None = None
    delay: float = 0.0

    async def pause(self) -> None:
        if self.delay > 0 and self.sleep is not None:
            await self.sleep(self.delay)


class Source(ABC):
    """One configured source. Subclasses set `type` and `Settings` and implement fetch/parse.

    Court and notice databases set `base_url` (default address, overridable in feeds.yaml),
    `default_delay` (politeness between requests), and, for sources that list a complete set
    each time (INTERPOL), `snapshot = True` plus `removed_item`, so that what vanishes from
    the set becomes an item too."""

    type: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]]
    base_url: ClassVar[str] = ""
    default_delay: ClassVar[timedelta] = timedelta(0)
    snapshot: ClassVar[bool] = False
    default_alerts: ClassVar[str] = "matches"

    def __init__(self, settings: SourceSettings):
        self.settings = settings

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def root(self) -> str:
        """The database's address: feeds.yaml's base_url, else the module's default, no trailing /."""
        return str(getattr(self.settings, "base_url", None) or self.base_url).rstrip("/")

    @property
    def alerts(self) -> str:
        """'people': only a watched person alerts (sources that are lists of people, where every
        item would otherwise match an incident keyword); 'matches': any rule that may alert."""
        return self.settings.alerts or self.default_alerts

    @property
    def delay(self) -> timedelta:
        own = getattr(self.settings, "delay", None)
        return own if own is not None else self.default_delay

    @abstractmethod
    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        """Network only: download what is new. Raise NotModified on 304, SourceError on failure."""

    @abstractmethod
    def parse(self, response: Response) -> list[Item]:
        """Pure: turn one response into items. Raise SourceError if it is not what we expect."""

    def removed_item(self, previous: dict[str, Any], now: datetime) -> Item:
        """For snapshot sources: the item saying that `previous` (a stored item) has vanished."""
        raise NotImplementedError(f"{type(self).__name__} is not a snapshot source")

    def describe(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")
