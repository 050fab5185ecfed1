"""Bot replies in a burst, on a loopback Bot API with Telegram's flood limits on (one message a
second to a private chat): 30 commands sent within one second by one monitor are all answered,
in order; a reply refused with 429 is retried after the wait Telegram names; one that still
fails is logged (no token, no text) and the monitor gets one "something went wrong" reply.

The Bot API's clock and the bot's pacing run 20 times faster than the wall clock, both on the
same clock, so the half-minute of replies takes under two seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from botapi import FakeBotApi
from bothelpers import bot_running, until
from conftest import rss

from watcher.app import App
from watcher.bot.limits import FAILED_REPLY, MAX_RETRIES, ChatPacer
from watcher.config import Paths

MONITOR, OTHER = 111, 112
SPEED = 20.0
TOKEN = "123:abc"
WAIT = 20.0  # seconds a test waits for the bot: the paced burst of replies takes a while
COMMANDS = {"/people": "1 people watched", "/sources": "news:", "/mutes": "Nothing is muted.",
            "/incidents": "No incidents yet.", "/digest": "alert(s) in the last 24 hours"}


class FastClock:
    """A monotonic clock SPEED times faster than the wall clock, and a sleep on it."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self.start) * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


@asynccontextmanager
async def running(ws, api: FakeBotApi, clock: FastClock) -> AsyncIterator[App]:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("o1", "Weather in Tashkent", "Sunny.")))})
    ws.write_rules("people:\n  - name: Rakhmetdin Kamolov\n")
    (ws.rules / "monitors.yaml").write_text(f"monitors:\n  - {MONITOR}\n  - {OTHER}\n", encoding="utf-8")
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={})
    async with bot_running(app, api, {}, ChatPacer(clock=clock, sleep=clock.sleep)):
        yield app


def test_thirty_commands_in_one_second_are_all_answered_in_order(ws) -> None:
    clock = FastClock()
    sent = [list(COMMANDS)[i % len(COMMANDS)] for i in range(30)]
    with FakeBotApi(token=TOKEN, clock=clock) as api:
        assert api.strict_rate

        async def scenario() -> None:
            async with running(ws, api, clock):
                started = clock()
                for text in sent:
                    api.push_message(MONITOR, text=text)
                api.push_message(OTHER, text="/people")
                assert clock() - started < 1.0  # the burst: 30 commands within one second
                await until(lambda: len(api.messages(MONITOR)) == 30 and api.messages(OTHER), timeout=WAIT)
                # another monitor is answered while the burst's replies are still being paced
                assert api.messages(OTHER)[0]["at"] < api.messages(MONITOR)[-1]["at"]

        asyncio.run(scenario())
    replies = [m["text"] for m in api.messages(MONITOR)]
    assert len(replies) == 30
    assert all(COMMANDS[command] in reply for command, reply in zip(sent, replies))  # in the order sent
    assert FAILED_REPLY not in replies


def test_a_reply_refused_for_flood_is_retried_and_one_that_keeps_failing_is_reported(
        ws, caplog: pytest.LogCaptureFixture) -> None:
    clock = FastClock()
    caplog.set_level(logging.INFO)
    with FakeBotApi(token=TOKEN, clock=clock) as api:

        async def scenario() -> None:
            async with running(ws, api, clock):
                api.fail_next("sendMessage", 429, retry_after=2, times=2)
                api.push_message(MONITOR, text="/people")
                await until(lambda: api.messages(MONITOR), timeout=WAIT)
                assert "Rakhmetdin Kamolov" in api.messages(MONITOR)[0]["text"]  # retried after the wait

                api.fail_next("sendMessage", 429, retry_after=1, times=MAX_RETRIES + 1)
                api.push_message(MONITOR, text="/test Rakhmetdin Kamolov detained")
                await until(lambda: len(api.messages(MONITOR)) == 2, timeout=WAIT)
                assert api.messages(MONITOR)[1]["text"] == FAILED_REPLY  # one reply says it went wrong

        asyncio.run(scenario())
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1 and f"a bot reply to Telegram user {MONITOR} failed" in failures[0]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # those: WARNING+ in watcher
    assert ours and all(TOKEN not in text and "Kamolov" not in text for text in ours)
