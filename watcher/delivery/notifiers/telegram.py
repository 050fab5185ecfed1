"""Alerts to a Telegram channel or group through the Bot API (python-telegram-bot).

Flood limits are kept, never broken: at most 20 messages a minute to one group or channel and
one a second to any chat (Telegram's bot FAQ), and a 429's retry_after pauses the whole bot.
`capacity()` tells the outbox how many messages may go out in the next minute, so a burst is
grouped into fewer messages instead of queueing for hours.

Failures raise DeliveryError so the outbox keeps the alert: network errors, 5xx, timeouts and
429 are transient; a message Telegram refuses for its markup is retried once as plain text and
then refused for good (permanent). A crash between the send and the outbox's 'sent' mark is
resolved as "assume sent" (`unknown_outcome`): Telegram cannot be asked what a bot already
posted, and a second copy in the monitors' channel is worse than a possible gap; the outbox
reports such alerts to the admin chat so a person can check (see README, "Exactly once").

The same holds for every failure after which Telegram may have taken the message: the request
was written and then the answer never came (read timeout), the server closed the connection
without answering, or the connection was reset while we waited: those raise
DeliveryError(uncertain=True). Only failures that leave no doubt (`_NEVER_ARRIVED`: the
connection never opened, the request was never written whole, or Telegram answered with an
error) are sent again.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx

# PTB 22 is moving retry_after and timeouts to timedelta; opt in now (both forms are handled).
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters  # noqa: E402
from telegram.error import (  # noqa: E402
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from watcher.errors import DeliveryError  # noqa: E402
from watcher.models import Message  # noqa: E402

MAX_LENGTH = 4096
GROUP_PER_MINUTE = 20
_RETRY_IN_TEXT = re.compile(r"retry after (\d+)", re.I)

# httpx failures after which Telegram cannot have acted on the request, so sending it again
# cannot post it twice: no connection (refused, DNS failure, TLS handshake, connect or pool
# timeout, a proxy that would not connect), or a request never written out whole (a server
# acts on a complete request only). Every other httpx failure happened once the request was
# out, waiting for the answer (read timeout, reset, "Server disconnected without sending a
# response", an answer that could not be read): Telegram may have posted the message.
_NEVER_ARRIVED: tuple[type[Exception], ...] = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError, httpx.UnsupportedProtocol,
    httpx.LocalProtocolError, httpx.WriteError, httpx.WriteTimeout,
)


def may_have_arrived(exc: NetworkError) -> bool:
    """Whether Telegram may have taken the request that failed with `exc` (see `_NEVER_ARRIVED`).

    PTB raises NetworkError (TimedOut for timeouts) from the httpx exception, so the cause says
    how far the request got. A NetworkError without an httpx cause is an answer with an error
    status (5xx: Telegram said it did not do it) or a failure inside the client before any
    request, and is safe to retry; a bare TimedOut says nothing more, so it stays unknown."""
    cause = exc.__cause__
    if isinstance(cause, _NEVER_ARRIVED):
        return False
    if isinstance(cause, httpx.HTTPError):
        return True
    return isinstance(exc, TimedOut)


class FloodGate:
    """Sliding-window limits per chat and a bot-wide pause, on an injectable clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.clock = clock
        self.sleep = sleep
        self.paused_until = 0.0
        self._sent: dict[str, deque[float]] = {}

    @staticmethod
    def is_group(chat: str) -> bool:
        return chat.startswith(("-", "@"))

    def _window(self, chat: str) -> deque[float]:
        window = self._sent.setdefault(chat, deque())
        now = self.clock()
        while window and window[0] <= now - 60.0:
            window.popleft()
        return window

    def wait_for(self, chat: str) -> float:
        """Seconds until one more message may go to `chat`."""
        now = self.clock()
        window = self._window(chat)
        wait = max(0.0, self.paused_until - now)
        if window:
            wait = max(wait, window[-1] + 1.0 - now)
        if self.is_group(chat) and len(window) >= GROUP_PER_MINUTE:
            wait = max(wait, window[len(window) - GROUP_PER_MINUTE] + 60.0 - now)
        return wait

    def capacity(self, chat: str) -> int:
        """How many messages may go to `chat` within the next minute (none while a pause lasts
        that long; a pause of seconds only delays them, so they need not be grouped)."""
        if self.paused_until - self.clock() >= 60.0:
            return 0
        used = len(self._window(chat))
        return max(0, (GROUP_PER_MINUTE if self.is_group(chat) else 60) - used)

    async def ready(self, chat: str) -> None:
        """Wait until a message may go to `chat`, without taking the slot."""
        while (wait := self.wait_for(chat)) > 0:
            await self.sleep(wait)

    async def turn(self, chat: str) -> None:
        while (wait := self.wait_for(chat)) > 0:
            await self.sleep(wait)
        self._window(chat).append(self.clock())

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def split_html(html: str, limit: int = MAX_LENGTH) -> list[str]:
    """Split at paragraph, then line, boundaries, so no chunk ends inside a tag.

    Renderers keep every tag within one line; a single line over the limit is cut at the limit
    after its tags are removed (a pathological title), never mid-tag."""
    chunks: list[str] = []
    current = ""
    for line in html.split("\n"):
        if len(line) > limit:
            line = re.sub(r"<[^>]+>", "", line)[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def feedback_buttons(alert_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("✅ relevant", callback_data=f"fb:{alert_id}:relevant"),
        InlineKeyboardButton("✖ not relevant", callback_data=f"fb:{alert_id}:not_relevant"),
    ], [InlineKeyboardButton("🔇 mute this person for this source", callback_data=f"mute:{alert_id}")]])


class TelegramNotifier:
    """Sends messages to one chat. Several notifiers of one bot share its Bot and FloodGate."""

    unknown_outcome: Literal["resend", "assume_sent"] = "assume_sent"

    def __init__(self, bot: Bot, chat_id: str, gate: FloodGate, *, name: str = "telegram", buttons: bool = True):
        self.bot = bot
        self.chat_id = str(chat_id)
        self.gate = gate
        self.name = name
        self.buttons = buttons
        self._ready = False

    def capacity(self) -> int:
        return self.gate.capacity(self.chat_id)

    async def aclose(self) -> None:
        """Close the bot's HTTP connections (shared Bots are closed once; shutdown is idempotent)."""
        if self._ready:
            self._ready = False
            try:
                await self.bot.shutdown()
            except TelegramError:
                pass

    def _clean(self, text: str) -> str:
        """Error text without the bot token (PTB puts it in some messages, e.g. InvalidToken)."""
        token = str(getattr(self.bot, "token", "") or "")
        return text.replace(token, "<token>") if token else text

    async def _ensure_ready(self) -> None:
        if not self._ready:
            try:
                await self.bot.initialize()
            except InvalidToken:
                raise DeliveryError("Telegram refused the bot token: check WATCHER_TELEGRAM_TOKEN") from None
            except NetworkError as exc:  # getMe posts nothing, so any network failure is safe to retry
                raise DeliveryError(self._clean(f"Telegram unreachable ({exc})")) from None
            except TelegramError as exc:
                raise DeliveryError(self._clean(f"Telegram bot could not start: {type(exc).__name__}: {exc}")) from None
            self._ready = True

    async def prepare(self) -> None:
        """Everything that may wait, done before the outbox claims an alert: the bot's start and
        the flood limit. A crash while waiting then leaves the alert pending, not 'sending'."""
        await self._ensure_ready()
        await self.gate.ready(self.chat_id)

    async def send(self, message: Message) -> str | None:
        """Post the message (threaded under `reply_to`, silently if `silent`), or with `edit`
        replace the text of that earlier message. Editing is idempotent: Telegram's "message is
        not modified" means it already reads so, and counts as done; an edit Telegram cannot
        make (the message is gone) is refused for good, so the outbox replies instead."""
        await self._ensure_ready()
        markup = feedback_buttons(message.alert_ids[0]) if self.buttons and len(message.alert_ids) == 1 else None
        chunks = split_html(message.html) if message.html else split_html(message.text)
        if message.edit is not None:
            return await self._edit(message.edit, chunks[0], "HTML" if message.html else None, markup)
        first_id: str | None = None
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            options = {"reply_to": message.reply_to if index == 0 else None, "silent": message.silent}
            sent_id = await self._send_chunk(chunk, "HTML" if message.html else None, markup if last else None,
                                             plain=message.text if len(chunks) == 1 else None, **options)
            first_id = first_id or sent_id
        return first_id

    async def _edit(self, message_id: str, text: str, parse_mode: str | None, markup: Any) -> str:
        try:
            await self._post(text, parse_mode, markup, edit=message_id)
        except BadRequest as exc:
            said = str(exc).lower()
            if "not modified" in said:
                return message_id
            if parse_mode and "parse" in said:
                try:
                    await self._post(re.sub(r"<[^>]+>", "", text)[:MAX_LENGTH], None, markup, edit=message_id)
                except BadRequest as again:
                    if "not modified" in str(again).lower():
                        return message_id
                    raise DeliveryError(self._clean(f"Telegram refused the edit: {again}"), permanent=True) from None
                return message_id
            raise DeliveryError(self._clean(f"Telegram cannot edit the message: {exc}"), permanent=True) from None
        return message_id

    async def _send_chunk(self, text: str, parse_mode: str | None, markup: Any, plain: str | None,
                          reply_to: str | None = None, silent: bool = False) -> str:
        try:
            return await self._post(text, parse_mode, markup, reply_to=reply_to, silent=silent)
        except BadRequest as exc:
            if parse_mode and "parse" in str(exc).lower():
                return await self._send_plain(plain or re.sub(r"<[^>]+>", "", text), markup, exc, reply_to, silent)
            if "too many requests" in str(exc).lower():
                return self._raise_flood(exc)
            raise DeliveryError(self._clean(f"Telegram refused the message: {exc}")) from None

    async def _send_plain(self, text: str, markup: Any, first: Exception, reply_to: str | None = None,
                          silent: bool = False) -> str:
        try:
            return await self._post(text[:MAX_LENGTH], None, markup, reply_to=reply_to, silent=silent)
        except BadRequest as exc:
            raise DeliveryError(self._clean(f"Telegram refused the message as HTML ({first}) and as plain "
                                            f"text ({exc})"), permanent=True) from None

    async def _post(self, text: str, parse_mode: str | None, markup: Any, *, reply_to: str | None = None,
                    silent: bool = False, edit: str | None = None) -> str:
        """One sendMessage (or editMessageText) in its flood-limit slot; every failure but
        BadRequest (the caller's to judge) becomes a DeliveryError that says whether Telegram
        may have acted on it."""
        await self.gate.turn(self.chat_id)
        try:
            if edit is not None:
                await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=int(edit),
                                                 parse_mode=parse_mode, reply_markup=markup,
                                                 disable_web_page_preview=True)
                return edit
            reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None
            sent = await self.bot.send_message(self.chat_id, text, parse_mode=parse_mode, reply_markup=markup,
                                               disable_web_page_preview=True, disable_notification=silent,
                                               reply_parameters=reply)
            return str(sent.message_id)
        except RetryAfter as exc:
            seconds = _seconds(exc.retry_after)
            self.gate.pause(seconds)
            raise DeliveryError(f"Telegram flood limit: retry after {seconds:g}s", retry_after=seconds) from None
        except BadRequest:
            raise
        except TimedOut as exc:
            # A connection that never opened sent nothing: retry. An answer that never came may
            # follow a posted message: the outcome is unknown, as after a crash (see module doc).
            raise DeliveryError(self._clean(f"Telegram did not answer in time: {exc}"),
                                uncertain=may_have_arrived(exc)) from None
        except NetworkError as exc:
            if "too many requests" in str(exc).lower():
                return self._raise_flood(exc)
            if may_have_arrived(exc):  # the request was out when the connection failed
                raise DeliveryError(self._clean(f"connection lost after the request went out, Telegram may have "
                                                f"posted it ({exc})"), uncertain=True) from None
            answered = exc.__cause__ is None  # an error status (5xx) rather than a network failure
            raise DeliveryError(self._clean(f"Telegram {'failed' if answered else 'unreachable'} ({exc})")) from None
        except Forbidden as exc:
            if "too many requests" in str(exc).lower():
                return self._raise_flood(exc)
            raise DeliveryError(self._clean(f"Telegram refusing: {type(exc).__name__}: {exc}")) from None
        except TelegramError as exc:
            raise DeliveryError(self._clean(f"Telegram error: {type(exc).__name__}: {exc}")) from None

    def _raise_flood(self, exc: Exception) -> str:
        found = _RETRY_IN_TEXT.search(str(exc))
        seconds = float(found.group(1)) if found else 30.0
        self.gate.pause(seconds)
        raise DeliveryError(f"Telegram flood limit: retry after {seconds:g}s", retry_after=seconds) from None


def _seconds(value: Any) -> float:
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
