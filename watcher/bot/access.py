"""Who may do what in the monitors' bot: roles from rules/monitors.yaml and the environment.

Each command and button needs a role (`COMMAND_ROLES`, `BUTTON_ROLES`); a monitor's role comes
from watcher.rules.monitors (viewer < editor < admin; a bare id and WATCHER_TELEGRAM_MONITORS are
editors, WATCHER_TELEGRAM_ADMINS admins). `Access` re-reads monitors.yaml when it changes (a
/monitor edit, or a hand edit), so a new role is in force for the next command; a broken file
keeps the roles in force and says why in the log (file:line), like a broken rules file.

A refusal is logged at WARNING with the user id, the command word and the roles, never the
command's arguments (they may hold a watched name).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from watcher.errors import ConfigError
from watcher.rules.monitors import MONITORS_FILE, combine, env_roles, file_monitors, load_monitors, rank

log = logging.getLogger("watcher.bot")

# the role each command needs; /help and /start answer everyone (with what their role allows)
COMMAND_ROLES: dict[str, str] = {
    "help": "viewer", "people": "viewer", "incidents": "viewer", "test": "viewer", "stats": "viewer",
    "sources": "viewer", "digest": "viewer", "mutes": "viewer",
    "watch": "editor", "unwatch": "editor", "keyword": "editor", "unkeyword": "editor", "mute": "editor",
    "unmute": "editor",
    "monitor": "admin", "source": "admin", "routes": "admin",
}
# the role each kind of button needs (the first part of its callback_data)
BUTTON_ROLES: dict[str, str] = {"fb": "viewer", "mute": "editor", "ok": "editor"}

STRANGER_REPLY = ("Sorry, this bot only takes commands from the monitors on its list. "
                  "Ask a watcher administrator to add your Telegram user id.")
STRANGER_BUTTON = "Only the monitors on watcher's list can do that."


def load_allowlist(rules_dir: Path, env: Mapping[str, str]) -> dict[int, str]:
    """Telegram user id -> role (see watcher.rules.monitors.load_monitors); ConfigError with
    file:line when monitors.yaml or a variable is malformed. Empty: the bot refuses everyone."""
    return load_monitors(rules_dir, env)


def refusal(command: str, role: str | None, needed: str) -> str:
    """The polite reply to a monitor whose role does not allow `command`."""
    if role is None:
        return STRANGER_REPLY
    return (f"Sorry, {command} needs the {needed} role; you are {_a(role)} {role}. "
            "Ask a watcher admin if you need it.")


def _a(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


class Access:
    """The roles in force, reloaded from monitors.yaml when the file changes."""

    def __init__(self, rules_dir: Path, env: Mapping[str, str] | None, initial: Mapping[int, str] | set[int]):
        self.path = Path(rules_dir) / MONITORS_FILE
        start = dict(initial) if isinstance(initial, Mapping) else {int(i): "editor" for i in initial}
        if env is not None:
            self.env_roles = env_roles(env)
        else:  # built without the environment: what the given roles add to the file stands for it
            try:
                listed = file_monitors(rules_dir)
            except ConfigError:
                listed = {}
            self.env_roles = {i: r for i, r in start.items() if i not in listed or listed[i].role != r}
        self.roles: dict[int, str] = start
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> None:
        """Re-read monitors.yaml if it changed; a broken file keeps the roles in force."""
        stamp = self._stamp()
        if stamp == self._seen:
            return
        self._seen = stamp
        try:
            listed = file_monitors(self.path.parent)
        except ConfigError as exc:
            log.error("monitors.yaml refused, the monitors' roles in force stay:\n%s", exc)
            return
        self.roles = combine(listed, self.env_roles)
        log.info("monitors reloaded: %d monitor(s)", len(self.roles))

    def reload(self) -> None:
        """Re-read monitors.yaml at the next question (after an edit, whatever its timestamps)."""
        self._seen = (-1, -1)

    def role_of(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        self.refresh()
        return self.roles.get(int(user_id))

    def allows(self, user_id: int | None, needed: str) -> bool:
        return rank(self.role_of(user_id)) >= rank(needed)

    def __len__(self) -> int:
        return len(self.roles)

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, int) and self.role_of(user_id) is not None
