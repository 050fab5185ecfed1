"""Bot replies in a burst: paced per chat, retried after a flood wait, and never lost silently.

Telegram lets a bot write about one message a second to one private chat, 20 a minute to one
group or channel, 30 a second overall, and answers 429 "retry after N" beyond that. PTB's
AIORateLimiter knows the group and overall limits but not the private one, and it stops *every*
request while one chat waits. So the monitors' bot has its own limiter, `ChatPacer`:

- a slot per chat: each request that writes to a chat (send*, edit*, copy*, forward*) reserves
  the next free moment for that chat (1.1 s after the previous one in a private chat, a
  sliding 20 per 60 s in a group or channel, 25 a second overall) and waits for it; the
  reservation is made before the first await, so concurrent handlers queue in order;
- a 429 moves that chat's next slot past `retry_after` and the request is tried again, up to
  `max_retries` times; other chats go on;
- `clock` and `sleep` are passed in, so tests can run the Bot API's clock faster.

`PerChatUpdates` lets PTB handle updates concurrently but one chat's in order: a monitor's
burst of commands is answered in the order sent (and a confirm never races its own cancel),
while another monitor's command does not wait behind it.

`ReplyErrors` is the Application's error handler: an update whose handler failed (a reply that
could not be sent after every retry, or a bug) is logged with the error's type and Telegram's
description, the token removed and never the message's text, and the monitor gets one short
"something went wrong" reply (or callback answer), tried once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor, ContextTypes

log = logging.getLogger("watcher.bot")

PRIVATE_EVERY = 1.1  # seconds between two messages to one private chat (Telegram: about 1 a second)
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0  # messages per window to one group or channel
OVERALL_EVERY = 1 / 25  # seconds between any two writes (Telegram: 30 a second)
MAX_RETRIES = 5
_WRITES = ("send", "edit", "copy", "forward")
FAILED_REPLY = "Sorry, something went wrong answering that; please try again in a minute."


def _seconds(value: object) -> float:
    """RetryAfter.retry_after: an int or a timedelta, by PTB version and settings."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)  # type: ignore[arg-type]


class ChatPacer(BaseRateLimiter[int]):
    """Per-chat pacing plus retries after 429 (see module doc). `rate_limit_args` (an int)
    overrides `max_retries` for one request."""

    def __init__(self, *, private_every: float = PRIVATE_EVERY, group_limit: int = GROUP_LIMIT,
                 group_window: float = GROUP_WINDOW, overall_every: float = OVERALL_EVERY,
                 max_retries: int = MAX_RETRIES, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.private_every = private_every
        self.group_limit, self.group_window = group_limit, group_window
        self.overall_every = overall_every
        self.max_retries = max_retries
        self.clock, self.sleep = clock, sleep
        self._slots: dict[str, deque[float]] = {}  # chat -> reserved send times (the latest few)
        self._not_before: dict[str, float] = {}  # chat -> no write before (after a 429)
        self._overall = 0.0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    def _reserve(self, chat: str) -> float:
        """The moment this write may go, reserved now (synchronously, so callers queue in order)."""
        now = self.clock()
        at = max(now, self._not_before.get(chat, 0.0), self._overall)
        slots = self._slots.setdefault(chat, deque())
        private = not chat.startswith("-") and not chat.startswith("@")
        limit, window = (1, self.private_every) if private else (self.group_limit, self.group_window)
        if len(slots) >= limit:
            at = max(at, slots[-limit] + window)
        slots.append(at)
        while len(slots) > limit:
            slots.popleft()
        self._overall = at + self.overall_every
        if len(self._slots) > 2048:  # forget chats that have been quiet for a while
            for key in [k for k, v in self._slots.items() if v and v[-1] < now - self.group_window]:
                self._slots.pop(key, None)
                self._not_before.pop(key, None)
        return at - now

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        chat = str(chat_id) if chat_id is not None and endpoint.startswith(_WRITES) and endpoint != "sendChatAction" else None
        tries = (rate_limit_args if rate_limit_args is not None else self.max_retries) + 1
        for attempt in range(1, tries + 1):
            if chat is not None:
                wait = self._reserve(chat)
                if wait > 0:
                    await self.sleep(wait)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                if attempt == tries:
                    log.warning("Telegram still refuses a %s after %d tries (flood control, retry after %.0f s)",
                                endpoint, tries, wait)
                    raise
                log.info("Telegram asked the bot to wait %.0f s before its next %s (try %d of %d)",
                         wait, endpoint, attempt, tries)
                if chat is None:
                    await self.sleep(wait)
                else:
                    self._not_before[chat] = max(self._not_before.get(chat, 0.0), self.clock() + wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class PerChatUpdates(BaseUpdateProcessor):
    """Updates of different chats concurrently, of one chat (else one user) one after another."""

    def __init__(self, max_concurrent_updates: int = 256):
        super().__init__(max_concurrent_updates)
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # chat -> its lock, updates holding or waiting

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        if key is None:
            await coroutine
            return
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]  # nobody holds or waits: a quiet chat keeps nothing

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def _chat_key(update: object) -> str | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return f"chat:{update.effective_chat.id}"
    return f"user:{update.effective_user.id}" if update.effective_user is not None else None


class ReplyErrors:
    """The Application's error handler (application.add_error_handler(ReplyErrors(clean)))."""

    def __init__(self, clean: Callable[[object], str]):
        self.clean = clean  # removes the bot token from a text

    async def __call__(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        user = update.effective_user.id if isinstance(update, Update) and update.effective_user else "?"
        if isinstance(error, TelegramError):
            log.error("a bot reply to Telegram user %s failed: %s", user, self.clean(error))
        else:
            log.error("a bot command from Telegram user %s failed: %s", user, type(error).__name__)
            log.debug("the failure", exc_info=error)
        if not isinstance(update, Update):
            return
        with contextlib.suppress(TelegramError, RuntimeError):  # tried once; the log line above stays
            if update.callback_query is not None:
                await update.callback_query.answer(FAILED_REPLY[:200])
            elif update.effective_chat is not None:
                await context.bot.send_message(update.effective_chat.id, FAILED_REPLY)
