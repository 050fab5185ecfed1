"""The packed name index that names.py reads: who bears which name part, shared across people.

Why packed: a watchlist repeats its names (hundreds of Karimovs, of Bakhodirs), and an index
of one object per person, part and inflected form held a million objects at 10,000 people
and took seconds to build. Here a *source* is one name part as the index knows it (a given
name's base key, a surname's base key and gender, a surname's de-Russified variants), built
once per compile however many people bear it, with its forms (spelling key -> labels); each
person lists the sources of their spellings, and each source the people bearing it
(a frozenset). A token of a text becomes a `Hit`: the people it names by role, found through
the sources, never by walking the people; the parts of one person at a token are worked out
only for the few people a rule can still apply to, in exactly the order the per-part index
listed them (so what is reported, and why, is unchanged).

The compile is indexbuild.py's; its memos are local to it and dropped with it. What stays is
the sources, the people's entries and lazily filled per-source summaries.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from watcher.matching.indexbuild import DERUSSIFIED, GIVEN, SURNAME, Entry, build
from watcher.matching.indexkeys import russian_case
from watcher.matching.morphology import clear_form_tables
from watcher.matching.namesakes import MIN_FUZZY
from watcher.rules import Person

__all__ = ["DERUSSIFIED", "EMPTY_HIT", "GIVEN", "NO_PEOPLE", "SURNAME", "Entry", "Hit", "PackedIndex"]
NO_PEOPLE: frozenset[int] = frozenset()
MAX_NEAR_MEMO = 100_000  # spelling keys whose nearby sources are remembered (then forgotten all at once)


class Hit:
    """The watched name parts one token of a text is: the people by role, and the sources.

    Falsy when it names nobody. `parts(person)` (on the index) gives one person's parts."""

    __slots__ = ("keys", "latin", "given", "surname", "derussified", "people", "given_srcs", "surname_srcs",
                 "derussified_srcs", "genitive", "cache")

    def __init__(self, keys: tuple[str, ...], latin: bool) -> None:
        self.keys, self.latin = keys, latin
        self.given = self.surname = self.derussified = self.people = NO_PEOPLE
        self.given_srcs: tuple[int, ...] = ()
        self.surname_srcs: tuple[int, ...] = ()
        self.derussified_srcs: tuple[int, ...] = ()
        self.genitive = False  # a surname part here is a genitive form
        self.cache: dict[int, tuple[tuple[str, str, int], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.people)


EMPTY_HIT = Hit((), True)


def one_edit_strings(key: str, alphabet: frozenset[str]) -> set[str]:
    """Every string one edit from `key` (deletion, substitution, insertion) over `alphabet`:
    exactly those b with namesakes.one_edit(key, b) that use no other character."""
    out = {key[:i] + key[i + 1:] for i in range(len(key))}
    for i in range(len(key) + 1):
        head, same, tail = key[:i], key[i:i + 1], key[i + 1:]
        rest = key[i:]
        out.update(head + c + rest for c in alphabet)
        if same:
            out.update(head + c + tail for c in alphabet if c != same)
    return out


def _union(sets: list[frozenset[int]]) -> frozenset[int]:
    if not sets:
        return NO_PEOPLE
    if len(sets) == 1:
        return sets[0]
    return frozenset().union(*sets)


class PackedIndex:
    """The compiled index: sources, their forms and bearers, and one `Entry` per person."""

    def __init__(self, people: Sequence[Person]):
        # The build allocates a few hundred thousand long-lived objects: the cyclic collector
        # would walk the growing heap again and again for nothing (a third of the build time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            packed = build(people)
        finally:
            if collecting:
                gc.enable()
        # the inflection tables are cached for `watcher rules variants`; a compile has its own
        # memo per name part, and what it left there would only take memory from now on
        clear_form_tables()
        self.entries: list[Entry] = packed.entries
        self.src_role: list[str] = packed.src_role
        self.src_forms: list[dict[str, tuple[str, ...]]] = packed.src_forms
        self.src_people: list[frozenset[int]] = packed.src_people
        self.lookup: dict[str, Any] = packed.lookup
        self.phrase_starts: dict[str, list[int]] = packed.phrase_starts
        self.watched_given = frozenset(f for src, forms in enumerate(self.src_forms)
                                       if self.src_role[src] == GIVEN for f in forms)
        self._summaries: dict[tuple[str, Any], Any] = {}
        self._near: dict[str, frozenset[int]] = {}
        self._alphabet: frozenset[str] | None = None
        self._initial_people: dict[str, frozenset[int]] | None = None
        self._stem_people: dict[str, frozenset[int]] | None = None

    # -- reading -----------------------------------------------------------------------------

    def hit(self, keys: tuple[str, ...], latin: bool) -> Hit:
        """The people the token with these spelling keys names (Latin tokens take no Russian case)."""
        lookup = self.lookup
        found: dict[int, None] = {}
        for key in keys:
            coded = lookup.get(key)
            if coded is None:
                continue
            for code in (coded,) if isinstance(coded, int) else coded:
                if not (latin and code & 1):
                    found[code >> 1] = None
        if not found:
            return EMPTY_HIT
        hit = Hit(keys, latin)
        roles: dict[str, list[int]] = {GIVEN: [], SURNAME: [], DERUSSIFIED: []}
        for src in found:
            roles[self.src_role[src]].append(src)
        hit.given_srcs, hit.surname_srcs, hit.derussified_srcs = (tuple(roles[r]) for r in (GIVEN, SURNAME, DERUSSIFIED))
        people = self.src_people
        hit.given = _union([people[s] for s in hit.given_srcs])
        hit.surname = _union([people[s] for s in hit.surname_srcs])
        hit.derussified = _union([people[s] for s in hit.derussified_srcs])
        hit.people = _union([s for s in (hit.given, hit.surname, hit.derussified) if s])
        hit.genitive = any("genitive" in label for src in hit.surname_srcs for key in keys
                           for label in self.src_forms[src].get(key, ()) if not (latin and russian_case(label)))
        return hit

    def parts(self, hit: Hit, person: int) -> tuple[tuple[str, str, int], ...]:
        """One person's parts at a token, (role, label, spelling index), in the order an index of
        one entry per part listed them: the token's own key first, then each other reading's
        parts not seen yet; a Latin token's Russian cases left out."""
        cached = hit.cache.get(person)
        if cached is not None:
            return cached
        sources = self.entries[person].sources
        out: list[tuple[str, str, int]] = []
        for n, key in enumerate(hit.keys):
            more: list[tuple[str, str, int]] = []
            for at in range(0, len(sources), 2):
                labels = self.src_forms[sources[at]].get(key)
                if labels:
                    role, spelling = self.src_role[sources[at]], sources[at + 1]
                    more.extend((role, label, spelling) for label in labels)
            if n == 0:
                out = more
            elif more:
                out = out + [p for p in more if p not in out]
        if hit.latin:
            out = [p for p in out if not russian_case(p[1])]
        hit.cache[person] = cached = tuple(out)
        return cached

    def first(self, hit: Hit, person: int, role: str) -> tuple[str, str, int] | None:
        """The person's first part of `role` at this token, if any."""
        if person not in hit.people:
            return None
        return next((p for p in self.parts(hit, person) if p[0] == role), None)

    def _summary(self, what: str, src: int) -> Any:
        """A fact about the bearers of one source, worked out once (their stems, given-name
        initials, middle names, given-name and surname sources)."""
        found = self._summaries.get((what, src))
        if found is None:
            entries = [self.entries[p] for p in self.src_people[src]]
            if what == "stems":
                found = frozenset(s for e in entries for s in e.stems)
            elif what == "initials":
                found = frozenset(g[:1] for e in entries for g in e.given)
            elif what == "middles":
                found = frozenset(m for e in entries for m in e.middles)
            else:  # "given" / "surname": the sources of that role the bearers have
                found = frozenset(s for e in entries for s in e.sources[::2] if self.src_role[s] == what)
            self._summaries[(what, src)] = found
        return found

    def summary(self, what: str, srcs: tuple[int, ...]) -> frozenset[Any]:
        if len(srcs) == 1:
            return self._summary(what, srcs[0])
        return frozenset().union(*(self._summary(what, s) for s in srcs))

    def near_srcs(self, key: str) -> frozenset[int]:
        """The sources with a form one edit (insert, delete, substitute) from `key`, of at least
        MIN_FUZZY - 2 letters: namesakes.one_edit against every form, found instead by looking
        up each string one edit from the key, so the cost is the key's and not the watchlist's."""
        found = self._near.get(key)
        if found is None:
            lookup, shortest, srcs = self.lookup, MIN_FUZZY - 2, set()
            for form in one_edit_strings(key, self.alphabet()):
                coded = lookup.get(form)
                if coded is not None and len(form) >= shortest:
                    srcs.update(code >> 1 for code in ((coded,) if type(coded) is int else coded))
            found = frozenset(srcs) if srcs else NO_PEOPLE
            if len(self._near) >= MAX_NEAR_MEMO:
                self._near.clear()
            self._near[key] = found
        return found

    def alphabet(self) -> frozenset[str]:
        """Every character of every form (what a form one edit from a key can be made of)."""
        if self._alphabet is None:
            self._alphabet = frozenset("".join(self.lookup))
        return self._alphabet

    def near_person(self, person: int, role: str, key: str, length: int) -> bool:
        """namesakes.near of the person's forms of `role` (given or surname)."""
        if length < MIN_FUZZY:
            return False
        near = self.near_srcs(key)
        if not near:
            return False
        sources = self.entries[person].sources
        return any(s in near for s in sources[::2] if self.src_role[s] == role)

    def near_bearers(self, what: str, srcs: tuple[int, ...], key: str, length: int) -> frozenset[int]:
        """The bearers of those sources of `summary(what, srcs)` one edit from `key` (nobody for
        a short token): the people of the sources of role `what` that the bearers of `srcs` have."""
        if length < MIN_FUZZY:
            return NO_PEOPLE
        near = self.near_srcs(key)
        if not near:
            return NO_PEOPLE
        return _union([self.src_people[s] for s in near & self.summary(what, srcs)])

    def initial_people(self, letter: str) -> frozenset[int]:
        """People with a given-name key starting with `letter` ("" for an empty key)."""
        if self._initial_people is None:
            found: dict[str, set[int]] = defaultdict(set)
            for number, entry in enumerate(self.entries):
                for g in entry.given:
                    found[g[:1]].add(number)
            self._initial_people = {k: frozenset(v) for k, v in found.items()}
        return self._initial_people.get(letter, NO_PEOPLE)

    def stem_people(self, stems: Any) -> frozenset[int]:
        """People with one of these family-name stems."""
        if self._stem_people is None:
            found: dict[str, set[int]] = defaultdict(set)
            for number, entry in enumerate(self.entries):
                for s in entry.stems:
                    found[s].add(number)
            self._stem_people = {k: frozenset(v) for k, v in found.items()}
        return _union([self._stem_people[s] for s in stems if s in self._stem_people])
