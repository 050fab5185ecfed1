"""The editors' commands: /watch, /unwatch, /keyword, /unkeyword (role `editor`).

/watch and /keyword change nothing at once: they show what the change would have done to the
stored items of the last 30 days (the five most recent it would have matched, the alerts per
week it would have produced: watcher.history.preview), then wait for the confirm button. Every
edit goes through `RulesEditor` (comments kept, validated, locked, atomic, audited as
telegram:<id>), and the rules in force are reloaded at once. Previews and edits run in a worker
thread (`off_loop`): at 10,000 people they take seconds, and polls and alerts must go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Update
from telegram.ext import ContextTypes

from watcher.bot.base import HELP, BotParts, Pending
from watcher.errors import EditRefused
from watcher.history.preview import preview_keyword, preview_person
from watcher.matching.variants import describe_variants
from watcher.rules import Edit, Person
from watcher.rules.writer import off_loop

log = logging.getLogger("watcher.bot")


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


class EditingMixin(BotParts):
    """Commands that change the watchlist and the incident keywords."""

    async def cmd_watch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            name, aliases, country = parse_watch(self._args(update))
            person = Person(name=name, aliases=tuple(aliases), country=country)
        except (EditRefused, ValueError) as exc:
            await self._reply(update, f"Not added: {exc}")
            return
        rules, store, now = self.app.rules.rules, self.app.store, self.app.clock()
        # seconds at 10,000 people and a month of a thousand feeds: in a worker thread
        preview, described = await off_loop(lambda: (preview_person(store, rules, person, now),
                                                     describe_variants(name, rules)))
        token = self._remember("watch", update, name, aliases, country)
        variants = described[:6] + described[-1:]  # the spellings, and when the surname alone counts
        header = f"Watch {name}" + (f" ({country})" if country else "")
        text = "\n".join([header, *([f"aliases: {', '.join(aliases)}"] if aliases else []), *variants,
                          preview.text(), "Confirm?"])
        await self._reply(update, text, reply_markup=self._confirm_buttons(token, "✅ watch"))

    async def cmd_unwatch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        name = self._args(update).strip()
        await self._edit(update, lambda who: self.editor.remove_person(who, name))

    async def cmd_keyword(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split(maxsplit=2)
        if len(parts) != 3:
            await self._reply(update, "usage: " + HELP["keyword"])
            return
        type_id, lang, word = parts[0], parts[1].lower(), " ".join(parts[2].split())
        try:
            rules, store, now = self.app.rules.rules, self.app.store, self.app.clock()
            preview = await off_loop(lambda: preview_keyword(store, rules, type_id, lang, word, now))
        except EditRefused as exc:
            await self._reply(update, f"Not changed: {exc}")
            return
        token = self._remember("keyword", update, type_id, lang, word)
        text = "\n".join([f"Add the {lang} keyword {word!r} to {type_id}", preview.text(), "Confirm?"])
        await self._reply(update, text, reply_markup=self._confirm_buttons(token, "✅ add keyword"))

    async def cmd_unkeyword(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split(maxsplit=2)
        if len(parts) != 3:
            await self._reply(update, "usage: " + HELP["unkeyword"])
            return
        await self._edit(update, lambda who: self.editor.remove_keyword(who, parts[0], parts[1], parts[2]))

    async def _edit(self, update: Update, change: Callable[[str], Edit]) -> None:
        try:
            edit = await self._apply(update, change)
        except EditRefused as exc:
            await self._reply(update, f"Not changed: {exc}")
            return
        await self._refresh_rules()
        await self._reply(update, f"Done: {edit.summary}")

    # -- confirm buttons (buttons.py routes `ok:<token>:y|n` here) ------------------------------

    def _apply_pending(self, who: str, pending: Pending) -> Edit:
        """The change a confirm button was pressed for; EditRefused when it cannot be made."""
        if pending.kind == "watch":
            name, aliases, country = pending.data
            return self.editor.add_person(who, name, aliases=aliases, country=country)
        if pending.kind == "keyword":
            type_id, lang, word = pending.data
            return self.editor.add_keyword(who, type_id, lang, word)
        if pending.kind == "not":
            person, namesake = pending.data
            return self.editor.add_not(who, person, namesake)
        raise EditRefused("this button is not known any more")

    @staticmethod
    def _pending_label(pending: Pending) -> str:
        """What a pending change is about, for the cancel and refusal lines."""
        if pending.kind == "watch":
            return str(pending.data[0])
        if pending.kind == "keyword":
            return f"{pending.data[1]} keyword {pending.data[2]!r} of {pending.data[0]}"
        return f"not: {pending.data[1]} for {pending.data[0]}"
