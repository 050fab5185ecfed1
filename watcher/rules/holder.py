"""The rules in force in a running watcher, and the guards on replacing them.

`RulesHolder.refresh()` reloads the rules folder when a file changed. It never puts in force:
- rules that do not load (a broken file: the loader's file:line errors are kept in
  `last_error`, the previous rules stay);
- rules that would stop watching every person, or most of them, when those people were not
  removed one by one through the editor (`/unwatch`). An emptied or truncated people.yaml (a
  bad copy, a sync tool, an editor that saved half a file) otherwise drops everyone without a
  word. A monitor who really means to remove most people by hand restarts watcher: at start the
  files are taken as they are, and an empty watchlist is a loud warning (log and admin chat).

A reload has two halves. The slow one (`load_changed`: load, validate, the guards, and the
optional `prepare` callback, the matcher's compile step) runs in a worker thread and touches
nothing in force; the quick one (`put_in_force`: one attribute assignment, or the refusal
recorded) runs on the event loop, so a poll reads either the old rules or the new ones, whole.
`refresh_async` runs at most one reload at a time and, before it ends, another if the folder
changed while it ran, so a change made during a reload is never lost. `refresh()` does both
halves at once on the caller's thread (start, the CLI, tests).

Loading and compiling 10,000 people takes about a second of pure Python, which in a thread still
holds the GIL but hands it over every `sys.getswitchinterval()` (5 ms), so the loop keeps
serving meanwhile (bench/reload.py measures its longest stall). What the loop cannot share is the
collector: a full collection is one C call that holds the GIL while it walks every tracked
object, and watcher's heap (the lemmatisers' dictionaries, the name index) makes that 200-600 ms
at 10,000 people, a stall in whichever thread triggers it. So a holder made with `freeze_heap`
(the running app) puts the heap in force into the collector's permanent generation
(`gc.freeze()`) at start and after each swap, after a young-generation collection; later
collections walk only what is newer. And the replaced rules' compiled matcher is dropped at the
swap: matcher and rules refer to each other, so they would otherwise wait, with their 100 MB,
for a full collection.

Nothing here logs a name: counts only.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Reload:
    """What the slow half of a reload found: rules ready to put in force, or why the folder is
    refused (`error`, and the log text). `base`: the rules in force it was checked against."""

    fingerprint: Fingerprint
    base: Rules
    rules: Rules | None = None
    error: ConfigError | None = None
    text: str = ""


class RulesHolder:
    """The rules in force. `refresh_async()` (or `refresh()`) reloads when a file changed; a
    broken or emptied folder keeps the old rules."""

    def __init__(self, folder: Path, rules: Rules | None = None,
                 prepare: Callable[[Rules], Any] | None = None, *, freeze_heap: bool = False):
        self.folder = folder
        self.prepare = prepare
        self.freeze_heap = freeze_heap
        self.rules = rules if rules is not None else load_rules(folder)
        if prepare is not None:
            prepare(self.rules)
        self._settle_heap()
        self.last_error: ConfigError | None = None
        self._refused: Fingerprint | None = None
        self._lock = threading.Lock()  # one load at a time, whichever thread asks
        self._running: asyncio.Task[bool] | None = None  # the reload refresh_async started

    def changed(self) -> bool:
        """Cheap (a stat per file): has the folder changed since the rules in force, or the
        last refusal? Lets the event loop skip the worker thread when nothing changed."""
        return _fingerprint(self.folder) not in (self.rules.fingerprint, self._refused)

    def refresh(self) -> bool:
        """Reload now, on this thread, if the folder changed. True when new rules were put in force."""
        with self._lock:
            outcome = self.load_changed()
            return outcome is not None and self.put_in_force(outcome)

    async def refresh_async(self, *, wait: bool = False,
                            worker: Callable[..., Awaitable[Any]] = asyncio.to_thread) -> bool:
        """Reload in a worker thread if the folder changed; True when new rules went in force.

        The caller that starts a reload waits for it. One that finds a reload running does not
        start another: with `wait` it waits for that one (which reloads again before it ends if
        the folder changed meanwhile, so a monitor's edit is in force when this returns);
        without, it returns False at once and goes on with the rules in force (a poll)."""
        running = self._running
        if running is not None and not running.done() and running.get_loop() is asyncio.get_running_loop():
            return await asyncio.shield(running) if wait else False
        if not self.changed():
            return False
        self._running = asyncio.ensure_future(self._reload_until_settled(worker))
        return await asyncio.shield(self._running)

    async def _reload_until_settled(self, worker: Callable[..., Awaitable[Any]]) -> bool:
        changed = False
        while self.changed():
            outcome = await worker(self._load_locked)
            if outcome is None:
                break
            changed = self.put_in_force(outcome) or changed
        return changed

    def _load_locked(self) -> Reload | None:
        with self._lock:
            return self.load_changed()

    def load_changed(self) -> Reload | None:
        """The slow half, for a worker thread: load, validate, guard and prepare (compile) the
        folder if it changed; None if it did not. The rules in force are not touched."""
        base = self.rules
        current = _fingerprint(self.folder)
        if current in (base.fingerprint, self._refused):
            return None
        try:
            rules = load_rules(self.folder)
        except ConfigError as exc:
            return Reload(current, base, error=exc, text=f"rules refused, the previous rules stay in force:\n{exc}")
        problem = shrink_problem(base, rules, _expected_removals(self.folder))
        if problem is not None:
            exc = ConfigError([ConfigProblem(str(self.folder), None, problem)])
            return Reload(current, base, error=exc, text=f"rules refused: {problem}")
        if self.prepare is not None:
            self.prepare(rules)
        return Reload(current, base, rules=rules)

    def put_in_force(self, outcome: Reload) -> bool:
        """The quick half, on the caller's thread (the event loop): swap the new rules in, or
        record the refusal (the old rules stay). False too when the rules in force are no longer
        the ones `outcome` was checked against."""
        if outcome.base is not self.rules:
            return False
        if outcome.rules is None:
            assert outcome.error is not None
            return self._refuse(outcome.fingerprint, outcome.error, outcome.text)
        rules, replaced = outcome.rules, self.rules
        old = {p.name.casefold() for p in replaced.people}
        _forget_removals(self.folder, old - {p.name.casefold() for p in rules.people})
        self.rules = rules
        self.last_error = None
        self._refused = None
        replaced.forget_compiled()  # freed now, not at the next full collection
        del replaced, outcome
        self._settle_heap()
        log.info("rules reloaded: %d people, %d incident types", len(rules.people), len(rules.incident_types))
        if not rules.people:
            log.warning("the watchlist is now empty: no person is watched")
        return True

    def keep_heap_frozen(self) -> None:
        """From now on settle the heap at every swap (`watcher run`: a long-lived process whose
        loop must not stall); settled once now."""
        self.freeze_heap = True
        self._settle_heap()

    def _settle_heap(self) -> None:
        """With `freeze_heap`: the rules just put in force, and everything older, out of future
        full collections (see the module's docstring). Young cyclic garbage is collected first
        (gen 0 and 1: milliseconds), so little is frozen that will never be used again."""
        if self.freeze_heap:
            gc.collect(1)
            gc.freeze()

    def _refuse(self, current: Fingerprint, exc: ConfigError, text: str) -> bool:
        log.error("%s", text)
        self.last_error = exc
        self._refused = current
        return False
