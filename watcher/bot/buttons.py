"""The buttons under the bot's messages: confirm a /watch, feedback on an alert, mute its people.

A mixin of `MonitorsBot` (commands.py): the handlers use its app, editor, pending /watch
requests and access checks. Every press is checked against the allowlist first.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telegram import Update
from telegram.ext import ContextTypes

from watcher.errors import EditRefused

if TYPE_CHECKING:
    from watcher.app import App
    from watcher.rules import RulesEditor

log = logging.getLogger("watcher.bot")


class ButtonsMixin:
    """Callback-query handlers; `MonitorsBot` supplies the attributes declared here."""

    app: App
    editor: RulesEditor
    pending: dict[str, tuple[int, str, list[str], str | None]]

    def _allowed(self, update: Update) -> bool:  # pragma: no cover - provided by MonitorsBot
        raise NotImplementedError

    @staticmethod
    def _who(update: Update) -> str:
        return f"telegram:{update.effective_user.id}" if update.effective_user else "telegram:?"

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not query.data:
            return
        if not self._allowed(update):
            log.warning("refused a button press from Telegram user %s", query.from_user.id if query.from_user else "?")
            await query.answer("Only the monitors on watcher's list can do that.", show_alert=True)
            return
        kind, _, rest = query.data.partition(":")
        if kind == "watch":
            await self._confirm_watch(update, rest)
        elif kind == "fb":
            alert_id, _, verdict = rest.partition(":")
            with self.app.store.transaction():
                self.app.store.add_feedback(int(alert_id), self._who(update), verdict, self.app.clock())
            await query.answer(f"Recorded: {verdict.replace('_', ' ')}")
        elif kind == "mute":
            await query.answer(self._mute_alert_people(int(rest), self._who(update)))
        else:
            await query.answer()

    async def _confirm_watch(self, update: Update, rest: str) -> None:
        query = update.callback_query
        token, _, answer = rest.partition(":")
        pending = self.pending.pop(token, None)
        if pending is None:
            await query.answer("This request has expired; send /watch again.")
            return
        _, name, aliases, country = pending
        if answer != "yes":
            await query.answer("Cancelled")
            await query.edit_message_text(f"Not added: {name}")
            return
        try:
            edit = self.editor.add_person(self._who(update), name, aliases=aliases, country=country)
        except EditRefused as exc:
            await query.answer("Not added")
            await query.edit_message_text(f"Not added: {exc}")
            return
        await self.app.refresh_rules()  # in a worker thread: a long watchlist must not stall the loop
        await query.answer("Added")
        await query.edit_message_text(f"Done: {edit.summary}")

    def _mute_alert_people(self, alert_id: int, who: str) -> str:
        store = self.app.store
        alert = store.alert(alert_id)
        item = store.item(alert["item_id"]) if alert else None
        if item is None:
            return "That alert is no longer stored."
        people = [m.rule for m in store.matches_for(item["id"]) if m.kind == "person"]
        if not people:
            return "This alert names nobody on the watchlist."
        now = self.app.clock()
        with store.transaction():
            for rule in people:
                store.add_mute(item["source_id"], rule, None, who, now)
        return f"Muted {len(people)} person(s) for {item['source_id']}"
