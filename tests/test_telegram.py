"""Alerts to Telegram through a loopback Bot API server (tests/botapi.py), driven through
python-telegram-bot: exactly once, flood limits kept, bursts grouped, hostile text escaped."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone

from botapi import FakeBotApi
from click.testing import CliRunner
from conftest import rss

from watcher.cli import cli
from watcher.models import Message
from watcher.delivery.notifiers.telegram import FloodGate, TelegramNotifier, split_html
from watcher.delivery.outbox import deliver_pending
from watcher.store import Store

CHANNEL = "-1001234567890"
ADMIN = "4242"
PEOPLE = "people:\n  - name: Bakhodir Karimov\n"


def _env(ws, api: FakeBotApi, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
            "WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
            "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}", **extra}


def _items(n: int, hostile: bool = False) -> bytes:
    title = "Bakhodir Karimov: 1 < 2 & 3 > 0, “quotes” detained {i}" if hostile else "Bakhodir Karimov detained {i}"
    return rss(*[(f"k{i}", title.format(i=i).replace("&", "&amp;").replace("<", "&lt;"), "Faces extradition.")
                 for i in range(n)])


def test_poll_once_sends_each_alert_once_and_nothing_after_restart(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _items(3)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        first = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert first.exit_code == 0, first.output
        sent = api.messages(int(CHANNEL))
        assert len(sent) == 3 and all(m["parse_mode"] == "HTML" for m in sent)
        assert "<b>Bakhodir Karimov</b>" in sent[0]["text"] and "extradition" in sent[0]["text"]
        buttons = [b["callback_data"] for row in sent[0]["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons[0].startswith("fb:") and buttons[-1].startswith("mute:")
        again = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert again.exit_code == 0 and len(api.messages(int(CHANNEL))) == 3
        ids = [r[0] for r in Store(ws.state / "watcher.db").conn.execute("SELECT message_id FROM alerts ORDER BY id")]
        assert ids == [str(m["message_id"]) for m in sent]


def test_injected_429s_are_waited_out_and_everything_is_delivered(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _items(2)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    with FakeBotApi(token="123:abc") as api:
        api.fail_next("sendMessage", 429, retry_after=1, times=1)
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", times=1, without_parameters=True)
        result = CliRunner(env=_env(ws, api)).invoke(cli, ["poll", "--once"])
        assert result.exit_code == 0, result.output
        assert len(api.messages(int(CHANNEL))) == 2
        assert [e["status"] for e in api.errors] == [429, 429]
        assert Store(ws.state / "watcher.db").alert_counts() == {"sent": 2}


def test_hostile_feed_text_is_escaped_and_accepted(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _items(1, hostile=True)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    with FakeBotApi(token="123:abc") as api:
        CliRunner(env=_env(ws, api)).invoke(cli, ["poll", "--once"])
        (message,) = api.messages(int(CHANNEL))
        assert "1 &lt; 2 &amp; 3 &gt; 0" in message["text"] and "1 < 2" not in message["text"]
        assert not [e for e in api.errors if e["status"] == 400]


def test_bad_markup_is_retried_once_as_plain_text() -> None:
    async def no_wait(seconds: float) -> None:
        return None

    with FakeBotApi(token="123:abc") as api:
        notifier = _notifier(api, FloodGate(sleep=no_wait))
        api.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unclosed tag")
        message_id = asyncio.run(_send(notifier, Message(text="plain <b>", html="<b>bold")))
        (sent,) = api.messages(int(CHANNEL))
        assert sent["parse_mode"] in (None, "") and sent["text"] == "plain <b>" and str(sent["message_id"]) == message_id


def test_long_alerts_split_at_line_boundaries_never_inside_a_tag() -> None:
    html = "\n".join(f"<b>line {i}</b> " + "x" * 300 for i in range(40))
    chunks = split_html(html)
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    for chunk in chunks:
        assert chunk.count("<b>") == chunk.count("</b>")
    assert "\n".join(chunks) == html


def test_burst_of_300_alerts_is_grouped_under_the_flood_limits(tmp_path) -> None:
    store = Store(tmp_path / "w.db")
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    with store.transaction():
        for i in range(300):
            store.conn.execute(
                "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, first_seen, last_seen)"
                " VALUES ('s', ?, ?, ?, ?, '', '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00',"
                " '2026-11-01T00:00:00+00:00')", (f"k{i}", f"https://x.org/{i}", f"h{i}", f"Item {i} <&>"))
            store.enqueue_alert(i + 1, "telegram", urgent=i % 50 == 0, now=now)
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    with FakeBotApi(token="123:abc", clock=lambda: clock[0]) as api:
        notifier = _notifier(api, FloodGate(clock=lambda: clock[0], sleep=fake_sleep))
        report = asyncio.run(_deliver(store, notifier, now))
        sent = api.messages(int(CHANNEL))
        assert report.sent == 300 and report.deferred == 0 and report.failed == 0
        assert len(sent) <= 20 and not [e for e in api.errors if e["status"] == 429]
        assert sent[0]["text"].count("🚨") == 6  # the urgent alerts come first
        listed = {int(n) for m in sent for n in re.findall(r"Item (\d+)", m["text"])}
        assert listed == set(range(300))
    assert store.alert_counts() == {"sent": 300}


def test_crash_between_send_and_mark_sends_nothing_twice_and_tells_the_admin_chat(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _items(1)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api, WATCHER_TELEGRAM_ADMIN_CHAT=ADMIN)
        from watcher.app import App
        from watcher.config import Paths

        async def send_then_die() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
            await app.poll(app.enabled())
            (row,) = app.store.due_alerts("telegram", app.clock())
            app.store.claim_alert(row["id"])
            await app.notifiers["telegram"].send(Message(text="the alert", alert_ids=(row["id"],)))
            await app.aclose()  # dies before marking it sent

        asyncio.run(send_then_die())
        assert len(api.messages(int(CHANNEL))) == 1
        result = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert result.exit_code == 0, result.output
        assert len(api.messages(int(CHANNEL))) == 1  # not sent again
        (notice,) = api.messages(int(ADMIN))
        assert "were being sent when watcher stopped" in notice["text"] and "detained 0" in notice["text"]
        assert Store(ws.state / "watcher.db").alert_counts() == {"sent": 1}


def _notifier(api: FakeBotApi, gate: FloodGate | None = None) -> TelegramNotifier:
    from telegram import Bot

    return TelegramNotifier(Bot(api.token, base_url=api.base_url), CHANNEL, gate or FloodGate())


async def _send(notifier: TelegramNotifier, message: Message) -> str | None:
    try:
        return await notifier.send(message)
    finally:
        await notifier.aclose()


async def _deliver(store: Store, notifier: TelegramNotifier, now: datetime):
    try:
        return await deliver_pending(store, {"telegram": notifier}, lambda: now)
    finally:
        await notifier.aclose()
