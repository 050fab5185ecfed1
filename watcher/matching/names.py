"""Who is who: finding watched people in a text, however their names are spelt and inflected.

Every spelling of every person (name and aliases) is split into given name, middle parts and
surname; each part's inflected forms are put, by spelling key, into one dict (packed: one
source per distinct name part, see nameindex.py). A text is read once, token by token, with a
few dict lookups per capitalised token, and a rule is worked out person by person only for the
people it can still apply to (those a shared name leaves after set intersections), so the cost
does not grow with the watchlist, nor with how many people share a name. Then, per person:

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

from watcher.matching.mentions import _CYRILLIC, Mention, _script, mention_match  # noqa: F401  (mention_match re-exported)
from watcher.matching.nameindex import DERUSSIFIED, EMPTY_HIT, GIVEN, NO_PEOPLE, SURNAME, Entry, Hit, PackedIndex
from watcher.matching.namesakes import (
    CONNECTORS,
    MIN_FUZZY,
    common_given_forms,
    family_context,
    gap_ok,
    is_initial,
    not_a_person_here,
    other_bearers,
    stem,
)
from watcher.matching.normalize import Token
from watcher.matching.translit import name_key, name_keys, split_suffix
from watcher.rules import Person

MIN_DISTINCTIVE = 6
MAX_WORDS = 100_000  # capitalised words remembered, naming somebody or not (then forgotten all at once)
MAX_HITS = 1_000  # of those, words that name somebody: their Hits, with the parts read there (~5 KB each)
__all__ = ["Entry", "Hit", "MIN_DISTINCTIVE", "Mention", "NameIndex", "mention_match"]


class NameIndex(PackedIndex):
    """All spellings of all people (or of all `not` names), by spelling key."""

    def __init__(self, people: Sequence[Person], *, with_not: bool = True):
        super().__init__(people)
        self._words: dict[str, Hit] = {}  # word -> its Hit, or EMPTY_HIT: it names nobody
        self._named_words = 0  # how many of them name somebody
        self._mark_distinctive()
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
                    if not entry.stems.isdisjoint(self.entries[owner].stems):
                        self.entries[owner].distinctive = False
        # who a surname alone may name at all: distinctive, or surname_alone: always
        self.alone_ok = frozenset(n for n, e in enumerate(self.entries)
                                  if e.distinctive or e.person.surname_alone == "always")

    def _mark_distinctive(self) -> None:
        """Distinctive: a surname of at least MIN_DISTINCTIVE letters, and every stem of the
        person's surnames (`entry.stems`) borne by nobody else."""
        bearers: dict[str, int] = defaultdict(int)  # stem -> how many people bear it
        for entry in self.entries:
            for family in entry.stems:
                bearers[family] += 1
        for entry in self.entries:
            entry.distinctive = (any(len(s) >= MIN_DISTINCTIVE for s in entry.surnames)
                                 and all(bearers[family] == 1 for family in entry.stems))

    @property
    def known_given(self) -> frozenset[str]:
        """Given-name keys from any list (the watched people's and the region's), built once."""
        if self._known_given is None:
            self._known_given = self.watched_given | common_given_forms()
        return self._known_given

    # -- reading a text --------------------------------------------------------------------

    def hits(self, tokens: list[Token], any_case: bool) -> list[Hit]:
        """Per token, the watched name parts it is (Russian cases are Cyrillic: in Latin text
        "Smailova" is a woman, not his genitive). A word's Hit is worked out once and kept:
        most capitalised words (places, months, outlets) name nobody, and are remembered as
        such; a word that names somebody keeps its people and the parts read there, so the
        next item naming them costs one lookup however many people share the name."""
        out: list[Hit] = []
        seen, empty = self._words, EMPTY_HIT
        for token in tokens:
            if token.upper or any_case:
                found = seen.get(token.raw)
                if found is None:
                    found = self._word(token.raw)
                out.append(found)
            else:
                out.append(empty)
        return out

    def _word(self, raw: str) -> Hit:
        found = self.hit(name_keys(split_suffix(raw)[0]), not _CYRILLIC.search(raw))
        if found is not EMPTY_HIT:
            self._named_words += 1
            if self._named_words > MAX_HITS:  # the words naming somebody are forgotten, not the others
                self._words = {word: hit for word, hit in self._words.items() if hit is EMPTY_HIT}
                self._named_words = 1
        if len(self._words) >= MAX_WORDS:
            self._words.clear()
            self._named_words = int(found is not EMPTY_HIT)
        self._words[raw] = found
        return found

    def find(self, text: str, tokens: list[Token], *, full_only: bool = False) -> list[Mention]:
        """The mentions of watched people in the text; with `full_only` only the full ones
        (the `not` names: a namesake is only ever named in full), by position."""
        any_case = not any(t.upper for t in tokens)
        hits = self.hits(tokens, any_case)
        named = any(hit is not EMPTY_HIT for hit in hits)
        full = (self._full_mentions(text, tokens, hits) if named else []) + self._phrase_mentions(tokens)
        blocked_spans, blocked_people = self._blocked(text, tokens)
        full = [m for m in full if not _inside(m, blocked_spans.get(m.person, []))]
        if not named or full_only:  # no token is a watched name part: no surname alone, no given name alone
            return sorted(full, key=lambda m: (m.start, m.person))
        alone = self._surname_alone(text, tokens, hits, full, blocked_spans, blocked_people)
        return sorted(full + alone, key=lambda m: (m.start, m.person))

    def _full_mentions(self, text: str, tokens: list[Token], hits: list[Hit]) -> list[Mention]:
        found: dict[tuple[int, int], Mention] = {}
        for i, hit in enumerate(hits):
            if hit is EMPTY_HIT:
                continue
            if hit.surname or hit.derussified:
                for person in sorted(self._pair_candidates(text, tokens, hits, i)):
                    for role, label, spelling in self.parts(hit, person):
                        if role not in (SURNAME, DERUSSIFIED):
                            continue
                        mention = self._pair(text, tokens, hits, i, person, role, label, spelling)
                        if mention is not None:
                            found.setdefault((mention.person, mention.start), mention)
            if hit.given:
                for person in sorted(self._given_led_candidates(tokens, hits, i)):
                    for role, label, spelling in self.parts(hit, person):
                        if role == GIVEN:
                            for mention in self._given_led(text, tokens, hits, i, person, label, spelling):
                                found.setdefault((mention.person, mention.start), mention)
        return list(found.values())

    def _pair_candidates(self, text: str, tokens: list[Token], hits: list[Hit], i: int) -> set[int]:
        """Who of the surname's bearers at token i `_pair` can find a full mention for: a given
        name of theirs two tokens away at most, an initial of theirs, or a long capitalised word
        one edit from a given name of theirs just before it. Everybody else gets None."""
        hit = hits[i]
        bearers = hit.surname | hit.derussified
        out: set[int] = set()
        for j in (i - 2, i - 1, i + 1, i + 2):
            if 0 <= j < len(tokens) and hits[j].given:
                out |= bearers & hits[j].given
        for j in (i - 1, i - 2):
            if j >= 0 and is_initial(tokens[j], text):
                out |= bearers & self.initial_people(name_key(tokens[j].raw)[:1])
        j = i - 1
        if j >= 0 and tokens[j].upper and len(tokens[j].raw) >= MIN_FUZZY:
            near = self.near_bearers(GIVEN, hit.surname_srcs + hit.derussified_srcs, name_key(tokens[j].raw),
                                     len(tokens[j].raw))
            out |= bearers & near
        return out

    def _pair(self, text: str, tokens: list[Token], hits: list[Hit], i: int, person: int, role: str, label: str,
              spelling: int) -> Mention | None:
        """A full mention ending or starting at surname token i."""
        entry = self.entries[person]
        s_tok = tokens[i]
        s_why = _form_why("surname", s_tok.raw, label)
        for d in (1, 2):  # given name (and maybe a middle name) before the surname
            j = i - d
            if j < 0 or not all(gap_ok(text, tokens[k], tokens[k + 1]) or
                                (k == j and is_initial(tokens[k], text)) for k in range(j, i)):
                continue
            if d == 2 and not self._middle_ok(tokens[j + 1], entry):
                continue
            given = self.first(hits[j], person, GIVEN)
            if given is not None:
                return Mention(person, tokens[j].start, s_tok.end, spelling,
                               (_form_why("given name", tokens[j].raw, given[1]), s_why), True)
            if role == DERUSSIFIED:
                continue  # a changed surname needs the exact given name: no initial, no typo
            if is_initial(tokens[j], text) and any(name_key(tokens[j].raw)[:1] == g[:1] for g in entry.given):
                return Mention(person, tokens[j].start, s_tok.end, spelling,
                               (f"initial {tokens[j].raw}.", s_why), True)
            if d == 1 and tokens[j].upper:
                if self.near_person(person, GIVEN, name_key(tokens[j].raw), len(tokens[j].raw)):
                    return Mention(person, tokens[j].start, s_tok.end, spelling,
                                   (f"given name {tokens[j].raw!r} one edit from a known spelling", s_why), True)
        for d in (1, 2):  # surname first: Karimov Bahodir, Каримов Баходир Алиевич
            j = i + d
            if j >= len(tokens) or not all(gap_ok(text, tokens[k], tokens[k + 1]) for k in range(i, j)):
                continue
            if d == 2 and not self._middle_ok(tokens[i + 1], entry):
                continue
            given = self.first(hits[j], person, GIVEN)
            if given is not None:
                return Mention(person, s_tok.start, tokens[j].end, spelling,
                               (s_why, _form_why("given name", tokens[j].raw, given[1]), "surname first"), True)
        return None

    def _given_led_candidates(self, tokens: list[Token], hits: list[Hit], i: int) -> set[int]:
        """Who of the given name's bearers at token i `_given_led` can find a mention for: a
        surname of theirs after 'and' and a name, or a surname one edit away beside it."""
        hit, n = hits[i], len(tokens)
        out: set[int] = set()
        if i + 3 < n and tokens[i + 1].norm in CONNECTORS and tokens[i + 2].upper:
            out |= hit.given & hits[i + 3].surname
        for j in (i + 1, i - 1):
            if 0 <= j < n and tokens[j].upper and len(tokens[j].raw) >= MIN_FUZZY:
                key = name_key(split_suffix(tokens[j].raw)[0])
                out |= (hit.given & self.near_bearers(SURNAME, hit.given_srcs, key, len(tokens[j].raw))) - hits[j].people
        return out

    def _given_led(self, text: str, tokens: list[Token], hits: list[Hit], i: int, person: int, label: str,
                   spelling: int) -> list[Mention]:
        """Mentions found from a given name: coordinated names, and a surname one edit away."""
        out = []
        g_why = _form_why("given name", tokens[i].raw, label)
        if i + 3 < len(tokens) and tokens[i + 1].norm in CONNECTORS and tokens[i + 2].upper:
            surname = self.first(hits[i + 3], person, SURNAME)
            if surname is not None and all(gap_ok(text, tokens[k], tokens[k + 1]) for k in (i + 1, i + 2)):
                out.append(Mention(person, tokens[i].start, tokens[i + 3].end, surname[2],
                                   (g_why, "coordinated names", _form_why("surname", tokens[i + 3].raw, surname[1])), True))
        for j in (i + 1, i - 1):  # Given Surname, and Surname Given as official lists write
            if not 0 <= j < len(tokens) or not tokens[j].upper or not gap_ok(text, *sorted((tokens[i], tokens[j]),
                                                                                          key=lambda t: t.start)):
                continue
            if person not in hits[j].people:
                key = name_key(split_suffix(tokens[j].raw)[0])
                if self.near_person(person, SURNAME, key, len(tokens[j].raw)):
                    first, last = sorted((i, j))
                    out.append(Mention(person, tokens[first].start, tokens[last].end, spelling,
                                       (g_why, f"surname {tokens[j].raw!r} one edit from a known spelling"), True))
                    break
        return out

    def _middle_ok(self, token: Token, entry: Entry) -> bool:
        return token.upper or name_key(token.raw) in entry.middles

    def _phrase_mentions(self, tokens: list[Token]) -> list[Mention]:
        out: list[Mention] = []
        if not self.phrase_starts:  # nobody is listed by one word or a lower-case phrase
            return out
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
            for mention in self.blockers.find(text, tokens, full_only=True):
                if mention.full:
                    owner = self.blocker_owner[mention.person]
                    spans[owner].append((mention.start, mention.end))
                    people.add(owner)
        return spans, people

    def _surname_alone(
        self, text: str, tokens: list[Token], hits: list[Hit], full: list[Mention],
        blocked_spans: dict[int, list[tuple[int, int]]], blocked_people: set[int],
    ) -> list[Mention]:
        covered = {pos for m in full for pos in range(m.start, m.end)}
        first_full: dict[int, int] = {}
        for m in full:
            first_full[m.person] = min(first_full.get(m.person, m.start), m.start)
        stems_named = defaultdict(set)  # surname stem -> people named in full
        for m in full:
            for s in self.entries[m.person].surnames:
                stems_named[stem(s)].add(m.person)
        out: list[Mention] = []
        bearers, weak = other_bearers(self, text, tokens, hits, covered)
        alone_ok = self.alone_ok  # and those named in full here: nobody else can be named by a surname alone
        for i, hit in enumerate(hits):
            if i in weak or not hit.surname or tokens[i].start in covered:
                continue
            may = hit.surname & alone_ok
            if first_full:
                may = may | {p for p in first_full if p in hit.surname}
            for person in sorted(may):
                entry = self.entries[person]
                for role, label, spelling in self.parts(hit, person):
                    if role != SURNAME:
                        continue
                    if person in blocked_people:
                        continue
                    if any(stems_named[stem(s)] - {person} for s in entry.surnames):
                        continue  # another watched person of that name is named in full here
                    if any(bearers.get(stem(s), set()) - {person} for s in entry.surnames):
                        continue  # somebody else of that surname is named here
                    mode = entry.person.surname_alone
                    why = _form_why("surname", tokens[i].raw, label)
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
                    out.append(Mention(person, tokens[i].start, tokens[i].end, spelling, (why, reason), False))
        named = {m.person for m in full} | {m.person for m in out} | blocked_people
        spans = [(m.start, m.end) for m in full + out]
        return out + self._family_mentions(text, tokens, hits, named, bearers, spans)

    def _family_mentions(
        self, text: str, tokens: list[Token], hits: list[Hit], named: set[int],
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
        for j, hit in enumerate(hits):
            if hit.surname and family_context(text, tokens, j, named_spans):
                for family in self.summary("stems", hit.surname_srcs):
                    family_at.setdefault(family, j)
        if not family_at:
            return out
        of_family = self.stem_people(family_at)
        for i, hit in enumerate(hits):
            candidates = (hit.given & of_family) - named if hit.given else NO_PEOPLE
            if not candidates:
                continue
            if any(tokens[k].upper for k in (i - 1, i + 1) if 0 <= k < len(tokens)
                   and gap_ok(text, tokens[min(i, k)], tokens[max(i, k)])):
                continue  # part of some other name
            for person in sorted(candidates):
                for role, label, spelling in self.parts(hit, person):
                    if role != GIVEN or person in named:
                        continue
                    stems = self.entries[person].stems
                    places = [family_at[f] for f in stems if f in family_at]
                    if not places or any(None in bearers.get(f, ()) for f in stems):
                        continue  # the family name is not here, or a stranger of that name is
                    j = min(places)
                    out.append(Mention(person, tokens[i].start, tokens[i].end, spelling,
                                       (_form_why("given name", tokens[i].raw, label),
                                        f"family name {tokens[j].raw!r} named in the same item"), False))
                    named.add(person)
        return out


def _inside(mention: Mention, spans: list[tuple[int, int]]) -> bool:
    return any(start < mention.end and mention.start < end for start, end in spans)


def _form_why(what: str, raw: str, label: str) -> str:
    return f"{what} {raw!r}" + (f" ({label})" if label else "")
