"""`watcher run` with the monitors' bot on a loopback Bot API: commands answered in the same
loop as polling, an allowlisted /watch edits rules/people.yaml (comments kept) and the next
matching item alerts; a stranger's /watch changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from botapi import FakeBotApi
from bothelpers import until
from conftest import rss

from watcher.app import App
from watcher.config import Paths
from watcher.scheduler import Runner

CHANNEL = "-1001234567890"
MONITOR, STRANGER = 111, 999
PEOPLE = "# Watchlist of the Tashkent desk: keep private\npeople:\n  # someone watched since 2024\n  - name: Rakhmetdin Kamolov\n    country: UZ\n"


def _replies(api: FakeBotApi, user: int) -> list[dict]:
    return api.messages(user)


def test_run_answers_commands_and_watch_changes_rules_for_monitors_only(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("o1", "Weather in Tashkent", "Sunny."))),
                    "backfill": "alert"})
    ws.write_rules(PEOPLE)
    (ws.rules / "monitors.yaml").write_text(f"monitors:\n  - {MONITOR}\n", encoding="utf-8")
    people_file = ws.rules / "people.yaml"
    with FakeBotApi(token="123:abc") as api:
        env = {"WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
               "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}

        async def scenario() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
            runner = Runner(app, env=env, delivery_every=timedelta(seconds=0.2), grace=2.0)
            task = asyncio.create_task(runner.run())
            try:
                await until(lambda: api.counts.get("getUpdates", 0) > 0)
                (commands,) = api.commands.values()
                assert [c["command"] for c in commands][:2] == ["watch", "unwatch"]

                api.push_message(STRANGER, text="/watch Bakhodir Karimov UZ")
                await until(lambda: _replies(api, STRANGER))
                assert "only takes commands from the monitors" in _replies(api, STRANGER)[-1]["text"]
                assert people_file.read_text(encoding="utf-8") == PEOPLE

                api.push_message(MONITOR, text="/watch Bakhodir Karimov | Баходир Каримов UZ")
                await until(lambda: any(m.get("reply_markup") for m in _replies(api, MONITOR)))
                preview = [m for m in _replies(api, MONITOR) if m.get("reply_markup")][-1]
                assert "spelling key 'bahadir'" in preview["text"] and "would have matched" in preview["text"]
                yes = preview["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                api.push_callback(MONITOR, preview["message_id"], MONITOR, yes)
                await until(lambda: "Bakhodir Karimov" in people_file.read_text(encoding="utf-8"))
                text = people_file.read_text(encoding="utf-8")
                assert text.startswith(PEOPLE.rstrip("\n")) and "Баходир Каримов" in text
                await until(lambda: any("Done" in (m.get("text") or "") for m in api.edits) or
                             any("Done" in m["text"] for m in _replies(api, MONITOR)))

                api.push_message(MONITOR, text="/test Суд арестовал Бахадира Каримова")
                await until(lambda: any("people: Bakhodir Karimov" in m["text"] for m in _replies(api, MONITOR)))

                ws.serve("/f.xml", rss(("k1", "Баходир Каримов задержан в Москве", "Грозит экстрадиция.")))
                await app.poll(app.enabled(), respect_backoff=False)
                await until(lambda: any("Bakhodir Karimov" in m["text"] for m in api.messages(int(CHANNEL))))
                assert app.store.conn.execute("SELECT count(*) FROM audit WHERE action = 'watch'").fetchone()[0] == 1
            finally:
                runner.stop.set()
                await task
                await app.aclose()

        asyncio.run(scenario())


def test_alert_buttons_record_feedback_and_mute_the_person_for_the_source(ws) -> None:
    karimov = ("k1", "Bakhodir Karimov detained", "Faces extradition.")
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(karimov)), "backfill": "alert"})
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    (ws.rules / "monitors.yaml").write_text(f"monitors:\n  - {MONITOR}\n", encoding="utf-8")
    with FakeBotApi(token="123:abc") as api:
        env = {"WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
               "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}

        async def scenario() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
            runner = Runner(app, env=env, delivery_every=timedelta(seconds=0.2), grace=2.0)
            task = asyncio.create_task(runner.run())
            try:
                await until(lambda: api.messages(int(CHANNEL)))
                (alert,) = api.messages(int(CHANNEL))
                rows = alert["reply_markup"]["inline_keyboard"]
                relevant, mute = rows[0][0]["callback_data"], rows[1][0]["callback_data"]
                api.push_callback(STRANGER, alert["message_id"], int(CHANNEL), relevant)
                api.push_callback(MONITOR, alert["message_id"], int(CHANNEL), relevant)
                api.push_callback(MONITOR, alert["message_id"], int(CHANNEL), mute)
                await until(lambda: len(api.callback_answers) == 3)
                assert "Only the monitors" in api.callback_answers[0]["text"]
                verdicts = app.store.conn.execute("SELECT who, verdict FROM feedback").fetchall()
                assert [tuple(v) for v in verdicts] == [(f"telegram:{MONITOR}", "relevant")]
                # the mute button asks for how long (the alert's buttons become the choices)
                assert app.store.active_mutes("news", app.clock()) == set()
                choices = api.messages(int(CHANNEL))[0]["reply_markup"]["inline_keyboard"]
                week = next(b["callback_data"] for b in choices[0] if b["text"].endswith("7 days"))
                api.push_callback(MONITOR, alert["message_id"], int(CHANNEL), week)
                await until(lambda: len(api.callback_answers) == 4)
                assert app.store.active_mutes("news", app.clock()) == {"person:Bakhodir Karimov"}
                ws.serve("/f.xml", rss(karimov, ("k2", "Bakhodir Karimov moved to another prison", "Detention.")))
                await app.poll(app.enabled(), respect_backoff=False)
                await asyncio.sleep(0.5)
                assert len(api.messages(int(CHANNEL))) == 1  # muted for this source: stored, not sent
            finally:
                runner.stop.set()
                await task
                await app.aclose()

        asyncio.run(scenario())
    listing = ws.cli("alerts")
    assert "feedback +1/-0" in listing.stdout and "Bakhodir Karimov" in listing.stdout
