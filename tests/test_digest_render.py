"""The digest email by incident: subject, each incident once with all its reports, the by-person
and by-type indexes, local times (WATCHER_TZ, across DST), human-readable incident names, escaping
of feed text, inline-only HTML, plain text without tags, the empty and unhealthy-source cases."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from watcher.digest.model import Digest, DigestEntry, EntryReport, SourceProblem
from watcher.digest.render import http_url, localtime, render_digest

TZ = "Europe/London"
COURT = {
    "court": "European Court of Human Rights",
    "case_number": "12345/24",
    "respondent_state": "Russia",
    "document_type": "Judgment",
    "decision_date": "2026-11-20",
    "citation": "[2026] ECHR 101",
    "parties": "Valiev v. Russia",
}
WHEN = datetime(2026, 11, 23, 6, 12, tzinfo=UTC)


def report(item_id: int, title: str = "", *, source: str = "ozodlik-uz", language: str | None = "uz",
           url: str | None = None, published: datetime = WHEN, new: bool = True,
           evidence: str | None = None) -> EntryReport:
    return EntryReport(item_id=item_id, source_id=source, language=language, title=title,
                       url=url if url is not None else f"https://example.org/{item_id}", published=published,
                       new=new, evidence=evidence)


def entry(incident_id: int | None, title: str, *, urgent: bool = False, people=(), seen=None, kinds=(),
          origin=(), host=(), named=(), fields=None, url: str | None = None, source: str = "ozodlik-uz",
          language: str | None = "uz", published: datetime = WHEN, reports=None, follows: int | None = None,
          continued: bool = False,
          snippet=("Police said ", "Alisher Valiyev", " was held at Tashkent's request.")) -> DigestEntry:
    """An incident entry; by default one report (item id = incident id) titled like the incident."""
    item = incident_id if incident_id is not None else 99
    return DigestEntry(
        incident_id=incident_id, title=title, urgent=urgent,
        reports=list(reports) if reports is not None else [
            report(item, title, source=source, language=language, url=url, published=published)],
        people=list(people), seen_as=dict(seen or {}), incident_types=list(kinds), origin=list(origin),
        host=list(host), named=list(named), fields=dict(fields or {}),
        snippet_before=snippet[0], snippet_match=snippet[1], snippet_after=snippet[2],
        follows=follows, follows_title="Alisher Valiev released" if follows else "",
        follows_seen=datetime(2026, 11, 2, 10, tzinfo=UTC) if follows else None, continued=continued)


def digest(entries=(), problems=(), total: int = 14, healthy: int | None = None,
           day: date = date(2026, 11, 23), tz: str = TZ) -> Digest:
    return Digest(day=day, timezone=tz, start=datetime(2026, 11, 22, 7, tzinfo=UTC),
                  end=datetime(2026, 11, 23, 7, tzinfo=UTC), entries=list(entries), problems=list(problems),
                  sources_total=total, sources_healthy=total - len(problems) if healthy is None else healthy)


def day_digest() -> Digest:
    """Urgent first, then newest first, as watcher.digest builds them. Incident 1 is one story
    told in Uzbek and Russian; Rustam Karimov has two incidents (3 and 5)."""
    return digest([
        entry(1, "Uzbek blogger faces extradition from Kazakhstan", urgent=True, people=["Alisher Valiev"],
              seen={"Alisher Valiev": ["Alisher Valiyev", "Алишер Валиев"]}, kinds=["extradition", "detention"],
              origin=["UZ"], host=["KZ"], follows=4,
              reports=[report(1, "Uzbek blogger faces extradition from Kazakhstan"),
                       report(11, "Узбекского блогера выдают из Казахстана", source="fergana-ru", language="ru",
                              published=datetime(2026, 11, 23, 6, 40, tzinfo=UTC))]),
        entry(2, "Valiev v. Russia (judgment)", urgent=True, people=["Alisher Valiev"], kinds=["extradition"],
              origin=["UZ"], host=["RU"], fields=COURT, source="hudoc", language=None,
              snippet=("the applicant's ", "extradition", " to Uzbekistan would violate Article 3")),
        entry(3, "Tajik opposition member put on INTERPOL list", people=["Rustam Karimov"],
              seen={"Rustam Karimov": ["Рустам Каримов"]}, kinds=["interpol_red_notice"], origin=["TJ"],
              source="interpol-red", language=None),
        entry(4, "Chechen exile missing in Istanbul", kinds=["abduction_rendition"], named=["TR"],
              source="kavkaz-uzel", language="ru", snippet=("A blogger was ", "abducted", " outside his home.")),
        entry(5, "Second Karimov report", people=["Rustam Karimov"], kinds=["interpol_red_notice"],
              origin=["TJ"], published=datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
    ], problems=[SourceProblem("asia-plus", "failing", "2026-11-22T03:10:00+00:00", "HTTP 503 Service Unavailable")])


class _Tags(HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def test_subject_counts_incidents_and_urgent():
    msg = render_digest(day_digest())
    assert msg.subject == "watcher digest 2026-11-23: 5 incidents (2 urgent)"
    assert msg.urgent is True
    one = render_digest(digest([entry(1, "One")]))
    assert one.subject == "watcher digest 2026-11-23: 1 incident"
    assert one.urgent is False
    assert render_digest(digest()).subject == "watcher digest 2026-11-23: nothing matched"


def test_urgent_then_other_incidents_then_the_indexes():
    msg = render_digest(day_digest())
    for part, heads in ((msg.text, ("URGENT (2)", "OTHER INCIDENTS (3)", "BY PERSON", "BY INCIDENT TYPE")),
                        (msg.html, (">Urgent (2)<", ">Other incidents (3)<", ">By person<", ">By incident type<"))):
        positions = [part.index(h) for h in heads]
        assert positions == sorted(positions)
        urgent = part[positions[0]:positions[1]]
        assert "Uzbek blogger faces" in urgent and "Valiev v. Russia (judgment)" in urgent
        assert "Tajik opposition" not in urgent and "Chechen exile" not in urgent
        assert "Tajik opposition" in part[positions[1]:positions[2]]


def test_each_incident_is_shown_once_and_the_indexes_point_at_it():
    msg = render_digest(day_digest())
    text = msg.text
    for title in ("Uzbek blogger faces extradition from Kazakhstan", "Tajik opposition member put on INTERPOL list",
                  "Chechen exile missing in Istanbul", "Second Karimov report"):
        assert text.count(title) == 1, title
    assert text.count("Case number: 12345/24") == 1
    by_person = text[text.index("BY PERSON"):text.index("BY INCIDENT TYPE")]
    assert "- Alisher Valiev: incident #1, #2\n" in by_person
    assert "- Rustam Karimov: incident #3, #5\n" in by_person
    assert "Tajik opposition" not in by_person and "Police said" not in by_person
    by_type = text[text.index("BY INCIDENT TYPE"):text.index("SOURCES WATCHER")]
    for line in ("- abduction / rendition: incident #4", "- detention: incident #1", "- extradition: incident #1, #2",
                 "- INTERPOL Red Notice: incident #3, #5"):
        assert line in by_type, line
    assert "Chechen exile" not in by_type
    html = msg.html
    assert html.count(">Tajik opposition member put on INTERPOL list<") == 1
    assert 'id="incident-3"' in html and 'id="incident-5"' in html
    assert re.search(r'Rustam Karimov: incident <a href="#incident-3"[^>]*>#3</a>, <a href="#incident-5"[^>]*>#5</a>',
                     html)


def test_two_reports_of_one_incident_are_one_entry_listing_both():
    msg = render_digest(day_digest())
    text = msg.text
    block = text[text.index("* Incident #1:"):text.index("* Incident #2:")]
    assert "Reported by: ozodlik-uz (uz), fergana-ru (ru)" in block
    assert "- ozodlik-uz (uz) · 23 Nov 2026, 06:12 GMT" in block and "https://example.org/1" in block
    assert "- fergana-ru (ru) · 23 Nov 2026, 06:40 GMT" in block and "https://example.org/11" in block
    assert "Узбекского блогера выдают из Казахстана" in block
    assert "When: 23 Nov 2026, 06:12 GMT, latest report 23 Nov 2026, 06:40 GMT" in " ".join(block.split())
    html = msg.html
    card = html[html.index('id="incident-1"'):html.index('id="incident-2"')]
    assert "Reported by: ozodlik-uz (uz), fergana-ru (ru)" in card
    assert re.search(r'<a href="https://example.org/11"[^>]*>fergana-ru \(ru\)</a>', card)
    assert "23 Nov 2026, 06:40 GMT" in card and "Узбекского блогера выдают из Казахстана" in card


def test_summary_counts_incidents_by_type_and_country():
    text = render_digest(day_digest()).text
    assert "5 incidents (6 reports), 2 urgent." in text
    summary = " ".join(text.split("URGENT (2)")[0].split())
    assert ("By incident type: abduction / rendition 1, detention 1, extradition 2, INTERPOL Red Notice 2"
            in summary)
    assert "By country: Tajikistan 2, Uzbekistan 2, Kazakhstan 1, Russia 1, Turkey 1" in summary


def test_incident_types_read_as_words_never_as_ids():
    msg = render_digest(day_digest())
    for part in (msg.text, msg.html, msg.subject or ""):
        for raw in ("abduction_rendition", "interpol_red_notice"):
            assert raw not in part
    assert "What: extradition, detention" in msg.text and "What: abduction / rendition" in msg.text
    assert "What: abduction / rendition" in msg.html


def test_entry_details_who_what_where_follows_court_fields_and_marked_snippet():
    msg = render_digest(day_digest())
    for label, value in (("Court", "European Court of Human Rights"), ("Case number", "12345/24"),
                         ("Respondent state", "Russia"), ("Document type", "Judgment"),
                         ("Decision date", "2026-11-20"), ("Citation", "[2026] ECHR 101"),
                         ("Parties", "Valiev v. Russia")):
        assert f"{label}: {value}" in msg.text
        assert re.search(rf">{re.escape(label)}</td>\s*<td[^>]*>{re.escape(value)}</td>", msg.html)
    assert 'Who: Alisher Valiev (seen as "Alisher Valiyev", "Алишер Валиев")' in msg.text
    assert "Alisher Valiev</b> (seen as “Alisher Valiyev”, “Алишер Валиев”)" in msg.html
    assert 'Rustam Karimov (seen as "Рустам Каримов")' in msg.text
    assert "Where: Uzbekistan → Kazakhstan" in msg.text and "Where: Uzbekistan → Kazakhstan" in msg.html
    assert "Countries named: Turkey" in msg.text and "Countries named: Turkey" in msg.html
    follows = "Follows incident #4 of the same case (Alisher Valiev released, 2 Nov 2026, 10:00 GMT)"
    assert follows in " ".join(msg.text.split()) and follows in msg.html
    assert "> Police said **Alisher Valiyev** was held at Tashkent's request." in msg.text
    assert re.search(r"<b style=\"[^\"]*background-color[^\"]*\">extradition</b> to Uzbekistan", msg.html)
    assert "Reported by: hudoc · 23 Nov 2026, 06:12 GMT" in msg.text
    assert '<a href="https://example.org/1"' in msg.html


def test_title_and_summary_are_separated():
    snip = ("Uzbek blogger detained — Police said ", "Alisher Valiyev", " was held.")
    msg = render_digest(digest([entry(1, "Uzbek blogger detained", people=["Alisher Valiev"], snippet=snip)]))
    lines = msg.text.splitlines()
    title_line = next(line for line in lines if line.startswith("* Incident #1:"))
    assert title_line == "* Incident #1: Uzbek blogger detained"  # the title alone on its line
    assert "> Uzbek blogger detained — Police said **Alisher Valiyev** was held." in msg.text
    assert re.search(r">Uzbek blogger detained</a></div>\s*<div", msg.html)  # its own block in HTML
    assert "Uzbek blogger detained — Police said <b" in msg.html


def test_a_later_report_of_an_earlier_incident_says_so_and_marks_what_is_new():
    old = report(1, "Blogger detained", published=datetime(2026, 11, 21, 9, tzinfo=UTC), new=False)
    later = report(2, "Блогер задержан", source="fergana-ru", language="ru", evidence="done")
    msg = render_digest(digest([entry(1, "Blogger detained", reports=[old, later], continued=True)]))
    assert "First alerted before this digest's window" in msg.text
    assert "- fergana-ru (ru) · 23 Nov 2026, 06:12 GMT · new · page kept" in msg.text
    assert "- ozodlik-uz (uz) · 21 Nov 2026, 09:00 GMT\n" in msg.text
    assert "· 23 Nov 2026, 06:12 GMT · new · page kept" in msg.html


def test_an_entry_without_an_incident_is_shown_and_indexed_as_its_item():
    msg = render_digest(digest([entry(None, "Orphan alert", people=["Alisher Valiev"], kinds=["detention"])]))
    assert "* Item #99 (no incident): Orphan alert" in msg.text
    assert "- Alisher Valiev: item #99" in msg.text
    assert 'id="item-99"' in msg.html and 'href="#item-99"' in msg.html
    assert msg.subject == "watcher digest 2026-11-23: 1 incident"


def test_every_time_is_in_the_digest_zone_asia_tashkent():
    d = digest([entry(1, "Detained in Tashkent", follows=4)], tz="Asia/Tashkent",
               problems=[SourceProblem("hudoc", "blocked", "2026-11-22T03:10:00+00:00", "HTTP 403")])
    msg = render_digest(d)
    for part in (" ".join(msg.text.split()), msg.html):  # the text part may wrap a line anywhere
        assert "22 Nov 12:00 +05 – 23 Nov 12:00 +05 (Asia/Tashkent)" in part
        assert "23 Nov 2026, 11:12 +05" in part  # the report, 06:12 UTC
        assert "2 Nov 2026, 15:00 +05" in part  # the case's earlier incident, 10:00 UTC
        assert "22 Nov 2026, 08:10 +05" in part  # the source's trouble, 03:10 UTC
        assert "06:12" not in part and "GMT" not in part and "UTC" not in part


def test_window_and_times_in_local_time_across_the_dst_change():
    # UK clocks go back at 01:00 UTC on Sunday 25 October 2026: the window is 25 hours long.
    d = Digest(day=date(2026, 10, 25), timezone=TZ, start=datetime(2026, 10, 24, 6, tzinfo=UTC),
               end=datetime(2026, 10, 25, 7, tzinfo=UTC), sources_total=3, sources_healthy=3,
               entries=[entry(1, "Before the change", published=datetime(2026, 10, 24, 23, 30, tzinfo=UTC)),
                        entry(2, "After the change", published=datetime(2026, 10, 25, 1, 30, tzinfo=UTC))])
    msg = render_digest(d)
    for part in (msg.text, msg.html):
        assert "24 Oct 07:00 BST – 25 Oct 07:00 GMT (Europe/London)" in part
        assert "25 Oct 2026, 00:30 BST" in part
        assert "25 Oct 2026, 01:30 GMT" in part
    assert "watcher digest for Sunday 25 October 2026" in msg.text
    assert localtime(datetime(2026, 7, 1, 12, tzinfo=UTC), "UTC") == "1 Jul 12:00 UTC"
    assert localtime(datetime(2026, 7, 1, 12), "Asia/Tashkent", "long") == "1 Jul 2026, 17:00 +05"


def test_hostile_feed_text_is_escaped_and_unsafe_links_are_not_hrefs():
    nasty = entry(
        1, '<script>alert(1)</script> & "x"', urgent=True, people=['Eve <b onmouseover="x">'],
        seen={'Eve <b onmouseover="x">': ["<i>eve</i>"]}, kinds=["extradition"],
        url="javascript:alert(document.cookie)", source="<s>src</s>", language="<l>",
        fields={"court": "<iframe src=//evil>", "case_<number>": "1 & 2"},
        snippet=("before <img src=x onerror=alert(1)> ", "<u>match</u>", " after</div></td></table>"))
    quoted = entry(2, "Quoted link", url='https://example.org/a"onmouseover="alert(1)')
    msg = render_digest(digest([nasty, quoted], problems=[
        SourceProblem("bad<src>", "failing", None, "<script>boom()</script>")]))
    html = msg.html
    lower = html.lower()
    for raw in ("<script", "<img", "<iframe", "<u>", "<i>eve", "<s>", "<l>", "onmouseover=\""):
        assert raw not in lower, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;iframe src=//evil&gt;" in html
    assert "&lt;script&gt;boom()&lt;/script&gt;" in html
    tags = parse(html)  # the hostile snippet's closing tags did not break the structure
    assert {tag for tag, _ in tags.tags} <= {"html", "head", "meta", "title", "body", "table", "tr", "td", "h1",
                                            "h2", "h3", "p", "div", "span", "a", "b", "br", "code"}
    assert not [name for _, attrs in tags.tags for name in attrs if name.startswith("on")]
    hrefs = [attrs["href"] for tag, attrs in tags.tags if tag == "a"]
    assert hrefs and all(h.startswith(("https://", "http://")) or re.fullmatch(r"#incident-\d+", h) for h in hrefs)
    assert not any("javascript" in h.lower() for h in hrefs)
    assert "javascript:alert(document.cookie)" in "".join(tags.text)  # shown as text, not linked
    assert 'https://example.org/a"onmouseover="alert(1)' in hrefs  # the quote stayed inside the attribute
    # the text part shows feed text as it is (text/plain is never interpreted)
    assert '<script>alert(1)</script> & "x"' in msg.text


def test_http_url_accepts_only_absolute_web_links():
    assert http_url("https://example.org/x?a=1") == "https://example.org/x?a=1"
    assert http_url(" HTTP://Example.org ") == "HTTP://Example.org"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<b>", "//example.org",
                "/relative", "https://", "https://exa mple.org", "https://example.org/\nx", "", None):
        assert http_url(bad) == "", bad


def test_html_is_a_complete_inline_styled_document():
    html = render_digest(day_digest()).html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    lower = html.lower()
    for forbidden in ("<style", "<script", "<link", "<img", "class=", "@import", "url("):
        assert forbidden not in lower, forbidden
    tags = parse(html)
    styled = {"body", "table", "td", "h1", "h2", "h3", "p", "div", "span", "a"}
    for tag, attrs in tags.tags:
        if tag in styled and not (tag == "td" and attrs.get("align") == "center"):
            assert attrs.get("style"), f"<{tag}> without inline style"
    assert "max-width:640px" in html
    assert "border-left:4px solid #c62828" in html  # urgent entries are marked in red
    assert "<title>watcher digest 2026-11-23: 5 incidents (2 urgent)</title>" in html


def test_text_part_is_plain_and_wrapped():
    text = render_digest(day_digest()).text
    assert not re.search(r"</?[a-zA-Z][^>]*>", text)
    assert "https://example.org/1" in text
    long_lines = [line for line in text.splitlines() if len(line) > 78 and "://" not in line]
    assert long_lines == []


def test_problems_are_listed_or_all_sources_said_healthy():
    msg = render_digest(day_digest())
    assert "SOURCES WATCHER COULD NOT READ (1)" in msg.text
    assert "* asia-plus: failing since 22 Nov 2026, 03:10 GMT" in msg.text
    assert "Last error: HTTP 503 Service Unavailable" in msg.text
    assert ">Sources watcher could not read (1)</h2>" in msg.html
    assert "HTTP 503 Service Unavailable" in msg.html
    healthy = render_digest(digest([entry(1, "One")], total=14))
    assert "All 14 sources were healthy." in healthy.text
    assert "All 14 sources were healthy." in healthy.html
    assert "could not read" not in healthy.text.lower()


def test_empty_digest_says_nothing_matched_and_how_many_sources_are_healthy():
    msg = render_digest(digest(total=14))
    assert "Nothing matched in the last day; 14 of 14 sources healthy." in msg.text
    assert "Nothing matched in the last day; 14 of 14 sources healthy." in msg.html
    assert "URGENT" not in msg.text and "BY PERSON" not in msg.text and "could not read" not in msg.text.lower()
    parse(msg.html)
    failing = render_digest(digest(problems=[SourceProblem("hudoc", "blocked", "2026-11-20", "HTTP 403")]))
    assert "Nothing matched in the last day; 13 of 14 sources healthy." in failing.text
    assert "* hudoc: blocked since 20 Nov 2026, 00:00 GMT" in failing.text
    assert "SOURCES WATCHER COULD NOT READ (1)" in failing.text


def test_footer_has_the_rules_hint_and_says_who_sent_it():
    msg = render_digest(digest([entry(1, "One")]), rules_hint="Edit `rules/*.yaml` & run `watcher rules check`.")
    assert "Edit `rules/*.yaml` & run `watcher rules check`." in msg.text
    assert "Sent by watcher" in msg.text and "Sent by watcher" in msg.html
    assert re.search(r"<code style=\"[^\"]+\">rules/\*\.yaml</code> &amp; run <code", msg.html)
    default = render_digest(digest())
    assert "/watch" in default.text and "watcher rules check" in default.text


BROWSER = next((b for b in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                            shutil.which("google-chrome")) if b and Path(b).exists()), None)


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine")
def test_html_renders_in_a_headless_browser(tmp_path: Path):
    page = tmp_path / "digest.html"
    page.write_text(render_digest(day_digest()).html, encoding="utf-8")
    shot = tmp_path / "digest.png"
    subprocess.run([BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=700,1600", page.as_uri()],
                   check=True, capture_output=True, timeout=30)
    assert shot.exists() and shot.stat().st_size > 10_000
