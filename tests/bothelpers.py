"""What the monitors' bot tests share: waiting for the loopback Bot API to see something, asking
the bot a command in a private chat, and running the bot around a test's App.

Each test file still writes its own feeds, rules and monitors.yaml and builds its own App (with
the env and clock it needs); these helpers only drive the bot, so the files stay about their
feature:

    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={})
    async with bot_running(app, api, {}, ChatPacer(private_every=0.0)):
        assert "1 people watched" in (await ask(api, 111, "/people"))["text"]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from botapi import FakeBotApi

from watcher.app import App
from watcher.bot import MonitorsBot, load_allowlist
from watcher.bot.limits import ChatPacer
from watcher.rules.editing import RulesEditor


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait (without blocking the bot on the same loop) until `condition()` is true; a test that
    waits longer than `timeout` seconds fails instead of hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def ask(api: FakeBotApi, user: int, text: str) -> dict:
    """Send a command from `user` in their private chat and wait for the bot's answer: the last
    message to that chat (its ["text"], ["reply_markup"], ["message_id"] for the callers)."""
    before = len(api.messages(user))
    api.push_message(user, text=text)
    await until(lambda: len(api.messages(user)) > before)
    return api.messages(user)[-1]


@asynccontextmanager
async def bot_running(app: App, api: FakeBotApi, env: Mapping[str, str], limiter: ChatPacer) -> AsyncIterator[App]:
    """The monitors' bot for `app` on the loopback Bot API, the allowlist read from the app's
    rules folder; yields once the bot polls for updates (so pushed messages are seen), and at exit
    stops it and closes the app (the caller built it, this owns it from here)."""
    bot = MonitorsBot(app, api.token, f"http://127.0.0.1:{api.port}/bot", load_allowlist(app.paths.rules, env),
                      RulesEditor(app.paths.rules, app.store, app.clock), env=env, limiter=limiter)
    stop = asyncio.Event()
    task = asyncio.create_task(bot.keep_running(stop))
    try:
        await until(lambda: api.counts.get("getUpdates", 0) > 0)
        yield app
    finally:
        stop.set()
        await task
        await app.aclose()
