"""Keyword matching: country names by stems (`PhraseIndex`), incident types by lemmas (`IncidentIndex`).

Country names: a keyword is one or more words; a trailing `*` on the last word matches any
word with that stem; English single words also match their plural and possessive.

Incident types (why lemmas: surface lists fit the sentences they were written beside and
missed the next item's forms). A keyword is one or more words, each matching every form of
itself (lemmas.py: выдать = выдала, выдали, выдан; hold = held), or a stem with `*`;
`a/b` is either word; `A + B` means both parts in one sentence, at most 8 words apart, in
either order (relatives + questioned). A type's `not:` phrases mask its hits they overlap
("terrorist attack" for an attack on a person, "in absentia + prison" for a detention). A hit
right after a negation or a hypothetical cue ("not", "could", "fearing", не, может, опасаясь;
after it in verb-final languages: mumkin, olabilir; a Turkic negative verb ending) is not
counted either. Each decision is in the hit's `why`.

Each distinct token is resolved once and remembered, so a text costs one dict lookup per
token however many keywords there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from watcher.matching.lemmas import (
    CYRILLIC,
    country_word,
    cue,
    keyword_keys,
    negative_form,
    token_keys,
    uz_latin,
)
from watcher.matching.normalize import Token, phrase_norm


@dataclass(frozen=True, slots=True)
class Phrase:
    label: str  # what it stands for: an incident type id, an ISO country code
    keyword: str  # as the monitor wrote it
    words: tuple[str, ...]  # normalised
    stem: bool  # last word is a stem


@dataclass(frozen=True, slots=True)
class PhraseHit:
    phrase: Phrase
    first: int  # token indexes, inclusive
    last: int


class PhraseIndex:
    def __init__(self, entries: Iterable[tuple[str, str, str]]):
        """entries: (label, language, keyword)."""
        self.exact: dict[str, list[Phrase]] = defaultdict(list)
        self.stems: dict[str, list[Phrase]] = defaultdict(list)
        self._cache: dict[str, tuple[Phrase, ...]] = {}
        for label, lang, keyword in entries:
            stem = keyword.endswith("*")
            words = tuple(phrase_norm(keyword.rstrip("*")))
            if not words:
                continue
            phrase = Phrase(label, keyword, words, stem)
            if stem and len(words) == 1:
                self.stems[words[0]].append(phrase)
            else:
                self.exact[words[0]].append(phrase)
                if lang == "en" and len(words) == 1 and not words[0].endswith("s"):
                    self.exact[words[0] + "s"].append(phrase)
                    self.exact[words[0] + "'s"].append(phrase)
        self._stem_lengths = sorted({len(s) for s in self.stems}, reverse=True)

    def candidates(self, norm: str) -> tuple[Phrase, ...]:
        cached = self._cache.get(norm)
        if cached is None:
            found = list(self.exact.get(norm, ()))
            for size in self._stem_lengths:
                if size <= len(norm):
                    found.extend(self.stems.get(norm[:size], ()))
            cached = tuple(found)
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[norm] = cached
        return cached

    def find(self, tokens: list[Token]) -> list[PhraseHit]:
        hits = []
        cached, candidates = self._cache.get, self.candidates  # the cache first: one call per token
        for i, token in enumerate(tokens):
            found = cached(token.norm)
            if found is None:
                found = candidates(token.norm)
            for phrase in found:
                if len(phrase.words) == 1:
                    hits.append(PhraseHit(phrase, i, i))
                elif self._rest_matches(tokens, i, phrase):
                    hits.append(PhraseHit(phrase, i, i + len(phrase.words) - 1))
        return hits

    @staticmethod
    def _rest_matches(tokens: list[Token], i: int, phrase: Phrase) -> bool:
        if i + len(phrase.words) > len(tokens):
            return False
        for offset, word in enumerate(phrase.words[1:], start=1):
            norm = tokens[i + offset].norm
            last = offset == len(phrase.words) - 1
            if not (norm == word or (last and phrase.stem and norm.startswith(word))):
                return False
        return True


# ---------------------------------------------------------------- incident types, by lemma

WINDOW = 8  # at most this many words between the parts of an "A + B" keyword
BEFORE, AFTER = 3, 2  # how far a negation or hypothetical cue reaches (words)
SENTENCE_BREAK = frozenset(".!?;\n…")
CLAUSE_BREAK = SENTENCE_BREAK | frozenset(",:()—–")


@dataclass(frozen=True, slots=True)
class Alt:
    """One way to fill one word of a keyword: a word (all its forms) or a stem (word*)."""

    word: str  # normalised
    prefix: bool
    keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class Entry:
    """A keyword or a `not` phrase of one incident type, parsed: parts of words of alternatives."""

    label: str
    lang: str
    keyword: str  # as the monitor wrote it
    parts: tuple[tuple[tuple[Alt, ...], ...], ...]
    negative: bool  # from `not:`: masks the type's hits it overlaps


Start = tuple[int, int, int, int]  # a text word starting a keyword part: (slot, entry, part, words)


@dataclass(frozen=True, slots=True)
class IncidentHit:
    label: str
    keyword: str
    first: int  # token indexes, inclusive
    last: int
    why: str


@lru_cache(maxsize=8192)
def parse_keyword(keyword: str, lang: str) -> tuple[tuple[tuple[Alt, ...], ...], ...]:
    """'выдать/выдавать + узбекистан' → parts → words → alternatives; a word without '/' may be
    several tokens ('sui-qəsd*'). Remembered: lemmas are most of compiling the incident types."""
    parts = []
    for part in keyword.split("+"):
        words: list[tuple[Alt, ...]] = []
        for chunk in part.split():
            alts = [a for a in chunk.split("/") if a.strip("*")]
            if len(alts) == 1 and alts[0] != "@country":
                stem, norms = alts[0].endswith("*"), phrase_norm(alts[0].rstrip("*"))
                words.extend((_alt(n, lang, stem and i == len(norms) - 1),) for i, n in enumerate(norms))
            elif alts:
                words.append(tuple(_alternative(a, lang) for a in alts))
        if words:
            parts.append(tuple(words))
    return tuple(parts)


def _alternative(word: str, lang: str) -> Alt:
    if word == "@country":
        return COUNTRY
    norms = phrase_norm(word.rstrip("*")) or [word.rstrip("*")]
    return _alt(norms[-1], lang, word.endswith("*"))


def _alt(norm: str, lang: str, prefix: bool) -> Alt:
    return Alt(norm, prefix, frozenset() if prefix else keyword_keys(norm, lang))


COUNTRY = Alt("@country", False, frozenset({"@country"}))  # any country name or demonym of the gazetteer


class IncidentIndex:
    """Every incident type's keywords and `not` phrases, indexed by lemma key and by stem.

    A text word is resolved once (its keys, then the keyword words it may fill) and the result
    cached, so a text costs one dict lookup per word however many keywords there are."""

    def __init__(self, incident_types: Mapping[str, Any]):
        self.entries: list[Entry] = []
        self.slots: list[tuple[int, int, int]] = []  # slot id -> (entry, part, word)
        self.first_slot: list[list[int]] = []  # entry -> part -> slot id of its first word
        self.by_key: dict[str, list[tuple[int, Alt]]] = defaultdict(list)
        self.by_prefix: dict[str, list[tuple[int, Alt]]] = defaultdict(list)
        self.uz_prefix: dict[str, list[tuple[int, Alt]]] = defaultdict(list)  # also read in Cyrillic
        self._cache: dict[str, dict[int, Alt]] = {}
        for label, incident in incident_types.items():
            for negative, table in ((False, incident.keywords), (True, getattr(incident, "not_", {}) or {})):
                for lang, keywords in table.items():
                    for keyword in keywords:
                        self._add(Entry(label, lang, keyword, parse_keyword(keyword, lang), negative))
        self._prefix_lengths = sorted({len(p) for p in self.by_prefix}, reverse=True)

    def _add(self, entry: Entry) -> None:
        if not entry.parts:
            return
        index = len(self.entries)
        self.entries.append(entry)
        self.first_slot.append([])
        for p, part in enumerate(entry.parts):
            self.first_slot[index].append(len(self.slots))
            for w, alts in enumerate(part):
                slot = len(self.slots)
                self.slots.append((index, p, w))
                for alt in alts:
                    if alt.prefix:
                        self.by_prefix[alt.word].append((slot, alt))
                        if entry.lang == "uz" and not CYRILLIC.search(alt.word):
                            self.uz_prefix[alt.word].append((slot, alt))
                    else:
                        for key in alt.keys:
                            self.by_key[key].append((slot, alt))

    def resolve(self, norm: str) -> tuple[dict[int, Alt], tuple[Start, ...], tuple[Start, ...]]:
        """The keyword words (slot ids) this text word fills, each with the alternative it fills,
        and those that start an entry's first part, or another part: (slot, entry, part, size)."""
        cached = self._cache.get(norm)
        if cached is not None:
            return cached
        found: dict[int, Alt] = {}
        for key in token_keys(norm):
            for slot, alt in self.by_key.get(key, ()):
                if slot not in found or key[0] == "=":
                    found[slot] = alt
        for size in self._prefix_lengths:
            if size <= len(norm):
                for slot, alt in self.by_prefix.get(norm[:size], ()):
                    found.setdefault(slot, alt)
        if self.uz_prefix and CYRILLIC.search(norm):
            latin = uz_latin(norm)
            for stem, entries in self.uz_prefix.items():
                if latin.startswith(stem):
                    for slot, alt in entries:
                        found.setdefault(slot, alt)
        if "@country" in self.by_key and country_word(norm):
            for slot, alt in self.by_key["@country"]:
                found.setdefault(slot, alt)
        starts = [(slot, e, p, len(self.entries[e].parts[p])) for slot in found
                  for e, p, w in (self.slots[slot],) if w == 0]
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[norm] = cached = (found, tuple(s for s in starts if s[2] == 0),
                                      tuple(s for s in starts if s[2] > 0))
        return cached

    def find(self, text: str, tokens: list[Token]) -> tuple[list[IncidentHit], list[IncidentHit]]:
        """(hits that count, hits not counted with the reason), each type's hit reported once."""
        cache, resolve, n = self._cache, self.resolve, len(tokens)
        resolved = [cache.get(t.norm) or resolve(t.norm) for t in tokens]
        parts: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for later in (1, 2):  # first parts first: most texts have none, and stop there
            alive = {e for e, _ in parts}
            for i, starts in [(i, r[later]) for i, r in enumerate(resolved) if r[later]]:
                for slot, entry, p, size in starts:
                    if (later == 1 or entry in alive) and (size == 1 or (
                            i + size <= n and all(slot + k in resolved[i + k][0] for k in range(1, size)))):
                        parts[(entry, p)].append((i, i + size - 1))
            if not parts:
                return [], []
        filled = [r[0] for r in resolved]
        context = _Context(text, tokens, filled)
        hits: list[tuple[int, tuple[tuple[int, int, int], ...]]] = []
        for index in sorted({e for e, _ in parts}):
            entry = self.entries[index]
            if all((index, p) in parts for p in range(1, len(entry.parts))):
                hits.extend((index, spans) for spans in _combine(entry, index, parts, context))
        masks = [(self.entries[e], min(s[1] for s in spans), max(s[2] for s in spans))
                 for e, spans in hits if self.entries[e].negative]
        counted: list[IncidentHit] = []
        ignored: list[IncidentHit] = []
        for index, spans in hits:
            entry = self.entries[index]
            if entry.negative:
                continue
            first, last = min(s[1] for s in spans), max(s[2] for s in spans)
            why = context.explain(entry, spans, self.first_slot[index])
            mask = next((m for m in masks if m[0].label == entry.label and m[1] <= last and first <= m[2]), None)
            if mask is not None:
                where = context.words(mask[1], mask[2])
                reason = f"not counted: within {where!r}, which matches not: {mask[0].keyword!r}"
            else:
                reason = context.modality(entry, first, last)
            hit = IncidentHit(entry.label, entry.keyword, first, last, why if reason is None else f"{reason}; {why}")
            (counted if reason is None else ignored).append(hit)
        return _once(counted), _once([h for h in ignored if not any(c.label == h.label for c in counted)])


def _combine(entry: Entry, index: int, parts: dict[tuple[int, int], list[tuple[int, int]]],
             context: _Context) -> list[tuple[tuple[int, int, int], ...]]:
    """Each occurrence of the first part, with the nearest occurrence of every other part in the
    same sentence, at most WINDOW words away and not overlapping the parts already chosen.
    Spans are (part, first token, last token)."""
    if len(entry.parts) == 1:
        return [((0, a, b),) for a, b in parts[(index, 0)]]
    out = []
    for a, b in parts[(index, 0)]:
        chosen = [(0, a, b)]
        for p in range(1, len(entry.parts)):
            options = [(p, c, d) for c, d in parts.get((index, p), ()) if context.same_sentence(a, c)
                       and not any(c <= y and x <= d for _, x, y in chosen) and _gap(chosen, c, d) <= WINDOW]
            if not options:
                break
            chosen.append(min(options, key=lambda s: _gap(chosen, s[1], s[2])))
        else:
            out.append(tuple(chosen))
    return out


def _gap(chosen: list[tuple[int, int, int]], first: int, last: int) -> int:
    """Words between a span and the nearest chosen one."""
    return min(max(first - y, x - last) - 1 for _, x, y in chosen)


def _once(hits: list[IncidentHit]) -> list[IncidentHit]:
    """Per type, drop a hit that overlaps an earlier one: one match per place, never two."""
    kept: list[IncidentHit] = []
    for hit in sorted(hits, key=lambda h: (h.first, -h.last)):
        if not any(k.label == hit.label and k.first <= hit.last and hit.first <= k.last for k in kept):
            kept.append(hit)
    return kept


class _Context:
    """Sentences, clauses and cue words around hits, for one text (computed only when needed)."""

    def __init__(self, text: str, tokens: list[Token], filled: list[dict[int, Alt]]):
        self.text, self.tokens, self.filled = text, tokens, filled
        self._sentence: list[int] | None = None

    def _gap_text(self, i: int) -> str:
        """The characters between token i-1 and token i."""
        return self.text[self.tokens[i - 1].end:self.tokens[i].start]

    def same_sentence(self, a: int, b: int) -> bool:
        if self._sentence is None:
            number, self._sentence = 0, []
            for i in range(len(self.tokens)):
                if i and SENTENCE_BREAK.intersection(self._gap_text(i)):
                    number += 1
                self._sentence.append(number)
        return self._sentence[a] == self._sentence[b]

    def words(self, first: int, last: int) -> str:
        return self.text[self.tokens[first].start:self.tokens[last].end]

    def modality(self, entry: Entry, first: int, last: int) -> str | None:
        """Why a hit does not count as an event that happened: a negation or a hypothetical
        cue close before it (after it in verb-final languages) in the same clause, or a
        Turkic negative verb ending on the matched word itself."""
        for j in range(first - 1, max(first - BEFORE, 0) - 1, -1):
            if CLAUSE_BREAK.intersection(self._gap_text(j + 1)):
                break
            cue = self._cue(j, "before")
            if cue:
                return cue
        for j in range(last + 1, min(last + AFTER, len(self.tokens) - 1) + 1):
            if CLAUSE_BREAK.intersection(self._gap_text(j)):
                break
            cue = self._cue(j, "after")
            if cue:
                return cue
        for i in range(first, last + 1):
            if any(negative_form(entry.lang, self.tokens[i].norm, a.word, a.prefix) for a in self.filled[i].values()):
                return f"not counted: negated ({self.tokens[i].raw!r} is a negative form)"
        return None

    def _cue(self, j: int, side: str) -> str | None:
        token = self.tokens[j]
        kind = cue(token.raw, token.norm, side)
        return f"not counted: {kind} ({token.raw!r} {side} it)" if kind else None

    def explain(self, entry: Entry, spans: tuple[tuple[int, int, int], ...], first_slot: list[int]) -> str:
        """The why of a hit: the keyword, and how each word that is not the keyword's own was read."""
        details = []
        alts = [(self.tokens[i], self.filled[i][first_slot[p] + i - a]) for p, a, b in spans for i in range(a, b + 1)]
        for token, alt in alts:
            if alt is COUNTRY:
                details.append(f"{token.raw!r} names a country")
            elif not alt.prefix and alt.word != token.norm:
                details.append(f"{token.raw!r} is a form of {alt.word!r} ({entry.lang})")
        if len(spans) > 1:
            details.insert(0, " + ".join(repr(self.words(a, b)) for _, a, b in spans) + " in one sentence")
        kind = "stem" if len(alts) == 1 and alts[0][1].prefix else "keyword"
        return f"{kind} {entry.keyword!r}" + (f": {'; '.join(details)}" if details else "")

