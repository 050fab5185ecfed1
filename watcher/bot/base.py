"""What every part of the monitors' bot shares: the command list, replies, who is asking, and
the confirmations waiting for a button press.

`BotParts` is the base of the command mixins (reading.py, editing.py, mutes.py, admin.py,
buttons.py) that `MonitorsBot` (commands.py) puts together. A confirmation (/watch, /keyword,
a `not:` suggestion of /stats) is kept here under a short random token, so a button's
callback_data stays far below Telegram's 64 bytes whatever the name: `ok:<token>:y`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from watcher.rules.writer import Edit, off_loop

if TYPE_CHECKING:
    from watcher.app import App  # the composition root; the bot only uses what it holds
    from watcher.bot.access import Access
    from watcher.rules import RulesEditor
    from watcher.rules.monitors import MonitorsEditor

# every command, in the order /help and Telegram's command menu show them; the role each needs
# is in access.py (COMMAND_ROLES)
HELP = {
    "watch": "/watch Name Surname [| alias | alias] [CC] — watch a person (CC: ISO country code)",
    "unwatch": "/unwatch Name Surname — stop watching a person",
    "people": "/people — list the people watched",
    "incidents": "/incidents — the latest 10 incidents",
    "keyword": "/keyword <type> <lang> <word> — add an incident keyword (a trailing * matches a stem)",
    "unkeyword": "/unkeyword <type> <lang> <word> — remove an incident keyword",
    "test": "/test <text> — show what the rules find in a text, and why",
    "stats": "/stats [30d] — alerts and feedback per person and incident type",
    "mute": "/mute <source> [duration|off] — silence a source's alerts (default 24h)",
    "mutes": "/mutes — the mutes in force: who set them, when they end",
    "unmute": "/unmute <id> — lift a mute (the ids are in /mutes)",
    "sources": "/sources — the health of every source",
    "digest": "/digest — a preview of today's alerts",
    "monitor": "/monitor add <id> <viewer|editor|admin> [name] | remove <id> | list — who may use this bot",
    "source": "/source add <url> <id> | enable <id> | disable <id> | remove <id> — edit the sources",
    "routes": "/routes — where incidents are sent",
}
PENDING_MOST = 500  # confirmations kept at once; the oldest go first
PENDING_FOR = 24 * 3600.0  # seconds a confirmation can be pressed


@dataclass
class Pending:
    """A change waiting for its confirm button: what kind, who asked, what it changes."""

    kind: str  # 'watch', 'keyword', 'not'
    user_id: int
    data: tuple[Any, ...]
    at: float = field(default_factory=time.monotonic)


class BotParts:
    """Attributes and helpers the bot's mixins share; `MonitorsBot` sets them up."""

    app: App
    editor: RulesEditor
    monitors_editor: MonitorsEditor
    access: Access
    pending: dict[str, Pending]

    # -- who and what ----------------------------------------------------------------------

    @staticmethod
    def _user_id(update: Update) -> int | None:
        return update.effective_user.id if update.effective_user else None

    @staticmethod
    def _who(update: Update) -> str:
        """Who did it, as the audit table says it."""
        return f"telegram:{update.effective_user.id}" if update.effective_user else "telegram:?"

    def _role(self, update: Update) -> str | None:
        return self.access.role_of(self._user_id(update))

    @staticmethod
    def _args(update: Update) -> str:
        """The text after the command word."""
        text = update.effective_message.text if update.effective_message else ""
        parts = (text or "").split(maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    async def _reply(self, update: Update, text: str, **kwargs: Any) -> None:
        if update.effective_message:
            await update.effective_message.reply_text(text[:4000], **kwargs)

    async def _apply(self, update: Update, change: Callable[[str], Edit]) -> Edit:
        """Make an edit (RulesEditor, MonitorsEditor, FeedsEditor) in a worker thread: at 10,000
        people it parses and validates for seconds, which must not stall polls and deliveries.
        Its audit row is written on this loop (the Store's thread); EditRefused comes through."""
        who = self._who(update)
        return await off_loop(lambda: change(who))

    async def _refresh_rules(self) -> None:
        """Put an edit in force at once, in a worker thread (a long watchlist must not stall the loop);
        if a reload is already running, wait for it and the one that follows with this edit."""
        await self.app.refresh_rules(wait=True)

    # -- confirmations ---------------------------------------------------------------------

    def _remember(self, kind: str, update: Update, *data: Any) -> str:
        """Keep a change for its confirm button; returns its token."""
        now = time.monotonic()
        for token, pending in list(self.pending.items()):
            if now - pending.at > PENDING_FOR:
                del self.pending[token]
        while len(self.pending) >= PENDING_MOST:
            del self.pending[next(iter(self.pending))]
        token = secrets.token_hex(4)
        self.pending[token] = Pending(kind, self._user_id(update) or 0, tuple(data), now)
        return token

    def _take(self, token: str) -> Pending | None:
        pending = self.pending.pop(token, None)
        if pending is None or time.monotonic() - pending.at > PENDING_FOR:
            return None
        return pending

    @staticmethod
    def _confirm_buttons(token: str, yes: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton(yes, callback_data=f"ok:{token}:y"),
                                      InlineKeyboardButton("✖ cancel", callback_data=f"ok:{token}:n")]])
