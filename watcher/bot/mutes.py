"""Mutes that end: the mute button under an alert, /mute, /mutes and /unmute.

The "mute" button under an alert first asks for how long (1 day, 7 days, 30 days: the alert's
buttons are swapped for the choices, and put back after), then mutes the alert's watched people
for the alert's source until then. `/mute SOURCE [duration|off]` mutes a whole source (24 h by
default) or lifts that. `/mutes` lists the mutes in force with who set them and when they end,
`/unmute ID` lifts one. A mute ends by the clock (Store.active_mutes compares `until` with now),
and muting the same thing again sets a new end. Every mute and unmute is audited
(action 'mute' / 'unmute', who = telegram:<id>).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from watcher.bot.base import HELP, BotParts
from watcher.delivery.notifiers.telegram import feedback_buttons
from watcher.durations import parse_duration
from watcher.store import iso

log = logging.getLogger("watcher.bot")

SOURCE_MUTE = timedelta(hours=24)  # /mute SOURCE without a duration
BUTTON_CHOICES = {"1d": ("1 day", timedelta(days=1)), "7d": ("7 days", timedelta(days=7)),
                  "30d": ("30 days", timedelta(days=30))}


def _until_text(until: datetime | str | None) -> str:
    if until is None:
        return "until lifted"
    stamp = iso(until) if isinstance(until, datetime) else str(until)
    return "until " + stamp[:16].replace("T", " ") + " UTC"


def _what(rule: str | None) -> str:
    return "whole source" if rule is None else rule.removeprefix("person:")


def mute_choices(alert_id: int, separate: bool = False) -> InlineKeyboardMarkup:
    """The durations the mute button offers (`:n` when they are on a message of their own)."""
    tail = ":n" if separate else ""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(f"🔇 {label}", callback_data=f"mute:{alert_id}:{key}{tail}")
         for key, (label, _) in BUTTON_CHOICES.items()],
        [InlineKeyboardButton("✖ don't mute", callback_data=f"mute:{alert_id}:x{tail}")]])


class MutesMixin(BotParts):
    """/mute, /mutes, /unmute and the mute buttons under alerts."""

    async def cmd_mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        parts = self._args(update).split()
        known = {s.id for s in self.app.sources}
        if not parts or parts[0] not in known:
            await self._reply(update, "usage: " + HELP["mute"] + (f"\nsources: {', '.join(sorted(known))}" if known else ""))
            return
        source, now, store, who = parts[0], self.app.clock(), self.app.store, self._who(update)
        if len(parts) > 1 and parts[1] == "off":
            with store.transaction():
                lifted = store.lift_mutes(source)
                store.audit(now, who, "unmute", {"source": source, "rule": None, "lifted": lifted})
            await self._reply(update, f"{source} unmuted" if lifted else f"{source} was not muted")
            return
        try:
            length = parse_duration(parts[1]) if len(parts) > 1 else SOURCE_MUTE
        except ValueError as exc:
            await self._reply(update, f"Not muted: {exc}")
            return
        with store.transaction():
            mute_id = store.set_mute(source, None, now + length, who, now)
            store.audit(now, who, "mute", {"mute": mute_id, "source": source, "rule": None, "until": iso(now + length)})
        await self._reply(update, f"{source} muted {_until_text(now + length)} (mute #{mute_id}; /unmute {mute_id})")

    async def cmd_mutes(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        mutes = self.app.store.list_mutes(self.app.clock())
        if not mutes:
            await self._reply(update, "Nothing is muted.")
            return
        lines = [f"{len(mutes)} mute(s) in force:"]
        lines += [f"#{m['id']} {m['source_id']}: {_what(m['rule'])} — set by {m['who']} — {_until_text(m['until'])}"
                  for m in mutes]
        lines.append("/unmute <id> lifts one.")
        await self._reply(update, "\n".join(lines))

    async def cmd_unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        arg = self._args(update).strip().lstrip("#")
        if not arg.isdigit():
            await self._reply(update, "usage: " + HELP["unmute"])
            return
        now, store = self.app.clock(), self.app.store
        with store.transaction():
            lifted = store.lift_mute(int(arg))
            if lifted is not None:
                store.audit(now, self._who(update), "unmute", {"mute": lifted["id"], "source": lifted["source_id"],
                                                               "rule": lifted["rule"], "until": lifted["until"]})
        if lifted is None:
            await self._reply(update, f"There is no mute #{arg} (see /mutes).")
            return
        await self._reply(update, f"Lifted mute #{lifted['id']}: {_what(lifted['rule'])} on {lifted['source_id']}")

    # -- the mute button under an alert ----------------------------------------------------------

    async def on_mute_button(self, update: Update, rest: str) -> None:
        """`mute:<alert>` asks how long; `mute:<alert>:<1d|7d|30d|x>[:n]` mutes (or not)."""
        query = update.callback_query
        assert query is not None
        alert_part, _, choice = rest.partition(":")
        choice, _, separate = choice.partition(":")
        if not alert_part.isdigit():
            await query.answer()
            return
        alert_id = int(alert_part)
        if not choice:
            try:
                await query.edit_message_reply_markup(reply_markup=mute_choices(alert_id))
            except TelegramError as exc:  # an old message, or no right to edit it: offer them apart
                log.info("could not put the mute choices under the alert (%s); sending them apart",
                         type(exc).__name__)
                if isinstance(query.message, Message):
                    await query.message.reply_text("Mute this alert's people for this source for how long?",
                                                   reply_markup=mute_choices(alert_id, separate=True))
            await query.answer("Mute for how long?")
            return
        said = "Not muted." if choice == "x" else self._mute_alert_people(alert_id, choice, self._who(update))
        try:
            if separate:
                await query.edit_message_text(said)
            else:
                await query.edit_message_reply_markup(reply_markup=feedback_buttons(alert_id))
        except TelegramError as exc:  # the mute is made; only the buttons stay as they were
            log.info("could not update the buttons after a mute (%s)", type(exc).__name__)
        await query.answer(said[:200])

    def _mute_alert_people(self, alert_id: int, choice: str, who: str) -> str:
        """Mute the people an alert names, for its source, for the chosen time; what to answer."""
        if choice not in BUTTON_CHOICES:
            return "That choice is not known; press mute again."
        label, length = BUTTON_CHOICES[choice]
        store = self.app.store
        alert = store.alert(alert_id)
        item = store.item(alert["item_id"]) if alert else None
        if item is None:
            return "That alert is no longer stored."
        people = [m.rule for m in store.matches_for(item["id"]) if m.kind == "person"]
        if not people:
            return "This alert names nobody on the watchlist."
        now = self.app.clock()
        until = now + length
        with store.transaction():
            for rule in people:
                mute_id = store.set_mute(item["source_id"], rule, until, who, now)
                store.audit(now, who, "mute", {"mute": mute_id, "source": item["source_id"], "rule": rule,
                                               "until": iso(until), "alert": alert_id})
        return (f"Muted {len(people)} person(s) for {item['source_id']} for {label} "
                f"({_until_text(until)}; /mutes lists them)")
