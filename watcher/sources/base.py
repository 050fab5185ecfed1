"""What every source is: declarative settings from feeds.yaml, a network-only `fetch`, a pure `parse`.

Fetching and parsing are separate (as in lemon24/reader): `fetch` talks HTTP and returns
`Response`s; `parse(response)` turns one response into items with no network, clock or
database, so it can be tested on a recorded file.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from watcher.durations import parse_duration
from watcher.models import Item, Response

if TYPE_CHECKING:
    from watcher.http import Fetcher, Validators

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


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

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|socks5h?)://[^\s/]+", value):
            raise ValueError(f"{value!r} is not a proxy URL like http://host:3128 or socks5://host:9050")
        return value


class Source(ABC):
    """One configured source. Subclasses set `type` and `Settings` and implement fetch/parse."""

    type: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]]

    def __init__(self, settings: SourceSettings):
        self.settings = settings

    @property
    def id(self) -> str:
        return self.settings.id

    @abstractmethod
    async def fetch(self, fetcher: Fetcher, validators: Validators) -> list[Response]:
        """Network only: download what is new. Raise NotModified on 304, SourceError on failure."""

    @abstractmethod
    def parse(self, response: Response) -> list[Item]:
        """Pure: turn one response into items. Raise SourceError if it is not what we expect."""

    def describe(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")
