"""Who is who: finding watched people in a text, however their names are spelt and inflected.

Every spelling of every person (name and aliases) is split into given name, middle parts and
surname; each part's inflected forms are put, by spelling key, into one dict. A text is read
once, token by token, with one dict lookup per capitalised token, so the cost does not grow
with the watchlist. Then, per person:

1. a **full mention** is their given name and surname together, in either order, with at most
   one middle name or patronymic between; an initial may stand for the given name (B. Karimov);
   coordinated names count ("Tatyana and Bakhodir Karimov"); one edit is forgiven on a long
   token when the other part matches exactly (Bakhodir Karinov, Khamidakariyev);
2. a **surname alone** counts only after a full mention of the same person in the item, or when
   the surname is distinctive: at least 6 letters, no other watched person bears it, it is in no
   `not` list, and the item names nobody else of that surname ("Tahir Yuldashev") and puts no
   official's title before it ("President Karimov");
3. a name in the person's `not` list never counts for them, and blocks rule 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from watcher.matching.morphology import derussified_forms, given_forms, is_female_surname, surname_forms
from watcher.matching.namesakes import (
    CONNECTORS,
    common_given_forms,
    family_context,
    gap_ok,
    is_initial,
    near,
    not_a_person_here,
    other_bearers,
    stem,
)
from watcher.matching.normalize import Token, clean, tokenize
from watcher.matching.translit import name_key, name_keys, split_suffix
from watcher.matching.indexkeys import index_keys, russian_case, variant_forms
from watcher.matching.mentions import _CYRILLIC, Mention, _script, mention_match  # noqa: F401  (mention_match re-exported)
from watcher.rules import Person

MIN_DISTINCTIVE = 6


@dataclass(frozen=True, slots=True)
class Part:
    person: int
    role: str  # "given" | "surname"
    label: str  # the inflection, "" for the base form
    spelling: int  # index into Entry.spellings of the person


@dataclass
class Entry:
    """What the index knows of one person."""

    person: Person
    spellings: list[str]
    given: set[str] = field(default_factory=set)  # base keys
    surnames: set[str] = field(default_factory=set)  # base keys
    given_forms: dict[str, str] = field(default_factory=dict)
    surname_forms: dict[str, str] = field(default_factory=dict)
    middles: set[str] = field(default_factory=set)
    phrases: list[tuple[list[str], int]] = field(default_factory=list)  # key sequences, spelling index
    distinctive: bool = False
    spelling_keys: list[tuple[str, frozenset[str]]] = field(default_factory=list)  # (script, keys) per spelling
    stems: frozenset[str] = frozenset()  # family-name stems of the surnames


def _key(word: str) -> tuple[str, str]:
    stem, suffix = split_suffix(word)
    return name_key(stem), suffix


class NameIndex:
    """All spellings of all people (or of all `not` names), by spelling key."""

    def __init__(self, people: Sequence[Person], *, with_not: bool = True):
        self.entries: list[Entry] = []
        self.lookup: dict[str, list[Part]] = defaultdict(list)
        self.phrase_starts: dict[str, list[int]] = defaultdict(list)
        for number, person in enumerate(people):
            self.entries.append(self._entry(number, person))
        for entry in self.entries:
            entry.stems = frozenset(stem(s) for s in entry.surnames)
        self._mark_distinctive()
        self.watched_given = frozenset(f for e in self.entries for f in e.given_forms)
        self._known_given: frozenset[str] | None = None
        self.blockers: NameIndex | None = None
        self.blocker_owner: list[int] = []
        if with_not:
            shadow = []
            for number, person in enumerate(people):
                for other in person.not_:
                    shadow.append(Person(name=other))
                    self.blocker_owner.append(number)
            if shadow:
                self.blockers = NameIndex(shadow, with_not=False)
                for owner, entry in zip(self.blocker_owner, self.blockers.entries):
                    if {stem(s) for s in entry.surnames} & {stem(s) for s in self.entries[owner].surnames}:
                        self.entries[owner].distinctive = False

    def _entry(self, number: int, person: Person) -> Entry:
        entry = Entry(person, list(person.spellings()))
        derussified_done: set[str] = set()
        female = any(is_female_surname(name_key(s.split()[-1])) for s in entry.spellings[:1] if s.split())
        for index, spelling in enumerate(entry.spellings):
            tokens = tokenize(clean(spelling))
            keys = [_key(t.raw)[0] for t in tokens]
            entry.spelling_keys.append((_script(spelling), frozenset(keys)))
            if not tokens:
                continue
            if len(tokens) == 1 or not all(t.upper for t in tokens):
                entry.phrases.append((keys, index))
                self.phrase_starts[keys[0]].append(number)
                continue
            entry.middles.update(keys[1:-1])
            for given in index_keys(tokens[0].raw):
                if given not in entry.given:
                    entry.given.add(given)
                    for form, label in given_forms(given).items():
                        entry.given_forms.setdefault(form, label)
                        self.lookup[form].append(Part(number, "given", label, index))
            for surname in index_keys(tokens[-1].raw):
                if surname not in entry.surnames:
                    entry.surnames.add(surname)
                    for form, label in surname_forms(surname, female).items():
                        entry.surname_forms.setdefault(form, label)
                        self.lookup[form].append(Part(number, "surname", label, index))
            if keys[-1] in derussified_done:
                continue
            derussified_done.add(keys[-1])
            for variant, why in derussified_forms(keys[-1]).items():
                # Rahmonov = Rahmon, Nazarov = Nazarzoda: the same family name, but only beside
                # the exact given name (role "derussified" never counts alone). Only the base form
                # and the Russian cases of a consonant stem (президента Рахмона): every suffix
                # table for seven variants of every watched surname would cost seconds at start
                for form, label in variant_forms(variant):
                    if form not in entry.surname_forms:
                        self.lookup[form].append(Part(number, "derussified", why + (f", {label}" if label else ""), index))
        return entry

    def _mark_distinctive(self) -> None:
        bearers: dict[str, set[int]] = defaultdict(set)
        for number, entry in enumerate(self.entries):
            for surname in entry.surnames:
                bearers[stem(surname)].add(number)
        for number, entry in enumerate(self.entries):
            main = [s for s in entry.surnames if len(s) >= MIN_DISTINCTIVE]
            entry.distinctive = bool(main) and all(bearers[stem(s)] == {number} for s in entry.surnames)

    @property
    def known_given(self) -> frozenset[str]:
        """Given-name keys from any list (the watched people's and the region's), built once."""
        if self._known_given is None:
            self._known_given = self.watched_given | common_given_forms()
        return self._known_given

    # -- reading a text --------------------------------------------------------------------

    def hits(self, tokens: list[Token], any_case: bool) -> list[list[Part]]:
        out: list[list[Part]] = []
        for token in tokens:
            if token.upper or any_case:
                keys = name_keys(split_suffix(token.raw)[0])
                parts = self.lookup.get(keys[0], [])
                for alternate in keys[1:]:  # the other readings of its ambiguous letters
                    more = self.lookup.get(alternate)
                    if more:
                        parts = parts + [p for p in more if p not in parts]
                if parts and not _CYRILLIC.search(token.raw) and any(russian_case(p.label) for p in parts):
                    # Russian cases are Cyrillic: in Latin text "Smailova" is a woman, not his genitive
                    parts = [p for p in parts if not russian_case(p.label)]
                out.append(parts)
            else:
                out.append([])
        return out

    def find(self, text: str, tokens: list[Token]) -> list[Mention]:
        any_case = not any(t.upper for t in tokens)
        hits = self.hits(tokens, any_case)
        full = self._full_mentions(text, tokens, hits) + self._phrase_mentions(tokens)
        blocked_spans, blocked_people = self._blocked(text, tokens)
        full = [m for m in full if not _inside(m, blocked_spans.get(m.person, []))]
        alone = self._surname_alone(text, tokens, hits, full, blocked_spans, blocked_people)
        return sorted(full + alone, key=lambda m: (m.start, m.person))

    def _full_mentions(self, text: str, tokens: list[Token], hits: list[list[Part]]) -> list[Mention]:
        found: dict[tuple[int, int], Mention] = {}
        for i, parts in enumerate(hits):
            for part in parts:
                if part.role not in ("surname", "derussified"):
                    continue
                mention = self._pair(text, tokens, hits, i, part)
                if mention is not None:
                    found.setdefault((mention.person, mention.start), mention)
            for part in parts:
                if part.role == "given":
                    for mention in self._given_led(text, tokens, hits, i, part):
                        found.setdefault((mention.person, mention.start), mention)
        return list(found.values())

    def _pair(self, text: str, tokens: list[Token], hits: list[list[Part]], i: int, surname: Part) -> Mention | None:
        """A full mention ending or starting at surname token i."""
        entry, person = self.entries[surname.person], surname.person
        s_tok = tokens[i]
        s_why = _form_why("surname", s_tok.raw, surname.label)
        for d in (1, 2):  # given name (and maybe a middle name) before the surname
            j = i - d
            if j < 0 or not all(gap_ok(text, tokens[k], tokens[k + 1]) or
                                (k == j and is_initial(tokens[k], text)) for k in range(j, i)):
                continue
            if d == 2 and not self._middle_ok(tokens[j + 1], hits[j + 1], entry):
                continue
            given = next((p for p in hits[j] if p.person == person and p.role == "given"), None)
            if given is not None:
                return Mention(person, tokens[j].start, s_tok.end, surname.spelling,
                               (_form_why("given name", tokens[j].raw, given.label), s_why), True)
            if surname.role == "derussified":
                continue  # a changed surname needs the exact given name: no initial, no typo
            if is_initial(tokens[j], text) and any(name_key(tokens[j].raw)[:1] == g[:1] for g in entry.given):
                return Mention(person, tokens[j].start, s_tok.end, surname.spelling,
                               (f"initial {tokens[j].raw}.", s_why), True)
            if d == 1 and tokens[j].upper:
                fuzzy = near(name_key(tokens[j].raw), entry.given_forms, len(tokens[j].raw))
                if fuzzy:
                    return Mention(person, tokens[j].start, s_tok.end, surname.spelling,
                                   (f"given name {tokens[j].raw!r} one edit from a known spelling", s_why), True)
        for d in (1, 2):  # surname first: Karimov Bahodir, Каримов Баходир Алиевич
            j = i + d
            if j >= len(tokens) or not all(gap_ok(text, tokens[k], tokens[k + 1]) for k in range(i, j)):
                continue
            if d == 2 and not self._middle_ok(tokens[i + 1], hits[i + 1], entry):
                continue
            given = next((p for p in hits[j] if p.person == person and p.role == "given"), None)
            if given is not None:
                return Mention(person, s_tok.start, tokens[j].end, surname.spelling,
                               (s_why, _form_why("given name", tokens[j].raw, given.label), "surname first"), True)
        return None

    def _given_led(self, text: str, tokens: list[Token], hits: list[list[Part]], i: int, given: Part) -> list[Mention]:
        """Mentions found from a given name: coordinated names, and a surname one edit away."""
        entry, person, out = self.entries[given.person], given.person, []
        g_why = _form_why("given name", tokens[i].raw, given.label)
        if i + 3 < len(tokens) and tokens[i + 1].norm in CONNECTORS and tokens[i + 2].upper:
            last = hits[i + 3]
            surname = next((p for p in last if p.person == person and p.role == "surname"), None)
            if surname is not None and all(gap_ok(text, tokens[k], tokens[k + 1]) for k in (i + 1, i + 2)):
                out.append(Mention(person, tokens[i].start, tokens[i + 3].end, surname.spelling,
                                   (g_why, "coordinated names", _form_why("surname", tokens[i + 3].raw, surname.label)), True))
        for j in (i + 1, i - 1):  # Given Surname, and Surname Given as official lists write
            if not 0 <= j < len(tokens) or not tokens[j].upper or not gap_ok(text, *sorted((tokens[i], tokens[j]),
                                                                                          key=lambda t: t.start)):
                continue
            if not any(p.person == person for p in hits[j]):
                key = name_key(split_suffix(tokens[j].raw)[0])
                if near(key, entry.surname_forms, len(tokens[j].raw)):
                    first, last = sorted((i, j))
                    out.append(Mention(person, tokens[first].start, tokens[last].end, given.spelling,
                                       (g_why, f"surname {tokens[j].raw!r} one edit from a known spelling"), True))
                    break
        return out

    def _middle_ok(self, token: Token, parts: list[Part], entry: Entry) -> bool:
        return token.upper or name_key(token.raw) in entry.middles

    def _phrase_mentions(self, tokens: list[Token]) -> list[Mention]:
        out = []
        keys = None
        for i, token in enumerate(tokens):
            candidates = self.phrase_starts.get(name_key(token.raw)) if token.upper else None
            if not candidates:
                continue
            if keys is None:
                keys = [name_key(split_suffix(t.raw)[0]) for t in tokens]
            for person in candidates:
                for phrase, spelling in self.entries[person].phrases:
                    if keys[i:i + len(phrase)] == phrase:
                        out.append(Mention(person, token.start, tokens[i + len(phrase) - 1].end, spelling,
                                           (f"listed name {self.entries[person].spellings[spelling]!r}",), True))
        return out

    def _blocked(self, text: str, tokens: list[Token]) -> tuple[dict[int, list[tuple[int, int]]], set[int]]:
        """Spans of `not` names, per person they protect; and who had one named."""
        spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
        people: set[int] = set()
        if self.blockers is not None:
            for mention in self.blockers.find(text, tokens):
                if mention.full:
                    owner = self.blocker_owner[mention.person]
                    spans[owner].append((mention.start, mention.end))
                    people.add(owner)
        return spans, people

    def _surname_alone(
        self, text: str, tokens: list[Token], hits: list[list[Part]], full: list[Mention],
        blocked_spans: dict[int, list[tuple[int, int]]], blocked_people: set[int],
    ) -> list[Mention]:
        covered = {pos for m in full for pos in range(m.start, m.end)}
        first_full = {}
        for m in full:
            first_full[m.person] = min(first_full.get(m.person, m.start), m.start)
        stems_named = defaultdict(set)  # surname stem -> people named in full
        for m in full:
            for s in self.entries[m.person].surnames:
                stems_named[stem(s)].add(m.person)
        out: list[Mention] = []
        bearers, weak = other_bearers(self, text, tokens, hits, covered)
        for i, parts in enumerate(hits):
            if i in weak:
                continue
            for part in parts:
                if part.role != "surname" or tokens[i].start in covered:
                    continue
                person, entry = part.person, self.entries[part.person]
                if person in blocked_people:
                    continue
                if any(stems_named[stem(s)] - {person} for s in entry.surnames):
                    continue  # another watched person of that name is named in full here
                if any(bearers.get(stem(s), set()) - {person} for s in entry.surnames):
                    continue  # somebody else of that surname is named here
                mode = entry.person.surname_alone
                why = _form_why("surname", tokens[i].raw, part.label)
                if mode == "never" or not_a_person_here(tokens, i):
                    continue  # 'the Karimov regime', 'under Karimov': a rule or an era, not our person
                if person in first_full and first_full[person] < tokens[i].start:
                    reason = "surname alone, after a full mention"
                elif entry.distinctive:
                    reason = "distinctive surname alone, nobody else's by what surrounds it"
                elif mode == "always":
                    reason = "surname alone (surname_alone: always), nobody else's by what surrounds it"
                else:
                    continue
                out.append(Mention(person, tokens[i].start, tokens[i].end, part.spelling, (why, reason), False))
        named = {m.person for m in full} | {m.person for m in out} | blocked_people
        spans = [(m.start, m.end) for m in full + out]
        return out + self._family_mentions(text, tokens, hits, named, bearers, spans)

    def _family_mentions(
        self, text: str, tokens: list[Token], hits: list[list[Part]], named: set[int],
        bearers: dict[str, set[int | None]], named_spans: list[tuple[int, int]],
    ) -> list[Mention]:
        """A given name standing alone in an item that names the person's family name elsewhere
        ('Tanya tells me' ... 'exile Karimov'; 'рассказывает Татьяна' ... 'Баходира Каримова').

        The family name must name a person there (in a full mention, or after a word such as
        'exile' or 'Mr', or before 'family'), never a regime or an era: 'Critics of the Karimov
        regime, among them a farmer called Bakhodir' and 'Under Karimov, thousands fled.
        Bakhodir, 34, ...' do not name Bakhodir Karimov."""
        out: list[Mention] = []
        family_at: dict[str, int] = {}  # surname stem -> first token naming it as a person
        for j, parts in enumerate(hits):
            for h in parts:
                if h.role == "surname" and family_context(text, tokens, j, named_spans):
                    for family in self.entries[h.person].stems:
                        family_at.setdefault(family, j)
        if not family_at:
            return out
        for i, parts in enumerate(hits):
            for part in parts:
                if part.role != "given" or part.person in named:
                    continue
                if any(tokens[k].upper for k in (i - 1, i + 1) if 0 <= k < len(tokens)
                       and gap_ok(text, tokens[min(i, k)], tokens[max(i, k)])):
                    continue  # part of some other name
                stems = self.entries[part.person].stems
                places = [family_at[f] for f in stems if f in family_at]
                if not places or any(None in bearers.get(f, ()) for f in stems):
                    continue  # the family name is not here, or a stranger of that name is
                if places:
                    j = min(places)
                    out.append(Mention(part.person, tokens[i].start, tokens[i].end, part.spelling,
                                       (_form_why("given name", tokens[i].raw, part.label),
                                        f"family name {tokens[j].raw!r} named in the same item"), False))
                    named.add(part.person)
        return out


def _inside(mention: Mention, spans: list[tuple[int, int]]) -> bool:
    return any(start < mention.end and mention.start < end for start, end in spans)


def _form_why(what: str, raw: str, label: str) -> str:
    return f"{what} {raw!r}" + (f" ({label})" if label else "")
