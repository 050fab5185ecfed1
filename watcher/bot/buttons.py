"""The buttons under the bot's messages: confirmations, feedback on an alert, muting its people.

callback_data (at most 64 bytes, Telegram's limit):
- `ok:<token>:y|n`: confirm or cancel a change kept under a token (base.py): /watch, /keyword,
  a `not:` suggestion of /stats (editor role);
- `fb:<alert id>:relevant|not_relevant`: a monitor's verdict on an alert (viewer role);
- `mute:<alert id>[:<1d|7d|30d|x>[:n]]`: mute the alert's people for its source (editor role,
  mutes.py).
Every press is checked against the presser's role first (BUTTON_ROLES); a refusal is logged
with the user id and the kind of button only.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.ext import ContextTypes

from watcher.bot.access import BUTTON_ROLES, STRANGER_BUTTON
from watcher.bot.base import BotParts, Pending
from watcher.errors import EditRefused
from watcher.rules import Edit
from watcher.rules.monitors import rank

log = logging.getLogger("watcher.bot")
VERDICTS = ("relevant", "not_relevant")


class ButtonsMixin(BotParts):
    """Callback-query handlers; the confirmations' changes come from EditingMixin, the mute
    choices from MutesMixin."""

    def _apply_pending(self, who: str, pending: Pending) -> Edit:  # pragma: no cover - EditingMixin
        raise NotImplementedError

    def _pending_label(self, pending: Pending) -> str:  # pragma: no cover - EditingMixin
        raise NotImplementedError

    async def on_mute_button(self, update: Update, rest: str) -> None:  # pragma: no cover - MutesMixin
        raise NotImplementedError

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not query.data:
            return
        kind, _, rest = query.data.partition(":")
        needed = BUTTON_ROLES.get(kind)
        if needed is None:
            await query.answer("This button is not known any more.")
            return
        role = self._role(update)
        if rank(role) < rank(needed):
            log.warning("refused a %s button press from Telegram user %s (role %s, needs %s)", kind,
                        self._user_id(update) or "?", role or "none", needed)
            await query.answer(STRANGER_BUTTON if role is None else
                               f"Sorry, this needs the {needed} role; you are {_a(role)} {role}.", show_alert=True)
            return
        if kind == "ok":
            await self._confirm(update, rest)
        elif kind == "fb":
            await self._feedback(update, rest)
        else:
            await self.on_mute_button(update, rest)

    async def _feedback(self, update: Update, rest: str) -> None:
        query = update.callback_query
        assert query is not None
        alert_part, _, verdict = rest.partition(":")
        store = self.app.store
        if not alert_part.isdigit() or verdict not in VERDICTS or store.alert(int(alert_part)) is None:
            await query.answer("That alert is no longer stored.")
            return
        with store.transaction():
            store.add_feedback(int(alert_part), self._who(update), verdict, self.app.clock())
        await query.answer(f"Recorded: {verdict.replace('_', ' ')}")

    async def _confirm(self, update: Update, rest: str) -> None:
        """A confirm (y) or cancel (n) button of a kept change."""
        query = update.callback_query
        assert query is not None
        token, _, answer = rest.partition(":")
        pending = self._take(token)
        if pending is None:
            await query.answer("This request has expired; send the command again.")
            return
        # a /watch or /keyword preview is one change: its message becomes the outcome; /stats
        # carries several suggestions, so its report stays and the outcome is a reply
        in_place = pending.kind in ("watch", "keyword")
        if answer != "y":
            await query.answer("Cancelled")
            if in_place:
                await query.edit_message_text(f"Not changed: {self._pending_label(pending)}")
            return
        try:
            edit = await self._apply(update, lambda who: self._apply_pending(who, pending))
        except EditRefused as exc:
            await query.answer("Not changed")
            await self._outcome(update, f"Not changed: {exc}", in_place)
            return
        await self._refresh_rules()
        await query.answer("Done")
        await self._outcome(update, f"Done: {edit.summary}", in_place)

    async def _outcome(self, update: Update, text: str, in_place: bool) -> None:
        query = update.callback_query
        assert query is not None
        if in_place:
            await query.edit_message_text(text[:4000])
        elif isinstance(query.message, Message):
            await query.message.reply_text(text[:4000])


def _a(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"
