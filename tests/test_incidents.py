"""Incidents, not items: one story from several outlets and languages alerts once.

The development set's duplicate groups (tests/fixtures/incidents: 12 stories told by 35 items in
English, Russian and Uzbek, verbatim, reworded and translated) are served as four loopback feeds
(two English outlets, a Russian and an Uzbek one), each story's reports within a day and
different stories days apart; alerts go to a loopback Bot API. Every story must notify the
channel once, `incidents --json` must hold it as one incident, and no incident may mix stories.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

from botapi import FakeBotApi
from click.testing import CliRunner

from watcher.cli import cli
from watcher.incidents import Report, choose, place, reported_at
from watcher.incidents.salience import overlap, salient_keys, same_name
from watcher.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "incidents"
REPO = Path(__file__).resolve().parent.parent
CHANNEL = "-1001234567890"
BASE = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)
NOW = BASE + timedelta(days=30)  # when the clustering tests place their reports


def _env(ws, api: FakeBotApi, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
            "WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
            "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}", "WATCHER_TZ": "Asia/Tashkent", **extra}


def _feed(items: list[tuple[str, str, str, datetime]]) -> bytes:
    """RSS with (key, title, summary, published) items; the link names the key."""
    body = "".join(
        f"<item><title>{escape(t)}</title><link>https://news.example.org/{k}</link><guid>{k}</guid>"
        f"<description>{escape(d)}</description><pubDate>{format_datetime(p, usegmt=True)}</pubDate></item>"
        for k, t, d, p in items)
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<link>https://news.example.org/</link><description>t</description>{body}</channel></rss>").encode()


def _cases() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "dup_groups.jsonl").read_text(encoding="utf-8").splitlines()]


def _write_rules(ws, people: str) -> None:
    ws.rules.mkdir(exist_ok=True)
    (ws.rules / "people.yaml").write_text(people, encoding="utf-8")
    (ws.rules / "incidents.yaml").write_text((REPO / "rules" / "incidents.yaml").read_text(encoding="utf-8"),
                                            encoding="utf-8")


def _serve_dev_stories(ws) -> dict[str, str]:
    """Four outlets; story n starts on day 5n, its reports 3 h apart. Returns item key -> story."""
    outlets: dict[str, list] = {"rferl-en": [], "eurasianet-en": [], "fergana-ru": [], "ozodlik-uz": []}
    story_of: dict[str, str] = {}
    stories = sorted({c["dup_group"] for c in _cases()})
    for case in _cases():
        n = stories.index(case["dup_group"])
        same = [c["id"] for c in _cases() if c["dup_group"] == case["dup_group"]]
        published = BASE + timedelta(days=5 * n, hours=3 * same.index(case["id"]))
        outlet = {"ru": "fergana-ru", "uz": "ozodlik-uz"}.get(case["lang"]) or (
            "rferl-en" if same.index(case["id"]) % 2 == 0 else "eurasianet-en")
        outlets[outlet].append((case["id"], case["title"], case["summary"], published))
        story_of[case["id"]] = case["dup_group"]
    sources = [{"id": name, "url": ws.serve(f"/{name}.xml", _feed(items)), "backfill": "alert",
                "language": name.rsplit("-", 1)[1]} for name, items in outlets.items()]
    ws.write_feeds(*sources)
    return story_of


def _key(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_each_dev_story_notifies_once_and_is_one_incident(ws) -> None:
    _write_rules(ws, (FIXTURES / "people.yaml").read_text(encoding="utf-8"))
    story_of = _serve_dev_stories(ws)
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        result = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert result.exit_code == 0, result.output
        listed = CliRunner(env=env).invoke(cli, ["incidents", "--json"])
        assert listed.exit_code == 0, listed.output
        incidents = json.loads(listed.output)
        posted = api.messages(int(CHANNEL))

    stories_of_incident = {i["id"]: {story_of[_key(item["url"])] for item in i["items"]} for i in incidents}
    assert all(len(s) == 1 for s in stories_of_incident.values()), stories_of_incident  # none mixes stories
    incidents_of_story: dict[str, list[dict]] = {}
    for incident in incidents:
        (story,) = stories_of_incident[incident["id"]]
        incidents_of_story.setdefault(story, []).append(incident)
    alerting = set(incidents_of_story)
    assert len(alerting) >= 10  # DUP-01 (President Karimov, no watched person) raises nothing
    assert "DUP-01" not in alerting
    for story, found in incidents_of_story.items():
        assert len(found) == 1, (story, [[_key(x["url"]) for x in i["items"]] for i in found])  # one incident
    reported = {_key(item["url"]) for i in incidents for item in i["items"]}
    for story in alerting:  # every matched report of a story is in its incident: nothing lost
        assert {k for k, s in story_of.items() if s == story} - reported <= {"C003", "C004"}

    # one notifying message per story; the later reports edited it in
    assert len(posted) == len(alerting), [m["text"][:80] for m in posted]
    assert not any(m["params"].get("disable_notification") for m in posted)
    db = Store(ws.state / "watcher.db")
    kinds = [tuple(r) for r in db.conn.execute("SELECT kind, status FROM alerts ORDER BY id")]
    assert {status for _, status in kinds} == {"sent"}
    assert sum(kind in ("alert", "followup") for kind, _ in kinds) == len(alerting)
    edited = [m for m in posted if "Also reported by" in m["text"]]
    assert len(edited) >= 8  # every story told by several outlets names the others
    assert any("fergana-ru (ru)" in m["text"] and "ozodlik-uz (uz)" in m["text"] for m in edited)
    assert all("abduction_rendition" not in m["text"] for m in posted)  # incident types by name
    assert any("abduction / rendition" in m["text"] for m in posted)
    assert any("+05" in m["text"] for m in posted)  # times in WATCHER_TZ (Asia/Tashkent)

    # DUP-28 (Iskandarov freed, days after DUP-05's refusal to extradite him) continues the case
    (first,), (later,) = incidents_of_story["DUP-05"], incidents_of_story["DUP-28"]
    assert later["case"] == first["case"] and later["id"] != first["id"]
    reply = next(m for m in posted if f"Incident #{later['id']}" in m["text"])
    assert reply["params"].get("reply_parameters") or reply["params"].get("reply_to_message_id")
    assert "New development" in reply["text"]


def test_two_events_of_one_person_a_week_apart_are_two_incidents_of_one_case(ws) -> None:
    _write_rules(ws, "people:\n  - name: Bakhodir Karimov\n    country: UZ\n")
    items = [
        ("a1", "Bakhodir Karimov detained in Moscow", "Police detained the Uzbek exile on Monday.", BASE),
        ("a2", "Баходир Каримов задержан в Москве", "Узбекского эмигранта задержали в понедельник.",
         BASE + timedelta(hours=5)),
        ("b1", "Bakhodir Karimov faces extradition", "A Moscow court ordered his extradition to Uzbekistan.",
         BASE + timedelta(days=7)),
    ]
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed(items)), "backfill": "alert"})
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        assert CliRunner(env=env).invoke(cli, ["poll", "--once"]).exit_code == 0
        incidents = json.loads(CliRunner(env=env).invoke(cli, ["incidents", "--json"]).output)
        shown = CliRunner(env=env).invoke(cli, ["incidents", "show", str(incidents[-1]["id"])])
        posted = api.messages(int(CHANNEL))
    by_items = {tuple(sorted(_key(x["url"]) for x in i["items"])): i for i in incidents}
    assert set(by_items) == {("a1", "a2"), ("b1",)}
    assert by_items[("b1",)]["case"] == by_items[("a1", "a2")]["case"]
    assert len(posted) == 2
    assert posted[1]["params"]["reply_parameters"]["message_id"] == posted[0]["message_id"]
    assert shown.exit_code == 0 and "shared person: Bakhodir Karimov" in shown.output
    assert "first report" in shown.output


# ------------------------------------------------------------------- the clustering rules


def _report(item_id: int, title: str, summary: str = "", *, people=(), types=(), hours: float = 0.0,
            origin=(), host=()) -> Report:
    return Report(item_id, "src", title, summary, BASE + timedelta(hours=hours), people=people,
                  incident_types=types, origin=origin, host=host)


def _store_with_items(n: int) -> Store:
    store = Store(":memory:")
    for i in range(1, n + 1):
        store.conn.execute(
            "INSERT INTO items (id, source_id, key, url, content_hash, title, summary, published, first_seen, last_seen)"
            " VALUES (?, 'src', ?, '', '', 't', '', ?, ?, ?)", (i, f"k{i}", BASE.isoformat(), BASE.isoformat(),
                                                               BASE.isoformat()))
    return store


def test_names_are_compared_by_spelling_key_with_declensions_and_one_letter_more() -> None:
    ru = salient_keys("Умара Исраилова убили в Вене", "Убит Умар Исраилов, бывший телохранитель.")
    en = salient_keys("Israilov shot while fleeing", "Kidnappers tried to grab Israilov from a Vienna sidewalk.")
    assert overlap(ru, en).names >= 1  # Исраилова / Israilov
    assert same_name("mirasabir", "mirsabir")  # Mirosobir, a typo of Mirsobir
    assert not same_name("kazimova", "karimova")  # one letter changed: two different women
    assert "#2014" in salient_keys("t", "In 2014 he was abducted.")
    assert not {"however", "abducted"} & set(salient_keys("Abducted Producer Resurfaces In Prison",
                                                          "However, he was seen."))


def test_same_person_and_window_joins_unless_the_events_clearly_differ() -> None:
    store = _store_with_items(4)
    first = place(store, _report(1, "Karimov detained", people=["Bakhodir Karimov"], types=["detention"]), NOW)
    same = place(store, _report(2, "Каримов задержан", people=["Bakhodir Karimov"], types=["detention"], hours=20),
                 NOW)
    assert same.joined and same.incident_id == first.incident_id and same.reason.startswith("shared person")
    other = place(store, _report(3, "Rule 39 stops Karimov's extradition", people=["Bakhodir Karimov"],
                                 types=["ecthr_rule39"], hours=30), NOW)
    assert not other.joined and other.previous == first.incident_id  # a new development, same case
    late = place(store, _report(4, "Karimov detained again", people=["Bakhodir Karimov"], types=["detention"],
                                hours=24 * 9), NOW)
    assert not late.joined  # outside the 72 h window
    incident = store.incident(late.incident_id)
    assert incident is not None and incident["case_id"] == store.incident(first.incident_id)["case_id"]


def test_different_watched_people_on_one_day_stay_apart_even_with_a_shared_first_name() -> None:
    store = _store_with_items(2)
    place(store, _report(1, "Alexander Litvinenko poisoned in London", "Alexander Litvinenko fell ill.",
                         people=["Alexander Litvinenko"], types=["assassination_attack"], host=["GB"]), NOW)
    second = _report(2, "Alexander Perepilichny found dead", "Alexander Perepilichny collapsed while jogging.",
                     people=["Alexander Perepilichny"], types=["assassination_attack"], host=["GB"], hours=2)
    assert choose(second, store.incidents_near(BASE - timedelta(days=3), BASE + timedelta(days=3))) is None


def test_a_report_without_a_watched_person_joins_by_names_it_shares() -> None:
    store = _store_with_items(3)
    first = place(store, _report(1, "Umar Israilov shot in Vienna", "Umar Israilov was shot outside his home in "
                                 "Vienna by Lecha Bogatirov.", people=["Umar Israilov"],
                                 types=["assassination_attack"]), NOW)
    alone = place(store, _report(2, "Exile shot while fleeing kidnappers", "According to investigators, Lecha "
                                 "Bogatirov shot Israilov several times.", types=["assassination_attack"], hours=6),
                  NOW)
    assert alone.joined and alone.incident_id == first.incident_id and "score" in alone.reason
    unrelated = place(store, _report(3, "Three migrants detained in Istanbul", "Police in Istanbul detained "
                                     "three men on Tuesday.", types=["detention"], hours=8), NOW)
    assert not unrelated.joined


def test_a_future_publication_date_counts_as_first_seen() -> None:
    now = BASE
    assert reported_at(now + timedelta(days=30), now) == now
    assert reported_at(now - timedelta(days=2), now) == now - timedelta(days=2)


def test_a_lawyer_quoted_in_two_clients_stories_joins_neither_to_the_other() -> None:
    store = _store_with_items(3)
    lawyer = "Svetlana Gannushkina"
    first = place(store, _report(1, "Karimov detained", people=["Bakhodir Karimov", lawyer], types=["detention"]), NOW)
    other = place(store, _report(2, "Kamolov detained", people=["Rakhmetdin Kamolov", lawyer], types=["detention"],
                                 hours=3), NOW)
    assert not other.joined and other.previous is None  # not a development of Karimov's case either
    own = place(store, _report(3, "Lawyer on Karimov", people=["Bakhodir Karimov"], types=["detention"], hours=5), NOW)
    assert own.joined and own.incident_id == first.incident_id
