"""The monitors' bot: questions and rule edits over Telegram, each command for the roles allowed.

`MonitorsBot` puts the parts together: reading.py (viewers: /help, /people, /incidents, /test,
/stats, /sources, /digest), editing.py (editors: /watch and /keyword with a preview of the last
30 days and a confirm button, /unwatch, /unkeyword), mutes.py (/mute, /mutes, /unmute, the mute
button's durations), admin.py (admins: /monitor, /source, /routes), buttons.py (every button),
access.py (roles from rules/monitors.yaml and the environment), limits.py (replies paced per
chat and retried after a flood wait, and the error handler that makes a lost reply visible).
A command beyond the user's role gets a polite reply naming the role needed, and the refusal is
logged with the user id and the command word, never the text. Every change is audited
(who = telegram:<id>).

`keep_running` is how `watcher run` runs the bot: Telegram may be unreachable when watcher
starts, and the updater's polling may end later (a 401, or a bug in a handler's plumbing), so
the bot is started, watched, and started again with backoff (5 s doubling to 5 min), each
failed try one log line without the token, until watcher stops. Polls and delivery never wait
for it: it runs in its own task. Updates of different chats are handled concurrently, one
chat's in order (limits.PerChatUpdates), so one monitor's burst of commands, whose replies are
paced at about one a second, does not hold up another monitor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from watcher.bot.access import COMMAND_ROLES, Access, refusal
from watcher.bot.admin import AdminMixin
from watcher.bot.base import HELP, Pending
from watcher.bot.buttons import ButtonsMixin
from watcher.bot.editing import EditingMixin, parse_watch
from watcher.bot.limits import ChatPacer, PerChatUpdates, ReplyErrors
from watcher.bot.mutes import MutesMixin
from watcher.bot.reading import ReadingMixin
from watcher.durations import format_duration
from watcher.rules.monitors import MonitorsEditor

if TYPE_CHECKING:
    from watcher.app import App  # the composition root; the bot only uses what it holds
    from watcher.rules import RulesEditor

__all__ = ["HELP", "MonitorsBot", "parse_watch"]

log = logging.getLogger(__name__)
RETRY_FIRST = 5.0  # seconds before the bot's first restart; doubles per failed try
RETRY_MOST = 300.0  # the longest wait between tries, and how long it must run to reset the backoff
CHECK_EVERY = 5.0  # how often a running bot is looked at when its polling task cannot be watched
CONCURRENT_UPDATES = 256  # updates handled at once (one chat's in order: limits.PerChatUpdates)


def _wait_text(seconds: float) -> str:
    """A backoff wait as the log shows it: '5s', '2m40s', or tenths below a second."""
    return format_duration(timedelta(seconds=max(1, round(seconds)))) if seconds >= 1 else f"{seconds:.1f}s"


class MonitorsBot(ReadingMixin, EditingMixin, MutesMixin, AdminMixin, ButtonsMixin):
    """The monitors' Telegram bot in `watcher run`'s event loop.

    `allowlist`: user id -> role (load_allowlist), or a set of ids (all editors, as before
    roles). `env`: the environment it came from, so a reload of monitors.yaml keeps the roles
    WATCHER_TELEGRAM_MONITORS / WATCHER_TELEGRAM_ADMINS give; without it, what `allowlist` adds
    to the file stands for them. `limiter`: how replies are paced (a ChatPacer by default)."""

    def __init__(self, app: App, token: str, api_base: str, allowlist: Mapping[int, str] | set[int],
                 editor: RulesEditor, *, env: Mapping[str, str] | None = None,
                 limiter: BaseRateLimiter[Any] | None = None):
        self.app = app
        self.access = Access(app.paths.rules, env, allowlist)
        self.editor = editor
        self.monitors_editor = MonitorsEditor(app.paths.rules, app.store, app.clock)
        self.monitors_editor.env_roles = self.access.env_roles
        self.pending: dict[str, Pending] = {}
        self._token = token
        self._api_base = api_base
        self._limiter = limiter
        self._poll_error = ""
        self._poll_error_at = 0.0
        self._started = False
        self.application: Application[Any, Any, Any, Any, Any, Any] = self._build()

    @property
    def allowlist(self) -> dict[int, str]:
        """The roles in force (user id -> role)."""
        self.access.refresh()
        return self.access.roles

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        """A fresh PTB Application: one that failed to start or whose polling died keeps state
        (a set stop event, a dead task) that a restart must not inherit."""
        application = (ApplicationBuilder().token(self._token).base_url(self._api_base)
                       .rate_limiter(self._limiter if self._limiter is not None else ChatPacer())
                       .concurrent_updates(PerChatUpdates(CONCURRENT_UPDATES)).build())
        for name in ("start", "help"):
            application.add_handler(CommandHandler(name, self.help))
        for name in HELP:
            application.add_handler(CommandHandler(name, self._guard(name, getattr(self, f"cmd_{name}"))))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_error_handler(ReplyErrors(self._clean))
        return application

    # -- lifecycle: runs in watcher run's event loop ----------------------------------------

    async def start(self) -> None:
        """Start once; raises if Telegram cannot be reached (see `keep_running` for retries)."""
        if self._started:
            self.application = self._build()  # what a failed start or dead polling left is not reused
        self._started = True
        await self.application.initialize()
        await self.application.bot.set_my_commands([(name, text.split(" — ")[1][:256]) for name, text in HELP.items()])
        await self.application.start()
        assert self.application.updater is not None
        self._poll_error = ""
        await self.application.updater.start_polling(poll_interval=0.5, drop_pending_updates=False,
                                                     error_callback=self._polling_failed)

    async def stop(self) -> None:
        """Stop polling and shut down, whatever a failed start or dead polling left: each step
        is tried even if the one before failed (a dead polling task re-raises when stopped)."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await self._quietly("stopping the updater", updater.stop())
        if self.application.running:
            await self._quietly("stopping the bot", self.application.stop())
        await self._quietly("shutting the bot down", self.application.shutdown())

    async def keep_running(self, stop: asyncio.Event, *, first: float = RETRY_FIRST, most: float = RETRY_MOST,
                           check: float = CHECK_EVERY) -> None:
        """Run the bot until `stop` is set: start it, and start it again after a failed start
        or when its polling ends, waiting `first` seconds, doubling up to `most`. The backoff
        starts over once the bot has run for `most` seconds. Returns with the bot stopped."""
        loop = asyncio.get_running_loop()
        delay, tries = first, 0
        try:
            while not stop.is_set():
                tries += 1
                try:
                    await self.start()
                except Exception as exc:  # unreachable, refused token, 5xx: never fatal to watcher
                    log.warning("the monitors' bot could not start (try %d; alerts go on being queued and sent); "
                                "next try in %s: %s", tries, _wait_text(delay), self._clean(exc))
                    await self.stop()
                else:
                    started = loop.time()
                    log.info("monitors' bot started (%d monitor(s) allowlisted)", len(self.access))
                    reason = await self._until_polling_ends(stop, check)
                    if reason is None:
                        return
                    if loop.time() - started >= most:
                        delay = first
                    tries = 0
                    log.warning("the monitors' bot stopped polling (%s); restarting in %s", reason, _wait_text(delay))
                    await self.stop()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
                delay = min(most, delay * 2)
        finally:
            await self.stop()

    async def _until_polling_ends(self, stop: asyncio.Event, check: float) -> str | None:
        """Wait for `stop` (None) or for the bot to stop polling (why it stopped)."""
        task = self._polling_task()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waiting: set[asyncio.Future[Any]] = {stopping, *([task] if task is not None else [])}
                await asyncio.wait(waiting, timeout=check, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    return None
                if task is not None and task.done():
                    failure = None if task.cancelled() else task.exception()
                    return self._clean(f"{type(failure).__name__}: {failure}") if failure else "polling ended"
                updater = self.application.updater
                if not self.application.running or updater is None or not updater.running:
                    return "the bot was stopped"
            return None
        finally:
            stopping.cancel()

    def _polling_task(self) -> asyncio.Task[Any] | None:
        """The updater's polling task. PTB keeps it private; if a PTB release renames it, the
        bot is still checked every CHECK_EVERY seconds through the updater's `running`."""
        task = getattr(self.application.updater, "_Updater__polling_task", None)
        return task if isinstance(task, asyncio.Task) else None

    def _polling_failed(self, exc: TelegramError) -> None:
        """PTB retries a failed getUpdates by itself (every 1 to 30 s); say so in one line per
        kind of failure and at most every RETRY_MOST seconds, not with a traceback each time
        (PTB's default), and never with the token."""
        text = self._clean(f"{type(exc).__name__}: {exc}")
        now = time.monotonic()
        if text != self._poll_error or now - self._poll_error_at >= RETRY_MOST:
            self._poll_error, self._poll_error_at = text, now
            log.warning("the monitors' bot cannot fetch updates, retrying: %s", text)

    def _clean(self, exc: object) -> str:
        """An error's text without the bot token."""
        text = str(exc) if not isinstance(exc, BaseException) else f"{type(exc).__name__}: {exc}"
        return text.replace(self._token, "<token>") if self._token else text

    async def _quietly(self, what: str, step: Awaitable[object]) -> None:
        """Await one teardown step; its failure only matters at DEBUG, as a restart builds afresh."""
        try:
            await step
        except Exception as exc:  # tearing down what is broken: the restart builds afresh
            log.debug("%s: %s", what, self._clean(exc))

    # -- access --------------------------------------------------------------------------------

    def _guard(self, name: str, handler: Any) -> Any:
        """`handler` for the roles COMMAND_ROLES allows; others get a polite refusal, logged
        with the user id and the command word only."""
        needed = COMMAND_ROLES[name]

        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            user_id = self._user_id(update)
            role = self.access.role_of(user_id)
            if not self.access.allows(user_id, needed):
                log.warning("refused /%s from Telegram user %s (role %s, needs %s)", name,
                            user_id if user_id is not None else "?", role or "none", needed)
                await self._reply(update, refusal(f"/{name}", role, needed))
                return
            await handler(update, context)
        return guarded
