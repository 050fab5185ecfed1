"""The monitors' bot: rule editing and questions over Telegram, for allowlisted users only.

Commands (each in /help): /watch, /unwatch, /people, /keyword, /unkeyword, /test, /mute,
/sources, /digest. Only Telegram user ids on the allowlist (`monitors:` in rules/monitors.yaml,
or WATCHER_TELEGRAM_MONITORS, comma-separated) may use them; anyone else gets a polite refusal
and the attempt is logged with the user id and command, never the text. /watch shows the
spellings that will be recognised and how many stored items of the last 30 days would have
matched, then waits for a button press; edits go through watcher.rules.editing (comments kept,
validated, locked, audited) and the rules in force are reloaded at once. Buttons under each
alert record "relevant"/"not relevant" and mute a person for a source (buttons.py).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from watcher.bot.buttons import ButtonsMixin
from watcher.durations import parse_duration
from watcher.errors import EditRefused
from watcher.matching import Matcher, analyse
from watcher.matching.variants import describe_variants
from watcher.rules import Person, Rules, RulesEditor
from watcher.store import iso

if TYPE_CHECKING:
    from watcher.app import App  # the composition root; the bot only uses what it holds

log = logging.getLogger(__name__)
HISTORY = timedelta(days=30)
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
        self.application: Application = ApplicationBuilder().token(token).base_url(api_base).build()
        for name in ("start", "help"):
            self.application.add_handler(CommandHandler(name, self.help))
        for name in HELP:
            self.application.add_handler(CommandHandler(name, self._guard(getattr(self, f"cmd_{name}"))))
        self.application.add_handler(CallbackQueryHandler(self.on_button))

    # -- lifecycle: runs in watcher run's event loop ----------------------------------------

    async def start(self) -> None:
        await self.application.initialize()
        await self.application.bot.set_my_commands([(name, text.split(" — ")[1][:256]) for name, text in HELP.items()])
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(poll_interval=0.5, drop_pending_updates=False)

    async def stop(self) -> None:
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

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
        variants = describe_variants(name)[:6]
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
        self.app.rules.refresh()
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
                 + (f" — {r['last_error'][:80]}" if r["state"] != "ok" and r.get("last_error") else "") for r in rows]
        await self._reply(update, "\n".join(lines) or "No sources polled yet.")

    async def cmd_digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        day = iso(self.app.clock() - timedelta(days=1))
        alerts = [a for a in self.app.store.recent_alerts(200) if a["created_at"] >= day]
        lines = [f"{len(alerts)} alert(s) in the last 24 hours:"]
        lines += [f"• {a['people'] or 'incident'}: {a['title'][:100]} ({a['source_id']})" for a in alerts[:30]]
        await self._reply(update, "\n".join(lines))
