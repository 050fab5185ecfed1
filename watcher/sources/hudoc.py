"""European Court of Human Rights: HUDOC (type: hudoc).

CourtID: hudoc
Court Short Name: ECtHR
Database: HUDOC, https://hudoc.echr.coe.int
- RSS transform (what is polled): https://hudoc.echr.coe.int/app/transform/rss
  ?library=echreng&query=<q>&sort=kpdate Descending&start=<offset>&length=<n>&rankingModelId=<guid>
- JSON query API (optional `details`): https://hudoc.echr.coe.int/app/query/results, same parameters
  plus `select=`; answers {"resultcount": N, "results": [{"columns": {...}}]}.
- Permalink for humans: https://hudoc.echr.coe.int/eng?i=<itemid>

Fetched: the newest documents (judgments, decisions, communicated cases by default) against the
configured respondent states that mention any configured term (extradition, Uzbekistan, Rule 39, ...),
newest first, `page_size` per page, at most `max_pages` pages; paging also stops at a page that is not
full or, after the first poll, one whose items are all known. The first poll is bounded by
kpdate >= now - backfill_days. With `details: true`, each new item is refined by one JSON request
(ECLI, conclusion, importance, respondent codes); a failing detail request only ends the refining.

Quirks:
- the itemid exists only inside the link's JSON fragment (eng#{"itemid":["001-243083"]}); no guid;
- `lastBuildDate` is dd/mm/yyyy, not RFC 822: ignored; `pubDate` is RFC 822 and is the decision date;
- English and French twins of one judgment ("CASE OF X v. RUSSIA" / "AFFAIRE X c. RUSSIE") share the
  application number and date but not the itemid, so the key is "<first appno>|<type>|<date>" and the
  English one is kept (the French title goes in `title_fr`); a French-only document is kept as is.
  Twins split across two pages are left to the pipeline (last one wins);
- titles sometimes end in stray newlines; an empty channel is HUDOC's normal "no results";
- the JSON API answers 404 unless sort, start, length and rankingModelId are all sent (sort may be
  empty); requests that come too fast get 403 or 429;
- documents indexed late with an old kpdate sort deep in the list and may be missed.

Terms: HUDOC publishes no terms of use or rate limit for these endpoints. Be polite: at most one
request per second (default delay 1 s), 6-hourly polls, and no re-fetching of known items.

History:
- 2026-11: first version, RSS with twin merging, optional JSON details.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

import feedparser
from pydantic import Field, ValidationInfo, field_validator

from watcher.errors import FormatChanged, ParseFailed, SourceError
from watcher.http import Fetcher
from watcher.models import Item, Response
from watcher.sources.base import DatabaseSettings, Duration, FetchContext, Source
from watcher.sources.rss import guard_document, refuse_html
from watcher.text import content_hash

log = logging.getLogger(__name__)

COURT = "European Court of Human Rights"
RANKING_MODEL = "11111111-0000-0000-0000-000000000000"
DETAIL_FIELDS = "itemid,appno,respondent,doctype,kpdate,ecli,docname,conclusion,importance"
MAX_DETAILS = 50  # JSON requests per poll at most: one a second, so under a minute

_ITEMID = re.compile(r'"itemid":\["(\d{3}-\d+)"\]')
_DESCRIPTION = re.compile(r"^\s*(?P<appnos>\d+/\d{2}(?:\s*;\s*\d+/\d{2})*)\s*-\s*(?P<label>.+?)\s*$", re.S)
_TITLE = re.compile(r"^(?:(?:CASE OF|AFFAIRE)\s+)?(?P<parties>.+?)\s+(?:v|c)\.\s+(?P<respondent>.+)$", re.S)
_FORMATION = re.compile(r"\b(Grand Chamber|Chamber|Committee|Grande Chambre|Chambre|Comité)\b", re.I)
_TRAILING_NOTE = re.compile(r"(\s*\([^()]*\))+$")  # "(No. 2)", "(dec.)"
# (words in a HUDOC label, normalised type); order matters: "communiqué de presse" is a press release
_TYPES = (
    (("press release", "communiqué de presse"), "press release"),
    (("judgment", "arrêt"), "judgment"),
    (("decision", "décision"), "decision"),
    (("communicated", "communiqu"), "communicated case"),
    (("interim", "rule 39", "article 39", "mesure provisoire"), "interim measure"),
)
_DOCTYPES = {"JUD": "judgment", "DEC": "decision", "COM": "communicated case", "PR": "press release"}

_LIST_RULES = {
    "respondents": (r"[A-Z]{3}", "an upper-case ISO 3166 alpha-3 code like RUS, TUR"),
    "terms": (r'[^"]*[^"\s][^"]*', "a non-empty word or phrase without double quotes"),
    "collections": (r"[A-Z0-9]+", "a HUDOC collection like JUDGMENTS, DECISIONS, CLIN"),
}
DEFAULT_RESPONDENTS = ("RUS", "TUR", "AZE", "UKR", "DEU", "FRA", "SWE", "POL", "LTU", "LVA", "EST", "FIN",
                       "AUT", "BEL", "NLD", "CZE", "BGR", "GRC", "ITA", "ESP")
DEFAULT_TERMS = ("extradition", "expulsion", "deportation", "Uzbekistan", "Tajikistan", "Kazakhstan",
                 "Turkmenistan", "Kyrgyzstan", "Chechnya", "Rule 39")


class Settings(DatabaseSettings):
    type: Literal["hudoc"]
    every: Duration = timedelta(hours=6)
    language: str | None = "en"
    respondents: tuple[str, ...] = DEFAULT_RESPONDENTS  # ISO 3166 alpha-3, as HUDOC's `respondent`
    terms: tuple[str, ...] = DEFAULT_TERMS  # full-text words or phrases, any of which must occur
    collections: tuple[str, ...] = ("JUDGMENTS", "DECISIONS", "COMMUNICATEDCASES")  # documentcollectionid2
    page_size: int = Field(default=50, ge=1, le=500)  # HUDOC serves at most 500 per request
    details: bool = False  # one JSON request per new item for ECLI, conclusion, importance

    @field_validator("respondents", "terms", "collections")
    @classmethod
    def _check_words(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        """Each value goes into the query inside double quotes, so its shape is checked here."""
        pattern, wanted = _LIST_RULES[str(info.field_name)]
        for word in value:
            if not re.fullmatch(pattern, word):
                raise ValueError(f"{word!r} is not {wanted}")
        return value


@dataclass(frozen=True)
class _Document:
    """What one RSS entry or JSON result says about one HUDOC document, before twins are merged."""

    itemid: str
    title: str
    appnos: tuple[str, ...]
    label: str  # "Chamber Judgment" from RSS; "Judgment" for JSON results (no formation there)
    doc_type: str
    published: datetime | None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def french(self) -> bool:
        return self.title.startswith("AFFAIRE ") or (" c. " in self.title and " v. " not in self.title)

    @property
    def key(self) -> str:
        if self.appnos and self.published is not None:
            return f"{self.appnos[0]}|{self.doc_type}|{self.published.date().isoformat()}"
        return f"itemid:{self.itemid}"


class HudocSource(Source):
    type = "hudoc"
    Settings = Settings
    base_url = "https://hudoc.echr.coe.int"
    default_delay = timedelta(seconds=1)

    def query(self, since: str | None = None) -> str:
        """The HUDOC query: site, respondents, collections and terms, each an OR group, ANDed."""
        s: Any = self.settings
        parts = ["contentsitename:ECHR"]
        for field, values in (("respondent", s.respondents), ("documentcollectionid2", s.collections)):
            if values:
                parts.append("(" + " OR ".join(f'{field}:"{v}"' for v in values) + ")")
        if s.terms:
            parts.append("(" + " OR ".join(f'"{t}"' for t in s.terms) + ")")
        if since:
            parts.append(f'kpdate>="{since}"')
        return " AND ".join(parts)

    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        s: Any = self.settings
        since = (ctx.now - timedelta(days=s.backfill_days)).date().isoformat() if ctx.first_run else None
        params = {"library": "echreng", "query": self.query(since), "sort": "kpdate Descending",
                  "length": str(s.page_size), "rankingModelId": RANKING_MODEL}
        responses: list[Response] = []
        fresh: list[_Document] = []
        for page in range(s.max_pages):
            if page:
                await ctx.pause()
            response = await fetcher.get(
                f"{self.root}/app/transform/rss", params={**params, "start": str(page * s.page_size)},
                headers={"Accept": "application/rss+xml, application/xml"}, proxy=s.proxy, retries=s.retries)
            responses.append(response)
            documents = _read_rss(response)
            chosen = [document for document, _ in _merge_with_twins(documents)]
            known = ctx.known(d.key for d in chosen)
            fresh += [d for d in chosen if d.key not in known]
            if len(documents) < s.page_size or (not ctx.first_run and all(d.key in known for d in chosen)):
                break
        if s.details and not ctx.first_run:  # a silent backfill is not worth a request per item
            responses += await self._details(fetcher, ctx, fresh[:MAX_DETAILS])
        return responses

    async def _details(self, fetcher: Fetcher, ctx: FetchContext, documents: list[_Document]) -> list[Response]:
        """One JSON request per new document; the list stays useful without them, so errors end it."""
        s: Any = self.settings
        out: list[Response] = []
        for document in documents:
            await ctx.pause()
            params = {"query": f'itemid:"{document.itemid}"', "select": DETAIL_FIELDS, "sort": "",
                      "start": "0", "length": "1", "rankingModelId": RANKING_MODEL}
            try:
                out.append(await fetcher.get(f"{self.root}/app/query/results", params=params, proxy=s.proxy,
                                             headers={"Accept": "application/json"}, retries=s.retries))
            except SourceError as exc:
                log.warning("source %s: HUDOC details stopped at %s: %s", self.id, document.itemid, exc)
                break
        return out

    def parse(self, response: Response) -> list[Item]:
        if urlsplit(response.url).path.endswith("/app/query/results"):
            documents = _read_json(response)
        else:
            documents = _read_rss(response)
        return [self._item(d, twin, response) for d, twin in _merge_with_twins(documents)]

    def _item(self, doc: _Document, twin: _Document | None, response: Response) -> Item:
        found = _TITLE.match(doc.title)
        parties = found.group("parties").strip() if found else ""
        respondent = _TRAILING_NOTE.sub("", found.group("respondent")).strip() if found else ""
        date = doc.published.date().isoformat() if doc.published else ""
        fields = {"court": COURT, "case_number": "; ".join(doc.appnos), "respondent_state": respondent,
                  "document_type": doc.doc_type, "decision_date": date, "itemid": doc.itemid, "parties": parties}
        formation = _FORMATION.search(doc.label)
        if formation:
            fields["formation"] = formation.group(1)
        if twin is not None:
            fields["title_fr"] = twin.title
        fields.update(doc.extra)
        fields = {k: v for k, v in fields.items() if v}
        summary = f"{';'.join(doc.appnos)} - {doc.label}" if doc.appnos else doc.label
        if fields.get("conclusion"):
            summary += "\n" + fields["conclusion"]
        return Item(
            source_id=self.id, key=doc.key, title=doc.title, summary=summary,
            url=f"https://hudoc.echr.coe.int/eng?i={doc.itemid}",
            published=doc.published or response.fetched_at,
            language="fr" if doc.french else self.settings.language,
            content_hash=content_hash(doc.title, f"{summary}\n{date}"),  # a later judgment in one case differs
            fields=fields,
        )


def _doc_type(label: str) -> str:
    lowered = label.lower()
    for words, kind in _TYPES:
        if any(w in lowered for w in words):
            return kind
    log.warning("HUDOC: unknown document type %r", label)
    return lowered



def _read_rss(response: Response) -> list[_Document]:
    """The documents of one RSS page; [] for an empty channel, which is HUDOC's 'no results'."""
    guard_document(response, "the HUDOC feed")
    content = response.content
    parsed = feedparser.parse(io.BytesIO(content), response_headers={"content-type": "application/xml"})
    if not str(parsed.get("version") or "").startswith("rss"):
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if problem is not None:
            raise ParseFailed(f"not a readable feed: {problem}")
        raise FormatChanged("HUDOC answered XML that is not an RSS channel")
    documents = []
    for entry in parsed.get("entries") or []:
        link = str(entry.get("link") or "")
        itemid = _ITEMID.search(link)
        if itemid is None:
            raise FormatChanged(f"an item's link has no itemid in its JSON fragment: {link[:120]!r}")
        found = _DESCRIPTION.match(str(entry.get("summary") or ""))
        label = found.group("label") if found else " ".join(str(entry.get("summary") or "").split())
        appnos = tuple(a.strip() for a in found.group("appnos").split(";")) if found else ()
        stamp = entry.get("published_parsed")
        when = datetime.fromtimestamp(calendar.timegm(stamp), tz=timezone.utc) if stamp else None
        documents.append(_Document(itemid.group(1), " ".join(str(entry.get("title") or "").split()),
                                   appnos, label, _doc_type(label), when))
    return documents


def _read_json(response: Response) -> list[_Document]:
    """The documents of one JSON answer; fields HUDOC leaves empty are left out."""
    refuse_html(response.content, "HUDOC's JSON")
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        raise ParseFailed(f"HUDOC's query API answered something that is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise FormatChanged(f"HUDOC JSON without a results list: {response.content[:80]!r}")
    documents = []
    for result in data["results"]:
        cols = result.get("columns") if isinstance(result, dict) else None
        if not isinstance(cols, dict) or not re.fullmatch(r"\d{3}-\d+", str(cols.get("itemid") or "")):
            raise FormatChanged("a HUDOC JSON result without columns.itemid")
        code = str(cols.get("doctype") or "")
        doc_type = next((kind for tail, kind in _DOCTYPES.items() if code.endswith(tail)), code.lower())
        day = re.match(r"\d{4}-\d{2}-\d{2}", str(cols.get("kpdate") or ""))
        when = datetime.fromisoformat(day.group(0)).replace(tzinfo=timezone.utc) if day else None
        appnos = tuple(a.strip() for a in str(cols.get("appno") or "").split(";") if a.strip())
        extra = tuple((k, " ".join(str(cols.get(k) or "").split())) for k in ("ecli", "importance", "conclusion"))
        respondent = "; ".join(r for r in str(cols.get("respondent") or "").split(";") if r)
        documents.append(_Document(cols["itemid"], " ".join(str(cols.get("docname") or "").split()), appnos,
                                   doc_type.capitalize(), doc_type, when, (*extra, ("respondent", respondent))))
    return documents


def _merge_with_twins(documents: list[_Document]) -> list[tuple[_Document, _Document | None]]:
    """One document per key, English before French, with the other-language twin if there was one."""
    groups: dict[str, list[_Document]] = {}
    for document in documents:
        groups.setdefault(document.key, []).append(document)
    out = []
    for group in groups.values():
        ordered = sorted(group, key=lambda d: d.french)  # stable: the first English, else the first French
        twin = next((d for d in ordered[1:] if d.french != ordered[0].french), None)
        out.append((ordered[0], twin))
    return out
