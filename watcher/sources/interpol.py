"""INTERPOL public Red Notices (type: interpol): who is newly wanted, and whose notice vanished.

Database: the public Red Notice list of the International Criminal Police Organization, as served
to interpol.int's own "View Red Notices" page by https://ws-public.interpol.int (HAL JSON).
- list:   GET https://ws-public.interpol.int/notices/v1/red?nationality=RU&resultPerPage=160&page=1
          (also sexId=M|F|U, ageMin/ageMax, arrestWarrantCountryId)
- detail: GET https://ws-public.interpol.int/notices/v1/red/{YYYY-NNNNN}

What is fetched: for each configured nationality (and, optionally, issuing country) the complete
list of notices, then the detail of the notices this source has not stored yet (at most
`max_details` a poll, newest first; none on the first poll, which only records the list silently).
The source is a snapshot: the pipeline diffs the keys of each complete listing with the last one,
and a notice that vanished becomes a "Red Notice withdrawn" item. Vanishing from the public list
means cancelled, or still valid but hidden from the public at the issuing country's request.

Quirks:
- the 160 cap: a query never yields more than 160 notices; `total` is the true count, but paging
  stops at 160 (HAL `last` is computed from 160) and a page past the cap repeats page 1. A query
  over the cap is split by sexId (M, F, U), then by `age_bands`, then by halving a band down to
  single years (halving, not one request per year: 61-120 would cost 60 requests). The over-cap
  pages themselves are only a sample and are not returned. If a single year is still over the
  cap, or the slices add up to fewer notices than their parent (notices with no age, or ages
  outside `age_bands`), the listing is incomplete and the poll fails with FormatChanged: an
  incomplete snapshot would make the diff report false withdrawals.
- entity_id "2019/900001" is path "2019-900001"; an unknown id answers 502, so a detail that
  fails is logged and skipped (the list entry stands), never failing the listing.
- forename may be null or "-"; date_of_birth is "YYYY/MM/DD" or only "YYYY".
- dropping a nationality from feeds.yaml would make all its notices "vanish": when a slice that
  was listed last time is no longer configured, this poll's removal diff is skipped.

Access: no key, but Akamai answers 403 (HTML "Access Denied") to non-browser clients and
datacenter IPs are blocked even with browser-like headers; we send Accept, Referer and Origin as
the site does (and our honest User-Agent). 403 -> blocked, and the pipeline's backoff is the
circuit breaker. No 429 or Retry-After was ever seen. `proxy` helps from a residential address.

Terms: public data about persons, some of whom are themselves targets of transnational
repression. Handle with care: names go to the monitors' channel only, and fixtures stay
pseudonymised (FORENAMEnn/SURNAMEnn, placeholder ids, DOB 01/01).

History: 2026-11 first version (list slicing under the cap, details, withdrawals).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from watcher.errors import FetchFailed, FormatChanged, SourceBlocked
from watcher.http import Fetcher
from watcher.models import Item, Response
from watcher.sources.base import DatabaseSettings, Duration, FetchContext, Source

log = logging.getLogger(__name__)

CAP = 160  # the most notices any one query yields
PAGE_URL = "https://www.interpol.int/How-we-work/Notices/View-Red-Notices#{}"
HEADERS = {"Accept": "application/json", "Referer": "https://www.interpol.int/", "Origin": "https://www.interpol.int"}
_ENTITY = re.compile(r"^\d{4}/\d{1,12}$")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)

Query = dict[str, str]


class Settings(DatabaseSettings):
    type: Literal["interpol"]
    every: Duration = timedelta(hours=12)
    max_pages: int = Field(default=50, ge=1, le=400)  # here: listing requests per poll, slices included
    nationalities: tuple[str, ...] = ("UZ", "TJ", "TM", "KZ", "KG", "RU", "AZ", "BY")
    arrest_warrant_countries: tuple[str, ...] = ()  # extra slices: notices issued by these countries
    per_page: int = Field(default=160, ge=1, le=CAP)
    max_details: int = Field(default=30, ge=0, le=500)  # detail requests per poll
    age_bands: tuple[tuple[int, int], ...] = (
        (18, 25), (26, 30), (31, 35), (36, 40), (41, 45), (46, 50), (51, 60), (61, 120))

    @field_validator("nationalities", "arrest_warrant_countries")
    @classmethod
    def _check_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(code.strip().upper() for code in value)
        for code in codes:
            if not re.match(r"^[A-Z]{2}$", code):
                raise ValueError(f"{code!r} is not an ISO 3166 alpha-2 country code like RU, TJ")
        return codes

    @field_validator("age_bands")
    @classmethod
    def _check_bands(cls, value: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        """Bands must not overlap: the slices' totals are added up to prove the listing complete."""
        bands = tuple(sorted(value))
        if not bands:
            raise ValueError("age_bands must not be empty")
        for (low, high), before in zip(bands, ((-1, -1), *bands)):
            if not 0 <= low <= high <= 120:
                raise ValueError(f"age band {low}-{high} must satisfy 0 <= min <= max <= 120")
            if low <= before[1]:
                raise ValueError(f"age bands {before[0]}-{before[1]} and {low}-{high} overlap")
        return bands


@dataclass
class _Listing:
    """One poll's listing: the complete pages, and the request budget they draw on."""

    fetcher: Fetcher
    ctx: FetchContext
    budget: int
    requests: int = 0
    pages: list[Response] = field(default_factory=list)


class InterpolSource(Source):
    type = "interpol"
    Settings = Settings
    base_url = "https://ws-public.interpol.int"
    default_delay = timedelta(seconds=1)
    snapshot = True
    default_alerts = "people"  # every notice says "Red Notice": alert only on watched people

    @property
    def conf(self) -> Settings:
        return cast(Settings, self.settings)

    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        settings = self.conf
        run = _Listing(fetcher, ctx, settings.max_pages)
        slices = [{"nationality": code} for code in settings.nationalities]
        slices += [{"arrestWarrantCountryId": code} for code in settings.arrest_warrant_countries]
        for query in slices:
            await self._list(run, query)
        self._guard_narrowed_config(ctx, slices)
        return run.pages + await self._details(run)

    async def _get(self, run: _Listing, url: str, params: Query | None = None) -> Response:
        if run.requests:
            await run.ctx.pause()
        run.requests += 1
        return await run.fetcher.get(url, params=params, headers=HEADERS, proxy=self.conf.proxy,
                                     retries=self.conf.retries)

    async def _list_page(self, run: _Listing, query: Query, page: int) -> tuple[Response, dict[str, Any]]:
        if run.requests >= run.budget:
            raise FetchFailed(f"listing needs more than max_pages={run.budget} requests (at {_show(query)});"
                              " raise max_pages")
        params = {**query, "resultPerPage": str(self.conf.per_page), "page": str(page)}
        response = await self._get(run, f"{self.root}/notices/v1/red", params)
        data = _decode(response)
        _notices(data)
        return response, data

    async def _list(self, run: _Listing, query: Query) -> int:
        """List `query` completely into run.pages, splitting it while over the cap; return its total."""
        first, data = await self._list_page(run, query, 1)
        total = data["total"]
        if total > CAP:
            children = self._split(query)
            if not children:
                raise FormatChanged(f"cannot slice under the {CAP} cap: {_show(query)} has {total} notices")
            covered = 0
            for child in children:
                covered += await self._list(run, child)
            if covered < total:
                raise FormatChanged(f"slices of {_show(query)} list {covered} of its {total} notices"
                                    " (notices without an age, or ages outside age_bands?); listing incomplete")
            return total
        keys = {n["entity_id"] for n in _notices(data)}
        run.pages.append(first)
        for page in range(2, math.ceil(total / self.conf.per_page) + 1):
            response, more = await self._list_page(run, query, page)
            found = {n["entity_id"] for n in _notices(more)}
            if found and found <= keys:
                raise FormatChanged(f"page {page} of {_show(query)} repeats earlier pages (a lower cap?)")
            keys |= found
            run.pages.append(response)
        if len(keys) < total:
            raise FormatChanged(f"{_show(query)} listed {len(keys)} of its {total} notices; listing incomplete")
        return total

    def _split(self, query: Query) -> list[Query]:
        """The next finer partition of an over-cap query: by sex, then age band, then halves of a band."""
        if "sexId" not in query:
            return [{**query, "sexId": sex} for sex in ("M", "F", "U")]
        if "ageMin" not in query:
            return [{**query, "ageMin": str(low), "ageMax": str(high)} for low, high in self.conf.age_bands]
        low, high = int(query["ageMin"]), int(query["ageMax"])
        if low >= high:
            return []
        middle = (low + high) // 2
        return [{**query, "ageMin": str(low), "ageMax": str(middle)},
                {**query, "ageMin": str(middle + 1), "ageMax": str(high)}]

    def _guard_narrowed_config(self, ctx: FetchContext, slices: list[Query]) -> None:
        """Skip this poll's removal diff if a slice listed last time is no longer configured.

        Otherwise dropping BY from `nationalities` would report every BY notice as withdrawn.
        It clears the pipeline's `snapshot` state before the pipeline diffs against it."""
        current = sorted(_show(query) for query in slices)
        previous = ctx.state.get("slices")
        if previous is not None and set(previous) - set(current) and ctx.state.get("snapshot"):
            log.warning("source %s: slices %s are no longer configured; no removals reported this poll",
                        self.id, ", ".join(sorted(set(previous) - set(current))))
            ctx.state["snapshot"] = []
        ctx.state["slices"] = current

    async def _details(self, run: _Listing) -> list[Response]:
        """Details of notices not stored yet, newest first: they add charges and issuing country."""
        limit = self.conf.max_details
        if run.ctx.first_run or limit == 0:
            return []
        listed = list(dict.fromkeys(n["entity_id"] for page in run.pages for n in _notices(_decode(page))))
        known = run.ctx.known(listed)
        new = sorted((key for key in listed if key not in known), key=_entity_order, reverse=True)
        out = []
        for key in new[:limit]:
            try:
                out.append(await self._get(run, f"{self.root}/notices/v1/red/{key.replace('/', '-')}"))
            except FetchFailed as exc:  # 502 is how an unknown (just withdrawn) id answers
                log.warning("source %s: no detail for Red Notice %s: %s", self.id, key, exc)
        if len(new) > limit:
            log.info("source %s: %d new notices without details (max_details=%d)", self.id, len(new) - limit, limit)
        return out

    def parse(self, response: Response) -> list[Item]:
        data = _decode(response)
        if isinstance(data.get("_embedded"), dict) and "notices" in data["_embedded"]:
            return [self._item(notice, response) for notice in _notices(data)]
        if "entity_id" in data:
            _check_entity(data)
            return [self._item(data, response)]
        raise FormatChanged(f"JSON with neither _embedded.notices nor entity_id (keys: {sorted(data)[:8]})")

    def _item(self, notice: dict[str, Any], response: Response) -> Item:
        key = notice["entity_id"]
        name = _name(notice)
        fields = {
            "name": name,
            "nationality": ", ".join(_texts(notice.get("nationalities"))),
            "date_of_birth": _clean(notice.get("date_of_birth")).replace("/", "-"),
            "notice_id": key,
            "document_type": "red notice",
            "change": "listed",
        }
        summary = f"INTERPOL public Red Notice {key} for {name}"
        summary += f", nationality {fields['nationality']}" if fields["nationality"] else ""
        summary += f", born {fields['date_of_birth']}." if fields["date_of_birth"] else "."
        if "arrest_warrants" in notice:  # a detail
            warrants = [w for w in notice.get("arrest_warrants") or [] if isinstance(w, dict)]
            fields["issuing_country"] = ", ".join(dict.fromkeys(_texts(w.get("issuing_country_id") for w in warrants)))
            fields["charges"] = "; ".join(dict.fromkeys(filter(None, (_charge(w) for w in warrants))))
            fields["sex_id"] = _clean(notice.get("sex_id"))
            fields["place_of_birth"] = _clean(notice.get("place_of_birth"))
            fields["country_of_birth"] = _clean(notice.get("country_of_birth_id"))
            fields["languages"] = ", ".join(_texts(notice.get("languages_spoken_ids")))
            if fields["charges"]:
                charges = fields["charges"][:300] + ("…" if len(fields["charges"]) > 300 else "")
                summary += f" Wanted by {fields['issuing_country'] or 'an unnamed country'} for: {charges}."
        return Item(
            source_id=self.id,
            key=key,
            title=_title("Red Notice", name, fields["nationality"]),
            summary=summary,
            url=PAGE_URL.format(key.replace("/", "-")),
            published=response.fetched_at,
            language=self.settings.language or "en",
            fields={k: v for k, v in fields.items() if v},
        )

    def removed_item(self, previous: dict[str, Any], now: datetime) -> Item:
        """A notice gone from the public list. Its URL differs from the listed one on purpose: the
        store merges items that share a URL, which would swallow the withdrawal."""
        fields = {**(previous.get("fields") or {}), "change": "removed"}
        name, nationality = fields.get("name", ""), fields.get("nationality", "")
        day = f"{now:%Y-%m-%d}"
        parts = urlsplit(previous.get("url") or PAGE_URL.format(previous["key"].replace("/", "-")))
        url = urlunsplit(parts._replace(query=f"withdrawn={day}"))
        who = name + (f" ({nationality})" if nationality else "")
        return Item(
            source_id=self.id,
            key=f"removed:{previous['key']}:{day}",
            title=_title("Red Notice withdrawn", name, nationality),
            summary=(f"INTERPOL Red Notice {previous['key']} for {who} is no longer in the public list as of {day}:"
                     " cancelled or withdrawn, or still valid but hidden from the public by the issuing country."),
            url=url,
            published=now,
            language=previous.get("language") or self.settings.language or "en",
            fields=fields,
        )


def _decode(response: Response) -> dict[str, Any]:
    """The JSON object of a response; an HTML body is Akamai's block or challenge page."""
    body = response.content.strip()
    if body[:1] == b"<":
        found = _TITLE.search(body[:65536])
        title = " ".join(found.group(1).decode("utf-8", "replace").split())[:120] if found else ""
        raise SourceBlocked(f"an HTML page instead of JSON (Akamai block page?), title {title!r}")
    try:
        data = json.loads(body)
    except ValueError:
        # no excerpt: a truncated page would put a wanted person's name into logs and health
        raise FormatChanged(f"HTTP {response.status}: not JSON ({len(body)} bytes)") from None
    if not isinstance(data, dict):
        raise FormatChanged(f"HTTP {response.status}: JSON {type(data).__name__}, not an object")
    return data


def _notices(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A list page's notices, checked: an integer total and an entity_id on every notice."""
    notices = (data.get("_embedded") or {}).get("notices") if isinstance(data.get("_embedded"), dict) else None
    if not isinstance(notices, list) or not isinstance(data.get("total"), int) or isinstance(data["total"], bool):
        raise FormatChanged("a list page without _embedded.notices or an integer total")
    for notice in notices:
        _check_entity(notice)
    return notices


def _check_entity(notice: Any) -> None:
    if not isinstance(notice, dict) or not _ENTITY.match(str(notice.get("entity_id") or "")):
        found = notice.get("entity_id") if isinstance(notice, dict) else notice
        raise FormatChanged(f"a notice without an entity_id like 2019/900001: {str(found)[:60]!r}")


def _entity_order(key: str) -> tuple[int, int]:
    year, number = key.split("/")
    return int(year), int(number)


def _clean(value: Any) -> str:
    return " ".join(str(value).split()) if value not in (None, "-") else ""


def _texts(values: Any) -> list[str]:
    """Non-empty cleaned strings from a list (or a lone string) of codes."""
    values = [values] if isinstance(values, str) else values or []
    return [text for text in (_clean(v) for v in values) if text]


def _name(notice: dict[str, Any]) -> str:
    """'Forename Surname' (the matcher reads names in that order); forename may be null or '-'."""
    return " ".join(part for part in (_clean(notice.get("forename")), _clean(notice.get("name"))) if part) \
        or "(name not published)"


def _charge(warrant: dict[str, Any]) -> str:
    charge, translation = _clean(warrant.get("charge")), _clean(warrant.get("charge_translation"))
    if translation and translation != charge:
        return f"{charge} ({translation})" if charge else translation
    return charge


def _title(head: str, name: str, nationality: str) -> str:
    return f"{head}: {name}" + (f" ({nationality})" if nationality else "")


def _show(query: Query) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())
