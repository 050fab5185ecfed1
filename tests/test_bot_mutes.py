"""Mutes that end, on a loopback Bot API: the mute button under an alert asks for how long and
mutes the alert's people for its source until then; /mutes lists who set each mute and when it
ends; /unmute and `/mute SOURCE off` lift them; every change is audited; a mute ends by the
clock, after which the person alerts again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from botapi import FakeBotApi
from bothelpers import ask, bot_running, until
from conftest import rss

from watcher.app import App
from watcher.bot.limits import ChatPacer
from watcher.config import Paths
from watcher.store import Store, iso

CHANNEL = -1001234567890
EDITOR, VIEWER = 111, 222
KARIMOV = ("k1", "Bakhodir Karimov detained", "Faces extradition.")


async def press(api: FakeBotApi, user: int, message: dict, data: str) -> dict:
    """Press a button under a message in the channel; the callback answer."""
    before = len(api.callback_answers)
    api.push_callback(user, message["message_id"], CHANNEL, data)
    await until(lambda: len(api.callback_answers) > before)
    return api.callback_answers[-1]


@asynccontextmanager
async def running(ws, api: FakeBotApi, clock) -> AsyncIterator[App]:
    """watcher with the Telegram notifier and the monitors' bot, on a clock the test moves."""
    env = {"WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": str(CHANNEL),
           "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env, clock=clock)
    async with bot_running(app, api, env, ChatPacer(private_every=0.0)):
        yield app


def _sent(app: App, title: str) -> int:
    """How many alert rows of the item with this title were sent."""
    row = app.store.conn.execute("SELECT count(*) FROM alerts a JOIN items i ON i.id = a.item_id"
                                 " WHERE i.title = ? AND a.status = 'sent'", (title,)).fetchone()
    return int(row[0])


def _buttons(message: dict) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in message["reply_markup"]["inline_keyboard"] for b in row]


def test_mute_button_durations_list_lift_and_expiry(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(KARIMOV)), "backfill": "alert"})
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    (ws.rules / "monitors.yaml").write_text(f"monitors:\n  - {EDITOR}\n  - {{id: {VIEWER}, role: viewer}}\n",
                                            encoding="utf-8")
    now = [datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)]
    with FakeBotApi(token="123:abc") as api:
        api.strict_rate = False

        async def scenario() -> None:
            async with running(ws, api, lambda: now[0]) as app:
                await app.poll(app.enabled(), respect_backoff=False)
                await app.deliver()
                (alert,) = api.messages(CHANNEL)
                mute = dict((t, d) for t, d in _buttons(alert))["🔇 mute this person for this source"]

                refused = await press(api, VIEWER, alert, mute)
                assert refused["show_alert"] and "needs the editor role; you are a viewer" in refused["text"]

                asked = await press(api, EDITOR, alert, mute)
                assert "how long" in asked["text"] and app.store.active_mutes("news", now[0]) == set()
                choices = _buttons(alert)  # the alert's buttons became the choices
                assert [t for t, _ in choices] == ["🔇 1 day", "🔇 7 days", "🔇 30 days", "✖ don't mute"]
                assert all(len(d.encode()) <= 64 for _, d in choices)

                cancelled = await press(api, EDITOR, alert, dict(choices)["✖ don't mute"])
                assert cancelled["text"] == "Not muted." and app.store.active_mutes("news", now[0]) == set()
                assert dict(_buttons(alert))["🔇 mute this person for this source"] == mute  # put back
                await press(api, EDITOR, alert, mute)
                week = dict(_buttons(alert))["🔇 7 days"]
                done = await press(api, EDITOR, alert, week)
                until = now[0] + timedelta(days=7)
                assert "Muted 1 person(s) for news for 7 days" in done["text"]
                assert app.store.active_mutes("news", now[0]) == {"person:Bakhodir Karimov"}
                assert [t for t, _ in _buttons(alert)][-1] == "🔇 mute this person for this source"  # put back
                (row,) = app.store.conn.execute("SELECT who, detail FROM audit WHERE action = 'mute'").fetchall()
                assert row["who"] == f"telegram:{EDITOR}"
                assert json.loads(row["detail"])["until"] == iso(until)

                assert "needs the editor role" in (await ask(api, VIEWER, "/mute news 2h"))["text"]
                said = (await ask(api, EDITOR, "/mute news 2h"))["text"]
                assert said.startswith("news muted until 2026-11-03 11:00 UTC (mute #")
                listed = (await ask(api, VIEWER, "/mutes"))["text"]  # reading the mutes is a viewer's right
                person_line, source_line = listed.splitlines()[1:3]
                assert person_line.startswith("#1 news: Bakhodir Karimov — set by telegram:111")
                assert person_line.endswith(f"until {until:%Y-%m-%d %H:%M} UTC")
                assert "news: whole source — set by telegram:111 — until 2026-11-03 11:00 UTC" in source_line
                source_mute = source_line.split()[0].lstrip("#")

                assert "There is no mute #99" in (await ask(api, EDITOR, "/unmute 99"))["text"]
                assert "Lifted mute" in (await ask(api, EDITOR, f"/unmute {source_mute}"))["text"]
                assert app.store.active_mutes("news", now[0]) == {"person:Bakhodir Karimov"}
                assert "news was not muted" in (await ask(api, EDITOR, "/mute news off"))["text"]
                unmutes = app.store.conn.execute("SELECT who, detail FROM audit WHERE action = 'unmute'").fetchall()
                assert [json.loads(r["detail"]).get("mute") for r in unmutes] == [int(source_mute), None]

                ws.serve("/f.xml", rss(("k2", "Bakhodir Karimov moved to another prison", "Detention."), KARIMOV))
                await app.poll(app.enabled(), respect_backoff=False)
                await app.deliver()
                assert len(api.messages(CHANNEL)) == 1 and not api.edits[-1].get("text")  # muted: stored, not sent

                now[0] += timedelta(days=8)  # the mute ends by the clock
                assert "Nothing is muted." in (await ask(api, EDITOR, "/mutes"))["text"]
                assert app.store.active_mutes("news", now[0]) == set()
                ws.serve("/f.xml", rss(("k3", "Bakhodir Karimov sentenced", "Prison term."), KARIMOV))
                await app.poll(app.enabled(), respect_backoff=False)
                await app.deliver()
                assert _sent(app, "Bakhodir Karimov sentenced") == 1  # alerted again (here: an edit of the alert)
                assert _sent(app, "Bakhodir Karimov moved to another prison") == 0

        asyncio.run(scenario())


def test_store_lists_only_mutes_in_force_and_muting_again_sets_a_new_end() -> None:
    store = Store(":memory:")
    start = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    with store.transaction():
        first = store.set_mute("news", "person:A B", start + timedelta(days=1), "telegram:1", start)
        again = store.set_mute("news", "person:A B", start + timedelta(days=30), "telegram:2", start)
        forever = store.set_mute("other", None, None, "telegram:1", start)
    listed = store.list_mutes(start + timedelta(days=2))
    assert [m["id"] for m in listed] == [first, forever] and again == first  # muting again sets a new end
    assert listed[0]["who"] == "telegram:2" and listed[1]["until"] is None
    with store.transaction():
        assert store.lift_mute(first)["rule"] == "person:A B"
        assert store.lift_mute(first) is None
    assert [m["id"] for m in store.list_mutes(start + timedelta(days=400))] == [forever]
    store.close()

