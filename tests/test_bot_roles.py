"""Roles in the monitors' bot, on a loopback Bot API: a viewer reads but cannot edit (refused
politely, logged without the command's text), an editor's /watch goes through, an admin's
/monitor edits monitors.yaml (audited, in force for the next command) and cannot remove the last
admin; /help lists what each role may do; a malformed monitors.yaml is refused with file:line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest
from botapi import FakeBotApi
from bothelpers import ask, bot_running, until
from conftest import rss

from watcher.app import App
from watcher.bot import load_allowlist
from watcher.bot.limits import ChatPacer
from watcher.config import Paths
from watcher.errors import ConfigError, EditRefused
from watcher.rules.monitors import MonitorsEditor, load_monitors
from watcher.store import Store

VIEWER, EDITOR, ADMIN, NEWCOMER, STRANGER = 201, 202, 203, 204, 999
PEOPLE = "people:\n  - name: Rakhmetdin Kamolov\n    country: UZ\n"
MONITORS = f"""\
# who may use the bot
monitors:
  - {{id: {VIEWER}, role: viewer}}
  - {EDITOR}  # a bare id: an editor, as before roles
  - id: {ADMIN}
    role: admin
    name: Desk lead
"""


@asynccontextmanager
async def running_bot(ws, api: FakeBotApi, env: dict[str, str], *items: tuple[str, str, str]) -> AsyncIterator[App]:
    """The monitors' bot (polls only when the test asks), replies paced fast: these tests are
    about roles. `items`: what the feed serves (alerted when first polled)."""
    served = rss(*(items or (("o1", "Weather in Tashkent", "Sunny."),)))
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", served), "backfill": "alert"})
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={})
    async with bot_running(app, api, env, ChatPacer(private_every=0.0)):
        yield app


def _audit(app: App, action: str) -> list[dict]:
    return [dict(r) for r in app.store.conn.execute("SELECT * FROM audit WHERE action = ? ORDER BY id", (action,))]


def test_viewer_is_refused_edits_editor_watches_admin_manages_monitors(ws, caplog: pytest.LogCaptureFixture) -> None:
    ws.write_rules(PEOPLE)
    (ws.rules / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    people = ws.rules / "people.yaml"
    caplog.set_level(logging.INFO)
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> None:
            async with running_bot(ws, api, {}) as app:
                refused = await ask(api, VIEWER, "/watch Bakhodir Karimov UZ")
                assert "/watch needs the editor role; you are a viewer" in refused["text"]
                assert not refused.get("reply_markup") and people.read_text(encoding="utf-8") == PEOPLE
                warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
                assert f"refused /watch from Telegram user {VIEWER} (role viewer, needs editor)" in warnings
                assert not any("Karimov" in r.getMessage() for r in caplog.records)  # never the arguments

                listing = await ask(api, VIEWER, "/people")
                assert "Rakhmetdin Kamolov" in listing["text"]  # reading is a viewer's right

                preview = await ask(api, EDITOR, "/watch Bakhodir Karimov UZ")
                assert "would have matched" in preview["text"] and preview["reply_markup"]
                yes = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                assert len(yes.encode()) <= 64
                api.push_callback(EDITOR, preview["message_id"], EDITOR, yes)
                await until(lambda: "Bakhodir Karimov" in people.read_text(encoding="utf-8"))
                assert [a["who"] for a in _audit(app, "watch")] == [f"telegram:{EDITOR}"]

                refused = await ask(api, EDITOR, f"/monitor add {NEWCOMER} viewer")
                assert "/monitor needs the admin role; you are an editor" in refused["text"]

                done = await ask(api, ADMIN, f"/monitor add {NEWCOMER} viewer Intern")
                assert done["text"].startswith(f"Done: User {NEWCOMER} added as a viewer")
                text = (ws.rules / "monitors.yaml").read_text(encoding="utf-8")
                assert text.startswith(MONITORS) and f"id: {NEWCOMER}" in text  # comments and entries kept
                (row,) = _audit(app, "monitor")
                assert row["who"] == f"telegram:{ADMIN}" and row["file"] == "monitors.yaml"
                assert json.loads(row["detail"])["after"] == {"id": NEWCOMER, "role": "viewer", "name": "Intern"}

                assert "Rakhmetdin Kamolov" in (await ask(api, NEWCOMER, "/people"))["text"]  # in force at once
                assert "needs the editor role" in (await ask(api, NEWCOMER, "/unwatch Rakhmetdin Kamolov"))["text"]

                last = await ask(api, ADMIN, f"/monitor remove {ADMIN}")
                assert "last admin" in last["text"] and f"id: {ADMIN}" in (ws.rules / "monitors.yaml").read_text()
                listed = await ask(api, ADMIN, "/monitor list")
                assert f"{ADMIN}: admin — Desk lead" in listed["text"] and f"{NEWCOMER}: viewer — Intern" in listed["text"]

                assert "/routes needs the admin role" in (await ask(api, EDITOR, "/routes"))["text"]
                assert "route default: when always -> default" in (await ask(api, ADMIN, "/routes"))["text"]

                stranger = await ask(api, STRANGER, "/people")
                assert "only takes commands from the monitors" in stranger["text"]

        asyncio.run(scenario())


def test_help_shows_only_the_commands_a_role_allows(ws) -> None:
    ws.write_rules(PEOPLE)
    (ws.rules / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> dict[int, str]:
            async with running_bot(ws, api, {}):
                return {user: (await ask(api, user, "/help"))["text"] for user in (VIEWER, EDITOR, ADMIN, STRANGER)}

        helps = asyncio.run(scenario())
    commands = {user: {w for w in text.split() if w.startswith("/")} for user, text in helps.items()}
    reading = {"/people", "/incidents", "/test", "/stats", "/sources", "/digest", "/mutes"}
    editing = {"/watch", "/unwatch", "/keyword", "/unkeyword", "/mute", "/unmute"}
    admin = {"/monitor", "/source", "/routes"}
    assert reading <= commands[VIEWER] and not (editing | admin) & commands[VIEWER]
    assert reading | editing <= commands[EDITOR] and not admin & commands[EDITOR]
    assert reading | editing | admin <= commands[ADMIN]
    assert "Your role: admin" in helps[ADMIN]
    assert "not on the monitors' list" in helps[STRANGER] and not (reading | editing | admin) & commands[STRANGER]


def test_roles_from_the_environment_and_bare_ids(tmp_path: Path) -> None:
    (tmp_path / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    env = {"WATCHER_TELEGRAM_MONITORS": f"{VIEWER}, 301", "WATCHER_TELEGRAM_ADMINS": f"{EDITOR}"}
    roles = load_monitors(tmp_path, env)
    # the file's role beats WATCHER_TELEGRAM_MONITORS; WATCHER_TELEGRAM_ADMINS beats the file
    assert roles == {VIEWER: "viewer", 301: "editor", EDITOR: "admin", ADMIN: "admin"}
    assert load_monitors(tmp_path / "nowhere", {"WATCHER_TELEGRAM_MONITORS": "111"}) == {111: "editor"}
    with pytest.raises(ConfigError, match="WATCHER_TELEGRAM_ADMINS: 'boss' is not a Telegram user id"):
        load_monitors(tmp_path, {"WATCHER_TELEGRAM_ADMINS": "boss"})


def test_malformed_monitors_yaml_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text("monitors:\n  - 111\n  - {id: 222, role: boss}\n  - id: x1\n  - 111\n  - {id: 5, colour: red}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_allowlist(tmp_path, {})
    text = str(caught.value)
    assert "monitors.yaml:3: monitor #2: role 'boss' is not one of viewer, editor, admin" in text
    assert "monitors.yaml:4: monitor #3: 'x1' is not a Telegram user id" in text
    assert "monitors.yaml:5: monitor #4: user id 111 is already listed at monitors.yaml:2" in text
    assert "monitors.yaml:6: monitor #5: unknown key 'colour'" in text
    before = path.read_text(encoding="utf-8")
    with _store() as store:
        with pytest.raises(EditRefused, match="monitors.yaml:3"):
            MonitorsEditor(tmp_path, store).set_role("telegram:1", 333, "viewer")
    assert path.read_text(encoding="utf-8") == before  # nothing written


def _store() -> closing[Store]:
    """A throwaway store, closed after use."""
    return closing(Store(":memory:"))


def test_a_role_change_keeps_comments_and_an_edit_that_breaks_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(MONITORS, encoding="utf-8")
    with _store() as store:
        editor = MonitorsEditor(tmp_path, store)
        edit = editor.set_role("telegram:203", EDITOR, "viewer")
        assert edit.summary == f"User {EDITOR} is now a viewer (monitors.yaml)."
        text = path.read_text(encoding="utf-8")
        assert "# who may use the bot" in text and "# a bare id: an editor, as before roles" in text
        assert load_monitors(tmp_path, {})[EDITOR] == "viewer"
        with pytest.raises(EditRefused, match="not a role"):
            editor.set_role("telegram:203", EDITOR, "owner")
        with pytest.raises(EditRefused, match="last admin"):
            editor.set_role("telegram:203", ADMIN, "editor")
        editor.set_role("telegram:203", VIEWER, "admin")
        editor.remove("telegram:203", ADMIN)  # another admin is left
        assert ADMIN not in load_monitors(tmp_path, {})
        rows = store.conn.execute("SELECT who, action FROM audit").fetchall()
        assert [tuple(r) for r in rows] == [("telegram:203", "monitor")] * 3


def test_stats_for_viewers_and_its_not_button_for_editors(ws) -> None:
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    (ws.rules / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    cousin = ("c1", "Bakhodir Karimov detained", "His cousin Tulkin Karimov spoke to reporters.")
    people = ws.rules / "people.yaml"
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> None:
            async with running_bot(ws, api, {}, cousin) as app:
                await app.poll(app.enabled(), respect_backoff=False)
                (alert,) = app.store.recent_alerts()
                with app.store.transaction():
                    app.store.add_feedback(alert["id"], f"telegram:{EDITOR}", "not_relevant", app.clock())

                incidents = (await ask(api, VIEWER, "/incidents"))["text"].splitlines()
                assert incidents[0] == "The latest 1 incident(s):"
                assert incidents[1].startswith("#1 detention — Bakhodir Karimov — last seen 2026-11-02 10:00 UTC")

                seen = await ask(api, VIEWER, "/stats 30d")
                assert "Bakhodir Karimov: 1, 0, 1, 0%" in seen["text"]
                ((button,),) = seen["reply_markup"]["inline_keyboard"]
                assert button["text"] == "not: Tulkin Karimov (≠ Bakhodir Karimov)"
                assert len(button["callback_data"].encode()) <= 64
                api.push_callback(VIEWER, seen["message_id"], VIEWER, button["callback_data"])
                await until(lambda: api.callback_answers)
                assert "needs the editor role" in api.callback_answers[-1]["text"]
                assert "Tulkin" not in people.read_text(encoding="utf-8")

                offered = await ask(api, EDITOR, "/stats")
                data = offered["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                api.push_callback(EDITOR, offered["message_id"], EDITOR, data)
                await until(lambda: len(api.messages(EDITOR)) == 2)
                assert api.messages(EDITOR)[-1]["text"].startswith("Done:")
                assert "Tulkin Karimov" in people.read_text(encoding="utf-8")
                assert "Bakhodir Karimov: 1, 0, 1" in api.messages(EDITOR)[0]["text"]  # the report stays
                assert [a["who"] for a in app.store.conn.execute("SELECT who FROM audit")] == [f"telegram:{EDITOR}"]
                assert "/stats [30d]" in (await ask(api, VIEWER, "/stats soon"))["text"]  # a bad period: usage

        asyncio.run(scenario())


def test_keyword_shows_a_preview_and_waits_for_its_confirm_button(ws) -> None:
    ws.write_rules(PEOPLE)
    (ws.rules / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    incidents = ws.rules / "incidents.yaml"
    before = incidents.read_text(encoding="utf-8")
    arrested = ("a1", "Rakhmetdin Kamolov arrested in Istanbul", "Police arrested the blogger.")
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> None:
            async with running_bot(ws, api, {}, arrested) as app:
                await app.poll(app.enabled(), respect_backoff=False)
                unknown = await ask(api, EDITOR, "/keyword kidnapping en seized")
                assert unknown["text"].startswith("Not changed: unknown incident type 'kidnapping'")

                preview = await ask(api, EDITOR, "/keyword detention en arrested")
                lines = preview["text"].splitlines()
                assert lines[0] == "Add the en keyword 'arrested' to detention"
                assert lines[1] == "1 stored item(s) of the last 30 days would have matched."
                assert any("Rakhmetdin Kamolov arrested in Istanbul" in line for line in lines)
                assert incidents.read_text(encoding="utf-8") == before  # nothing changed yet
                no = preview["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
                api.push_callback(EDITOR, preview["message_id"], EDITOR, no)
                await until(lambda: any("Not changed" in (e.get("text") or "") for e in api.edits))
                assert incidents.read_text(encoding="utf-8") == before

                preview = await ask(api, EDITOR, "/keyword detention en arrested")
                yes = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                api.push_callback(EDITOR, preview["message_id"], EDITOR, yes)
                await until(lambda: any((e.get("text") or "").startswith("Done:") for e in api.edits))
                assert "arrested" in incidents.read_text(encoding="utf-8")
                assert [a["who"] for a in _audit(app, "keyword")] == [f"telegram:{EDITOR}"]
                api.push_callback(EDITOR, preview["message_id"], EDITOR, yes)  # pressed again: kept no more
                await until(lambda: any("expired" in (a["text"] or "") for a in api.callback_answers))

        asyncio.run(scenario())


def test_admin_edits_sources_from_telegram(ws) -> None:
    ws.write_rules(PEOPLE)
    (ws.rules / "monitors.yaml").write_text(MONITORS, encoding="utf-8")
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> None:
            async with running_bot(ws, api, {}) as app:
                assert "/source needs the admin role" in (await ask(api, EDITOR, "/source disable news"))["text"]
                added = await ask(api, ADMIN, "/source add https://feeds.example.org/rss.xml example")
                assert added["text"].startswith("Done:") and "within 15 s" in added["text"]
                assert "https://feeds.example.org/rss.xml" in ws.feeds.read_text(encoding="utf-8")
                assert (await ask(api, ADMIN, "/source disable example"))["text"].startswith("Done:")
                assert "already disabled" in (await ask(api, ADMIN, "/source disable example"))["text"]
                assert (await ask(api, ADMIN, "/source remove example"))["text"].startswith("Done:")
                assert "feeds.example.org" not in ws.feeds.read_text(encoding="utf-8")
                assert "usage: /source add" in (await ask(api, ADMIN, "/source add nothing"))["text"]
                actions = [tuple(r) for r in app.store.conn.execute("SELECT who, action FROM audit ORDER BY id")]
                assert actions == [(f"telegram:{ADMIN}", a) for a in ("source_add", "source_disable", "source_remove")]

        asyncio.run(scenario())
