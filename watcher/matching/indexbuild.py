"""Compiling the packed name index that nameindex.py reads: sources, their forms and bearers.

Split from nameindex.py (which reads the index) because a compile is its own hot path: at
10,000 people it runs per spelling (30,000 of them) and per distinct name part, on the rules
reload that a monitor's /watch sets off. So the work is memoised at the level it repeats:
a word of a spelling is tokenised and keyed once, a listed given name or surname is turned
into its index keys and sources once (`_Build.given_parts`, `surname_parts`), a source's
forms are generated once; what remains per spelling is a few dict lookups and appends.

Sources are created, people attached to them and forms labelled in exactly the order the
per-part index did it, so numbering, lookups and the order parts are reported in are
unchanged. The memos belong to one compile and are dropped with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from watcher.matching.indexkeys import index_keys, russian_case, variant_forms
from watcher.matching.morphology import derussified_forms, given_forms, is_female_surname, surname_forms
from watcher.matching.namesakes import stem
from watcher.matching.normalize import clean, tokenize
from watcher.matching.translit import name_key, split_suffix
from watcher.rules import Person

GIVEN, SURNAME, DERUSSIFIED = "given", "surname", "derussified"
_NO_KEYS: frozenset[str] = frozenset()


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


class Packed:
    """A compiled index, as nameindex.PackedIndex takes it over."""

    __slots__ = ("entries", "src_role", "src_forms", "src_people", "lookup", "phrase_starts")

    def __init__(self, entries: list[Entry], src_role: list[str], src_forms: list[dict[str, tuple[str, ...]]],
                 src_people: list[frozenset[int]], lookup: dict[str, Any], phrase_starts: dict[str, list[int]]):
        self.entries, self.src_role, self.src_forms = entries, src_role, src_forms
        self.src_people, self.lookup, self.phrase_starts = src_people, lookup, phrase_starts


def build(people: Sequence[Person]) -> Packed:
    """The packed index of these people (see the module docstring)."""
    return _Build().run(people)


def pack_lookup(src_forms: list[dict[str, tuple[str, ...]]]) -> dict[str, Any]:
    """Spelling key -> its sources, each as 2 * source + 1 when all its labels there are Russian
    cases (which a Latin token never takes); one int, or a tuple when several."""
    lookup: dict[str, Any] = {}
    russian: dict[tuple[str, ...], int] = {}
    get = lookup.get
    for src, forms in enumerate(src_forms):
        coded = (2 * src, 2 * src + 1)
        for form, labels in forms.items():
            cased = russian.get(labels)
            if cased is None:
                cased = russian[labels] = int(all(russian_case(label) for label in labels))
            before = get(form)
            if before is None:
                lookup[form] = coded[cased]
            elif type(before) is int:
                lookup[form] = (before, coded[cased])
            else:
                lookup[form] = (*before, coded[cased])
    return lookup


class _Build:
    """One compile: the index being built and its memos (per word, name part and source)."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.src_role: list[str] = []
        self.src_forms: list[dict[str, tuple[str, ...]]] = []
        self.bearers: list[list[int]] = []  # per source, the people attached, in order
        self.phrase_starts: dict[str, list[int]] = defaultdict(list)
        self.chunks: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {}
        self.sources: dict[tuple[Any, ...], int | None] = {}
        self.given_parts: dict[str, tuple[tuple[str, int | None], ...]] = {}
        self.surname_parts: dict[tuple[str, bool], tuple[tuple[str, int | None], ...]] = {}
        self.female: dict[str, bool] = {}
        self.stems: dict[tuple[str, ...], frozenset[str]] = {}
        self.middles: dict[tuple[str, ...], frozenset[str]] = {}
        self.labels: dict[str, tuple[str]] = {}  # one shared 1-tuple per label

    def run(self, people: Sequence[Person]) -> Packed:
        for number, person in enumerate(people):
            self.entries.append(self._entry(number, person))
        src_people = [frozenset(b) for b in self.bearers]
        return Packed(self.entries, self.src_role, self.src_forms, src_people, pack_lookup(self.src_forms),
                      dict(self.phrase_starts))

    # -- memoised pieces ---------------------------------------------------------------------

    def _source(self, key: tuple[Any, ...], role: str, pairs: Iterable[tuple[str, str]]) -> int | None:
        """The source of this name part (built now if new): its forms with their labels."""
        forms: dict[str, tuple[str, ...]] = {}
        labels = self.labels
        for form, label in pairs:
            one = labels.get(label)
            if one is None:
                one = labels[label] = (label,)
            forms[form] = forms[form] + one if form in forms else one
        src = None
        if forms:
            src = len(self.src_forms)
            self.src_forms.append(forms)
            self.src_role.append(role)
            self.bearers.append([])
        self.sources[key] = src
        return src

    def _given(self, raw: str) -> tuple[tuple[str, int | None], ...]:
        """A listed given name's index keys, each with its source."""
        out = []
        for base in index_keys(raw):
            key = (GIVEN, base)
            src = self.sources[key] if key in self.sources else self._source(key, GIVEN, given_forms(base).items())
            out.append((base, src))
        self.given_parts[raw] = found = tuple(out)
        return found

    def _surname(self, raw: str, female: bool) -> tuple[tuple[str, int | None], ...]:
        """A listed surname's index keys, each with its source (forms of that gender)."""
        out = []
        for base in index_keys(raw):
            key = (SURNAME, base, female)
            src = (self.sources[key] if key in self.sources
                   else self._source(key, SURNAME, surname_forms(base, female).items()))
            out.append((base, src))
        self.surname_parts[(raw, female)] = found = tuple(out)
        return found

    def _chunk(self, chunk: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        tokens = tokenize(chunk)
        self.chunks[chunk] = found = (tuple(t.raw for t in tokens),
                                      tuple(name_key(split_suffix(t.raw)[0]) for t in tokens),
                                      all(t.upper for t in tokens))
        return found

    def _spelling(self, spelling: str) -> tuple[list[str], list[str], bool]:
        """A spelling's tokens, their keys and whether all are capitalised, read word by word
        (whitespace never belongs to a token) so that each distinct word is tokenised once.
        ASCII holds no invisible character, so only other spellings are cleaned first."""
        raws: list[str] = []
        keys: list[str] = []
        all_upper = True
        chunks = self.chunks
        for chunk in (spelling if spelling.isascii() else clean(spelling)).split():
            found = chunks.get(chunk) or self._chunk(chunk)
            raws += found[0]
            keys += found[1]
            all_upper = all_upper and found[2]
        return raws, keys, all_upper

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

    # -- one person --------------------------------------------------------------------------

    def _entry(self, number: int, person: Person) -> Entry:
        spellings = person.spellings()
        words = spellings[0].split() if spellings else []
        female = False
        if words:
            female = self.female.get(words[-1])  # type: ignore[assignment]
            if female is None:
                female = self.female[words[-1]] = is_female_surname(name_key(words[-1]))
        given: list[str] = []
        surnames: list[str] = []
        middles: list[str] = []
        phrases: list[tuple[list[str], int]] = []
        sources: list[int] = []
        surname_srcs: list[int] = []
        derussified_done: list[str] = []
        bearers, given_parts, surname_parts = self.bearers, self.given_parts, self.surname_parts
        for index, spelling in enumerate(spellings):
            raws, keys, all_upper = self._spelling(spelling)
            if not raws:
                continue
            if len(raws) == 1 or not all_upper:
                phrases.append((keys, index))
                self.phrase_starts[keys[0]].append(number)
                continue
            if len(keys) > 2:
                middles.extend(k for k in keys[1:-1] if k not in middles)
            for base, src in given_parts.get(raws[0]) or self._given(raws[0]):
                if base not in given:
                    given.append(base)
                    if src is not None:
                        sources += (src, index)
                        bearers[src].append(number)
            for base, src in surname_parts.get((raws[-1], female)) or self._surname(raws[-1], female):
                if base not in surnames:
                    surnames.append(base)
                    if src is not None:
                        surname_srcs.append(src)
                        sources += (src, index)
                        bearers[src].append(number)
            last = keys[-1]
            if last in derussified_done:
                continue
            derussified_done.append(last)
            key = (DERUSSIFIED, last, tuple(surname_srcs))
            src = (self.sources[key] if key in self.sources
                   else self._source(key, DERUSSIFIED, self._derussified(last, key[2])))
            if src is not None:
                sources += (src, index)
                bearers[src].append(number)
        return self._finish(person, given, surnames, middles, phrases, sources)

    def _finish(self, person: Person, given: list[str], surnames: list[str], middles: list[str],
                phrases: list[tuple[list[str], int]], sources: list[int]) -> Entry:
        names = tuple(surnames)
        stems = self.stems.get(names)
        if stems is None:
            stems = self.stems[names] = frozenset(stem(s) for s in names)
        middle_key = tuple(middles)
        kept_middles = self.middles.get(middle_key)
        if kept_middles is None:
            kept_middles = self.middles[middle_key] = frozenset(middles) if middles else _NO_KEYS
        return Entry(person, tuple(given), names, kept_middles, tuple(phrases), tuple(sources), stems)
