"""CourtListener (Free Law Project): US federal and state case law and RECAP dockets, by search.

Database:    CourtListener, run by Free Law Project (a non-profit); US courts only, which is
             where exiles from Central Asia and the Caucasus fight removal, asylum denials and
             extradition requests (petitions for review, habeas, "In re Extradition of ...").
Source type: courtlistener
URLs:        https://www.courtlistener.com/api/rest/v4/search/   JSON, with a token
             https://www.courtlistener.com/feed/search/          Atom, without one
Fetched:     the newest opinion clusters (search_type o) or RECAP dockets (r) matching one saved
             query, newest `dateFiled` first: one item per cluster or docket, keyed
             `cluster:<id>` / `docket:<id>` in both modes, so adding a token later does not
             make every case new again.

Quirks:
- cursor pagination: each page's `next` is a full URL carrying `cursor=`. Only its query is
  kept and asked of our own root, so a mirror or loopback replay works and the token is never
  sent to any host but `base_url`;
- camelCase fields (`caseName`, `dateFiled`, `docketNumber`) beside snake_case ones
  (`cluster_id`, `court_id`, `absolute_url`); `count` is approximate (±6 % above 2,000 for
  dockets) and is never used here;
- results are cached for 10 minutes, so an `every` under 10m is refused as pointless;
- an opinion can be added long after its `dateFiled` (courts back-filled, late scrapes); such a
  late arrival sorts below the first pages, so widen `max_pages` if that matters more than the
  throttle;
- weekly maintenance window, Thursday 21:00-23:59 Pacific: failures then are expected and are
  retried by the pipeline's ordinary backoff;
- the Atom feed is Django's Atom1Feed: the 20 newest, dated midnight Pacific (normalised here to
  UTC midnight of the filing date, as the JSON path does), court name in `<author>`.

Terms and throttles: the API token is read from the environment variable
WATCHER_COURTLISTENER_TOKEN at each poll (never from feeds.yaml, never logged or put in an error).
Signed-in users get 5 requests/minute, 50/hour, 125/day (2026-04); anonymous 100/day. The
default delay of 15 s between pages keeps under 5/minute; 6-hourly polls of at most 5 pages stay
far under the hourly and daily caps. A 429 (Retry-After: often an hour) marks the source blocked
until then. Without a token one Atom request per poll is made. Free Law Project publishes the
data "for the public domain"; the docs ask heavy users to use alerts or bulk data instead.

History:
- 2026-11-23: first version: v4 search with cursor paging and early stop on known results,
  Atom search feed without a token.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import feedparser
from pydantic import Field, field_validator

from watcher.errors import EmptyFeed, FormatChanged, ParseFailed
from watcher.http import Fetcher
from watcher.models import Item, Response
from watcher.sources.base import DatabaseSettings, Duration, FetchContext, Source
from watcher.sources.rss import FUTURE_SLACK, MAX_SUMMARY, MAX_TITLE, parse_feed, refuse_html
from watcher.text import canonical_url, content_hash, html_to_text

PUBLIC = "https://www.courtlistener.com"  # links in items always point here, even when polled via a mirror
API_PATH = "/api/rest/v4/search/"
FEED_PATH = "/feed/search/"
TOKEN_ENV = "WATCHER_COURTLISTENER_TOKEN"
DEFAULT_QUERY = (
    "(extradition OR removal OR asylum OR deportation) AND (Uzbekistan OR Tajikistan OR Kazakhstan"
    " OR Kyrgyzstan OR Turkmenistan OR Chechnya OR Azerbaijan)"
)
_LINK_ID = re.compile(r"/(opinion|docket)/(\d+)/")
_KEY_PREFIX = {"opinion": "cluster", "docket": "docket"}


class Settings(DatabaseSettings):
    """One saved CourtListener search; `query` uses CourtListener's search syntax (AND, OR, quotes)."""

    type: Literal["courtlistener"]
    query: str = Field(default=DEFAULT_QUERY, min_length=1, max_length=2000)
    search_type: Literal["o", "r"] = "o"  # o: opinion clusters, r: RECAP dockets
    order_by: str = "dateFiled desc"
    every: Duration = timedelta(hours=6)
    language: str | None = "en"
    delay: Duration | None = timedelta(seconds=15)  # under a signed-in user's 5 requests/minute

    @field_validator("every")
    @classmethod
    def _not_under_cache(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=10):
            raise ValueError("CourtListener caches search results for 10 minutes; poll every 10m or slower")
        return value


_Settings = Settings  # inside the class body `Settings` is the class attribute, not the model


class CourtListenerSource(Source):
    type = "courtlistener"
    Settings = Settings
    base_url = PUBLIC
    default_delay = timedelta(seconds=15)

    @property
    def _settings(self) -> _Settings:
        assert isinstance(self.settings, _Settings)
        return self.settings

    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        """One Atom request without a token; with one, search pages until nothing new or max_pages."""
        s = self._settings
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            return [await fetcher.get(self.root + FEED_PATH, validators=ctx.validators,
                                      params={"q": s.query, "type": s.search_type},
                                      proxy=s.proxy, retries=s.retries)]
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        first = {"q": s.query, "type": s.search_type, "order_by": s.order_by}
        if ctx.first_run:  # a first poll reads back backfill_days only (recorded silently by default)
            first["filed_after"] = (ctx.now - timedelta(days=s.backfill_days)).date().isoformat()
        url = self.root + API_PATH
        params: dict[str, str] | None = first
        responses: list[Response] = []
        while True:
            response = await fetcher.get(url, validators=None if responses else ctx.validators, params=params,
                                         headers=headers, proxy=s.proxy, retries=s.retries)
            responses.append(response)
            page = _decode(response)
            following = page.get("next")
            if not following or len(responses) >= s.max_pages:
                return responses
            keys = [item.key for item in self._json_items(page, response)]
            if keys and set(keys) <= ctx.known(keys):  # everything here is stored: older pages are too
                return responses
            await ctx.pause()
            # same endpoint on our own root, only the cursor query taken from `next`
            url, params = f"{self.root}{API_PATH}?{urlsplit(str(following)).query}", None

    def parse(self, response: Response) -> list[Item]:
        """Pure: a JSON search page or an Atom search feed, told apart by the body."""
        content = response.content
        if "json" in response.header("content-type") or content.lstrip()[:1] in (b"{", b"["):
            return self._json_items(_decode(response), response)
        return self._atom_items(response)

    def _json_items(self, page: dict[str, Any], response: Response) -> list[Item]:
        results = page["results"]
        return [self._json_item(result, response) for result in results]

    def _json_item(self, result: Any, response: Response) -> Item:
        opinion = self._settings.search_type == "o"
        id_field, prefix = ("cluster_id", "cluster") if opinion else ("docket_id", "docket")
        if not isinstance(result, dict) or result.get(id_field) in (None, ""):
            raise FormatChanged(f"a search result without {id_field!r}")
        title = html_to_text(str(result.get("caseName") or result.get("caseNameFull") or ""))[:MAX_TITLE]
        documents = result.get("opinions" if opinion else "recap_documents") or []
        snippets = [html_to_text(str(d.get("snippet") or "")) for d in documents if isinstance(d, dict)]
        summary = "\n".join(dict.fromkeys(s for s in snippets if s))[:MAX_SUMMARY]
        filed = str(result.get("dateFiled") or "")[:10]
        citations = result.get("citation") or []
        fields = {
            "court": str(result.get("court") or result.get("court_id") or ""),
            "case_number": str(result.get("docketNumber") or ""),
            ("decision_date" if opinion else "filing_date"): filed,
            "citation": str(citations[0]) if isinstance(citations, list) and citations else "",
            "parties": _parties(title),
            "document_type": "opinion" if opinion else "docket",
        }
        return Item(
            source_id=self.id,
            key=f"{prefix}:{result[id_field]}",
            title=title,
            summary=summary,
            url=canonical_url(urljoin(PUBLIC, str(result.get("absolute_url") or ""))),
            published=_day(filed, response.fetched_at),
            language=self._settings.language,
            content_hash=content_hash(title, summary),
            fields={k: v for k, v in fields.items() if v},
        )

    def _atom_items(self, response: Response) -> list[Item]:
        try:
            items = parse_feed(response, self.id, self._settings.language)
        except EmptyFeed:
            # a well-formed search feed with no entry means no match yet, not a dead source
            if b"<feed" in response.content and b"<entry" not in response.content:
                return []
            raise
        courts = _atom_authors(response)  # parse_feed has refused entity declarations already
        opinion = self._settings.search_type == "o"
        out = []
        for item in items:
            found = _LINK_ID.search(urlsplit(item.url).path)
            summary = re.sub(r"\s*Original document$", "", item.summary)  # the feed template's trailing link
            day = item.published.astimezone(timezone.utc).date()
            fields = {
                "court": courts.get(item.url, ""),
                ("decision_date" if opinion else "filing_date"): day.isoformat(),
                "parties": _parties(item.title),
                "document_type": "opinion" if opinion else "docket",
            }
            out.append(replace(
                item,
                key=f"{_KEY_PREFIX[found.group(1)]}:{found.group(2)}" if found else item.key,
                summary=summary,
                published=datetime(day.year, day.month, day.day, tzinfo=timezone.utc),
                content_hash=content_hash(item.title, summary),
                fields={k: v for k, v in fields.items() if v},
            ))
        return out


def _decode(response: Response) -> dict[str, Any]:
    """The JSON body of a search page; FormatChanged when it is JSON of another shape."""
    refuse_html(response.content, "search results")
    try:
        page = json.loads(response.content)
    except ValueError as exc:
        raise ParseFailed(f"not readable JSON: {exc}") from None
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        keys = sorted(page)[:8] if isinstance(page, dict) else type(page).__name__
        detail = f", detail {str(page['detail'])[:160]!r}" if isinstance(page, dict) and "detail" in page else ""
        raise FormatChanged(f"a JSON answer without a 'results' list (got {keys}{detail})")
    return page


def _atom_authors(response: Response) -> dict[str, str]:
    """Court names by canonical entry link: the search feed puts the court in <author>."""
    parsed = feedparser.parse(io.BytesIO(response.content), response_headers={"content-location": response.url},
                              resolve_relative_uris=True, sanitize_html=False)
    return {canonical_url(str(e.get("link") or "")): str(e.get("author") or "") for e in parsed.get("entries") or []}


def _parties(case_name: str) -> str:
    """'A v. B' -> 'A; B', so each side can be matched alone; other names are kept whole."""
    return "; ".join(p.strip() for p in re.split(r"\s+vs?\.\s+", case_name) if p.strip())


def _day(value: str, fetched_at: datetime) -> datetime:
    """A YYYY-MM-DD date as UTC midnight; missing, bad or far-future dates become the fetch time."""
    try:
        when = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return fetched_at
    return fetched_at if when > fetched_at + FUTURE_SLACK else when
