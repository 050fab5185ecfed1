"""Faults an outside black-box battery found in delivery and the monitors' bot (issue 11, items
6, 7 and 8), each reproduced on loopback against the fake Bot API (tests/botapi.py).

6. A connection dropped (or reset) after Telegram took the message is an unknown outcome, like
   a read timeout: assumed sent, never resent, and told to the admin chat (README, "Exactly
   once"). Only failures before the request went out are sent again.
7. The monitors' bot starts when Telegram comes up after `watcher run` started, and starts again
   when its polling dies, with backoff, while polls and delivery go on.
8. While Telegram is unreachable every failed attempt counts (so the stuck-delivery warning
   fires), a destination's alerts wait together, and each wave is one log line without a
   watched name or the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botapi import FakeBotApi
from conftest import rss
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from watcher.app import App
from watcher.config import Paths
from watcher.delivery.health import report_health
from watcher.delivery.notifiers.telegram import FloodGate, TelegramNotifier
from watcher.delivery.outbox import deliver_pending
from watcher.errors import DeliveryError
from watcher.models import Message
from watcher.scheduler import Runner
from watcher.store import Store, iso

TOKEN = "123456:SECRET-TOKEN-abc"
CHANNEL = "-1001234567890"
ADMIN = "4242"
MONITOR = 111
PEOPLE = "people:\n  - name: Bakhodir Karimov\n"
NAME_PARTS = ("Bakhodir", "Karimov")
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    """Wall time for the outbox and monotonic time for the flood gate, both moved by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.mono += seconds


class Admin:
    """The admin chat, as health.py sees it."""

    name = "telegram-admin"
    unknown_outcome = "assume_sent"

    def __init__(self) -> None:
        self.said: list[str] = []

    async def send(self, message: Message) -> str | None:
        self.said.append(message.text)
        return None


def _env(ws, api: FakeBotApi, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
            "WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
            "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}", **extra}


def _notifier(api: FakeBotApi, clock: Clock) -> TelegramNotifier:
    return TelegramNotifier(Bot(api.token, base_url=api.base_url), CHANNEL,
                            FloodGate(clock=lambda: clock.mono, sleep=clock.sleep))


def _queue_alerts(store: Store, n: int, now: datetime = T0, first: int = 0) -> None:
    with store.transaction():
        for i in range(first, first + n):
            cursor = store.conn.execute(
                "INSERT INTO items (source_id, key, url, content_hash, title, summary, published, first_seen, last_seen)"
                " VALUES ('news', ?, ?, ?, ?, '', ?, ?, ?)",
                (f"k{i}", f"https://news.example.org/k{i}", f"h{i}", f"Bakhodir Karimov detained {i}",
                 iso(now), iso(now), iso(now)))
            store.enqueue_alert(int(cursor.lastrowid), "telegram", urgent=False, now=now)


def _alerts(store: Store) -> list[dict]:
    return [dict(r) for r in store.conn.execute("SELECT * FROM alerts ORDER BY id")]


def _capture_info(caplog: pytest.LogCaptureFixture) -> None:
    """INFO and up from watcher, WARNING and up from httpx (as the CLI sets it: its INFO lines
    carry the bot URL). The root level is set last: set_level also sets the capture's level."""
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO)


def _logged(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() + (r.exc_text or "") for r in caplog.records if r.levelno >= level]


def _assert_no_secrets(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "SECRET-TOKEN" not in text
    assert not [part for part in NAME_PARTS if part in text], [line for line in lines if "Karimov" in line]


async def _until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


# -- 6. an answer lost after Telegram took the message -----------------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_connection_dropped_after_telegram_took_the_message_is_not_resent(ws, caplog, reset: bool) -> None:
    """Telegram posts the alert, then the connection ends without an answer (closed: httpx's
    "Server disconnected without sending a response"; reset: ECONNRESET while reading)."""
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("k1", "Bakhodir Karimov detained", "x"))),
                    "backfill": "alert"})
    ws.write_rules(PEOPLE)
    _capture_info(caplog)
    clock = Clock()
    with FakeBotApi(token=TOKEN) as api:
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=_env(ws, api, WATCHER_TELEGRAM_ADMIN_CHAT=ADMIN),
                        clock=clock)

        async def run() -> None:
            try:
                await app.poll(app.enabled())
                api.drop_next("sendMessage", reset=reset)  # the channel's message; the admin notice goes through
                first = await app.deliver()
                assert first.sent == 1 and len(first.uncertain) == 1 and first.deferred == 0
                for _ in range(3):  # long after any backoff: still nothing to resend
                    clock.advance(7200)
                    later = await app.deliver()
                    assert later.sent == 0 and later.deferred == 0
            finally:
                await app.aclose()

        asyncio.run(run())
        assert [d["method"] for d in api.dropped] == ["sendMessage"]
        channel = api.messages(int(CHANNEL))
        (notice,) = api.messages(int(ADMIN))
    assert len(channel) == 1, f"posted {len(channel)} times"
    assert "Bakhodir Karimov detained" in notice["text"] and "https://news.example.org/k1" in notice["text"]
    store = Store(ws.state / "watcher.db")
    assert store.alert_counts() == {"sent": 1}
    (row,) = _alerts(store)
    assert row["uncertain"] == 2 and row["last_error"].startswith("outcome unknown, assumed sent")
    assert any("unknown outcome; assumed sent" in line for line in _logged(caplog, logging.WARNING))
    _assert_no_secrets(_logged(caplog))


class _FailingBot:
    """A Bot whose sendMessage fails the way PTB's HTTPXRequest reports an httpx failure."""

    token = TOKEN

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def send_message(self, *args: object, **kwargs: object) -> object:
        raise self.error


def _ptb_error(cause: Exception | None, timeout: bool = False) -> Exception:
    """What PTB raises: TimedOut from an httpx timeout, NetworkError from other httpx errors, and
    a NetworkError without a cause for an error status such as 502."""
    error: Exception = TimedOut() if timeout else NetworkError(
        f"httpx.{type(cause).__name__}: {cause}" if cause else "Bad Gateway")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(("error", "may_have_arrived"), [
    (_ptb_error(httpx.RemoteProtocolError("Server disconnected without sending a response.")), True),
    (_ptb_error(httpx.ReadError("[Errno 104] Connection reset by peer")), True),
    (_ptb_error(httpx.ReadTimeout("timed out"), timeout=True), True),
    (_ptb_error(httpx.ConnectError("[Errno 111] Connection refused")), False),
    (_ptb_error(httpx.ConnectError("[Errno -2] Name or service not known")), False),
    (_ptb_error(httpx.ConnectTimeout("timed out"), timeout=True), False),
    (_ptb_error(httpx.PoolTimeout("no free connection"), timeout=True), False),
    (_ptb_error(None), False),
], ids=["server-closed", "reset-during-read", "read-timeout", "refused", "dns", "connect-timeout", "pool-timeout",
        "502"])
def test_a_failed_send_is_uncertain_exactly_when_the_request_may_have_reached_telegram(
        error: Exception, may_have_arrived: bool) -> None:
    clock = Clock()
    notifier = TelegramNotifier(_FailingBot(error), CHANNEL, FloodGate(clock=lambda: clock.mono, sleep=clock.sleep))  # type: ignore[arg-type]
    with pytest.raises(DeliveryError) as raised:
        asyncio.run(notifier.send(Message(text="alert", alert_ids=(1,))))
    assert raised.value.uncertain is may_have_arrived and not raised.value.permanent
    assert "SECRET-TOKEN" not in str(raised.value)


def test_connection_refused_before_the_request_went_out_is_retried_not_assumed_sent(tmp_path) -> None:
    store, clock = Store(tmp_path / "w.db"), Clock()
    _queue_alerts(store, 1)
    api = FakeBotApi(token=TOKEN, listening=False).start()
    try:
        api.strict_rate = False
        notifier = _notifier(api, clock)

        async def run() -> tuple[object, object]:
            try:
                down = await deliver_pending(store, {"telegram": notifier}, clock)
                api.come_up()
                clock.advance(31)
                return down, await deliver_pending(store, {"telegram": notifier}, clock)
            finally:
                await notifier.aclose()

        down, up = asyncio.run(run())
        assert len(api.messages(int(CHANNEL))) == 1
    finally:
        api.stop()
    assert down.deferred == 1 and not down.uncertain  # type: ignore[attr-defined]
    assert up.sent == 1 and not up.uncertain  # type: ignore[attr-defined]
    assert _alerts(store)[0]["uncertain"] == 0


# -- 7. the monitors' bot starts late and restarts -----------------------------------------------


def _quiet_feed(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("o1", "Weather in Tashkent", "Sunny."))),
                    "every": "30s", "backfill": "alert"})
    ws.write_rules(PEOPLE)


def test_monitors_bot_starts_when_telegram_comes_up_after_watcher_run_started(ws, caplog) -> None:
    _quiet_feed(ws)
    _capture_info(caplog)
    api = FakeBotApi(token=TOKEN, listening=False).start()  # Telegram unreachable when watcher starts
    try:
        env = _env(ws, api)

        async def scenario() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
            runner = Runner(app, env=env, delivery_every=timedelta(seconds=0.2), grace=2.0, bot_retry=(0.1, 0.4))
            task = asyncio.create_task(runner.run())
            try:
                await _until(lambda: sum("bot could not start" in line for line in _logged(caplog)) >= 4)
                assert ws.server.routes["/f.xml"].hits >= 1  # polls went on meanwhile
                api.come_up()
                await _until(lambda: api.counts.get("getUpdates", 0) > 0)
                api.push_message(MONITOR, text="/help")
                await _until(lambda: api.messages(MONITOR))
            finally:
                runner.stop.set()
                await task
                await app.aclose()

        asyncio.run(scenario())
        (reply,) = api.messages(MONITOR)
    finally:
        api.stop()
    assert "watcher: alerts on transnational repression" in reply["text"]  # answered (a stranger sees no commands)
    failures = [line for line in _logged(caplog) if "bot could not start" in line]
    waits = [line.split("next try in ")[1].split(":")[0] for line in failures]
    assert waits[:4] == ["0.1s", "0.2s", "0.4s", "0.4s"], failures  # doubling, up to the longest wait
    assert all("ConnectError" in line for line in failures)
    assert any("monitors' bot started" in line for line in _logged(caplog))
    _assert_no_secrets(_logged(caplog))


def test_monitors_bot_is_restarted_when_its_polling_dies(ws, caplog) -> None:
    _quiet_feed(ws)
    _capture_info(caplog)
    with FakeBotApi(token=TOKEN) as api:
        env = _env(ws, api)

        async def scenario() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
            runner = Runner(app, env=env, delivery_every=timedelta(seconds=0.2), grace=2.0, bot_retry=(0.1, 0.4))
            task = asyncio.create_task(runner.run())
            try:
                await _until(lambda: api.counts.get("getUpdates", 0) > 0)
                assert api.counts.get("setMyCommands") == 1
                api.fail_next("getUpdates", 401)  # PTB's polling task ends on InvalidToken
                await _until(lambda: api.counts.get("setMyCommands", 0) >= 2)  # started again
                api.push_message(MONITOR, text="/help")
                await _until(lambda: api.messages(MONITOR))
            finally:
                runner.stop.set()
                await task
                await app.aclose()

        asyncio.run(scenario())
        (reply,) = api.messages(MONITOR)
    assert "watcher: alerts on transnational repression" in reply["text"]  # answered (a stranger sees no commands)
    assert any("bot stopped polling (InvalidToken" in line for line in _logged(caplog, logging.WARNING))
    _assert_no_secrets(_logged(caplog))


# -- 8. attempts, per-destination backoff, one line per wave ---------------------------------------


def test_attempts_are_counted_while_telegram_is_unreachable_and_the_admin_is_warned(tmp_path, caplog) -> None:
    _capture_info(caplog)
    store, clock, admin = Store(tmp_path / "w.db"), Clock(), Admin()
    _queue_alerts(store, 12)
    api = FakeBotApi(token=TOKEN, listening=False).start()
    try:
        api.strict_rate = False
        notifier = _notifier(api, clock)

        async def wave() -> object:
            caplog.clear()
            return await deliver_pending(store, {"telegram": notifier}, clock)

        async def run() -> None:
            try:
                for attempt, wait in [(1, "30s"), (2, "1m"), (3, "2m")]:
                    report = await wave()
                    assert report.deferred == 12 and report.sent == 0  # type: ignore[attr-defined]
                    rows = _alerts(store)
                    assert {r["attempts"] for r in rows} == {attempt}, rows
                    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
                    assert line.startswith(f"delivery to telegram failed (attempt {attempt}): Telegram unreachable (")
                    assert line.endswith(f"; 12 alert(s) wait, next try in {wait}")
                    _assert_no_secrets([line])
                    clock.advance(1)
                    assert (await wave()).deferred == 0 and not caplog.records  # nothing due: nothing tried
                    due = {datetime.fromisoformat(r["next_attempt_at"]) for r in rows}
                    assert len(due) == 1  # the destination waits as one
                    clock.now = due.pop() + timedelta(seconds=1)
                assert await report_health(store, admin, clock) == 1
                assert "delivery to telegram is failing: 12 alert(s) waiting" in admin.said[-1]
                api.come_up()
                report = await wave()
                assert report.sent == 12 and report.messages == 12  # type: ignore[attr-defined]
                assert await report_health(store, admin, clock) == 1
                assert admin.said[-1] == "✅ delivery to telegram works again"
            finally:
                await notifier.aclose()

        asyncio.run(run())
        assert len(api.messages(int(CHANNEL))) == 12
    finally:
        api.stop()
    assert store.alert_counts() == {"sent": 12}


def test_one_failed_send_makes_the_rest_of_the_wave_wait_with_it(tmp_path, caplog) -> None:
    _capture_info(caplog)
    store, clock = Store(tmp_path / "w.db"), Clock()
    _queue_alerts(store, 5)
    with FakeBotApi(token=TOKEN) as api:
        api.strict_rate = False
        api.fail_next("sendMessage", 502)
        notifier = _notifier(api, clock)

        async def run() -> tuple[object, object]:
            try:
                failed = await deliver_pending(store, {"telegram": notifier}, clock)
                clock.advance(31)
                return failed, await deliver_pending(store, {"telegram": notifier}, clock)
            finally:
                await notifier.aclose()

        failed, sent = asyncio.run(run())
        assert api.counts["sendMessage"] == 6  # one failed try, then five messages
        assert len(api.messages(int(CHANNEL))) == 5
    assert failed.deferred == 5 and failed.sent == 0  # type: ignore[attr-defined]
    assert sent.sent == 5  # type: ignore[attr-defined]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "5 alert(s) wait, next try in 30s" in warnings[0], warnings
    assert {r["attempts"] for r in _alerts(store)} == {2}  # the failed wave counted for every due alert


def test_a_message_that_goes_through_brings_the_waiting_alerts_forward(tmp_path) -> None:
    store, clock = Store(tmp_path / "w.db"), Clock()
    _queue_alerts(store, 3)
    api = FakeBotApi(token=TOKEN, listening=False).start()
    try:
        api.strict_rate = False
        notifier = _notifier(api, clock)

        async def run() -> list[object]:
            try:
                reports = [await deliver_pending(store, {"telegram": notifier}, clock)]  # down: all wait 30 s
                api.come_up()
                clock.advance(5)
                _queue_alerts(store, 1, clock.now, first=3)  # a new alert, due at once, goes through
                reports.append(await deliver_pending(store, {"telegram": notifier}, clock))
                reports.append(await deliver_pending(store, {"telegram": notifier}, clock))  # the next wave
                return reports
            finally:
                await notifier.aclose()

        down, probe, rest = asyncio.run(run())
        assert len(api.messages(int(CHANNEL))) == 4
    finally:
        api.stop()
    assert down.deferred == 3 and probe.sent == 1 and rest.sent == 3  # type: ignore[attr-defined]
    assert store.alert_counts() == {"sent": 4}


def test_new_alerts_failing_as_probes_make_the_wait_grow_not_repeat(tmp_path, caplog) -> None:
    """While the destination stays down, each new alert tried as a probe is one more failed try
    of the destination: the waiting alerts count it, and the wait doubles (30 s, 1 min, 2 min)
    instead of "attempt 1 ... next try in 30s" being pushed back by every probe."""
    _capture_info(caplog)
    store, clock = Store(tmp_path / "w.db"), Clock()
    _queue_alerts(store, 3)
    api = FakeBotApi(token=TOKEN, listening=False).start()
    try:
        api.strict_rate = False
        notifier = _notifier(api, clock)

        async def run() -> list[str]:
            lines = []
            try:
                for n in range(3):
                    if n:
                        clock.advance(5)
                        _queue_alerts(store, 1, clock.now, first=2 + n)  # due at once: a probe
                    caplog.clear()
                    await deliver_pending(store, {"telegram": notifier}, clock)
                    lines += [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
                return lines
            finally:
                await notifier.aclose()

        lines = asyncio.run(run())
    finally:
        api.stop()
    assert [line.split(": ")[0] for line in lines] == [
        f"delivery to telegram failed (attempt {n})" for n in (1, 2, 3)]
    assert [line.rpartition("next try in ")[2] for line in lines] == ["30s", "1m", "2m"]
    rows = _alerts(store)
    assert len(rows) == 5 and {r["attempts"] for r in rows[:3]} == {3}
    assert {datetime.fromisoformat(r["next_attempt_at"]) for r in rows} == {clock.now + timedelta(minutes=2)}
