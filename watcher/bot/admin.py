"""The admins' commands: /monitor (who may use the bot), /source (feeds.yaml), /routes.

/monitor edits rules/monitors.yaml through `MonitorsEditor` and /source edits feeds.yaml through
`FeedsEditor`: comments kept, validated (file:line), locked, atomic, audited as telegram:<id>.
A new role is in force for the monitor's next command; a source change within 15 s (a running
watcher reloads feeds.yaml).
"""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import ContextTypes

from watcher.bot.base import HELP, BotParts
from watcher.config import feeds_validator
from watcher.errors import ConfigError, EditRefused
from watcher.rules import Edit
from watcher.rules.feedsedit import FeedsEditor
from watcher.rules.monitors import ROLES, file_monitors


class AdminMixin(BotParts):
    """Commands only admins may use."""

    async def cmd_monitor(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        words = self._args(update).split(maxsplit=3)
        action = words[0].lower() if words else ""
        if action == "list" or not words:
            await self._reply(update, self._monitors_text())
            return
        ids = words[1] if len(words) > 1 else ""
        if action == "add" and len(words) >= 3 and ids.isdigit() and words[2].lower() in ROLES:
            role, name = words[2].lower(), (words[3] if len(words) > 3 else None)
            await self._admin_edit(update, lambda who: self.monitors_editor.set_role(who, int(ids), role, name))
        elif action == "remove" and len(words) == 2 and ids.isdigit():
            await self._admin_edit(update, lambda who: self.monitors_editor.remove(who, int(ids)))
        else:
            await self._reply(update, "usage: " + HELP["monitor"])

    def _monitors_text(self) -> str:
        self.access.refresh()
        try:
            names = {i: m.name for i, m in file_monitors(self.app.paths.rules).items()}
        except ConfigError:  # a broken file: the roles in force are still worth showing
            names = {}
        lines = [f"{len(self.access.roles)} monitor(s):"]
        for user_id, role in sorted(self.access.roles.items(), key=lambda kv: (-ROLES.index(kv[1]), kv[0])):
            where = " (from the environment)" if user_id in self.access.env_roles and user_id not in names else ""
            label = f" — {names[user_id]}" if names.get(user_id) else ""
            lines.append(f"{user_id}: {role}{label}{where}")
        return "\n".join(lines)

    async def cmd_source(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        words = self._args(update).split()
        action = words[0].lower() if words else ""
        editor = FeedsEditor(self.app.paths.feeds, self.app.store, feeds_validator(self.app.paths.feeds.name),
                             self.app.clock)
        if action == "add" and len(words) == 3:
            url, source_id = words[1], words[2]
            await self._admin_edit(update, lambda who: editor.add_source(who, source_id, url), restart=True)
        elif action in ("enable", "disable") and len(words) == 2:
            await self._admin_edit(update, lambda who: editor.set_enabled(who, words[1], action == "enable"),
                                   restart=True)
        elif action == "remove" and len(words) == 2:
            await self._admin_edit(update, lambda who: editor.remove_source(who, words[1]), restart=True)
        else:
            await self._reply(update, "usage: " + HELP["source"])

    async def cmd_routes(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lines = self.app.rules.rules.routes.describe()
        await self._reply(update, "\n".join(["Where incidents go (rules/routes.yaml):", *lines]))

    async def _admin_edit(self, update: Update, change: Callable[[str], Edit], restart: bool = False) -> None:
        try:
            edit = await self._apply(update, change)
        except EditRefused as exc:
            await self._reply(update, f"Not changed: {exc}")
            return
        self.access.reload()
        note = " A running watcher polls on it within 15 s." if restart else ""
        await self._reply(update, f"Done: {edit.summary}{note}")
