"""Monitors' edits of the rules (watch/unwatch a person, add/remove a keyword), from the bot or the CLI.

The rules files are written by people: they carry comments (why a keyword was left out, who
watches a case, commented-out entries), blank lines and an order that monitors rely on. An edit
must change only the entry it is about, so:

- Comments kept. Files are read with ruamel.yaml's round-trip loader (typ="rt", quotes
  preserved, the file's own indentation, no line wrapping). ruamel keeps comments, but attaches
  each one to a neighbouring node: deleting a list item drops the comments ruamel hung on it (the
  heading above a person, the comment after a keyword), and appending puts the new item after any
  comment that trails the old last item. So items are added to and removed from block lists as
  *lines* (located by ruamel's line numbers, rendered by ruamel), and only the rest (flow lists
  like `en: [a, b]`, a new language, an empty `people: []`) is re-emitted by ruamel. Either way
  the new text is parsed again and must hold exactly the intended data, and no comment line may
  vanish except those inside a removed entry; otherwise the edit is refused, never guessed.
- Validation before save. The new text goes to a temporary file in the rules folder, then the
  whole folder as it would be after the edit is loaded by `load_rules` (in a private temporary
  copy): an edit that breaks any rule is refused with the loader's file:line text and the real
  file is not touched. A running watcher would otherwise keep the old rules and the monitor would
  not know why their edit did nothing.
- Lock. Every edit holds an exclusive `flock` on rules/.lock (0600) from reading the file to
  writing the audit row, and re-reads the files under it: two monitors editing at once (bot
  threads, the bot and the CLI) are serialised and never edit a stale copy or lose each other's
  change.
- Atomic replace. The file is replaced with os.replace, keeping its mode (new files are 0600: the
  watchlist is sensitive), so a reader or a crash sees the old file or the new one, never half.
  Temporary names do not end in .yaml, so the loader never picks them up.
- Audit. Each edit writes who/when/what (the entry before and after, as JSON) to the `audit`
  table right after the file is replaced; if that fails the old file is put back.

Names are never logged above DEBUG. Refusals (`EditRefused`) may name the person: their text goes
back only to the monitor who asked.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from watcher.errors import ConfigError, EditRefused
from watcher.http import utcnow
from watcher.rules.model import _LANG, load_rules
from watcher.store import Store, iso
from watcher.rules.yamledit import (
    Indent,  # noqa: F401  (re-exported for callers that build indents)
    append_lines,
    comment_lines,
    detect_indent,
    dump,
    flow,
    is_block_seq,
    parse,
    plain_of,
    remember_plain,
    remove_item,
)
from watcher.yamlfile import _plain

__all__ = ["Edit", "EditRefused", "RulesEditor"]  # EditRefused lives in watcher.errors

log = logging.getLogger(__name__)

PEOPLE_FILE = "people.yaml"
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class Edit:
    """A change made: `action` as in the audit table, the file name, and a line for the monitor."""

    action: str
    file: str
    summary: str


def _clean(value: str) -> str:
    return " ".join(str(value).split())


# -- locking ------------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(folder: Path) -> threading.Lock:
    key = os.path.realpath(folder)
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


# -- YAML text helpers --------------------------------------------------------------------


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


class RulesEditor:
    """Edits of the rules folder by monitors. Use one per thread (a Store is per thread)."""

    def __init__(self, folder: Path, store: Store, clock: Callable[[], datetime] = utcnow):
        self.folder = Path(folder)
        self.store = store
        self.clock = clock

    # -- people ---------------------------------------------------------------------------

    def add_person(
        self,
        who: str,
        name: str,
        aliases: Sequence[str] = (),
        country: str | None = None,
        not_: Sequence[str] = (),
        notes: str = "",
    ) -> Edit:
        """Watch a new person: appended to the people list of people.yaml (or the file that has one)."""
        name = _clean(name)
        if not name:
            raise EditRefused("a person needs a name")
        alias_list = _unique([_clean(a) for a in aliases], exclude=name)
        not_list = _unique([_clean(n) for n in not_])
        entry = CommentedMap()
        entry["name"] = name
        if alias_list:
            entry["aliases"] = flow(alias_list)
        if country and country.strip():
            entry["country"] = country.strip().upper()
        if not_list:
            entry["not"] = flow(not_list)
        if notes and notes.strip():
            entry["notes"] = notes.strip()
        with self._locked():
            texts = self._read_all()
            self._refuse_duplicate(texts, name, alias_list)
            file = self._people_file(texts)
            old_text = texts.get(file)
            text = old_text or ""
            tree = parse(text, file) if text.strip() else None
            if tree is not None and not isinstance(tree, CommentedMap):
                raise EditRefused(f"{file} is not a mapping with 'people:'; fix the file by hand first")
            if tree is None or "people" not in tree:
                # no people list yet: start one after whatever the file holds
                text = text + ("" if not text or text.endswith("\n") else "\n") + "people: []\n"
                tree = parse(text, file)
            if tree["people"] is None:  # `people:` with nothing under it
                tree["people"] = CommentedSeq()
            people = tree["people"]
            if not isinstance(people, CommentedSeq):
                raise EditRefused(f"'people' in {file} is not a list; fix the file by hand first")
            indent = detect_indent(text)
            line_text = append_lines(text, people, entry, indent) if is_block_seq(people) else None
            if not is_block_seq(people) and not people:
                people.fa.set_block_style()
            people.append(entry)
            return self._commit(who, texts, _Change(
                file, old_text, line_text, tree, indent, Counter(), "watch",
                {"before": None, "after": _plain(entry)}, f"Now watching {name} ({file})."))

    def remove_person(self, who: str, name: str) -> Edit:
        """Stop watching a person, named by canonical name or alias (case-insensitive)."""
        wanted = _clean(name).casefold()
        if not wanted:
            raise EditRefused("which person? give a name")
        with self._locked():
            texts = self._read_all()
            by_name, by_alias = [], []
            for file, index, entry in _people_entries(texts):
                if _clean(entry.get("name", "")).casefold() == wanted:
                    by_name.append((file, index, entry))
                elif wanted in {_clean(a).casefold() for a in _strings(entry.get("aliases"))}:
                    by_alias.append((file, index, entry))
            found = by_name or by_alias
            if not found:
                raise EditRefused(f"nobody named {_clean(name)!r} is watched")
            if len(found) > 1:
                listed = ", ".join(f"{e.get('name')} ({f})" for f, _, e in found)
                raise EditRefused(f"{_clean(name)!r} could mean several people: {listed}; give the canonical name")
            file, index, entry = found[0]
            text = texts[file]
            tree = parse(text, file)
            people = tree["people"]
            before = _plain(people[index])
            line_text, removed = remove_item(text, people, index, tree, "people")
            return self._commit(who, texts, _Change(
                file, text, line_text, tree, detect_indent(text), removed, "unwatch",
                {"before": before, "after": None}, f"No longer watching {before.get('name')} ({file})."))

    # -- keywords -------------------------------------------------------------------------

    def add_keyword(self, who: str, type_id: str, lang: str, word: str) -> Edit:
        """Add a keyword to one language of an incident type (the language list is created if missing)."""
        type_id, lang, word = type_id.strip(), lang.strip().lower(), _clean(word)
        self._check_keyword_args(lang, word)
        with self._locked():
            texts = self._read_all()
            file = self._incident_file(texts, type_id)
            text = texts[file]
            tree = parse(text, file)
            body = tree["incident_types"][type_id]
            if not isinstance(body, CommentedMap):
                raise EditRefused(f"incident type {type_id} in {file} is not a mapping; fix the file by hand first")
            keywords = body.get("keywords")
            words = keywords.get(lang) if isinstance(keywords, CommentedMap) else None
            before = [str(w) for w in words] if isinstance(words, list) else []
            if word.casefold() in {_clean(w).casefold() for w in before}:
                raise EditRefused(f"{word!r} is already a {lang} keyword of {type_id}")
            indent = detect_indent(text)
            line_text = None
            if isinstance(words, CommentedSeq) and is_block_seq(words):
                line_text = append_lines(text, words, word, indent)
                words.append(word)
            elif isinstance(words, CommentedSeq):
                words.append(word)
            elif isinstance(keywords, CommentedMap):
                keywords[lang] = flow([word])
            else:
                body["keywords"] = CommentedMap([(lang, flow([word]))])
            return self._commit(who, texts, _Change(
                file, text, line_text, tree, indent, Counter(), "keyword",
                {"type": type_id, "lang": lang, "word": word, "before": before, "after": before + [word]},
                f"Added {lang} keyword {word!r} to {type_id} ({file})."))

    def remove_keyword(self, who: str, type_id: str, lang: str, word: str) -> Edit:
        """Remove a keyword (case-insensitive) from one language of an incident type."""
        type_id, lang, word = type_id.strip(), lang.strip().lower(), _clean(word)
        self._check_keyword_args(lang, word)
        with self._locked():
            texts = self._read_all()
            file = self._incident_file(texts, type_id)
            text = texts[file]
            tree = parse(text, file)
            body = tree["incident_types"][type_id]
            keywords = body.get("keywords") if isinstance(body, CommentedMap) else None
            words = keywords.get(lang) if isinstance(keywords, CommentedMap) else None
            if not isinstance(words, CommentedSeq) or not words:
                raise EditRefused(f"{type_id} has no {lang} keywords")
            before = [str(w) for w in words]
            matches = [i for i, w in enumerate(before) if _clean(w).casefold() == word.casefold()]
            if not matches:
                raise EditRefused(f"{word!r} is not a {lang} keyword of {type_id}")
            index = matches[0]
            removed_word = before[index]
            line_text, removed = remove_item(text, words, index, keywords, lang)
            return self._commit(who, texts, _Change(
                file, text, line_text, tree, detect_indent(text), removed, "unkeyword",
                {"type": type_id, "lang": lang, "word": removed_word, "before": before,
                 "after": before[:index] + before[index + 1:]},
                f"Removed {lang} keyword {removed_word!r} from {type_id} ({file})."))

    # -- audit ----------------------------------------------------------------------------

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest audit rows, newest first; `detail` decoded from JSON."""
        rows = self.store.conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (int(limit),))
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
        return texts

    def _people_file(self, texts: dict[str, str]) -> str:
        holding = [f for f, t in texts.items() if isinstance(plain_of(t), dict) and "people" in plain_of(t)]
        if PEOPLE_FILE in holding or not holding:
            return PEOPLE_FILE
        return holding[0]

    def _refuse_duplicate(self, texts: dict[str, str], name: str, aliases: list[str]) -> None:
        """Refuse a person already watched: the same name, or a spelling another person already has."""
        for file, _, entry in _people_entries(texts):
            other = _clean(str(entry.get("name", "")))
            other_aliases = {_clean(a).casefold() for a in _strings(entry.get("aliases"))}
            if other.casefold() == name.casefold():
                raise EditRefused(f"{other} is already watched ({file})")
            if name.casefold() in other_aliases:
                raise EditRefused(f"{name!r} is already an alias of {other}, who is watched ({file})")
            for alias in aliases:
                if alias.casefold() == other.casefold():
                    raise EditRefused(f"the alias {alias!r} is the name of {other}, who is already watched ({file})")
                if alias.casefold() in other_aliases:
                    raise EditRefused(f"the alias {alias!r} is already an alias of {other} ({file}); "
                                      "give another spelling or edit that person")

    def _incident_file(self, texts: dict[str, str], type_id: str) -> str:
        known: dict[str, str] = {}
        for file, text in texts.items():
            data = plain_of(text)
            types = data.get("incident_types") if isinstance(data, dict) else None
            if isinstance(types, dict):
                for key in types:
                    known.setdefault(str(key), file)
        if type_id not in known:
            listed = ", ".join(sorted(known)) or "none defined"
            raise EditRefused(f"unknown incident type {type_id!r}; known types: {listed}")
        return known[type_id]

    @staticmethod
    def _check_keyword_args(lang: str, word: str) -> None:
        if not _LANG.match(lang):
            raise EditRefused(f"{lang!r} is not a language code like en, ru, uz")
        if not word:
            raise EditRefused("the keyword is empty")

    def _commit(self, who: str, texts: dict[str, str], change: _Change) -> Edit:
        """Check, validate the whole folder as it would be, replace the file, audit. Under the lock."""
        change.new_text = self._checked_text(change)

        path = self.folder / change.file
        mode = (path.stat().st_mode & 0o7777) if change.old_text is not None and path.exists() else 0o600
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
        either only if no comment line is lost (but those inside a removed entry)."""
        expected = _plain(change.tree)
        old_comments = comment_lines(change.old_text or "")
        problem = ""
        for make in (lambda: change.line_text, lambda: dump(change.tree, change.indent)):
            candidate = make()
            if candidate is None:
                continue
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
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO audit (at, who, action, file, detail) VALUES (?, ?, ?, ?, ?)",
                (iso(self.clock()), who, change.action, change.file, json.dumps(change.detail, ensure_ascii=False)),
            )

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


# -- module helpers -----------------------------------------------------------------------


def _unique(values: list[str], exclude: str | None = None) -> list[str]:
    seen = {exclude.casefold()} if exclude else set()
    out = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _people_entries(texts: dict[str, str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for file, text in texts.items():
        data = plain_of(text)
        people = data.get("people") if isinstance(data, dict) else None
        if isinstance(people, list):
            for index, entry in enumerate(people):
                if isinstance(entry, dict):
                    yield file, index, entry


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
