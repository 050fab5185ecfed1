"""Input faults from the outside black-box battery (issue 11, items 3, 9 and 12).

3. Invisible characters inside names (soft hyphens, bidi marks and controls, C1 controls, word
   joiners, any Unicode "format" character) must not hide a watched person, and the spans the
   matcher reports must still index the original text.
9. YAML alias bombs ("billion laughs" of anchors and aliases) in rules and feeds files are
   refused with file:line before anything is expanded, by the loader and by the rules editor.
12. Tracking parameters (ref, src, from, rss, utm_*, fbclid, ...) do not split one story into
   several items and alerts; a source's `keep_params` keeps the ones that identify its articles.

Feed cases go through the real pipeline: a ReplayServer on loopback and `watcher poll --once`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import Workspace
from watcher import yamlfile
from watcher.errors import EditRefused
from watcher.matching import Matcher
from watcher.matching.normalize import clean
from watcher.rules import IncidentType, Person, Rules, RulesEditor
from watcher.store import Store
from watcher.text import canonical_url

KARIMOV = "people:\n  - name: Bakhodir Karimov\n    aliases: [Баходир Каримов]\n    country: UZ\n"
WATCHED = ["person:Bakhodir Karimov"]


# -- harness ---------------------------------------------------------------------------------


def feed(*entries: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Odd feed</title>'
            "<link>https://odd.example.org/</link><description>d</description>"
            + "".join(entries) + "</channel></rss>").encode()


def entry(title: str, link: str, description: str = "", guid: str | None = None) -> str:
    return (f"<item><title>{title}</title><link>{link}</link>"
            + (f"<guid>{guid}</guid>" if guid else "")
            + f"<description>{description}</description><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>")


def poll_once(ws: Workspace, *sources: dict[str, Any]) -> None:
    """`watcher poll --once` over these sources (each alerting on its first poll)."""
    ws.write_feeds(*({"backfill": "alert", **s} for s in sources))
    result = ws.cli("poll", "--once")
    assert result.exit_code == 0, result.output


def stored(ws: Workspace) -> list[dict[str, Any]]:
    """Every stored item with the person rules it matched and how many alerts it got."""
    store = Store(ws.state / "watcher.db")
    try:
        rows = [dict(r) for r in store.conn.execute("SELECT * FROM items ORDER BY id")]
        for row in rows:
            row["people"] = [m.rule for m in store.matches_for(row["id"]) if m.kind == "person"]
            row["alerts"] = store.conn.execute("SELECT COUNT(*) FROM alerts WHERE item_id = ?",
                                               (row["id"],)).fetchone()[0]
        return rows
    finally:
        store.close()


# -- 3. invisible characters inside names -------------------------------------------------------

MATCHER = Matcher(Rules(
    (Person(name="Bakhodir Karimov", aliases=("Баходир Каримов",), country="UZ"),
     Person(name="Dilshod Rahimov", regex=r"rahimov\s+case")),
    {"detention": IncidentType(alone=False, keywords={"en": ("detained",)})},
))

# one of each kind of invisible character the battery found, plus the rest of Unicode's Cf
INVISIBLE = {
    "soft_hyphen": "\u00ad",
    "lrm": "\u200e",
    "rlm": "\u200f",
    "alm": "\u061c",
    "lre": "\u202a", "rle": "\u202b", "pdf": "\u202c", "lro": "\u202d", "rlo": "\u202e",
    "lri": "\u2066", "rli": "\u2067", "fsi": "\u2068", "pdi": "\u2069",
    "c1_nel": "\u0085", "c1_first": "\u0080", "c1_csi": "\u009b", "c1_last": "\u009f",
    "word_joiner": "\u2060",
    "invisible_times": "\u2062",
    "mongolian_vowel_separator": "\u180e",
    "bom_inside": "\ufeff",
    "interlinear_annotation": "\ufff9",
    "tag_character": "\U000e0041",
    "two_in_a_row": "\u00ad\u200f",
}


def test_soft_hyphen_inside_a_name_still_matches() -> None:
    text = "Bakho\u00addir Kari\u00admov was detained"
    result = MATCHER.analyse(text)
    assert result.people == ["Bakhodir Karimov"]
    person = next(m for m in result.matches if m.kind == "person")
    assert person.span == (0, text.index("mov") + 3)
    assert text[person.span[0]:person.span[1]] == person.text == "Bakho\u00addir Kari\u00admov"


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_character_inside_a_name_still_matches(char: str) -> None:
    text = f"Bakho{char}dir Kari{char}mov was de{char}tained; Бахо{char}дир Кари{char}мов задержан"
    result = MATCHER.analyse(text)
    assert result.people == ["Bakhodir Karimov"]
    assert result.incident_types == ["detention"]
    people = [m for m in result.matches if m.kind == "person"]
    assert [m.text.replace(char, "") for m in people] == ["Bakhodir Karimov", "Баходир Каримов"]
    for found in result.matches:
        start, end = found.span
        assert text[start:end] == found.text
        assert found.text[:1] != char and found.text[-1:] != char  # spans start and end on letters


def test_invisible_characters_between_words_and_in_regexes_keep_spans_on_the_original_text() -> None:
    text = "\u202bBakhodir\u202c \u202bKarimov\u202c and the Rahi\u00admov\u2060 case: de\u00adtained"
    result = MATCHER.analyse(text)
    assert result.people == ["Bakhodir Karimov", "Dilshod Rahimov"]
    by_rule = {m.rule: m for m in result.matches}
    assert by_rule["person:Bakhodir Karimov"].text == "Bakhodir\u202c \u202bKarimov"
    assert by_rule["person:Dilshod Rahimov"].text == "Rahi\u00admov\u2060 case"
    assert by_rule["incident:detention"].text == "de\u00adtained"
    for found in result.matches:
        assert text[found.span[0]:found.span[1]] == found.text


_PIECES = (st.sampled_from(["Bakhodir", "Karimov", "Баходира", "Каримова", "B.", "Rahimov", "case", "detained",
                             " ", ", ", ".\n", "-", "'s"])
           | st.sampled_from(list(INVISIBLE.values())) | st.text(max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=25).map("".join))
@example("\u00adBakho\u00addir\u00ad \u202bKari\u00admov\u202c\u00ad")
def test_matcher_spans_index_the_original_text_whatever_invisible_characters_it_holds(text: str) -> None:
    """The matcher finds in a text what it finds in the same text without its invisible
    characters, at the same places, reported as offsets into the text it was given."""
    result, bare = MATCHER.analyse(text), MATCHER.analyse(clean(text))
    assert (result.people, result.incident_types) == (bare.people, bare.incident_types)
    assert [m.rule for m in result.matches] == [m.rule for m in bare.matches]
    for found, plain in zip(result.matches, bare.matches):
        start, end = found.span
        assert 0 <= start <= end <= len(text)
        assert text[start:end] == found.text and clean(found.text) == plain.text


def test_soft_hyphen_raw_and_as_shy_entity_in_a_feed_still_matches(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(
        entry("Bakho\u00addir Kari\u00admov was detained", "https://odd.example.org/raw"),
        entry("Detained in Istanbul", "https://odd.example.org/escaped",
              "&lt;p&gt;Bakho&amp;shy;dir Kari&amp;shy;mov was detained&lt;/p&gt;"),
        entry("Held", "https://odd.example.org/cdata", "<![CDATA[<p>Бахо&shy;дир Кари&shy;мов задержан</p>]]>"),
        entry("Bakho&shy;dir Kari&shy;mov faces extradition", "https://odd.example.org/bare"),
    )
    poll_once(ws, {"id": "odd", "url": ws.serve("/shy", body)})
    items = stored(ws)
    assert len(items) == 4
    assert [i["people"] for i in items] == [WATCHED] * 4, [(i["title"], i["summary"]) for i in items]
    assert all(i["alerts"] == 1 for i in items)
    assert not any("\u00ad" in i["title"] + i["summary"] or "shy;" in i["title"] + i["summary"] for i in items)


def test_invisible_characters_of_every_class_in_a_feed_still_match(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    # feedparser itself reads C1 controls in a feed as the cp1252 characters they were meant to be
    # (U+0085 becomes "…"), visible ones; C1 controls reach the matcher from JSON sources instead
    usable = {k: c for k, c in INVISIBLE.items() if not k.startswith("c1_")}
    body = feed(*(entry(f"Bakho{c}dir Kari{c}mov detained ({kind})", f"https://odd.example.org/{kind}")
                  for kind, c in usable.items()))
    poll_once(ws, {"id": "odd", "url": ws.serve("/invisible", body)})
    items = stored(ws)
    assert len(items) == len(usable)
    assert {i["title"].rsplit("(", 1)[-1]: i["people"] for i in items} == {f"{k})": WATCHED for k in usable}


# -- 9. YAML alias bombs ------------------------------------------------------------------------


def alias_bomb(levels: int = 7, head: str = "") -> str:
    """The YAML billion laughs: each level a list of nine aliases of the level below (~400 bytes
    at seven levels, 9**7 = 4.8 million strings once expanded)."""
    lines = [head + 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def no_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the loader builds anything from the file: refusal must come first."""
    def expanded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the YAML file was loaded (and its aliases expanded) before the refusal")

    monkeypatch.setattr(yamlfile.YAML, "load", expanded)
    monkeypatch.setattr(yamlfile, "_plain", expanded)


def test_yaml_alias_bomb_in_rules_is_refused_before_expansion(ws: Workspace, no_expansion: None) -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) < 450
    (ws.rules / "incidents.yaml").unlink()  # the only file loaded is the bomb (see no_expansion)
    (ws.rules / "people.yaml").write_text("# a monitor's file, broken on purpose\n" + bomb, encoding="utf-8")
    result = ws.cli("rules", "check")
    assert result.exit_code != 0
    assert ("people.yaml:2: anchors and aliases (&name / *name) are not allowed in rules files "
            "(8 anchors, 63 aliases)") in result.stderr
    assert "rules OK" not in result.stdout


def test_yaml_alias_bomb_in_feeds_is_refused_before_expansion(ws: Workspace, no_expansion: None) -> None:
    ws.feeds.write_text("sources: []\n" + alias_bomb(), encoding="utf-8")
    result = ws.cli("feeds", "check")
    assert result.exit_code != 0
    assert ("feeds.yaml:2: anchors and aliases (&name / *name) are not allowed in feeds files "
            "(8 anchors, 63 aliases)") in result.stderr


def test_single_alias_in_rules_is_refused_with_the_line_of_the_anchor(ws: Workspace) -> None:
    (ws.rules / "people.yaml").write_text(
        "people:\n  - name: Bakhodir Karimov\n    aliases: &same [Bahodir Karimov]\n"
        "  - name: Tatyana Karimova\n    aliases: *same\n", encoding="utf-8")
    result = ws.cli("rules", "check")
    assert result.exit_code != 0
    assert ("people.yaml:3: anchors and aliases (&name / *name) are not allowed in rules files "
            "(1 anchor, 1 alias)") in result.stderr


def test_stars_and_ampersands_that_are_not_aliases_are_still_accepted(ws: Workspace) -> None:
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n    notes: 'R&D, *not* an alias, &neither'\n",
                   "incident_types:\n  extradition:\n    keywords:\n      en: [extradit*, 'kidnap & rendition']\n")
    result = ws.cli("rules", "check")
    assert result.exit_code == 0, result.output


def test_yaml_alias_bomb_in_a_rules_file_makes_the_editor_refuse_rather_than_expand(
        ws: Workspace, tmp_path: Path) -> None:
    (ws.rules / "people.yaml").write_text(KARIMOV, encoding="utf-8")
    bombed = ws.rules / "extra.yaml"
    bombed.write_text(alias_bomb(), encoding="utf-8")
    store = Store(tmp_path / "editor.db")
    try:
        editor = RulesEditor(ws.rules, store)
        for edit in (lambda: editor.add_person("monitor", "Dilshod Rahimov"),
                     lambda: editor.remove_person("monitor", "Bakhodir Karimov"),
                     lambda: editor.add_keyword("monitor", "detention", "en", "arrested")):
            with pytest.raises(EditRefused, match=r"anchors and aliases \(&name / \*name\) are not allowed"):
                edit()
    finally:
        store.close()
    assert bombed.read_text(encoding="utf-8") == alias_bomb()
    assert (ws.rules / "people.yaml").read_text(encoding="utf-8") == KARIMOV


# -- 12. tracking parameters ---------------------------------------------------------------------

STORY = "https://news.example.org/2026/11/karimov-detained"
TRACKED = [
    f"{STORY}?ref=rss",
    f"{STORY}?src=telegram",
    f"{STORY}?from=rss&utm_medium=feed",
    f"{STORY}?rss=1&yclid=77",
    f"{STORY}?utm_source=twitter&fbclid=IwAR0&gclid=x&mc_cid=1&_ga=2.1&at_medium=social",
]


def test_tracking_parameters_are_dropped_from_canonical_urls() -> None:
    assert {canonical_url(u) for u in TRACKED} == {STORY}
    for name in ("ref", "src", "from", "rss", "utm_campaign", "fbclid", "gclid", "yclid", "mc_cid", "mc_eid",
                 "_ga", "_gl", "at_medium", "at_campaign", "msclkid", "igshid", "ysclid", "gad_source",
                 "_openstat", "cmp", "srsltid", "affiliate_id", "ns_campaign"):
        assert canonical_url(f"{STORY}?{name}=1") == STORY, name


def test_article_parameters_are_kept_in_canonical_urls() -> None:
    for name in ("id", "p", "page", "story", "article_id", "newsid", "docid", "item", "lang", "q", "gallery",
                 "game", "reference", "section", "date"):
        assert canonical_url(f"{STORY}?{name}=7&utm_source=x") == f"{STORY}?{name}=7", name


def test_tracking_parameters_do_not_split_one_story(ws: Workspace) -> None:
    """One story under five tracking URLs, from five feeds whose texts differ (no content hash in
    common): one item, one alert."""
    ws.write_rules(KARIMOV)
    sources = []
    for n, url in enumerate(TRACKED):
        body = feed(entry(f"Bakhodir Karimov detained ({n})", url.replace("&", "&amp;"), f"Version {n} of the story"))
        sources.append({"id": f"feed{n}", "url": ws.serve(f"/f{n}.xml", body)})
    poll_once(ws, *sources)
    items = stored(ws)
    assert [(i["url"], i["people"], i["alerts"]) for i in items] == [(STORY, WATCHED, 1)]


def test_keep_params_keeps_a_named_parameter_for_that_source(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    site = "https://site.example.org/article"
    body = feed(entry("Bakhodir Karimov detained", f"{site}?from=123&amp;utm_source=rss"),
                entry("Bakhodir Karimov released", f"{site}?From=124&amp;ref=rss"))
    other = feed(entry("Bakhodir Karimov in court", f"{site}?from=125&amp;ref=rss"))
    poll_once(ws, {"id": "keeps", "url": ws.serve("/keeps.xml", body), "keep_params": "[from, ref]"},
              {"id": "strips", "url": ws.serve("/strips.xml", other)})
    # the two sources are polled concurrently: which one is stored first is not fixed
    assert sorted(i["url"] for i in stored(ws)) == sorted([f"{site}?from=123", f"{site}?From=124&ref=rss", site])
    assert canonical_url(f"{site}?FROM=1&utm_source=x", keep=("from",)) == f"{site}?FROM=1"


@pytest.mark.parametrize("value, reason", [("from", "list"), ("[' ']", "empty"), ("['a=b']", "query parameter name")])
def test_keep_params_is_validated(ws: Workspace, value: str, reason: str) -> None:
    ws.write_feeds({"id": "a", "url": "https://example.org/feed", "keep_params": value})
    result = ws.cli("feeds", "check")
    assert result.exit_code == 1
    assert "feeds.yaml:" in result.stderr and "keep_params" in result.stderr and reason in result.stderr
