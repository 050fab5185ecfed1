"""`watcher people` and `watcher sources` edit the YAML the way the bot does: comments kept,
validated before the file is replaced, locked, atomic, audited as cli:<login>; OPML import and
export round-trip, and a bad or hostile OPML file is refused whole with nothing written."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, Workspace

from watcher.cli import cli
from watcher.cli import people as people_cli
from watcher.config import load_feeds
from watcher.errors import EditRefused
from watcher.rules import load_rules
from watcher.rules.feedsedit import FeedsEditor
from watcher.cli.sources import MAX_OPML_FEEDS, feeds_validator
from watcher.store import Store

OPML = FIXTURES / "opml"

PEOPLE = """\
# Watchlist. Comment above everything.
people:
  # --- Uzbekistan ---
  - name: Bakhodir Karimov   # canonical name
    aliases: [Bahodir Karimov]
    country: UZ
    team: uz-team
  # commented out for now:
  # - name: Someone Else
"""

FEEDS = """\
# watcher sources (test copy): the header explains the keys.
sources:
  # --- news ---
  - id: rferl-en            # RFE/RL in English
    type: rss
    url: https://www.rferl.org/api/zrqiteuuir
    every: 15m
    enabled: true   # on since 2026
  # --- NGOs ---
  - id: ngo-feed
    type: rss
    url: https://ngo.example.org/feed
  # trailing note: re-check the NGO feed monthly
"""


@pytest.fixture(autouse=True)
def _login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "anna")


@pytest.fixture
def ws_edit(ws: Workspace) -> Workspace:
    (ws.rules / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    ws.feeds.write_text(FEEDS, encoding="utf-8")
    return ws


def _audit(ws: Workspace) -> list[tuple[str, str, str, dict[str, object]]]:
    db = ws.state / "watcher.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT who, action, file, detail FROM audit ORDER BY id").fetchall()
    return [(w, a, f, json.loads(d)) for w, a, f, d in rows]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# -- people -------------------------------------------------------------------------------


def test_people_add_keeps_comments_and_is_audited_as_the_local_user(ws_edit: Workspace) -> None:
    result = ws_edit.cli("people", "add", "Farrukh Tursunov", "--alias", "Фаррух Турсунов", "--country", "uz")
    assert result.exit_code == 0, result.output
    assert "Now watching Farrukh Tursunov" in result.stdout
    head, tail = PEOPLE.split("  # commented out for now:\n")
    assert _text(ws_edit.rules / "people.yaml") == (
        head + "  - name: Farrukh Tursunov\n    aliases: [Фаррух Турсунов]\n    country: UZ\n"
        + "  # commented out for now:\n" + tail)
    assert [p.name for p in load_rules(ws_edit.rules).people] == ["Bakhodir Karimov", "Farrukh Tursunov"]
    [(who, action, file, detail)] = _audit(ws_edit)
    assert (who, action, file) == ("cli:anna", "watch", "people.yaml")
    assert detail["after"]["country"] == "UZ"


def test_people_remove_and_list(ws_edit: Workspace) -> None:
    listed = ws_edit.cli("people", "list")
    assert listed.exit_code == 0
    assert "Bakhodir Karimov" in listed.stdout and "uz-team" in listed.stdout and " UZ " in listed.stdout
    as_json = json.loads(ws_edit.cli("people", "list", "--json").stdout)
    assert as_json == [{"name": "Bakhodir Karimov", "aliases": ["Bahodir Karimov"], "country": "UZ", "team": "uz-team"}]

    removed = ws_edit.cli("people", "remove", "bahodir karimov")  # by alias, any case
    assert removed.exit_code == 0 and "No longer watching Bakhodir Karimov" in removed.stdout
    text = _text(ws_edit.rules / "people.yaml")
    assert "Bakhodir" not in text and "# --- Uzbekistan ---" in text and "# - name: Someone Else" in text
    assert [a[:2] for a in _audit(ws_edit)] == [("cli:anna", "unwatch")]
    assert "nobody is watched yet" in ws_edit.cli("people", "list").stdout
    assert json.loads(ws_edit.cli("people", "list", "--json").stdout) == []


@pytest.mark.parametrize(("args", "why"), [
    (("add", "bakhodir  KARIMOV"), "already watched"),
    (("add", "Someone New", "--country", "UZB"), "UZB"),
    (("remove", "Nobody Known"), "nobody named"),
])
def test_people_refusals_change_nothing(ws_edit: Workspace, args: tuple[str, ...], why: str) -> None:
    result = ws_edit.cli("people", *args)
    assert result.exit_code == 1
    assert why in result.stderr and "not changed" in result.stderr
    assert _text(ws_edit.rules / "people.yaml") == PEOPLE
    assert _audit(ws_edit) == []


def test_people_add_team(ws_edit: Workspace) -> None:
    result = ws_edit.cli("people", "add", "Farrukh Tursunov", "--team", "tj-team")
    if people_cli._ADD_TAKES_TEAM:  # the rules editor takes `team`: one edit with it
        assert result.exit_code == 0, result.output
        assert {p.name: p.team for p in load_rules(ws_edit.rules).people}["Farrukh Tursunov"] == "tj-team"
    else:  # refused before anything is written, never half-applied
        assert result.exit_code == 2 and "--team" in result.stderr
        assert _text(ws_edit.rules / "people.yaml") == PEOPLE and _audit(ws_edit) == []


# -- sources edits ------------------------------------------------------------------------


def test_sources_add_disable_enable_remove_keep_comments(ws_edit: Workspace) -> None:
    added = ws_edit.cli("sources", "add", "https://new.example.org/rss", "--id", "new-feed", "--every", "1h")
    assert added.exit_code == 0, added.output
    after_add = FEEDS.replace(
        "  # trailing note",
        "  - id: new-feed\n    type: rss\n    url: https://new.example.org/rss\n    every: 1h\n  # trailing note")
    assert _text(ws_edit.feeds) == after_add

    assert ws_edit.cli("sources", "disable", "rferl-en").exit_code == 0
    assert ws_edit.cli("sources", "disable", "ngo-feed").exit_code == 0
    disabled = after_add.replace("enabled: true   # on", "enabled: false   # on").replace(
        "url: https://ngo.example.org/feed\n", "url: https://ngo.example.org/feed\n    enabled: false\n")
    assert _text(ws_edit.feeds) == disabled
    assert {s.id: s.enabled for s in load_feeds(ws_edit.feeds)} == {"rferl-en": False, "ngo-feed": False, "new-feed": True}

    assert ws_edit.cli("sources", "enable", "rferl-en").exit_code == 0
    assert ws_edit.cli("sources", "remove", "ngo-feed").exit_code == 0
    assert _text(ws_edit.feeds) == after_add.replace(
        "  # --- NGOs ---\n  - id: ngo-feed\n    type: rss\n    url: https://ngo.example.org/feed\n", "  # --- NGOs ---\n")

    audit = _audit(ws_edit)
    assert [(w, a) for w, a, _, _ in audit] == [
        ("cli:anna", "source_add"), ("cli:anna", "source_disable"), ("cli:anna", "source_disable"),
        ("cli:anna", "source_enable"), ("cli:anna", "source_remove")]
    assert audit[0][3] == {"id": "new-feed", "url": "https://new.example.org/rss"}
    assert audit[-1][3] == {"id": "ngo-feed", "url": "https://ngo.example.org/feed"}


@pytest.mark.parametrize(("args", "why"), [
    (("add", "https://other.example.org/", "--id", "rferl-en"), "id 'rferl-en' already exists"),
    (("add", "HTTPS://NGO.example.org/feed/", "--id", "again"), "already in feeds.yaml as source 'ngo-feed'"),
    (("add", "javascript:alert(1)", "--id", "js"), "not an http(s) URL"),
    (("add", "https://ok.example.org/", "--id", "ok", "--every", "often"), "feeds.yaml:16: source 'ok': every"),
    (("add", "https://ok.example.org/", "--id", "Not An Id"), "must be lowercase letters"),
    (("disable", "nope"), "no source with id 'nope'"),
    (("enable", "ngo-feed"), "already enabled"),
    (("remove", "nope"), "no source with id 'nope'"),
])
def test_sources_refusals_change_nothing(ws_edit: Workspace, args: tuple[str, ...], why: str) -> None:
    result = ws_edit.cli("sources", *args)
    assert result.exit_code == 1
    assert why in result.stderr
    assert _text(ws_edit.feeds) == FEEDS and _audit(ws_edit) == []


def test_sources_add_without_id_slugs_the_host_and_keeps_the_mode(ws_edit: Workspace) -> None:
    ws_edit.feeds.chmod(0o640)
    assert ws_edit.cli("sources", "add", "https://www.ngo.example.org/other").exit_code == 0
    assert ws_edit.cli("sources", "add", "https://ngo.example.org/third").exit_code == 0
    assert [s.id for s in load_feeds(ws_edit.feeds)][-2:] == ["ngo-example-org", "ngo-example-org-2"]
    assert ws_edit.feeds.stat().st_mode & 0o777 == 0o640


def test_sources_list_and_the_health_table(ws_edit: Workspace) -> None:
    rows = json.loads(ws_edit.cli("sources", "list", "--json").stdout)
    assert rows == [
        {"id": "rferl-en", "type": "rss", "enabled": True, "every": "15m", "url": "https://www.rferl.org/api/zrqiteuuir"},
        {"id": "ngo-feed", "type": "rss", "enabled": True, "every": "30m", "url": "https://ngo.example.org/feed"}]
    assert "ngo-feed" in ws_edit.cli("sources", "list").stdout
    ws_edit.cli("sources", "disable", "ngo-feed")
    table = ws_edit.cli("sources")  # no subcommand: the health table, as before
    assert table.exit_code == 0
    assert "HEALTH" in table.stdout and "new (disabled)" in table.stdout and "rferl-en" in table.stdout


def test_two_threads_adding_at_once_lose_nothing(ws_edit: Workspace) -> None:
    errors: list[BaseException] = []
    Store(ws_edit.state / "watcher.db").close()  # the schema first; the edits race, not the migrations

    def add(number: int) -> None:
        store = Store(ws_edit.state / "watcher.db")
        try:
            FeedsEditor(ws_edit.feeds, store, feeds_validator("feeds.yaml")).add_source(
                "cli:anna", f"feed-{number}", f"https://f{number}.example.org/rss")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {s.id for s in load_feeds(ws_edit.feeds)} == {"rferl-en", "ngo-feed", *(f"feed-{n}" for n in range(8))}
    assert "# trailing note" in _text(ws_edit.feeds) and len(_audit(ws_edit)) == 8


def test_a_failed_audit_puts_the_old_feeds_back(ws_edit: Workspace, tmp_path: Path) -> None:
    store = Store(tmp_path / "other.db")
    store.conn.execute("DROP TABLE audit")
    editor = FeedsEditor(ws_edit.feeds, store, feeds_validator("feeds.yaml"))
    with pytest.raises(sqlite3.Error):
        editor.add_source("cli:anna", "new-feed", "https://new.example.org/rss")
    assert _text(ws_edit.feeds) == FEEDS
    with pytest.raises(EditRefused, match="nothing to import"):
        editor.import_sources("cli:anna", [])


# -- OPML ---------------------------------------------------------------------------------


def test_opml_import_adds_new_feeds_with_unique_slugs_in_one_edit(ws_edit: Workspace) -> None:
    ws_edit.feeds.write_text(FEEDS.replace("https://ngo.example.org/feed", "https://example.org/feed"))
    before = _text(ws_edit.feeds)
    dry = ws_edit.cli("sources", "import", str(OPML / "reader_export.opml"), "--dry-run")
    assert dry.exit_code == 0 and "would add radio-ozodi" in dry.stdout and "nothing was written" in dry.stdout
    assert _text(ws_edit.feeds) == before and _audit(ws_edit) == []

    result = ws_edit.cli("sources", "import", str(OPML / "reader_export.opml"))
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.stdout  # https://EXAMPLE.org/feed/ is the existing https://example.org/feed
    added = {s.id: str(s.url) for s in load_feeds(ws_edit.feeds)}
    assert added == {
        "rferl-en": "https://www.rferl.org/api/zrqiteuuir", "ngo-feed": "https://example.org/feed",
        "radio-ozodi": "https://rus.ozodi.org/api/zrqiteuuir", "ozodlik": "https://www.ozodlik.org/api/zfpjlvem",
        "news-example-org": "https://news.example.org/rss?lang=ru&section=asia",
        "ozodlik-2": "https://www.ozodlik.org/api/zpouvqpqmit"}
    for source_id in ("radio-ozodi", "ozodlik", "news-example-org", "ozodlik-2"):
        assert f"added {source_id}" in result.stdout
    text = _text(ws_edit.feeds)
    assert text.startswith(before.split("  # trailing note")[0]) and text.endswith("  # trailing note: re-check the NGO feed monthly\n")
    assert "- id: radio-ozodi  # Радио Озоди\n" in text  # the title kept as a comment
    [(who, action, _, detail)] = _audit(ws_edit)
    assert (who, action, detail["count"]) == ("cli:anna", "sources_import", 4)

    again = ws_edit.cli("sources", "import", str(OPML / "reader_export.opml"))
    assert again.exit_code == 0 and "nothing to import" in again.stdout and "5 skipped" in again.stdout


def test_opml_export_then_import_into_an_empty_feeds_file_round_trips(ws_edit: Workspace, tmp_path: Path) -> None:
    ws_edit.cli("sources", "add", "https://news.example.org/rss?lang=ru&section=asia", "--id", "amp")
    ws_edit.cli("sources", "disable", "ngo-feed")
    exported = ws_edit.cli("sources", "export")
    assert exported.exit_code == 0
    assert exported.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert 'category="/watcher/disabled"' in exported.stdout
    opml = tmp_path / "export.opml"
    opml.write_text(exported.stdout, encoding="utf-8")

    empty = tmp_path / "fresh" / "feeds.yaml"
    empty.parent.mkdir()
    base = ["--feeds", str(empty), "--rules", str(ws_edit.rules), "--state", str(tmp_path / "state2")]
    imported = CliRunner().invoke(cli, [*base, "sources", "import", str(opml)], catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    original = {str(s.url): s.enabled for s in load_feeds(ws_edit.feeds)}
    again = {str(s.url): s.enabled for s in load_feeds(empty)}
    assert again == original and len(again) == 3
    assert {s.id for s in load_feeds(empty)} == {s.id for s in load_feeds(ws_edit.feeds)}
    assert empty.stat().st_mode & 0o777 == 0o600


def _refused(ws: Workspace, path: Path, why: str) -> None:
    result = ws.cli("sources", "import", str(path))
    assert result.exit_code == 1, result.output
    assert "refused" in result.stderr and why in result.stderr and "nothing was written" in result.stderr
    assert _text(ws.feeds) == FEEDS and _audit(ws) == []


@pytest.mark.parametrize(("name", "why"), [
    ("malformed.opml", "not well-formed XML"),
    ("entity_bomb.opml", "DOCTYPE"),
    ("external_entity.opml", "DOCTYPE"),
    ("javascript_url.opml", "'javascript:alert(document.cookie)'"),
    ("no_feeds.opml", "no feeds"),
])
def test_bad_or_hostile_opml_is_refused_whole(ws_edit: Workspace, name: str, why: str) -> None:
    _refused(ws_edit, OPML / name, why)


def test_opml_that_is_not_opml_too_large_or_too_long_is_refused(ws_edit: Workspace, tmp_path: Path) -> None:
    rss = tmp_path / "feed.opml"
    rss.write_text('<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    _refused(ws_edit, rss, "not OPML")
    empty = tmp_path / "empty.opml"
    empty.write_bytes(b"")
    _refused(ws_edit, empty, "empty")
    big = tmp_path / "big.opml"
    big.write_bytes(b'<?xml version="1.0"?><opml version="2.0"><body>' + b" " * (5 * 1024 * 1024) + b"</body></opml>")
    _refused(ws_edit, big, "larger than 5 MB")
    many = tmp_path / "many.opml"
    outlines = "".join(f'<outline type="rss" text="f{n}" xmlUrl="https://f{n}.example.org/"/>' for n in range(MAX_OPML_FEEDS + 1))
    many.write_text(f'<?xml version="1.0"?><opml version="2.0"><body>{outlines}</body></opml>')
    _refused(ws_edit, many, f"more than the {MAX_OPML_FEEDS}")


def test_opml_import_that_would_break_feeds_yaml_writes_nothing(ws_edit: Workspace, tmp_path: Path) -> None:
    opml = tmp_path / "space.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><body>'
                    '<outline type="rss" text="Fine" xmlUrl="https://fine.example.org/a"/>'
                    '<outline type="rss" text="Bad" xmlUrl="https://exa mple.org/feed"/></body></opml>')
    result = ws_edit.cli("sources", "import", str(opml))
    assert result.exit_code == 1 and "is not a valid http(s) URL" in result.stderr
    assert "added" not in result.stdout  # nothing claimed, nothing half-written
    assert _text(ws_edit.feeds) == FEEDS and _audit(ws_edit) == []


def test_opml_import_refused_when_the_feeds_file_is_broken(ws_edit: Workspace) -> None:
    ws_edit.feeds.write_text(FEEDS.replace("every: 15m", "every: often"))
    result = ws_edit.cli("sources", "import", str(OPML / "reader_export.opml"))
    assert result.exit_code == 2 and "feeds.yaml:7" in result.stderr


# -- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    ("people",), ("people", "add"), ("people", "remove"), ("people", "list"),
    ("sources",), ("sources", "add"), ("sources", "remove"), ("sources", "enable"), ("sources", "disable"),
    ("sources", "list"), ("sources", "import"), ("sources", "export"),
], ids=" ".join)
def test_every_new_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output and "--help" in result.output


def test_a_source_added_from_the_cli_is_polled_by_a_running_watcher_without_a_restart(ws) -> None:
    """`watcher sources add` while `watcher run` runs: the new feed is polled and alerts."""
    import asyncio
    import time
    from datetime import timedelta

    from conftest import rss

    from watcher.app import App
    from watcher.config import Paths
    from watcher.delivery.notifiers.console import ConsoleNotifier
    from watcher.scheduler import Runner

    ws.write_rules("people:\n  - name: Rakhmetdin Kamolov\n")
    ws.write_feeds({"id": "first", "url": ws.serve("/a.xml", rss(("a1", "Weather", "Sunny."))), "backfill": "alert"})
    second = ws.serve("/b.xml", rss(("b1", "Rakhmetdin Kamolov detained", "Held in Istanbul.")))
    out = io.StringIO()

    async def scenario() -> None:
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={}, notifiers={"console": ConsoleNotifier(out)})
        runner = Runner(app, env={}, delivery_every=timedelta(seconds=0.2), rules_every=timedelta(seconds=0.3))
        task = asyncio.create_task(runner.run())
        try:
            deadline = time.monotonic() + 10
            while app.store.source("first") is None or app.store.source("first").get("last_ok") is None:
                assert time.monotonic() < deadline, "the first source was never polled"
                await asyncio.sleep(0.05)
            added = await asyncio.to_thread(ws.cli, "sources", "add", second, "--id", "second")
            assert added.exit_code == 0, added.output
            text = ws.feeds.read_text(encoding="utf-8")
            ws.feeds.write_text(text.replace("  - id: second\n", "  - id: second\n    allow_private: true\n"
                                             "    backfill: alert\n", 1), encoding="utf-8")
            while "Rakhmetdin Kamolov" not in out.getvalue():
                assert time.monotonic() < deadline + 10, "the added source was never polled"
                await asyncio.sleep(0.05)
        finally:
            runner.stop.set()
            await task

    asyncio.run(scenario())
