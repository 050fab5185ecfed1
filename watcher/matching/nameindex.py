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

Memos used while compiling are local to the compile and dropped with it; what stays is the
sources, the people's entries and lazily filled per-source summaries.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from watcher.matching.indexkeys import index_keys, russian_case, variant_forms
from watcher.matching.morphology import clear_form_tables, derussified_forms, given_forms, is_female_surname, surname_forms
from watcher.matching.namesakes import MIN_FUZZY, one_edit, stem
from watcher.matching.normalize import clean, tokenize
from watcher.matching.translit import name_key, split_suffix
from watcher.rules import Person

GIVEN, SURNAME, DERUSSIFIED = "given", "surname", "derussified"
NO_PEOPLE: frozenset[int] = frozenset()
_NO_KEYS: frozenset[str] = frozenset()
MAX_NEAR_MEMO = 200_000


class Entry:
    """What the index knows of one person: base keys of their parts, and their sources in the
    order their spellings gave them (`sources` is flat: source, spelling index, source, ...)."""

    __slots__ = ("person", "given", "surnames", "middles", "phrases", "distinctive", "stems", "sources")

    def __init__(self, person: Person, given: tuple[str, ...], surnames: tuple[str, ...], middles: frozenset[str],
                 phrases: tuple[tuple[list[str], int], ...], sources: tuple[int, ...], stems: frozenset[str]):
        self.person = person
        self.given = given  # base keys
        self.surnames = surnames  # base keys
        self.middles = middles
        self.phrases = phrases  # key sequences of one-word or lower-case spellings, with the spelling index
        self.distinctive = False
        self.stems = stems  # family-name stems of the surnames
        self.sources = sources

    @property
    def spellings(self) -> tuple[str, ...]:
        return self.person.spellings()


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


def _union(sets: list[frozenset[int]]) -> frozenset[int]:
    if not sets:
        return NO_PEOPLE
    if len(sets) == 1:
        return sets[0]
    return frozenset().union(*sets)


class _Compile:
    """Memos for one compile (per distinct spelling, name token and source), dropped after it."""

    def __init__(self) -> None:
        self.chunks: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {}
        self.index_keys: dict[str, tuple[str, ...]] = {}
        self.sources: dict[tuple[Any, ...], int | None] = {}
        self.female: dict[str, bool] = {}
        self.stems: dict[tuple[str, ...], frozenset[str]] = {}
        self.middles: dict[tuple[str, ...], frozenset[str]] = {}
        self.labels: dict[str, tuple[str]] = {}  # one shared 1-tuple per label


class PackedIndex:
    """The compiled index: sources, their forms and bearers, and one `Entry` per person."""

    def __init__(self, people: Sequence[Person]):
        # The build allocates a few hundred thousand long-lived objects: the cyclic collector
        # would walk the growing heap again and again for nothing (a third of the build time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(people)
        finally:
            if collecting:
                gc.enable()
        # the inflection tables are cached for `watcher rules variants`; a compile has its own
        # memo per name part, and what it left there would only take memory from now on
        clear_form_tables()

    def _build(self, people: Sequence[Person]) -> None:
        self.entries: list[Entry] = []
        self.src_role: list[str] = []
        self.src_forms: list[dict[str, tuple[str, ...]]] = []
        bearers: list[list[int]] = []
        phrase_starts: dict[str, list[int]] = defaultdict(list)
        memo = _Compile()
        for number, person in enumerate(people):
            self.entries.append(self._entry(number, person, memo, bearers, phrase_starts))
        self.src_people: list[frozenset[int]] = [frozenset(b) for b in bearers]
        # spelling key -> its sources, each as 2 * source + 1 when all its labels there are
        # Russian cases (which a Latin token never takes); one int, or a tuple when several
        lookup: dict[str, Any] = {}
        russian: dict[tuple[str, ...], int] = {}
        for src, forms in enumerate(self.src_forms):
            coded = (2 * src, 2 * src + 1)
            for form, labels in forms.items():
                cased = russian.get(labels)
                if cased is None:
                    cased = russian[labels] = int(all(russian_case(label) for label in labels))
                before = lookup.get(form)
                if before is None:
                    lookup[form] = coded[cased]
                elif isinstance(before, int):
                    lookup[form] = (before, coded[cased])
                else:
                    lookup[form] = (*before, coded[cased])
        self.lookup: dict[str, Any] = lookup
        self.phrase_starts: dict[str, list[int]] = dict(phrase_starts)
        self.watched_given = frozenset(f for src, forms in enumerate(self.src_forms)
                                       if self.src_role[src] == GIVEN for f in forms)
        self._summaries: dict[tuple[str, int], Any] = {}
        self._near: dict[tuple[str, int], bool] = {}
        self._initial_people: dict[str, frozenset[int]] | None = None
        self._stem_people: dict[str, frozenset[int]] | None = None

    # -- compiling ---------------------------------------------------------------------------

    def _source(self, memo: _Compile, key: tuple[Any, ...], role: str, build: Any) -> int | None:
        if key in memo.sources:
            return memo.sources[key]
        forms: dict[str, tuple[str, ...]] = {}
        labels = memo.labels
        for form, label in build():
            one = labels.get(label)
            if one is None:
                one = labels[label] = (label,)
            forms[form] = forms[form] + one if form in forms else one
        src = None
        if forms:
            src = len(self.src_forms)
            self.src_forms.append(forms)
            self.src_role.append(role)
        memo.sources[key] = src
        return src

    def _spelling(self, memo: _Compile, spelling: str) -> tuple[list[str], list[str], bool]:
        """A spelling's tokens, their keys and whether all are capitalised, read word by word
        (whitespace never belongs to a token) so that each distinct word is tokenised once."""
        raws: list[str] = []
        keys: list[str] = []
        all_upper = True
        for chunk in clean(spelling).split():
            found = memo.chunks.get(chunk)
            if found is None:
                tokens = tokenize(chunk)
                found = memo.chunks[chunk] = (tuple(t.raw for t in tokens),
                                              tuple(name_key(split_suffix(t.raw)[0]) for t in tokens),
                                              all(t.upper for t in tokens))
            raws.extend(found[0])
            keys.extend(found[1])
            all_upper = all_upper and found[2]
        return raws, keys, all_upper

    def _index_keys(self, memo: _Compile, raw: str) -> tuple[str, ...]:
        found = memo.index_keys.get(raw)
        if found is None:
            memo.index_keys[raw] = found = index_keys(raw)
        return found

    def _entry(self, number: int, person: Person, memo: _Compile, bearers: list[list[int]],
               phrase_starts: dict[str, list[int]]) -> Entry:
        spellings = person.spellings()
        words = spellings[0].split() if spellings else []
        female = False
        if words:
            female = memo.female.get(words[-1])  # type: ignore[assignment]
            if female is None:
                female = memo.female[words[-1]] = is_female_surname(name_key(words[-1]))
        given: list[str] = []
        surnames: list[str] = []
        middles: list[str] = []
        phrases: list[tuple[list[str], int]] = []
        sources: list[int] = []
        surname_srcs: list[int] = []
        derussified_done: set[str] = set()

        def attach(src: int | None, index: int) -> None:
            if src is not None:
                sources.extend((src, index))
                while len(bearers) <= src:
                    bearers.append([])
                bearers[src].append(number)

        for index, spelling in enumerate(spellings):
            raws, keys, all_upper = self._spelling(memo, spelling)
            if not raws:
                continue
            if len(raws) == 1 or not all_upper:
                phrases.append((keys, index))
                phrase_starts[keys[0]].append(number)
                continue
            middles.extend(k for k in keys[1:-1] if k not in middles)
            for base in self._index_keys(memo, raws[0]):
                if base not in given:
                    given.append(base)
                    attach(self._source(memo, (GIVEN, base), GIVEN, lambda b=base: given_forms(b).items()), index)
            for base in self._index_keys(memo, raws[-1]):
                if base not in surnames:
                    surnames.append(base)
                    src = self._source(memo, (SURNAME, base, female), SURNAME,
                                       lambda b=base: surname_forms(b, female).items())
                    if src is not None:
                        surname_srcs.append(src)
                    attach(src, index)
            if keys[-1] in derussified_done:
                continue
            derussified_done.add(keys[-1])
            attach(self._source(memo, (DERUSSIFIED, keys[-1], tuple(surname_srcs)), DERUSSIFIED,
                                lambda k=keys[-1], s=tuple(surname_srcs): self._derussified(k, s)), index)
        names = tuple(surnames)
        stems = memo.stems.get(names)
        if stems is None:
            stems = memo.stems[names] = frozenset(stem(s) for s in names)
        middle_key = tuple(middles)
        kept_middles = memo.middles.get(middle_key)
        if kept_middles is None:
            kept_middles = memo.middles[middle_key] = frozenset(middles) if middles else _NO_KEYS
        return Entry(person, tuple(given), names, kept_middles, tuple(phrases), tuple(sources), stems)

    def _derussified(self, key: str, surname_srcs: tuple[int, ...]) -> list[tuple[str, str]]:
        """Rahmonov = Rahmon, Nazarov = Nazarzoda: the same family name, but only beside the exact
        given name (role "derussified" never counts alone). Only the base form and the Russian
        cases of a consonant stem (президента Рахмона), and no form the surnames already have."""
        taken = [self.src_forms[s] for s in surname_srcs]
        out = []
        for variant, why in derussified_forms(key).items():
            for form, label in variant_forms(variant):
                if not any(form in forms for forms in taken):
                    out.append((form, why + (f", {label}" if label else "")))
        return out

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

    def near_src(self, key: str, src: int) -> bool:
        """One edit from a form of this source (forms of at least MIN_FUZZY - 2 letters)."""
        found = self._near.get((key, src))
        if found is None:
            found = any(len(form) >= MIN_FUZZY - 2 and one_edit(key, form) for form in self.src_forms[src])
            if len(self._near) >= MAX_NEAR_MEMO:
                self._near.clear()
            self._near[(key, src)] = found
        return found

    def near_person(self, person: int, role: str, key: str, length: int) -> bool:
        """namesakes.near of the person's forms of `role` (given or surname)."""
        if length < MIN_FUZZY:
            return False
        sources = self.entries[person].sources
        return any(self.near_src(key, s) for s in sources[::2] if self.src_role[s] == role)

    def near_people(self, srcs: frozenset[int] | tuple[int, ...], key: str, length: int) -> frozenset[int]:
        """The bearers of those of `srcs` one edit from `key` (nobody for a short token)."""
        if length < MIN_FUZZY:
            return NO_PEOPLE
        return _union([self.src_people[s] for s in srcs if self.near_src(key, s)])

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
