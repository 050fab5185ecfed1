"""The digest email: subject, sections and their order, local times across DST, escaping of feed
text, inline-only HTML, plain text without tags, the empty and unhealthy-source cases."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from watcher.digest.model import Digest, DigestEntry, SourceProblem
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


def entry(item_id: int, title: str, *, urgent: bool = False, people=(), seen=None, kinds=(), countries=(),
          fields=None, url: str | None = None, source: str = "ozodlik-uz",
          published: datetime = datetime(2026, 11, 23, 6, 12, tzinfo=UTC),
          snippet=("Police said ", "Alisher Valiyev", " was held at Tashkent's request.")) -> DigestEntry:
    return DigestEntry(
        item_id=item_id, title=title, url=url if url is not None else f"https://example.org/{item_id}",
        source_id=source, published=published, urgent=urgent, people=list(people),
        seen_as=list(seen if seen is not None else people), incident_types=list(kinds),
        countries=list(countries), fields=dict(fields or {}),
        snippet_before=snippet[0], snippet_match=snippet[1], snippet_after=snippet[2])


def digest(entries=(), problems=(), total: int = 14, healthy: int | None = None,
           day: date = date(2026, 11, 23)) -> Digest:
    return Digest(day=day, timezone=TZ, start=datetime(2026, 11, 22, 7, tzinfo=UTC),
                  end=datetime(2026, 11, 23, 7, tzinfo=UTC), entries=list(entries), problems=list(problems),
                  sources_total=total, sources_healthy=total - len(problems) if healthy is None else healthy)


def day_digest() -> Digest:
    """Urgent first, then newest first, as watcher.digest builds them."""
    return digest([
        entry(1, "Uzbek blogger faces extradition from Kazakhstan", urgent=True, people=["Alisher Valiev"],
              seen=["Alisher Valiyev"], kinds=["extradition", "detention"], countries=["KZ", "UZ"]),
        entry(2, "Valiev v. Russia (judgment)", urgent=True, people=["Alisher Valiev"], kinds=["extradition"],
              countries=["RU"], fields=COURT, source="hudoc",
              snippet=("the applicant's ", "extradition", " to Uzbekistan would violate Article 3")),
        entry(3, "Tajik opposition member put on INTERPOL list", people=["Rustam Karimov"],
              seen=["Рустам Каримов"], kinds=["interpol_red_notice"], countries=["TJ"], source="interpol-red"),
        entry(4, "Chechen exile missing in Istanbul", kinds=["abduction_rendition"], countries=["TR"],
              source="kavkaz-uzel", snippet=("A blogger was ", "abducted", " outside his home.")),
        entry(5, "Second Karimov report", people=["Rustam Karimov"], kinds=["interpol_red_notice"],
              countries=["TJ"], published=datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
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


def test_subject_counts_alerts_and_urgent():
    msg = render_digest(day_digest())
    assert msg.subject == "watcher digest 2026-11-23: 5 alerts (2 urgent)"
    assert msg.urgent is True
    one = render_digest(digest([entry(1, "One")]))
    assert one.subject == "watcher digest 2026-11-23: 1 alert"
    assert one.urgent is False
    assert render_digest(digest()).subject == "watcher digest 2026-11-23: nothing matched"


def test_urgent_first_then_by_person_then_by_incident():
    msg = render_digest(day_digest())
    for part, (urgent, person, incident) in ((msg.text, ("URGENT (2)", "BY PERSON", "BY INCIDENT TYPE")),
                                             (msg.html, (">Urgent (2)<", ">By person<", ">By incident type<"))):
        assert part.index(urgent) < part.index(person) < part.index(incident)
        # the urgent entries come before any other entry
        first_normal = min(part.index("Tajik opposition"), part.index("Chechen exile"))
        assert part.index("Uzbek blogger faces") < first_normal
        assert part.index("Valiev v. Russia (judgment)") < first_normal
        # groups: each person, each incident type, with their counts
        by_person = part[part.index(person):part.index(incident)]
        assert "Alisher Valiev" in by_person and "Rustam Karimov" in by_person
        assert by_person.index("Alisher Valiev") < by_person.index("Rustam Karimov")
        assert "Second Karimov report" in by_person
        by_incident = part[part.index(incident):]
        for kind in ("abduction rendition", "detention", "extradition", "interpol red notice"):
            assert kind in by_incident
        assert "Chechen exile missing in Istanbul" in by_incident


def test_summary_counts_by_incident_and_country():
    text = render_digest(day_digest()).text
    assert "5 alerts, 2 urgent." in text
    summary = " ".join(text.split("URGENT (2)")[0].split())
    assert "By incident type: abduction rendition 1, detention 1, extradition 2, interpol red notice 2" in summary
    assert "By country: TJ 2, KZ 1, RU 1, TR 1, UZ 1" in summary


def test_entry_details_court_fields_people_and_marked_snippet():
    msg = render_digest(day_digest())
    for label, value in (("Court", "European Court of Human Rights"), ("Case number", "12345/24"),
                         ("Respondent state", "Russia"), ("Document type", "Judgment"),
                         ("Decision date", "2026-11-20"), ("Citation", "[2026] ECHR 101"),
                         ("Parties", "Valiev v. Russia")):
        assert f"{label}: {value}" in msg.text
        assert re.search(rf">{re.escape(label)}</td>\s*<td[^>]*>{re.escape(value)}</td>", msg.html)
    assert 'Alisher Valiev (seen as "Alisher Valiyev")' in msg.text
    assert "Alisher Valiev</b> (seen as “Alisher Valiyev”)" in msg.html
    assert "Rustam Karimov (seen as \"Рустам Каримов\")" in msg.text
    assert "> Police said **Alisher Valiyev** was held at Tashkent's request." in msg.text
    assert re.search(r"<b style=\"[^\"]*background-color[^\"]*\">extradition</b> to Uzbekistan", msg.html)
    assert "hudoc · 23 Nov 2026, 06:12 GMT" in msg.text
    assert '<a href="https://example.org/1"' in msg.html
    # shown in full once, referred to afterwards
    assert msg.text.count("Case number: 12345/24") == 1
    assert msg.text.count("Valiev v. Russia (judgment)") == 3


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
        seen=["<i>eve</i>"], kinds=["extradition"], url="javascript:alert(document.cookie)",
        fields={"court": "<iframe src=//evil>", "case_<number>": "1 & 2"},
        snippet=("before <img src=x onerror=alert(1)> ", "<u>match</u>", " after</div></td></table>"))
    quoted = entry(2, "Quoted link", url='https://example.org/a"onmouseover="alert(1)')
    msg = render_digest(digest([nasty, quoted], problems=[
        SourceProblem("bad<src>", "failing", None, "<script>boom()</script>")]))
    html = msg.html
    lower = html.lower()
    for raw in ("<script", "<img", "<iframe", "<u>", "<i>eve", "onmouseover=\""):
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
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
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
    assert "<title>watcher digest 2026-11-23: 5 alerts (2 urgent)</title>" in html


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
