"""The monitors' bot: rule editing and questions over Telegram, for allowlisted users only.

Commands (each in /help): /watch, /unwatch, /people, /keyword, /unkeyword, /test, /mute,
/sources, /digest. Only Telegram user ids on the allowlist (`monitors:` in rules/monitors.yaml,
or WATCHER_TELEGRAM_MONITORS, comma-separated) may use them; anyone else gets a polite refusal
and the attempt is logged with the user id and command, never the text. /watch shows the
spellings that will be recognised and how many stored items of the last 30 days would have
matched, then waits for a button press; edits go through watcher.rules.editing (comments kept,
validated, locked, audited) and the rules in force are reloaded at once. Buttons under each
alert record "relevant"/"not relevant" and mute a person for a source (buttons.py).

`keep_running` is how `watcher run` runs the bot: Telegram may be unreachable when watcher
starts, and the updater's polling may end later (a 401, or a bug in a handler's plumbing), so
the bot is started, watched, and started again with backoff (5 s doubling to 5 min), each
failed try one log line without the token, until watcher stops. Polls and delivery never wait
for it: it runs in its own task.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from watcher.bot.buttons import ButtonsMixin
from watcher.durations import format_duration, parse_duration
from watcher.errors import EditRefused
from watcher.matching import Matcher, analyse
from watcher.matching.variants import describe_variants
from watcher.rules import Person, Rules, RulesEditor
from watcher.store import iso

if TYPE_CHECKING:
    from watcher.app import App  # the composition root; the bot only uses what it holds

log = logging.getLogger(__name__)
HISTORY = timedelta(days=30)
RETRY_FIRST = 5.0  # seconds before the bot's first restart; doubles per failed try
RETRY_MOST = 300.0  # the longest wait between tries, and how long it must run to reset the backoff
CHECK_EVERY = 5.0  # how often a running bot is looked at when its polling task cannot be watched
HELP = {
    "watch": "/watch Name Surname [| alias | alias] [CC] — watch a person (CC: ISO country code)",
    "unwatch": "/unwatch Name Surname — stop watching a person",
    "people": "/people — list the people watched",
    "keyword": "/keyword <type> <lang> <word> — add an incident keyword (a trailing * matches a stem)",
    "unkeyword": "/unkeyword <type> <lang> <word> — remove an incident keyword",
    "test": "/test <text> — show what the rules find in a text, and why",
    "mute": "/mute <source> [duration|off] — silence a source's alerts (default 24h)",
    "sources": "/sources — the health of every source",
    "digest": "/digest — a preview of today's alerts",
}


def _wait_text(seconds: float) -> str:
    """A backoff wait as the log shows it: '5s', '2m40s', or tenths below a second."""
    return format_duration(timedelta(seconds=max(1, round(seconds)))) if seconds >= 1 else f"{seconds:.1f}s"


def parse_watch(args: str) -> tuple[str, list[str], str | None]:
    """'Bakhodir Karimov | Bahodir Karimov | Баходир Каримов UZ' -> (name, aliases, country)."""
    parts = [p.strip() for p in args.split("|")]
    country = None
    words = parts[-1].split()
    if len(words) > 1 and len(words[-1]) == 2 and words[-1].isalpha() and words[-1].isupper():
        country = words[-1]
        parts[-1] = " ".join(words[:-1])
    parts = [" ".join(p.split()) for p in parts if p.strip()]
    if not parts:
        raise EditRefused("usage: " + HELP["watch"])
    return parts[0], parts[1:], country


class MonitorsBot(ButtonsMixin):
    def __init__(self, app: App, token: str, api_base: str, allowlist: set[int], editor: RulesEditor):
        self.app = app
        self.allowlist = allowlist
        self.editor = editor
        self.pending: dict[str, tuple[int, str, list[str], str | None]] = {}
        self._token = token
        self._api_base = api_base
        self._poll_error = ""
        self._poll_error_at = 0.0
        self._started = False
        self.application: Application = self._build()

    def _build(self) -> Application:
        """A fresh PTB Application: one that failed to start or whose polling died keeps state
        (a set stop event, a dead task) that a restart must not inherit."""
        application = ApplicationBuilder().token(self._token).base_url(self._api_base).build()
        for name in ("start", "help"):
            application.add_handler(CommandHandler(name, self.help))
        for name in HELP:
            application.add_handler(CommandHandler(name, self._guard(getattr(self, f"cmd_{name}"))))
        application.add_handler(CallbackQueryHandler(self.on_button))
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
                    log.info("monitors' bot started (%d monitor(s) allowlisted)", len(self.allowlist))
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

    def _allowed(self, update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in self.allowlist

    def _guard(self, handler: Any) -> Any:
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            if not self._allowed(update):
                command = (update.effective_message.text or "").split()[0] if update.effective_message else "?"
                log.warning("refused %s from Telegram user %s (not on the allowlist)", command[:32],
                            update.effective_user.id if update.effective_user else "?")
                if update.effective_message:
                    await update.effective_message.reply_text(
                        "Sorry, this bot only takes commands from the monitors on its list. "
                        "Ask a watcher administrator to add your Telegram user id.")
                return
            await handler(update, context)
        return guarded

    @staticmethod
    def _args(update: Update) -> str:
        text = update.effective_message.text if update.effective_message else ""
        return text.split(maxsplit=1)[1] if text and len(text.split(maxsplit=1)) > 1 else ""

    async def _reply(self, update: Update, text: str, **kwargs: Any) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(text[:4000], **kwargs)

    # -- commands ------------------------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lines = ["watcher: alerts on transnational repression. Commands for monitors:", *HELP.values()]
        if not self._allowed(update):
            lines.append("(You are not on the monitors' list, so these commands will be refused.)")
        await self._reply(update, "\n".join(lines))

    async def cmd_watch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            name, aliases, country = parse_watch(self._args(update))
            person = Person(name=name, aliases=tuple(aliases), country=country)
        except (EditRefused, ValueError) as exc:
            await self._reply(update, f"Not added: {exc}")
            return
        matched = self._history_matches(person)
        token = secrets.token_hex(4)
        self.pending[token] = (update.effective_user.id if update.effective_user else 0, name, aliases, country)
        described = describe_variants(name, self.app.rules.rules)
        variants = described[:6] + described[-1:]  # the spellings, and when the surname alone counts
        header = f"Watch {name}" + (f" ({country})" if country else "")
        text = "\n".join([header, *([f"aliases: {', '.join(aliases)}"] if aliases else []), *variants,
                          f"{matched} stored item(s) of the last 30 days would have matched.", "Confirm?"])
        buttons = InlineKeyboardMarkup([[InlineKeyboardButton("✅ watch", callback_data=f"watch:{token}:yes"),
                                         InlineKeyboardButton("✖ cancel", callback_data=f"watch:{token}:no")]])
        await self._reply(update, text, reply_markup=buttons)

    def _history_matches(self, person: Person) -> int:
        since = iso(self.app.clock() - HISTORY)
        matcher = Matcher(Rules((person,), {}))
        count = 0
        for row in self.app.store.conn.execute("SELECT title, summary, fields FROM items WHERE first_seen >= ?", (since,)):
            if matcher.analyse(f"{row['title']}\n{row['summary']}\n{row['fields']}").people:
                count += 1
        return count

    async def cmd_unwatch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._edit(update, lambda who: self.editor.remove_person(who, self._args(update).strip()))

    async def cmd_people(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        people = self.app.rules.rules.people
        lines = [f"{p.name}" + (f" ({p.country})" if p.country else "") for p in people]
        await self._reply(update, f"{len(people)} people watched:\n" + "\n".join(lines) if people else "Nobody is watched yet.")

    async def cmd_keyword(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split(maxsplit=2)
        if len(parts) != 3:
            await self._reply(update, "usage: " + HELP["keyword"])
            return
        await self._edit(update, lambda who: self.editor.add_keyword(who, parts[0], parts[1], parts[2]))

    async def cmd_unkeyword(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split(maxsplit=2)
        if len(parts) != 3:
            await self._reply(update, "usage: " + HELP["unkeyword"])
            return
        await self._edit(update, lambda who: self.editor.remove_keyword(who, parts[0], parts[1], parts[2]))

    async def _edit(self, update: Update, change: Any) -> None:
        try:
            edit = change(self._who(update))
        except EditRefused as exc:
            await self._reply(update, f"Not changed: {exc}")
            return
        await self.app.refresh_rules()  # in a worker thread: a long watchlist must not stall the loop
        await self._reply(update, f"Done: {edit.summary}")

    async def cmd_test(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = self._args(update)
        if not text:
            await self._reply(update, "usage: " + HELP["test"])
            return
        result = analyse(text, self.app.rules.rules)
        lines = [f"people: {', '.join(result.people) or '-'}", f"incident types: {', '.join(result.incident_types) or '-'}",
                 f"countries: {', '.join(result.countries) or '-'}"]
        lines += [f"• {m.rule}: “{m.text}” — {m.why}" for m in result.matches[:15]]
        await self._reply(update, "\n".join(lines))

    async def cmd_mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split()
        known = {s.id for s in self.app.sources}
        if not parts or parts[0] not in known:
            await self._reply(update, "usage: " + HELP["mute"] + (f"\nsources: {', '.join(sorted(known))}" if known else ""))
            return
        now = self.app.clock()
        store = self.app.store
        with store.transaction():
            if len(parts) > 1 and parts[1] == "off":
                store.lift_mutes(parts[0])
                said = f"{parts[0]} unmuted"
            else:
                try:
                    length = parse_duration(parts[1]) if len(parts) > 1 else timedelta(hours=24)
                except ValueError as exc:
                    await self._reply(update, f"Not muted: {exc}")
                    return
                store.add_mute(parts[0], None, now + length, self._who(update), now)
                said = f"{parts[0]} muted until {iso(now + length)}"
            store.conn.execute("INSERT INTO audit (at, who, action, file, detail) VALUES (?, ?, 'mute', NULL, ?)",
                               (iso(now), self._who(update), said))
        await self._reply(update, said)

    async def cmd_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        rows = self.app.store.sources()
        lines = [f"{r['id']}: {r['state']}, {r['items_seen']} items, last ok {r['last_ok'] or 'never'}"
                 + (f" — {r['last_error'][:80]}" if r["state"] != "ok" and r.get("last_error") else "")
                 + (f" — notice: {r['notice'][:120]}" if r["state"] == "ok" and r.get("notice") else "") for r in rows]
        await self._reply(update, "\n".join(lines) or "No sources polled yet.")

    async def cmd_digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        day = iso(self.app.clock() - timedelta(days=1))
        alerts = [a for a in self.app.store.recent_alerts(200) if a["created_at"] >= day]
        lines = [f"{len(alerts)} alert(s) in the last 24 hours:"]
        lines += [f"• {a['people'] or 'incident'}: {a['title'][:100]} ({a['source_id']})" for a in alerts[:30]]
        await self._reply(update, "\n".join(lines))
