"""Rules tried on history (rematch, backtest, the /watch and /keyword previews) and feedback
that teaches (stats, namesake suggestions, the one-tap `not:` entry)."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import INCIDENTS, rss

from watcher.cli import cli
from watcher.errors import EditRefused
from watcher.history import feedback_stats, preview_keyword, preview_person
from watcher.history.stored import week_of
from watcher.matching import Matcher
from watcher.models import Item, Match
from watcher.rules import Person, Rules, RulesEditor, load_rules
from watcher.store import Store

KARIMOV = """\
people:
  - name: Bakhodir Karimov
    country: UZ
"""
RAHIMOV = """\
people:
  - name: Dilshod Rahimov
    country: TJ
"""
RULE = "─" * 72  # the console notifier's line above each alert


def _item(key: str, title: str, summary: str = "", published: datetime | None = None) -> Item:
    return Item("news", key, title, summary, f"https://news.example.org/{key}",
                published or datetime(2026, 11, 1, tzinfo=UTC), content_hash=f"hash-{key}")


def _store_items(store: Store, *rows: tuple[Item, datetime]) -> list[int]:
    """Store each item as first seen at its time (as a poll then would have); their ids."""
    store.ensure_source("news", "rss")
    ids = []
    for item, seen in rows:
        with store.transaction():
            ids.append(store.add_items([item], seen).new[0].id)
    return ids


# -- rematch ------------------------------------------------------------------------------


def _polled_before_watching(ws) -> None:
    """Two stored items of a feed polled while nobody was watched: nothing alerted."""
    ws.write_rules(people="people: []\n")
    ws.write_feeds({"id": "news", "backfill": "alert", "url": ws.serve("/f.xml", rss(
        ("a", "Uzbek exile Bakhodir Karimov detained in Moscow", "Police held him at his flat."),
        ("b", "Weather in Tashkent", "Sunny all week.")))})
    first = ws.cli("poll", "--once")
    assert first.exit_code == 0, first.output
    assert RULE not in first.stdout


def test_rematch_alert_alerts_a_newly_watched_persons_item_once(ws) -> None:
    _polled_before_watching(ws)
    ws.write_rules(people=KARIMOV)
    result = ws.cli("rematch", "--since", "30d", "--alert")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(RULE) == 1  # one alert, delivered to the console
    assert "Bakhodir Karimov" in result.stdout and "detained in Moscow" in result.stdout
    assert "1 alert(s) raised, 1 delivered" in result.stderr
    again = ws.cli("rematch", "--since", "30d", "--alert")
    assert again.exit_code == 0, again.output
    assert RULE not in again.stdout
    assert "0 newly matched" in again.stderr and "0 alert(s) raised" in again.stderr
    assert Store(ws.state / "watcher.db").count("alerts") == 1


def test_rematch_list_prints_what_newly_matches_and_sends_nothing(ws) -> None:
    _polled_before_watching(ws)
    ws.write_rules(people=KARIMOV)
    listed = ws.cli("rematch", "--since", "30d", "--list")
    assert listed.exit_code == 0, listed.output
    assert RULE not in listed.stdout
    assert "detained in Moscow" in listed.stdout and "person:Bakhodir Karimov" in listed.stdout
    assert "Weather" not in listed.stdout
    assert "1 newly matched" in listed.stderr
    store = Store(ws.state / "watcher.db")
    assert store.count("alerts") == 0 and store.count("matches") >= 1
    # the matches are stored now; a later --alert still alerts what they newly made alert-worthy
    alerted = ws.cli("rematch", "--since", "30d", "--alert")
    assert alerted.stdout.count(RULE) == 1, alerted.output


def test_rematch_never_alerts_what_its_poll_silenced(ws) -> None:
    """Alert-worthy when polled but not alerted (a silent first poll): a rematch leaves it alone."""
    ws.write_rules(people=KARIMOV)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Uzbek exile Bakhodir Karimov detained in Moscow", "Police held him.")))})
    assert RULE not in ws.cli("poll", "--once").stdout  # backfill: silent
    result = ws.cli("rematch", "--since", "30d", "--alert")
    assert RULE not in result.stdout and "0 alert(s) raised" in result.stderr


def test_rematch_refuses_list_with_alert(ws) -> None:
    result = ws.cli("rematch", "--list", "--alert")
    assert result.exit_code == 2 and "choose --list or --alert" in result.stderr


# -- backtest -----------------------------------------------------------------------------


def test_backtest_numbers_on_a_small_history(ws, tmp_path: Path) -> None:
    ws.write_rules(people=KARIMOV)
    proposed = tmp_path / "proposed"
    shutil.copytree(ws.rules, proposed)
    (proposed / "people.yaml").write_text(RAHIMOV, encoding="utf-8")  # Karimov out, Rahimov in
    now = datetime.now(UTC)
    store = Store(ws.state / "watcher.db")
    seen = [now - timedelta(days=20), now - timedelta(days=20, hours=-2), now - timedelta(days=10),
            now - timedelta(days=3), now - timedelta(days=2)]
    ids = _store_items(
        store,
        (_item("k1", "Bakhodir Karimov detained in Moscow", published=seen[0]), seen[0]),
        (_item("k2", "Lawyer of Bakhodir Karimov speaks after his detention", published=seen[1]), seen[1]),
        (_item("r1", "Tajikistan seeks the extradition of Dilshod Rahimov", published=seen[2]), seen[2]),
        (_item("r2", "Dilshod Rahimov detained in Istanbul", published=seen[3]), seen[3]),
        (_item("w1", "Weather in Tashkent", "Sunny.", published=seen[4]), seen[4]),
    )
    store.close()
    result = ws.cli("rules", "backtest", str(proposed), "--since", "90d", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["items"] == 5
    # before: Karimov's two reports are one incident; the extradition alerts alone (an alone type)
    # after: the extradition, and Rahimov's detention a week later (a new incident)
    assert report["total"] == {"incidents": [2, 2], "alerts": [3, 2]}
    weeks = {w["week"]: w for w in report["weeks"]}
    assert weeks[week_of(seen[3]).isoformat()]["alerts"][1] >= 1
    assert sum(w["alerts"][0] for w in report["weeks"] if w["week"] == week_of(seen[0]).isoformat()) == 2
    changes = {c["item_id"]: (c["change"], c["rules"]) for c in report["changes"]}
    assert changes == {ids[0]: ("no longer alerted", ["person:Bakhodir Karimov"]),
                       ids[1]: ("no longer alerted", ["person:Bakhodir Karimov"]),
                       ids[3]: ("newly alerted", ["person:Dilshod Rahimov"])}
    after = Store(ws.state / "watcher.db")  # the real database was not written
    assert after.count("alerts") == 0 and after.count("matches") == 0
    assert after.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
    text = ws.cli("rules", "backtest", str(proposed), "--since", "90d")
    assert "no longer alerted" in text.stdout and "Dilshod Rahimov detained in Istanbul" in text.stdout
    assert "total" in text.stdout


def test_backtest_refuses_a_broken_folder_and_a_missing_database(ws, tmp_path: Path) -> None:
    proposed = tmp_path / "proposed"
    shutil.copytree(ws.rules, proposed)
    (proposed / "people.yaml").write_text("people:\n  - name: ''\n", encoding="utf-8")
    missing = ws.cli("rules", "backtest", str(proposed))
    assert missing.exit_code == 2 and "people.yaml:2" in missing.stderr
    shutil.copy(ws.rules / "people.yaml", proposed / "people.yaml")
    nothing = ws.cli("rules", "backtest", str(proposed))
    assert nothing.exit_code == 1 and "nothing stored yet" in nothing.stderr
    assert ws.cli("stats").exit_code == 1


# -- previews -----------------------------------------------------------------------------


@pytest.fixture
def rules_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "people.yaml").write_text("people: []\n", encoding="utf-8")
    (folder / "incidents.yaml").write_text(textwrap.dedent(INCIDENTS), encoding="utf-8")
    return folder


def test_person_preview_lists_the_five_most_recent_and_alerts_per_week(tmp_path: Path, rules_folder: Path) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    store = Store(tmp_path / "watcher.db")
    days = [1, 3, 6, 9, 13, 17, 24]  # seven items naming him within 30 days
    rows = [(_item(f"k{d}", f"Bakhodir Karimov story {d}", published=now - timedelta(days=d)), now - timedelta(days=d))
            for d in days]
    rows += [(_item("old", "Bakhodir Karimov, long ago", published=now - timedelta(days=40)), now - timedelta(days=40)),
             (_item("other", "Weather in Tashkent", published=now - timedelta(days=2)), now - timedelta(days=2))]
    _store_items(store, *rows)
    preview = preview_person(store, load_rules(rules_folder), Person(name="Bakhodir Karimov"), now)
    assert preview.matched == 7
    assert [r.title for r in preview.recent] == [f"Bakhodir Karimov story {d}" for d in days[:5]]
    expected: dict = {}
    for d in days:
        expected[week_of(now - timedelta(days=d))] = expected.get(week_of(now - timedelta(days=d)), 0) + 1
    assert {w: n for w, n in preview.per_week if n} == expected
    assert preview.per_week[0][0] == week_of(now - timedelta(days=30)) and preview.per_week[-1][0] == week_of(now)
    text = preview.text()
    assert "7 stored item(s) of the last 30 days would have matched" in text
    assert "7 alert(s)" in text and "Bakhodir Karimov story 1 (news)" in text and "story 17" not in text


def test_keyword_preview_counts_what_newly_matches_and_what_would_alert(tmp_path: Path, rules_folder: Path) -> None:
    (rules_folder / "people.yaml").write_text(KARIMOV, encoding="utf-8")
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    store = Store(tmp_path / "watcher.db")
    _store_items(store, *[(_item(k, t, published=now - timedelta(days=d)), now - timedelta(days=d)) for k, t, d in (
        ("a", "Bakhodir Karimov held at Moscow airport", 2),  # newly detention, and names him: alerts
        ("b", "Activist held at the border for hours", 5),  # newly detention, alone: detention does not alert alone
        ("c", "Journalist detained in Tashkent", 6),  # detention already
        ("d", "Weather in Tashkent", 7))])
    rules = load_rules(rules_folder)
    preview = preview_keyword(store, rules, "detention", "en", "held", now)
    assert preview.matched == 2 and preview.alerts == 1
    assert [r.title for r in preview.recent] == ["Bakhodir Karimov held at Moscow airport",
                                                 "Activist held at the border for hours"]
    assert "1 alert(s) it would have produced" in preview.text()
    extradite = preview_keyword(store, rules, "extradition", "en", "held", now)
    assert extradite.matched == 2 and extradite.alerts == 2  # extradition alerts alone
    with pytest.raises(EditRefused, match="unknown incident type"):
        preview_keyword(store, rules, "nope", "en", "held", now)
    with pytest.raises(EditRefused, match="already"):
        preview_keyword(store, rules, "detention", "en", "Detained", now)
    assert preview_keyword(store, rules, "detention", "en", "zzz", now).text() == \
        "0 stored item(s) of the last 30 days would have matched."


TRICKY = [
    "Баходира Каримова задержали в Москве",  # Cyrillic, inflected
    "Bakho\u00addir Karimov detained",  # a soft hyphen inside the name
    "Lawyer: Karimov's appeal was refused",  # the surname alone, possessive
    "B. Karimov faces extradition",  # an initial
    "bakhodir karimov held (all in lower case)",
    "Karimovning advokati bayonot berdi",  # Uzbek suffix
    "Власти добиваются выдачи беженца",  # a Russian form of a new stem keyword
    "Нет новостей",
]


def test_previews_find_what_the_matcher_finds(tmp_path: Path, rules_folder: Path) -> None:
    """The previews skip most items without tokenising them: never one the matcher would match."""
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    store = Store(tmp_path / "watcher.db")
    _store_items(store, *[(_item(f"t{n}", text, published=now - timedelta(days=1 + n)), now - timedelta(days=1 + n))
                          for n, text in enumerate(TRICKY)])
    rules = load_rules(rules_folder)
    person = Person(name="Bakhodir Karimov", aliases=("Баходир Каримов",))
    alone = Matcher(Rules((person,), {}))
    expected = sum(bool(alone.analyse(text).people) for text in TRICKY)
    assert expected >= 5
    assert preview_person(store, rules, person, now).matched == expected
    keyword = preview_keyword(store, rules, "extradition", "ru", "выдач*", now)
    assert keyword.matched == 1 and keyword.recent[0].title == "Власти добиваются выдачи беженца"


# -- stats and the one-tap not: ---------------------------------------------------------------


def test_stats_precision_and_a_namesake_suggestion(ws) -> None:
    ws.write_rules(people=KARIMOV)
    now = datetime.now(UTC)
    store = Store(ws.state / "watcher.db")
    texts = [("good", "Bakhodir Karimov detained in Moscow", ""),
             ("bad1", "Tashkent: Karimov visits Moscow", "President Islam Karimov met officials. Karimov said."),
             ("bad2", "Karimov 'not satisfied' with relations", "Comments by Karimov today.")]
    ids = _store_items(store, *[(_item(k, t, s), now - timedelta(days=2)) for k, t, s in texts])
    with store.transaction():
        for item_id, (_, title, summary) in zip(ids, texts):
            at = title.index("Karimov")
            store.add_matches(item_id, [Match("person:Bakhodir Karimov", "person", "Bakhodir Karimov", (at, at + 7),
                                              "Karimov", "surname")], now)
        store.add_matches(ids[0], [Match("incident:detention", "incident", "detained", (17, 25), "detained", "kw")], now)
        alert_ids = []
        for item_id in ids:
            store.enqueue_alert(item_id, "console", False, now)
            alert_ids.append(store.conn.execute("SELECT id FROM alerts WHERE item_id = ?", (item_id,)).fetchone()[0])
        store.add_feedback(alert_ids[0], "telegram:1", "relevant", now)
        store.add_feedback(alert_ids[1], "telegram:1", "not_relevant", now)
        store.add_feedback(alert_ids[2], "telegram:1", "not_relevant", now)
        store.add_feedback(alert_ids[2], "telegram:2", "not_relevant", now)
    stats = feedback_stats(store, now - timedelta(days=30), now + timedelta(minutes=1), load_rules(ws.rules))
    person = stats.people[0]
    assert (person.name, person.alerts, person.relevant, person.not_relevant) == ("Bakhodir Karimov", 3, 1, 2)
    assert person.precision == pytest.approx(1 / 3)
    assert person.suggestions == ["Islam Karimov"]
    detention = stats.incident_types[0]
    assert (detention.name, detention.alerts, detention.precision) == ("detention", 1, 1.0)
    printed = ws.cli("stats", "--since", "30d", "--json")
    assert printed.exit_code == 0, printed.output
    data = json.loads(printed.stdout)
    assert data["people"][0]["suggestions"] == ["Islam Karimov"] and data["alerts"] == 3
    assert "namesakes seen: Islam Karimov" in ws.cli("stats").stdout
    # once Islam Karimov is in not:, he is not offered again
    ws.write_rules(people=KARIMOV + "    not: [Islam Karimov]\n")
    again = feedback_stats(store, now - timedelta(days=30), now + timedelta(minutes=1), load_rules(ws.rules))
    assert again.people[0].suggestions == []


PEOPLE = """\
# Watchlist. Comment above everything.
people:
  # --- Uzbekistan ---
  - name: Bakhodir Karimov   # the exile
    # his lawyer asked us to watch
    aliases: [Bahodir Karimov]
    country: UZ
  - name: Dilshod Rahimov
    not:
      - Rahim Rahimov   # the minister
  # end of list
"""


def test_add_not_keeps_comments_and_the_namesake_no_longer_matches(rules_folder: Path, tmp_path: Path) -> None:
    (rules_folder / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    store = Store(tmp_path / "watcher.db")
    editor = RulesEditor(rules_folder, store, lambda: datetime(2026, 11, 30, tzinfo=UTC))
    namesake_story = "Karimov 'not satisfied' with relations with Russia\nSpeaking in Tashkent, Karimov said so."
    assert Matcher(load_rules(rules_folder)).analyse(namesake_story).people == ["Bakhodir Karimov"]
    edit = editor.add_not("cli:tester", "bakhodir karimov", "Islam Karimov")
    assert edit.action == "not" and "Islam Karimov" in edit.summary
    text = (rules_folder / "people.yaml").read_text(encoding="utf-8")
    for comment in ("# Watchlist. Comment above everything.", "# --- Uzbekistan ---", "# the exile",
                    "# his lawyer asked us to watch", "# the minister", "# end of list"):
        assert comment in text
    rules = load_rules(rules_folder)
    assert rules.people[0].not_ == ("Islam Karimov",)
    assert Matcher(rules).analyse(namesake_story).people == []  # the surname alone is his no longer
    assert Matcher(rules).analyse("Bakhodir Karimov detained").people == ["Bakhodir Karimov"]
    editor.add_not("cli:tester", "Dilshod Rahimov", "Rustam Rahimov")  # a block list: one more line
    assert "      - Rahim Rahimov   # the minister\n      - Rustam Rahimov\n" in \
        (rules_folder / "people.yaml").read_text(encoding="utf-8")
    assert load_rules(rules_folder).people[1].not_ == ("Rahim Rahimov", "Rustam Rahimov")
    audit = editor.history(1)[0]
    assert audit["action"] == "not" and audit["who"] == "cli:tester"
    with pytest.raises(EditRefused, match="already"):
        editor.add_not("cli:tester", "Bakhodir Karimov", "islam karimov")
    with pytest.raises(EditRefused, match="spelling of Bakhodir Karimov"):
        editor.add_not("cli:tester", "Bakhodir Karimov", "Bahodir Karimov")
    with pytest.raises(EditRefused, match="nobody named"):
        editor.add_not("cli:tester", "Nobody Here", "Islam Karimov")


@pytest.mark.parametrize("command", [["rematch"], ["rules", "backtest"], ["stats"]], ids=" ".join)
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output and "--since" in result.output
