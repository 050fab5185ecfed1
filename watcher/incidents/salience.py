"""What two reports of one story share, whatever their language: names, places and numbers.

Two reports of a detention rarely share words (one is English, one Russian, one Uzbek), but they
share the proper names in them (the person, the lawyer, the city), the numbers (a date, an age,
a sentence) and the countries. Each capitalised word is reduced to its transliterated spelling
key (matching/translit.py: Исраилова, Israilov -> israilav…), so a Russian and an English report
meet; a key one declension ending longer than another (hamraevu, hamraev) or one letter longer
(mirasabir, mirsabir: a typo, one letter more) is the same name; one letter changed is not
(Kazimova and Karimova are two people).

Kinds, strongest first: `person` (a part of a watched person's name, on either side), `name`
(any other proper name), `number` (two to four digits; a year counts half). Countries are left
to the incident's origin and host codes (the gazetteer reads them in every language). Keys are kept
on the incident (the `keys` column) so a later report is compared with everything the earlier
reports said.
"""

from __future__ import annotations

import re
from functools import lru_cache
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from watcher.matching.countries import is_country_word
from watcher.matching.normalize import tokenize
from watcher.matching.translit import name_key

WEIGHTS = {"person": 2.0, "name": 1.5, "number": 1.0, "year": 0.5}
MAX_KEYS = 60  # per report: a long text's salient words beyond these add little and cost time
_SENTENCE_END = re.compile(r"[.!?:;…\n\"“”«»„(\[—–-]$")
_NUMBER = re.compile(r"(?<![\d.,])\d{2,4}(?![\d.,]\d)")
_PRIORITY = {"person": 0, "name": 1, "number": 2, "year": 3}
# Capitalised words that name no one in particular: months, weekdays, titles and the
# institutions every story of the field mentions (compared by spelling key, so one spelling
# covers its transliterations).
_COMMON = frozenset(name_key(word) for word in """
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    mr mrs ms dr sir president minister prime deputy general chairman leader
    court police ministry service services security human rights european interpol state
    republic international government office the and for with from after before""".split())


def _title_cased(title: str) -> bool:
    """English headlines capitalise every word, so a capital there says nothing about a name."""
    words = [w for w in title.split() if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) > len(words) / 2


def _mid_sentence(text: str, start: int) -> bool:
    """Whether the word at `start` follows other words of its sentence (not a full stop, a
    line break, an opening quote or the start of the text)."""
    before = text[max(0, start - 4):start].rstrip(" \t")
    return bool(before) and not _SENTENCE_END.search(before)


def salient_keys(title: str, summary: str, fields: Iterable[str] = (), people: Iterable[str] = ()) -> dict[str, str]:
    """The spelling keys of the names, places and numbers of one report, with their kind.

    A capitalised word counts when it is capitalised where a capital is not required (inside
    a sentence; anywhere in a headline that is not title-cased), so "However" or "Abducted" at
    the start of a sentence do not; structured fields (a notice's name, a court's parties)
    count whole. `people` are the watched people the report names (their name parts are kind
    `person`)."""
    keys: dict[str, str] = {}
    for name in people:
        for part in name.split():
            if len(part) >= 3:
                keys[name_key(part)] = "person"
    texts = [(title, not _title_cased(title)), (summary, True)]
    texts += [(value, True) for value in fields]
    for text, trust in texts:
        if not text:
            continue
        for token in tokenize(text):
            if not token.upper or len(token.raw) < 3 or token.raw.isdigit():
                continue
            if not (trust and _mid_sentence(text, token.start)) and not token.raw.isupper():
                continue
            key = name_key(token.raw)
            if len(key) < 3 or key in keys or key in _COMMON or is_country_word(token.norm):
                continue  # countries are compared as ISO codes (the incident's origin and host)
            keys[key] = "name"
        for found in _NUMBER.finditer(text):
            value = found.group(0)
            keys.setdefault("#" + value.lstrip("0"), "year" if 1900 <= int(value) <= 2100 else "number")
    if len(keys) > MAX_KEYS:
        keys = dict(sorted(keys.items(), key=lambda kv: _PRIORITY[kv[1]])[:MAX_KEYS])
    return keys


def same_name(a: str, b: str) -> bool:
    """Whether two spelling keys are one name: equal, one a declension of the other (a few
    letters longer), or, for long keys, one letter inserted, dropped or changed."""
    if a == b:
        return True
    if a.startswith("#") or b.startswith("#"):
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) >= 5 and long_.startswith(short) and len(long_) - len(short) <= 2:
        return True
    return len(short) >= 7 and len(long_) - len(short) == 1 and _one_more(short, long_)


def _one_more(short: str, long_: str) -> bool:
    """`long_` is `short` with one letter more (a typo: Mirosobir for Mirsobir). A letter
    changed is not allowed: that is how different names differ (Kazimova, Karimova)."""
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@dataclass(frozen=True)
class Overlap:
    """What a report shares with an incident."""

    shared: tuple[tuple[str, str], ...]  # (key, kind) pairs, strongest kind first
    points: float

    @property
    def person_parts(self) -> int:
        return sum(kind == "person" for _, kind in self.shared)

    @property
    def names(self) -> int:
        return sum(kind in ("person", "name") for _, kind in self.shared)

    def describe(self) -> str:
        shown = ", ".join(key.lstrip("#") for key, _ in self.shared[:8])
        return f"shared names, places and numbers: {shown}" if shown else "nothing shared"


@lru_cache(maxsize=1024)
def blocks(keys: tuple[str, ...]) -> frozenset[str]:
    """The first and the last three letters of each key: two keys for which `same_name` holds
    always share one (see `overlap`), so a report and an incident without a common block share
    nothing `overlap` could find. Cached by the keys themselves (an incident's keys are read
    again for every new report of its window), for a bounded number of key sets: a busy
    incident's are hundreds of keys, and its blocks tens of kilobytes."""
    return frozenset([k[:3] for k in keys] + [k[-3:] for k in keys])


def overlap(report: Mapping[str, str], incident: Mapping[str, str], exclude: frozenset[str] = frozenset()) -> Overlap:
    """The keys a report shares with an incident and their weight (each incident key counts once;
    the incident's keys in `exclude` are left out).

    Each report key is compared only with the incident keys that could be the same name: those
    with the same first three or last three letters. `same_name` holds for no other pair (equal
    keys and a declension share the start; a key with one letter more shares the start, or, when
    the letter is among the first three, the end), so the result is that of comparing every
    pair, in the incident's order. The report's few keys (at most MAX_KEYS) are indexed, and the
    incident's keys, hundreds for an incident with many reports, are looked up in one pass in
    their own order: every new report within the window is compared with it."""
    by_start: dict[str, list[str]] = {}
    by_end: dict[str, list[str]] = {}
    for key in report:
        by_start.setdefault(key[:3], []).append(key)
        by_end.setdefault(key[-3:], []).append(key)
    near: dict[str, list[str]] = {}  # report key -> incident keys it could be, in the incident's order
    for other in incident:
        starts, ends = by_start.get(other[:3]), by_end.get(other[-3:])
        if (starts is None and ends is None) or other in exclude:
            continue
        for key in starts or ():
            near.setdefault(key, []).append(other)
        for key in ends or ():
            if starts is None or key not in starts:
                near.setdefault(key, []).append(other)
    shared: dict[str, str] = {}
    used: set[str] = set()
    for key, kind in report.items():
        for other in near.get(key, ()):
            if other in used or not same_name(key, other):
                continue
            other_kind = incident[other]
            strongest = kind if _PRIORITY[kind] <= _PRIORITY[other_kind] else other_kind
            shared[key] = strongest
            used.add(other)
            break
    pairs = tuple(sorted(shared.items(), key=lambda kv: (_PRIORITY[kv[1]], kv[0])))
    return Overlap(pairs, sum(WEIGHTS[kind] for _, kind in pairs))
