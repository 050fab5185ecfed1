"""Who may use the monitors' bot, and with which powers: rules/monitors.yaml and the environment.

    monitors:
      - 111                                  # a bare id: an editor (what every monitor was before roles)
      - {id: 222, role: viewer, name: "Tashkent desk intern"}
      - id: 333
        role: admin

Roles, each with the powers of the one before: `viewer` (reads: /people, /incidents, /test,
/stats, ...), `editor` (also edits the watchlist and keywords, mutes), `admin` (also monitors,
sources, routes). Ids in WATCHER_TELEGRAM_MONITORS (comma-separated) are editors unless the file
gives them a role; ids in WATCHER_TELEGRAM_ADMINS are admins whatever the file says, so an
install can never lock its administrators out by an edit.

A malformed file is refused as a whole with file:line errors, like every rules file.
`MonitorsEditor` changes the file from the bot (/monitor) the way `RulesEditor` changes the
watchlist: locked, checked, validated, atomic, audited (RulesWriter), and it refuses an edit that
would leave no admin at all. Monitors' labels (`name:`) are never logged.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from watcher.errors import ConfigError, ConfigProblem, EditRefused
from watcher.http import utcnow
from watcher.rules.writer import Edit, RulesWriter, _Change
from watcher.rules.yamledit import (
    Indent,
    append_lines,
    comment_lines,
    detect_indent,
    indent_of,
    is_block_seq,
    item_span,
    parse,
    remove_item,
    render_item,
)
from watcher.store import Store
from watcher.yamlfile import Located, _plain, load_yaml

MONITORS_FILE = "monitors.yaml"
ROLES = ("viewer", "editor", "admin")  # each with the powers of the ones before it
DEFAULT_ROLE = "editor"  # a bare id, and WATCHER_TELEGRAM_MONITORS: the powers every monitor had before roles
MONITORS_ENV, ADMINS_ENV = "WATCHER_TELEGRAM_MONITORS", "WATCHER_TELEGRAM_ADMINS"
_KEYS = {"id", "role", "name"}
NAME_MAX = 64
_INLINE_COMMENT = re.compile(r"^\s*-\s*\d+\s+(#.*?)\s*$")  # a bare id with a comment after it


def rank(role: str | None) -> int:
    """How strong a role is (-1: not a monitor), so `rank(role) >= rank(needed)` decides access."""
    return ROLES.index(role) if role in ROLES else -1


@dataclass(frozen=True)
class Monitor:
    """One entry of monitors.yaml: a Telegram user id, its role and an optional label."""

    id: int
    role: str = DEFAULT_ROLE
    name: str = ""


# -- loading ---------------------------------------------------------------------------------


def parse_monitors(doc: Located) -> dict[int, Monitor]:
    """The `monitors:` list of a loaded file; ConfigError with every problem, located by line."""
    data = doc.data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([doc.problem((), "expected a mapping with 'monitors:'")])
    entries = data.get("monitors")
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ConfigError([doc.problem(("monitors",), "'monitors' must be a list of Telegram user ids")])
    problems: list[ConfigProblem] = []
    found: dict[int, Monitor] = {}
    first_at: dict[int, int | None] = {}
    for index, entry in enumerate(entries):
        loc: tuple[Any, ...] = ("monitors", index)
        label = f"monitor #{index + 1}"
        monitor, entry_problems = _entry(doc, loc, label, entry)
        problems.extend(entry_problems)
        if monitor is None:
            continue
        if monitor.id in found:
            where = f"{doc.display}:{first_at[monitor.id]}" if first_at[monitor.id] else doc.display
            problems.append(doc.problem(loc, f"{label}: user id {monitor.id} is already listed at {where}"))
            continue
        found[monitor.id] = monitor
        first_at[monitor.id] = doc.line_of(loc)
    if problems:
        raise ConfigError(problems)
    return found


def _entry(doc: Located, loc: tuple[Any, ...], label: str, entry: Any) -> tuple[Monitor | None, list[ConfigProblem]]:
    """One entry: a bare id, or a mapping with id, role, name."""
    if _is_id(entry):
        return Monitor(int(entry)), []
    if not isinstance(entry, dict):
        return None, [doc.problem(loc, f"{label}: {entry!r} is not a Telegram user id (a whole number) "
                                       "or a mapping with id, role, name")]
    problems = [doc.problem(loc + (key,), f"{label}: unknown key '{key}' (known: id, role, name)")
                for key in entry if key not in _KEYS]
    user_id, role, name = entry.get("id"), entry.get("role", DEFAULT_ROLE), entry.get("name", "")
    if "id" not in entry:
        problems.append(doc.problem(loc, f"{label}: missing required key 'id'"))
    elif not _is_id(user_id):
        problems.append(doc.problem(loc + ("id",), f"{label}: {user_id!r} is not a Telegram user id (a whole number)"))
    if role not in ROLES:
        problems.append(doc.problem(loc + ("role",), f"{label}: role {role!r} is not one of {', '.join(ROLES)}"))
    if name is None:
        name = ""
    if not isinstance(name, str) or "\n" in name or len(name) > NAME_MAX:
        problems.append(doc.problem(loc + ("name",), f"{label}: name must be one line of text, at most {NAME_MAX} "
                                                     "characters"))
    if problems:
        return None, problems
    return Monitor(int(user_id), str(role), " ".join(str(name).split())), []


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def file_monitors(rules_dir: Path) -> dict[int, Monitor]:
    """The monitors listed in rules_dir/monitors.yaml (none when there is no such file)."""
    path = Path(rules_dir) / MONITORS_FILE
    if not path.exists():
        return {}
    return parse_monitors(load_yaml(path))


def env_roles(env: Mapping[str, str]) -> dict[int, str]:
    """Roles the environment gives: WATCHER_TELEGRAM_MONITORS editors, WATCHER_TELEGRAM_ADMINS admins."""
    roles: dict[int, str] = {}
    for variable, role in ((MONITORS_ENV, DEFAULT_ROLE), (ADMINS_ENV, "admin")):
        for part in env.get(variable, "").replace(";", ",").split(","):
            text = part.strip()
            if not text:
                continue
            if not text.lstrip("-").isdigit():
                raise ConfigError([ConfigProblem(variable, None, f"{text!r} is not a Telegram user id")])
            roles[int(text)] = role
    return roles


def combine(listed: Mapping[int, Monitor], from_env: Mapping[int, str]) -> dict[int, str]:
    """Roles in force: the file's role, else the environment's; WATCHER_TELEGRAM_ADMINS always admin."""
    roles = {user_id: role for user_id, role in from_env.items() if role != "admin"}
    roles.update({user_id: monitor.role for user_id, monitor in listed.items()})
    roles.update({user_id: role for user_id, role in from_env.items() if role == "admin"})
    return roles


def load_monitors(rules_dir: Path, env: Mapping[str, str]) -> dict[int, str]:
    """Telegram user id -> role, from rules/monitors.yaml and the environment (see module doc).

    Raises ConfigError (file:line) for a malformed file or variable."""
    return combine(file_monitors(rules_dir), env_roles(env))


# -- editing ---------------------------------------------------------------------------------


class MonitorsEditor(RulesWriter):
    """/monitor's edits of monitors.yaml, through RulesWriter (lock, whole-folder validation,
    atomic replace, audit as action 'monitor'). Use one per thread (a Store is per thread)."""

    def __init__(self, folder: Path, store: Store, clock: Callable[[], datetime] = utcnow,
                 env: Mapping[str, str] | None = None):
        super().__init__(folder, store, clock)
        self.env_roles = env_roles(env or {})

    def set_role(self, who: str, user_id: int, role: str, name: str | None = None) -> Edit:
        """Add a monitor, or change one's role (and label, when `name` is given)."""
        if role not in ROLES:
            raise EditRefused(f"{role!r} is not a role; roles: {', '.join(ROLES)}")
        if not _is_id(user_id):
            raise EditRefused(f"{user_id!r} is not a Telegram user id")
        label = " ".join((name or "").split())
        if len(label) > NAME_MAX:
            raise EditRefused(f"a monitor's name is at most {NAME_MAX} characters")
        if self.env_roles.get(user_id) == "admin" and role != "admin":
            raise EditRefused(f"user {user_id} is an admin through {ADMINS_ENV}; change that setting instead")
        with self._locked():
            texts = self._read_all()
            text, tree, seq = self._monitors_list(texts)
            listed = self._listed(texts)
            before = listed.get(user_id)
            kept_name = label if name is not None else (before.name if before else "")
            after = Monitor(user_id, role, kept_name)
            if before == after:
                raise EditRefused(f"user {user_id} is already {_article(role)} {role}")
            self._refuse_no_admin(listed, user_id, after)
            entry = CommentedMap([("id", user_id), ("role", role)] + ([("name", kept_name)] if kept_name else []))
            indent = detect_indent(text)
            index = _index_of(seq, user_id)
            removed: Counter[str] = Counter()
            if index is None:
                line_text = append_lines(text, seq, entry, indent) if is_block_seq(seq) else None
                if not is_block_seq(seq) and not seq:
                    seq.fa.set_block_style()
                seq.append(entry)
            else:
                line_text, removed = _replace_lines(text, seq, index, entry, indent)
                seq[index] = entry
            verb = "added as" if before is None else "is now"
            return self._commit(who, texts, _Change(
                MONITORS_FILE, texts.get(MONITORS_FILE), line_text, tree, indent, removed, "monitor",
                {"user_id": user_id, "before": _detail(before), "after": _detail(after)},
                f"User {user_id} {verb} {_article(role)} {role} ({MONITORS_FILE})."))

    def remove(self, who: str, user_id: int) -> Edit:
        """Take a monitor off monitors.yaml."""
        with self._locked():
            texts = self._read_all()
            listed = self._listed(texts)
            if user_id not in listed:
                given = self.env_roles.get(user_id)
                where = f"; the {given} role comes from {ADMINS_ENV if given == 'admin' else MONITORS_ENV}" if given else ""
                raise EditRefused(f"user {user_id} is not listed in {MONITORS_FILE}{where}")
            self._refuse_no_admin(listed, user_id, None)
            text, tree, seq = self._monitors_list(texts)
            index = _index_of(seq, user_id)
            assert index is not None  # listed, so in the list
            line_text, removed = remove_item(text, seq, index, tree, "monitors")
            still = self.env_roles.get(user_id)
            note = f" (still {_article(still)} {still} through {MONITORS_ENV})" if still else ""
            return self._commit(who, texts, _Change(
                MONITORS_FILE, text, line_text, tree, detect_indent(text), removed, "monitor",
                {"user_id": user_id, "before": _detail(listed[user_id]), "after": None},
                f"User {user_id} removed from {MONITORS_FILE}{note}."))

    # -- internals ---------------------------------------------------------------------------

    def _listed(self, texts: dict[str, str]) -> dict[int, Monitor]:
        """The file's monitors as they are now; a malformed file is refused, not edited."""
        text = texts.get(MONITORS_FILE)
        if text is None:
            return {}
        try:
            return self._check_text(text)
        except ConfigError as exc:
            raise EditRefused(f"{MONITORS_FILE} is invalid; fix the file by hand first:\n{exc}", exc.problems) from None

    def _check_text(self, text: str) -> dict[int, Monitor]:
        check = Path(tempfile.mkdtemp(dir=self.folder, prefix=".check-"))
        try:
            (check / MONITORS_FILE).write_text(text, encoding="utf-8")
            return file_monitors(check)
        finally:
            shutil.rmtree(check, ignore_errors=True)

    def _validate(self, texts: dict[str, str]) -> None:
        """The whole folder as RulesWriter checks it, and monitors.yaml as the bot will read it."""
        if MONITORS_FILE in texts:
            try:
                self._check_text(texts[MONITORS_FILE])
            except ConfigError as exc:
                raise EditRefused("refused, monitors.yaml would be invalid after this change (nothing was saved):\n"
                                  f"{exc}", exc.problems) from None
        super()._validate(texts)

    def _monitors_list(self, texts: dict[str, str]) -> tuple[str, Any, CommentedSeq]:
        """The file's text (with an empty `monitors: []` added if it has no list yet), its
        round-trip tree and the list in it."""
        text = texts.get(MONITORS_FILE) or ""
        tree = parse(text, MONITORS_FILE) if text.strip() else None
        if tree is not None and not isinstance(tree, CommentedMap):
            raise EditRefused(f"{MONITORS_FILE} is not a mapping with 'monitors:'; fix the file by hand first")
        if tree is None or "monitors" not in tree:
            text = text + ("" if not text or text.endswith("\n") else "\n") + "monitors: []\n"
            tree = parse(text, MONITORS_FILE)
        if tree["monitors"] is None:
            tree["monitors"] = CommentedSeq()
        seq = tree["monitors"]
        if not isinstance(seq, CommentedSeq):
            raise EditRefused(f"'monitors' in {MONITORS_FILE} is not a list; fix the file by hand first")
        return text, tree, seq

    def _refuse_no_admin(self, listed: dict[int, Monitor], user_id: int, after: Monitor | None) -> None:
        """Refuse the edit that takes away the last admin (there was one, there would be none)."""
        roles_now = combine(listed, self.env_roles)
        changed = {k: v for k, v in listed.items() if k != user_id}
        if after is not None:
            changed[user_id] = after
        roles_then = combine(changed, self.env_roles)
        if "admin" in roles_now.values() and "admin" not in roles_then.values():
            raise EditRefused(f"user {user_id} is the last admin; make another monitor an admin first")


def _article(role: str | None) -> str:
    return "an" if (role or "")[:1] in "aeiou" else "a"


def _detail(monitor: Monitor | None) -> dict[str, Any] | None:
    if monitor is None:
        return None
    return {"id": monitor.id, "role": monitor.role, **({"name": monitor.name} if monitor.name else {})}


def _index_of(seq: CommentedSeq, user_id: int) -> int | None:
    for index, entry in enumerate(_plain(seq)):
        value = entry.get("id") if isinstance(entry, dict) else entry
        if value == user_id and not isinstance(value, bool):
            return index
    return None


def _replace_lines(text: str, seq: CommentedSeq, index: int, entry: CommentedMap,
                   indent: Indent) -> tuple[str | None, Counter[str]]:
    """Item `index` of a block list replaced by `entry`, as lines (None when not possible), and
    the comment lines that were inside the old item."""
    if not is_block_seq(seq):
        return None, Counter()
    lines = text.splitlines(keepends=True)
    span = item_span(lines, seq, index)
    if span is None:
        return None, Counter()
    first, last = span
    rendered = render_item(entry, indent, indent_of(lines[first]))
    if rendered is None:
        return None, Counter()
    removed = comment_lines(lines[first:last + 1])
    inline = _INLINE_COMMENT.match(lines[first]) if first == last else None
    if inline:  # `- 111  # Aziza, Tashkent desk`: the note stays on the entry's first line
        rendered[0] = rendered[0].rstrip("\n") + "  " + inline.group(1) + "\n"
    return "".join(lines[:first] + rendered + lines[last + 1:]), removed


__all__ = ["DEFAULT_ROLE", "MONITORS_FILE", "ROLES", "Monitor", "MonitorsEditor", "combine", "env_roles",
           "file_monitors", "load_monitors", "parse_monitors", "rank"]
