"""Court and notice databases end to end: `watcher poll --once` against loopback replays of
their recorded fixtures stores items, alerts on a watched party, never twice, and reports a
Red Notice that vanished from the list."""

from __future__ import annotations

import json
from pathlib import Path

from watcher.demo.replay import Route
from watcher.store import Store

SOURCES = Path(__file__).parent / "fixtures" / "sources"


def _feeds(ws, *entries: str) -> None:
    ws.feeds.write_text("sources:\n" + "".join(entries), encoding="utf-8")


def test_hudoc_judgment_naming_a_watched_applicant_alerts_once_with_court_fields(ws) -> None:
    ws.server.routes["/app/transform/rss"] = Route(
        body=(SOURCES / "hudoc" / "judgments_page" / "feed.xml").read_bytes(), content_type="application/rss+xml")
    _feeds(ws, f"  - id: echr\n    type: hudoc\n    base_url: {ws.server.url('')}\n    backfill: alert\n"
               "    allow_private: true\n")
    ws.write_rules("people:\n  - name: Vachik Karapetyan\n    country: AM\n")
    first = ws.cli("poll", "--once")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("[watcher]") == 1
    assert "Person: Vachik Karapetyan" in first.stdout
    assert "Court: European Court of Human Rights" in first.stdout
    assert "Respondent state:" in first.stdout and "Case number:" in first.stdout
    assert "6 new item(s), 1 alert(s) delivered" in first.stderr  # 12 entries, English/French twins merged
    again = ws.cli("poll", "--once")
    assert again.stdout == "" and "0 new item(s)" in again.stderr
    listing = ws.cli("sources")
    assert "echr" in listing.stdout and "hudoc" in listing.stdout and " ok " in listing.stdout


def _notices(keep: list[str]) -> bytes:
    page = json.loads((SOURCES / "interpol" / "with_detail" / "ru.json").read_text(encoding="utf-8"))
    page["_embedded"]["notices"] = [n for n in page["_embedded"]["notices"] if n["entity_id"] in keep]
    page["total"] = len(page["_embedded"]["notices"])
    return json.dumps(page).encode()


def test_red_notice_that_vanishes_produces_one_removed_item_and_alert(ws) -> None:
    everyone = ["2021/900005", "2021/900016", "2021/900018", "2021/900021", "2019/900001"]
    ws.server.routes["/notices/v1/red"] = Route(body=_notices(everyone), content_type="application/json")
    _feeds(ws, f"  - id: notices\n    type: interpol\n    base_url: {ws.server.url('')}\n    nationalities: [RU]\n"
               "    delay: 0s\n    allow_private: true\n")
    ws.write_rules("people:\n  - name: Forename Surname\n")  # the pseudonym of the recorded detail's person
    first = ws.cli("poll", "--once")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == "" and "5 new item(s)" in first.stderr  # the first listing is recorded silently
    ws.server.routes["/notices/v1/red"] = Route(body=_notices(everyone[:-1]), content_type="application/json")
    second = ws.cli("poll", "--once")
    assert "1 new item(s), 1 alert(s) delivered" in second.stderr
    assert second.stdout.count("[watcher]") == 1 and "Red Notice withdrawn" in second.stdout
    assert "Person: Forename Surname" in second.stdout
    store = Store(ws.state / "watcher.db")
    removed = [r[0] for r in store.conn.execute("SELECT key FROM items WHERE key LIKE 'removed:%'")]
    assert removed == ["removed:2019/900001:" + removed[0].rsplit(":", 1)[1]]
    third = ws.cli("poll", "--once")
    assert third.stdout == "" and "0 new item(s)" in third.stderr
