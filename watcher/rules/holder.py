"""The rules in force in a running watcher, and the guards on replacing them.

`RulesHolder.refresh()` reloads the rules folder when a file changed. It never puts in force:
- rules that do not load (a broken file: the loader's file:line errors are kept in
  `last_error`, the previous rules stay);
- rules that would stop watching every person, or most of them, when those people were not
  removed one by one through the editor (`/unwatch`). An emptied or truncated people.yaml (a
  bad copy, a sync tool, an editor that saved half a file) otherwise drops everyone without a
  word. A monitor who really means to remove most people by hand restarts watcher: at start the
  files are taken as they are, and an empty watchlist is a loud warning (log and admin chat).

Reloading is meant to run in a worker thread (`asyncio.to_thread`): loading and compiling
10,000 people takes seconds, which must not stall polls and deliveries on the event loop. The
optional `prepare` callback (the matcher's compile step) runs in that thread too, before the
new rules are swapped in; the swap itself is one attribute assignment.

Nothing here logs a name: counts only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watcher.errors import ConfigError, ConfigProblem
from watcher.rules.model import Rules, _fingerprint, load_rules

log = logging.getLogger("watcher.rules")

# people removed through the editor in this process, per rules folder, not yet seen by a reload
_removed_by_command: dict[str, set[str]] = {}
_removed_guard = threading.Lock()


def _folder_key(folder: Path) -> str:
    return os.path.realpath(folder)


def note_removed_by_command(folder: Path, name: str) -> None:
    """The editor removed this person on a monitor's command: a reload may drop them."""
    with _removed_guard:
        _removed_by_command.setdefault(_folder_key(folder), set()).add(name.casefold())


def forget_removed_by_command(folder: Path, name: str) -> None:
    """The edit that would have removed this person failed: a reload must not expect it."""
    _forget_removals(folder, {name.casefold()})


def _expected_removals(folder: Path) -> set[str]:
    with _removed_guard:
        return set(_removed_by_command.get(_folder_key(folder), set()))


def _forget_removals(folder: Path, names: set[str]) -> None:
    with _removed_guard:
        left = _removed_by_command.get(_folder_key(folder), set()) - names
        if left:
            _removed_by_command[_folder_key(folder)] = left
        else:
            _removed_by_command.pop(_folder_key(folder), None)


def unexplained_removals(old: Rules, new: Rules, expected: set[str]) -> int:
    """How many people `new` stops watching that no command removed."""
    kept = {p.name.casefold() for p in new.people}
    return sum(1 for p in old.people if p.name.casefold() not in kept and p.name.casefold() not in expected)


def shrink_problem(old: Rules, new: Rules, expected: set[str]) -> str | None:
    """Why `new` must not replace `old` (every or most people gone, not by command), or None."""
    gone = unexplained_removals(old, new, expected)
    if not gone:
        return None
    everyone = not new.people
    most = gone >= 2 and gone * 2 > len(old.people)
    if not (everyone or most):
        return None
    what = "every person" if everyone else f"{gone} of {len(old.people)} people"
    return (f"the new rules would stop watching {what} (an emptied or truncated file?); the previous "
            f"{len(old.people)} people stay watched. Remove people with /unwatch, one by one; if you "
            "really mean this change, restart watcher and it will load the files as they are")


class RulesHolder:
    """The rules in force. `refresh()` reloads when a file changed; a broken or emptied
    folder keeps the old rules."""

    def __init__(self, folder: Path, rules: Rules | None = None,
                 prepare: Callable[[Rules], Any] | None = None):
        self.folder = folder
        self.prepare = prepare
        self.rules = rules if rules is not None else load_rules(folder)
        if prepare is not None:
            prepare(self.rules)
        self.last_error: ConfigError | None = None
        self._refused: tuple[tuple[str, int, int], ...] | None = None
        self._lock = threading.Lock()  # one reload at a time (scheduler job and bot edits)

    def changed(self) -> bool:
        """Cheap (a stat per file): has the folder changed since the rules in force, or the
        last refusal? Lets the event loop skip the worker thread when nothing changed."""
        return _fingerprint(self.folder) not in (self.rules.fingerprint, self._refused)

    def refresh(self) -> bool:
        """Reload if the folder changed. Returns True when new rules were put in force."""
        with self._lock:
            current = _fingerprint(self.folder)
            if current in (self.rules.fingerprint, self._refused):
                return False
            try:
                rules = load_rules(self.folder)
            except ConfigError as exc:
                return self._refuse(current, exc, f"rules refused, the previous rules stay in force:\n{exc}")
            expected = _expected_removals(self.folder)
            problem = shrink_problem(self.rules, rules, expected)
            if problem is not None:
                exc = ConfigError([ConfigProblem(str(self.folder), None, problem)])
                return self._refuse(current, exc, f"rules refused: {problem}")
            if self.prepare is not None:
                self.prepare(rules)
            old = {p.name.casefold() for p in self.rules.people}
            _forget_removals(self.folder, old - {p.name.casefold() for p in rules.people})
            self.rules = rules
            self.last_error = None
            self._refused = None
        log.info("rules reloaded: %d people, %d incident types", len(rules.people), len(rules.incident_types))
        if not rules.people:
            log.warning("the watchlist is now empty: no person is watched")
        return True

    def _refuse(self, current: tuple[tuple[str, int, int], ...], exc: ConfigError, text: str) -> bool:
        log.error("%s", text)
        self.last_error = exc
        self._refused = current
        return False
