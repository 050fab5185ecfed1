"""How a monitor's edit of the rules reaches disk: locked, checked, validated, atomic, audited.

`RulesWriter` is the base of `RulesEditor` (editing.py, which decides *what* an edit changes);
this module owns *how* the changed text is written, so that a running watcher never reads half
a file and never silently keeps old rules because an edit broke them:

- Check. The edited text (line surgery, or ruamel's re-emitted tree when that is not possible)
  is parsed again and must hold exactly the intended data, and no comment line may vanish
  except those inside a removed entry; otherwise the edit is refused, never guessed.
- Validation before save. The new text goes to a temporary file in the rules folder, then the
  whole folder as it would be after the edit is loaded by `load_rules` (in a private temporary
  copy): an edit that breaks any rule is refused with the loader's file:line text and the real
  file is not touched.
- Lock. Every edit holds an exclusive `flock` on rules/.lock (0600) from reading the file to
  writing the audit row, and re-reads the files under it: two monitors editing at once (bot
  threads, the bot and the CLI) are serialised and never edit a stale copy or lose each other's
  change.
- Atomic replace. The file is replaced with os.replace, always 0600 (new and edited files alike: the
  watchlist is sensitive), so a reader or a crash sees the old file or the new one, never half.
  Temporary names do not end in .yaml, so the loader never picks them up.
- Audit. Each edit writes who/when/what (the entry before and after, as JSON) to the `audit`
  table right after the file is replaced; if that fails the old file is put back.
- Off the event loop. At 10,000 watched people an edit takes seconds (ruamel's round-trip
  parse of people.yaml, then the whole folder validated), so the bot runs it with `off_loop`:
  in a worker thread, while its Store work (the audit row, on the app's connection, which is
  bound to the loop's thread) is handed back to the loop (`on_store_thread`) and waited for,
  under the lock, so "written, audited" still happens together or not at all.
- One parse. The round-trip tree (comments, line numbers) is built once per edit, for the file
  edited; what the files hold (`plain_of`) and the check of the edited text use the fast loader
  that `load_rules` uses (watcher.yamlfile), with the round-trip parse only as a fallback.

Names are never logged above DEBUG.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import gc
import json
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml.error import MarkedYAMLError

from watcher.errors import ConfigError, EditRefused
from watcher.http import utcnow
from watcher.rules.model import load_rules
from watcher.rules.yamledit import Indent, comment_lines, dump, fast_plain, parse, remember_plain
from watcher.store import Store, iso
from watcher.yamlfile import _plain, refuse_aliases

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
STORE_WAIT = 30.0  # seconds a worker waits for the loop to do its Store work before giving up
T = TypeVar("T")


@dataclass(frozen=True)
class Edit:
    """A change made: `action` as in the audit table, the file name, and a line for the monitor."""

    action: str
    file: str
    summary: str



# -- off the event loop --------------------------------------------------------------------

_worker = threading.local()  # .loop: the event loop that `off_loop` runs this thread's edit for


async def off_loop(edit: Callable[[], T]) -> T:
    """Run an edit (any editor's method, bound in a lambda) in a worker thread, so the event
    loop keeps polling and delivering while it parses and validates; its Store work is done on
    this loop (`on_store_thread`). Edits stay serialised by the writer's lock."""
    loop = asyncio.get_running_loop()

    def run() -> T:
        _worker.loop = loop
        try:
            with _no_full_collections():
                return edit()
        finally:
            _worker.loop = None

    return await asyncio.to_thread(run)


_collector_off = 0  # edits running with the cyclic collector paused (see _no_full_collections)
_collector_was_on = False
_collector_guard = threading.Lock()


@contextmanager
def _no_full_collections() -> Iterator[None]:
    """Pause the cyclic collector while an edit runs. The round-trip tree of a 10,000-person
    people.yaml is about a million objects; built in a thread, it still triggers full collections
    that walk it as it grows, each one C call holding the GIL for 100-400 ms, a stall of the
    event loop however the threads share the GIL otherwise. The tree is freed by reference
    counting when the edit ends; the last edit running switches the collector back on."""
    global _collector_off, _collector_was_on
    with _collector_guard:
        if _collector_off == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _collector_off += 1
    try:
        yield
    finally:
        with _collector_guard:
            _collector_off -= 1
            if _collector_off == 0 and _collector_was_on:
                gc.enable()


def on_store_thread(call: Callable[[], T]) -> T:
    """Run `call` (which uses a Store) on the thread that owns the Store: here, or, inside
    `off_loop`, on its event loop, waiting for the result. A loop that does not get to it within
    STORE_WAIT (stopped, or blocked on this very lock) makes it an error, never a hang: the
    caller then undoes the file change; a call that had already started is waited for."""
    loop = getattr(_worker, "loop", None)
    if loop is None or _running_loop() is loop:  # no loop to hand it to, or already on it
        return call()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return  # given up by the worker: never run late
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the worker, which re-raises it
            future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    try:
        return future.result(timeout=STORE_WAIT)
    except concurrent.futures.TimeoutError:
        if future.cancel():
            raise TimeoutError("the event loop did not write the audit row in time") from None
        return future.result()  # running on the loop right now: it finishes


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# -- locking ------------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(folder: Path) -> threading.Lock:
    key = os.path.realpath(folder)
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


@dataclass
class _Change:
    """A change of one file: the new text (edited as lines, if that was possible) and the tree
    edited in memory (re-emitted by ruamel if the line edit is not possible or not right)."""

    file: str
    old_text: str | None  # None: a new file
    line_text: str | None
    tree: Any
    indent: Indent
    removed_comments: Counter[str]  # comment lines that were inside a removed entry
    action: str
    detail: dict[str, Any]
    summary: str
    new_text: str = ""



class RulesWriter:
    """The locked, validated, atomic, audited write of one changed rules file. Subclassed by
    `RulesEditor`; from an event loop, run its edits with `off_loop` (its Store belongs to the
    loop's thread; the audit row is written there)."""

    def __init__(self, folder: Path, store: Store, clock: Callable[[], datetime] = utcnow):
        self.folder = Path(folder)
        self.store = store
        self.clock = clock

    # -- audit ----------------------------------------------------------------------------

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest audit rows, newest first; `detail` decoded from JSON."""
        rows = on_store_thread(lambda: self.store.conn.execute(
            "SELECT * FROM audit ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall())
        out = []
        for row in rows:
            item = dict(row)
            try:
                item["detail"] = json.loads(item["detail"])
            except (TypeError, ValueError):
                pass
            out.append(item)
        return out

    # -- internals ------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive: other threads of this process (lock) and other processes (flock on rules/.lock)."""
        if not self.folder.is_dir():
            raise EditRefused("the rules folder was not found")
        with _thread_lock(self.folder):
            fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def _read_all(self) -> dict[str, str]:
        """Every rules file, read now (under the lock)."""
        texts = {}
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                texts[path.name] = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except UnicodeDecodeError:
                raise EditRefused(f"{path.name} is not UTF-8 text; fix the file by hand first") from None
            try:  # refused before ruamel builds (and expands) anything
                refuse_aliases(texts[path.name], path.name)
            except ConfigError as exc:
                raise EditRefused(f"{exc}; fix the file by hand first", exc.problems) from None
            except MarkedYAMLError:
                pass  # a syntax error: the round-trip parse reports it with its line
        return texts

    def _commit(self, who: str, texts: dict[str, str], change: _Change) -> Edit:
        """Check, validate the whole folder as it would be, replace the file, audit. Under the lock."""
        change.new_text = self._checked_text(change)

        path = self.folder / change.file
        mode = 0o600  # the watchlist: whatever mode the file had, an edit leaves it owner-only
        fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=f".{change.file}.", suffix=".tmp")
        tmp = Path(tmp_name)
        replaced = False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(change.new_text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            self._validate({**texts, change.file: change.new_text})
            os.replace(tmp, path)
            replaced = True
            _fsync_dir(self.folder)
            self._audit(who, change)
        except BaseException:
            if replaced:
                self._restore(path, change.old_text, mode)
            else:
                tmp.unlink(missing_ok=True)
            raise
        log.info("rules edit by %s: %s in %s", who, change.action, change.file)
        log.debug("rules edit by %s: %s", who, change.summary)
        return Edit(change.action, change.file, change.summary)

    @staticmethod
    def _checked_text(change: _Change) -> str:
        """The line edit if it holds exactly the intended data, else ruamel's re-emitted tree; and
        either only if no comment line is lost (but those inside a removed entry).

        The text is read back with the fast loader, as `load_rules` will read it; only when that
        differs (or cannot read it) is it parsed again with the round trip, as before."""
        expected = _plain(change.tree)
        old_comments = comment_lines(change.old_text or "")
        problem = ""
        for make in (lambda: change.line_text, lambda: dump(change.tree, change.indent)):
            candidate = make()
            if candidate is None:
                continue
            got = fast_plain(candidate)
            if got != expected:
                try:
                    got = _plain(parse(candidate, change.file))
                except EditRefused:
                    got = object()
            if got != expected:
                problem = problem or "the edited text would not hold the intended data"
                continue
            remember_plain(candidate, got)
            lost = old_comments - comment_lines(candidate) - change.removed_comments
            if lost:
                problem = f"the edit would lose {sum(lost.values())} comment line(s)"
                continue
            return candidate
        log.error("rules edit %s on %s refused: %s", change.action, change.file, problem)
        raise EditRefused(f"this change could not be written to {change.file} safely ({problem}); "
                          "nothing was saved, please edit the file by hand")

    def _validate(self, texts: dict[str, str]) -> None:
        """load_rules on a private copy of the folder as it would be after the edit."""
        check = Path(tempfile.mkdtemp(dir=self.folder, prefix=".check-"))
        try:
            for name, text in texts.items():
                (check / name).write_text(text, encoding="utf-8")
            load_rules(check)
        except ConfigError as exc:
            log.info("rules edit refused: the rules would be invalid (%d problem(s))", len(exc.problems))
            raise EditRefused("refused, the rules would be invalid after this change (nothing was saved):\n"
                              f"{exc}", exc.problems) from None
        finally:
            shutil.rmtree(check, ignore_errors=True)

    def _audit(self, who: str, change: _Change) -> None:
        audit(self.store, self.clock, who, change)

    def _restore(self, path: Path, old_text: str | None, mode: int) -> None:
        """Put the previous file back after a failed audit, so file and audit agree."""
        try:
            if old_text is None:
                path.unlink(missing_ok=True)
                return
            fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(old_text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, path)
        except OSError:
            log.exception("could not restore %s after a failed edit", path.name)


def audit(store: Store, clock: Callable[[], datetime], who: str, change: _Change) -> None:
    """The audit row of an edit, written on the Store's own thread (see `on_store_thread`)."""
    row = (iso(clock()), who, change.action, change.file, json.dumps(change.detail, ensure_ascii=False))

    def write() -> None:
        with store.transaction():
            store.conn.execute("INSERT INTO audit (at, who, action, file, detail) VALUES (?, ?, ?, ?, ?)", row)

    on_store_thread(write)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
