"""UK: Find Case Law, The National Archives (type: findcaselaw).

CourtID: findcaselaw
Court Short Name: FCL (UKSC, EWCA, EWHC, UKUT, ...; API spec: nationalarchives/ds-find-caselaw-docs)
Database: Find Case Law, https://caselaw.nationalarchives.gov.uk
- Atom feed (polled): https://caselaw.nationalarchives.gov.uk/atom.xml?query=<text>&court=<code>&court=...
  &party=<word>&order=-date&per_page=<n>&page=<n>, + from_date_0/1/2 (day/month/year) on the first poll;
- a document (`documents: true`): https://caselaw.nationalarchives.gov.uk/{document_uri}/data.xml,
  Akoma Ntoso 3.0 (LegalDocML): where each entry's `application/akn+xml` link points.

Fetched: the newest documents of `courts` (extradition appeals: ewhc/admin) by hand-down date, following
`rel="next"` up to `max_pages`; with `documents`, the LegalDocML of up to 20 entries not yet stored, for
parties, case numbers and opening paragraphs. The detail item has the entry's key and everything the
feed item had, so it replaces it (the pipeline keeps the last item per key). A silent first poll and
entries beyond 20 get no document.

Quirks:
- `tna:uri` is the stable id and the key: `d-<uuid>` from April 2025, `court/year/number` before, both
  in one feed; links use the preferred identifier (`/uksc/2025/18` for `d-b2afa423-...`). A document's
  FRBRWork/FRBRthis (a full `.../id/<uri>` URL, or bare in 2021 transforms) need not name the d- URI,
  so fetch stamps the entry's URI and link on its response (x-watcher-document-uri, x-watcher-link);
- citation: `tna:identifier type="ukncn"` (optional: the 2025 recording has none), else spelt from a
  court/year/number URI or link path (`_spell`), which the spec warns is not guaranteed to be the NCN;
- feedparser keeps only the attributes of the last `tna:identifier` and drops its text, so entries'
  identifiers and links are read with defusedxml; `summary` is always empty;
- the recorded page holds 18 entries (per_page 50) yet links a `next` page 2: an empty page ends the
  walk and means nothing new; documents published long after hand-down sort deep and may be missed;
- the search ANDs words and has no OR ("does not recognise Boolean operators"): one query per source;
- LegalDocML varies by age: `uk:` is https://caselaw.nationalarchives.gov.uk/akn now, https:/judgments.gov.uk/
  in 2021 (read by local name); parties are `header//party`, or `uk:party` in backlog documents;
  TLCPerson mixes parties and judges.

Terms: the Open Justice Licence (https://caselaw.nationalarchives.gov.uk/open-justice-licence) does not
permit computational analysis: programmatic bulk searching to identify, extract or enrich needs TNA's
free licence, https://caselaw.nationalarchives.gov.uk/re-use-find-case-law-records/licence-application-process
(a keyword-alert bot plausibly counts: apply before enabling). Limit 1,000 requests per rolling 5 minutes
per IP, then 429; watcher makes at most max_pages + 20 requests a poll, 1 s apart, 6-hourly.

History:
- 2026-11: first version: Atom feed, optional LegalDocML documents.
"""

from __future__ import annotations

import calendar
import io
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import Field, field_validator

from watcher.errors import FetchFailed, FormatChanged, ParseFailed, SourceBlocked, TooLarge
from watcher.http import Fetcher
from watcher.models import Item, Response
from watcher.sources.base import DatabaseSettings, Duration, FetchContext, Source
from watcher.sources.rss import refuse_html
from watcher.text import canonical_url, content_hash, html_to_text

log = logging.getLogger(__name__)

BASE = "https://caselaw.nationalarchives.gov.uk"
ATOM, TNA = "{http://www.w3.org/2005/Atom}", "{https://caselaw.nationalarchives.gov.uk}"
AKN = "{http://docs.oasis-open.org/legaldocml/ns/akn/3.0}"
URI_HEADER, LINK_HEADER = "x-watcher-document-uri", "x-watcher-link"
MAX_DOCUMENTS = 20  # data.xml requests per poll at most
SUMMARY_CHARS = 600
DEFAULT_COURTS = ("ewhc/admin", "ewca/civ", "uksc", "ukut/iac")

_URI = re.compile(r"^[a-z0-9][a-z0-9/-]*$")  # the spec: a-z, 0-9, / and -
_COURT_CODE = re.compile(r"^([a-z0-9-]+(/[a-z0-9-]+)?|[A-Z][A-Za-z0-9-]+)$")  # ewhc/admin or EWHC-Administrative
_SLUG = re.compile(r"^([a-z]+)(?:/([a-z]+))?/(\d{4})/(\d+)$")
_EWHC = {"admin": "Admin", "ch": "Ch", "comm": "Comm", "fam": "Fam", "kb": "KB", "qb": "QB", "tcc": "TCC",
         "ipec": "IPEC", "mercantile": "Mercantile", "admlty": "Admlty"}
_CASE_NO = re.compile(r"^Case\s+Nos?\.?\s*:?\s*(\S.*)$", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class Settings(DatabaseSettings):
    type: Literal["findcaselaw"]
    every: Duration = timedelta(hours=6)
    language: str | None = "en"
    # Full text; words are ANDed and "quotes" make a phrase. No OR, so the default is no query: every
    # new document of `courts`, matched locally by the rules (one source per query otherwise).
    query: str | None = None
    courts: tuple[str, ...] = DEFAULT_COURTS  # URL form (ewhc/admin) or XML form (EWHC-Administrative)
    party: str | None = None  # a whole word of a party's name
    per_page: int = Field(default=50, ge=1, le=100)
    documents: bool = False  # LegalDocML of new entries: parties, case numbers, opening paragraphs

    @field_validator("courts")
    @classmethod
    def _check_courts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not _COURT_CODE.match(code):
                raise ValueError(f"{code!r} is not a Find Case Law court code like ewhc/admin, uksc, ukut/iac")
        return value


@dataclass(frozen=True)
class _Entry:
    """What fetch and parse need from one Atom entry that feedparser cannot give (it loses identifiers)."""

    uri: str
    link: str  # the HTML page
    data: str  # the application/akn+xml link
    ncn: str  # tna:identifier type="ukncn", if any


class FindCaseLawSource(Source):
    type = "findcaselaw"
    Settings = Settings
    base_url = BASE
    default_delay = timedelta(seconds=1)

    def params(self, ctx: FetchContext, page: int) -> list[tuple[str, str]]:
        """The feed's query string as pairs, because `court` repeats."""
        s: Any = self.settings
        params = [("query", s.query)] if s.query else []
        params += [("court", court) for court in s.courts]
        params += [("party", s.party)] if s.party else []
        params += [("order", "-date"), ("per_page", str(s.per_page))]
        params += [("page", str(page))] if page > 1 else []
        if ctx.first_run:
            since = (ctx.now - timedelta(days=s.backfill_days)).date()
            params += [("from_date_0", str(since.day)), ("from_date_1", str(since.month)), ("from_date_2", str(since.year))]
        return params

    async def fetch(self, fetcher: Fetcher, ctx: FetchContext) -> list[Response]:
        s: Any = self.settings
        responses: list[Response] = []
        entries: list[_Entry] = []
        for page in range(1, s.max_pages + 1):
            if page > 1:
                await ctx.pause()
            response = await fetcher.get(
                f"{self.root}/atom.xml", params=cast(Any, self.params(ctx, page)),  # httpx takes pairs
                validators=ctx.validators if page == 1 else None, proxy=s.proxy, retries=s.retries,
            )
            responses.append(response)
            try:
                root = fromstring(response.content)
            except (ParseError, DefusedXmlException):  # parse() says what is wrong with it
                break
            listed = _entries(root) if root.tag == ATOM + "feed" else []
            entries += listed
            if not listed or not any(link.get("rel") == "next" for link in root.iterfind(ATOM + "link")):
                break  # the last page links a next one too: an empty page ends the walk
        if s.documents and (not ctx.first_run or s.backfill == "alert"):
            responses += await self._documents(fetcher, ctx, entries)
        return responses

    async def _documents(self, fetcher: Fetcher, ctx: FetchContext, entries: list[_Entry]) -> list[Response]:
        """data.xml of entries not stored yet; the feed stays useful without them, so a refusal ends this."""
        s: Any = self.settings
        known = ctx.known([e.uri for e in entries])
        wanted = list({e.uri: e for e in entries if e.data and e.uri not in known}.values())
        if len(wanted) > MAX_DOCUMENTS:
            log.info("source %s: %d new documents, fetching the first %d", self.id, len(wanted), MAX_DOCUMENTS)
        out: list[Response] = []
        for entry in wanted[:MAX_DOCUMENTS]:
            await ctx.pause()
            try:
                response = await fetcher.get(self.root + urlsplit(entry.data).path, proxy=s.proxy, retries=s.retries)
            except (FetchFailed, TooLarge) as exc:
                log.warning("source %s: document %s skipped: %s", self.id, entry.uri, exc)
                continue
            except SourceBlocked as exc:
                log.warning("source %s: documents stopped at %s: %s", self.id, entry.uri, exc)
                break
            out.append(replace(response, headers={**response.headers, URI_HEADER: entry.uri, LINK_HEADER: entry.link}))
        return out

    def parse(self, response: Response) -> list[Item]:
        """Pure: an Atom page gives one item per entry, a LegalDocML document one item with the entry's key."""
        root = _root(response.content)
        if root.tag == ATOM + "feed":
            return self._feed_items(response, root)
        if root.tag == AKN + "akomaNtoso":
            return [self._document_item(response, root)]
        raise FormatChanged(f"unexpected XML root {root.tag!r}: neither the Atom feed nor LegalDocML")

    def _feed_items(self, response: Response, root: Element) -> list[Item]:
        extra = {e.uri: e for e in _entries(root)}
        parsed = feedparser.parse(io.BytesIO(response.content), response_headers={
            "content-type": "application/atom+xml", "content-location": response.url})
        items: list[Item] = []
        for entry in parsed.get("entries") or []:
            uri = _uri(str(entry.get("tna_uri") or "")) or _uri(str(entry.get("id") or ""))
            if not uri:
                log.warning("source %s: entry without tna:uri skipped: %r", self.id, entry.get("title"))
                continue
            known = extra.get(uri) or _Entry(uri, "", "", "")
            link = known.link or f"{BASE}/{uri}"
            title = html_to_text(str(entry.get("title") or ""))
            summary = html_to_text(str(entry.get("summary") or ""))
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            published = datetime.fromtimestamp(calendar.timegm(stamp), tz=UTC) if stamp else None
            fields = {
                "court": str(entry.get("author") or ""),
                "citation": known.ncn or _spell(uri) or _spell(urlsplit(link).path.strip("/")),
                "decision_date": published.date().isoformat() if published else "",
                "document_type": "press summary" if "/press-summary/" in uri else "judgment",
            }
            items.append(self._item(uri, title or fields["citation"], summary, link,
                                    published or response.fetched_at, fields))
        if parsed.get("entries") and not items:
            raise FormatChanged("a feed whose entries have no tna:uri")
        return items

    def _document_item(self, response: Response, root: Element) -> Item:
        doc = next(iter(root), None)
        work = doc.find(f"{AKN}meta/{AKN}identification/{AKN}FRBRWork") if doc is not None else None
        if doc is None or work is None:
            raise FormatChanged("LegalDocML without meta/identification/FRBRWork")
        uri = response.header(URI_HEADER) or _uri(_attr(work, "FRBRthis", "value"))
        if not uri:
            raise FormatChanged(f"LegalDocML whose FRBRWork names no document URI ({_attr(work, 'FRBRthis', 'value')!r})")
        prop: dict[str, list[str]] = {}
        for child in doc.iterfind(f"{AKN}meta/{AKN}proprietary/*"):
            if _text(child):
                prop.setdefault(_local(child.tag), []).append(_text(child))
        heads = next(doc.iterfind(AKN + "header"), Element("header"))
        citation = (prop.get("cite") or [_text(heads.find(f".//{AKN}neutralCitation"))])[0]
        when = _attr(work, "FRBRdate", "date") or next((d.get("date", "") for d in heads.iter(AKN + "docDate")), "")
        day = _day(when)
        numbers = prop.get("caseNumber") or [_text(d) for d in heads.iter(AKN + "docketNumber")] or [
            m.group(1) for p in heads.iter(AKN + "p") if (m := _CASE_NO.match(_text(p)))][:1]
        name = doc.get("name", "") if _local(doc.tag) == "doc" else _local(doc.tag)
        fields = {
            "court": (prop.get("court") or [""])[0],
            "citation": citation,
            "decision_date": day.isoformat() if day else "",
            "parties": "; ".join(_parties(doc, heads, prop)),
            "case_number": "; ".join(dict.fromkeys(numbers)),
            "document_type": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower() or "judgment",
        }
        published = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else response.fetched_at
        title = " ".join(_attr(work, "FRBRname", "value").split()) or citation
        return self._item(uri, title, _opening(doc), response.header(LINK_HEADER) or f"{BASE}/{uri}", published, fields)

    def _item(self, key: str, title: str, summary: str, url: str, published: datetime, fields: dict[str, str]) -> Item:
        return Item(source_id=self.id, key=key, title=title, summary=summary, url=url, published=published,
                    language=self.settings.language, content_hash=content_hash(title, summary),
                    fields={k: v for k, v in fields.items() if v})


def _root(content: bytes) -> Element:
    """The document's root element, refusing what is not XML we could read."""
    if not content.strip():
        raise ParseFailed("an empty body instead of the Atom feed or a LegalDocML document")
    refuse_html(content, "XML")
    try:
        return cast(Element, fromstring(content))
    except DefusedXmlException as exc:  # entity declarations, external references
        raise ParseFailed(f"XML refused: {exc}") from None
    except ParseError as exc:
        raise ParseFailed(f"not well-formed XML: {exc}") from None


def _entries(root: Element) -> list[_Entry]:
    out = []
    for entry in root.iterfind(ATOM + "entry"):
        uri = _uri(entry.findtext(TNA + "uri") or "") or _uri(entry.findtext(ATOM + "id") or "")
        links = {link.get("type", ""): link.get("href", "") for link in entry.iterfind(ATOM + "link")
                 if link.get("rel", "alternate") == "alternate"}
        ncn = next((_text(i) for i in entry.iterfind(TNA + "identifier") if i.get("type") == "ukncn"), "")
        if uri:
            out.append(_Entry(uri, canonical_url(links.get("", "")), links.get("application/akn+xml", ""), ncn))
    return out


def _uri(value: str) -> str:
    """A Document URI from `tna:uri`, an Atom id or FRBRthis: `.../id/` dropped, '' if it is none."""
    value = value.strip().removeprefix(BASE + "/id/").strip("/")
    return value if _URI.match(value) else ""


def _spell(path: str) -> str:
    """The neutral citation a court/year/number path stands for, for courts whose pattern is known."""
    found = _SLUG.match(path)
    if not found:
        return ""
    court, sub, year, number = found.groups()
    if court == "ewca" and sub in ("civ", "crim"):
        return f"[{year}] EWCA {sub.capitalize()} {number}"
    if court == "ewhc" and sub in _EWHC:
        return f"[{year}] EWHC {number} ({_EWHC[sub]})"
    if court in ("ukut", "ukftt") and sub:
        return f"[{year}] {court.upper()} {number} ({sub.upper()})"
    return f"[{year}] {court.upper()} {number}" if court in ("uksc", "ukpc", "ewfc", "ewcop", "eat") and not sub else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attr(work: Element, name: str, attribute: str) -> str:
    found = work.find(AKN + name)
    return (found.get(attribute) or "").strip() if found is not None else ""


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _text(element: Element | None) -> str:
    """Visible text of an element, footnotes left out, spaces collapsed."""
    if element is None:
        return ""
    parts = [element.text or ""]
    for child in element:
        if _local(child.tag) != "authorialNote":
            parts.append(_text(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _parties(doc: Element, header: Element, prop: dict[str, list[str]]) -> list[str]:
    """Parties as marked in the header or the backlog metadata, else the TLCPersons who are not judges."""
    names = [_text(p) for p in header.iter(AKN + "party")] + prop.get("party", [])
    if not any(names):
        judges = {j.get("refersTo", "").lstrip("#") for j in doc.iter(AKN + "judge")}
        names = [p.get("showAs", "") for p in doc.iterfind(f"{AKN}meta/{AKN}references/{AKN}TLCPerson")
                 if p.get("eId", "") not in judges and not p.get("eId", "").startswith("judge")]
    return list(dict.fromkeys(" ".join(n.split()) for n in names if n.strip()))


def _opening(doc: Element) -> str:
    """The first paragraphs of the body, about SUMMARY_CHARS long: what the feed's empty summary lacks."""
    body = next((b for b in (doc.find(AKN + "judgmentBody"), doc.find(AKN + "mainBody")) if b is not None), None)
    texts: list[str] = []
    pending = [body] if body is not None else []
    while pending and sum(len(t) for t in texts) < SUMMARY_CHARS:
        element = pending.pop(0)
        if element.tag == AKN + "p":
            texts += [_text(element)] if _text(element) else []
        else:
            pending[:0] = list(element)
    summary = "\n".join(texts)
    return summary if len(summary) <= SUMMARY_CHARS else summary[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
