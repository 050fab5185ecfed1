"""Monitors' edits of the rules (watch/unwatch a person, add/remove a keyword), from the bot or the CLI.

The rules files are written by people: they carry comments (why a keyword was left out, who
watches a case, commented-out entries), blank lines and an order that monitors rely on. An edit
must change only the entry it is about. Files are read with ruamel.yaml's round-trip loader
(typ="rt", quotes preserved, the file's own indentation, no line wrapping). ruamel keeps
comments, but attaches each one to a neighbouring node: deleting a list item drops the comments
ruamel hung on it (the heading above a person, the comment after a keyword), and appending puts
the new item after any comment that trails the old last item. So items are added to and removed
from block lists as *lines* (located by ruamel's line numbers, rendered by ruamel, see
yamledit.py), and only the rest (flow lists like `en: [a, b]`, a new language, an empty
`people: []`) is re-emitted by ruamel.

This module decides what each edit changes; writer.py (`RulesWriter`, the base class) checks
the result, validates the whole folder, locks, replaces the file atomically and audits it.

Refusals (`EditRefused`) may name the person: their text goes back only to the monitor who asked.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from watcher.errors import EditRefused
from watcher.rules.holder import forget_removed_by_command, note_removed_by_command
from watcher.rules.model import _LANG
from watcher.rules.writer import Edit, RulesWriter, _Change
from watcher.rules.yamledit import (
    add_key_lines,
    append_lines,
    append_to,
    detect_indent,
    flow,
    is_block_seq,
    parse,
    plain_of,
    remove_item,
)
from watcher.yamlfile import _plain

__all__ = ["Edit", "EditRefused", "RulesEditor"]  # EditRefused lives in watcher.errors

log = logging.getLogger(__name__)

PEOPLE_FILE = "people.yaml"


def _clean(value: str) -> str:
    return " ".join(str(value).split())



class RulesEditor(RulesWriter):
    """Edits of the rules folder by monitors. From an event loop, run each with `off_loop` (writer.py):
    seconds of parsing at 10,000 people happen in a worker thread, the audit row on the loop."""

    # -- people ---------------------------------------------------------------------------

    def add_person(
        self,
        who: str,
        name: str,
        aliases: Sequence[str] = (),
        country: str | None = None,
        not_: Sequence[str] = (),
        notes: str = "",
        team: str | None = None,
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
        if team and team.strip():
            entry["team"] = _clean(team)
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
            # noted before the file changes, so a reload racing this edit already knows it
            note_removed_by_command(self.folder, str(before.get("name", "")))
            try:
                return self._commit(who, texts, _Change(
                    file, text, line_text, tree, detect_indent(text), removed, "unwatch",
                    {"before": before, "after": None}, f"No longer watching {before.get('name')} ({file})."))
            except BaseException:
                forget_removed_by_command(self.folder, str(before.get("name", "")))
                raise

    def add_not(self, who: str, person_name: str, namesake: str) -> Edit:
        """Add a namesake to a watched person's `not:` list (the one-tap answer to alerts judged
        not relevant, from watcher.history.stats): that other person's name never triggers them."""
        wanted, namesake = _clean(person_name).casefold(), _clean(namesake)
        if not wanted or not namesake:
            raise EditRefused("give the watched person's name and the namesake's")
        with self._locked():
            texts = self._read_all()
            found = [(f, i, e) for f, i, e in _people_entries(texts) if _clean(e.get("name", "")).casefold() == wanted]
            if not found:
                raise EditRefused(f"nobody named {_clean(person_name)!r} is watched")
            file, index, entry = found[0]
            name = _clean(entry.get("name", ""))
            own = {name.casefold(), *(_clean(a).casefold() for a in _strings(entry.get("aliases")))}
            if namesake.casefold() in own:
                raise EditRefused(f"{namesake!r} is a spelling of {name} themselves, not a namesake")
            before = _strings(entry.get("not"))
            if namesake.casefold() in {_clean(n).casefold() for n in before}:
                raise EditRefused(f"{namesake!r} is already in the not: list of {name}")
            text = texts[file]
            tree = parse(text, file)
            person = tree["people"][index]
            if not isinstance(person, CommentedMap):
                raise EditRefused(f"the entry of {name} in {file} is not a mapping; fix the file by hand first")
            words = person.get("not")
            indent = detect_indent(text)
            appended, line_text = append_to(text, words, namesake, indent)
            if not appended:
                person["not"] = flow([namesake])
                line_text = add_key_lines(text, tree["people"], index, "not", person["not"], indent)
            return self._commit(who, texts, _Change(
                file, text, line_text, tree, indent, Counter(), "not",
                {"person": name, "before": before, "after": before + [namesake]},
                f"{namesake} will no longer be taken for {name} ({file})."))

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
            appended, line_text = append_to(text, words, word, indent)
            if not appended and isinstance(keywords, CommentedMap):
                keywords[lang] = flow([word])
            elif not appended:
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

    # -- where an edit goes ------------------------------------------------------------------

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
