"""Keyword and phrase matching for incident types and country names, inflection-aware by stems.

A keyword is one or more words; a trailing `*` on the last word matches any word with that
stem (экстрадиц* catches экстрадиции, экстрадицию). English single words also match their
plural and possessive. Each distinct token is resolved once and remembered, so a text costs
one dict lookup per token however many keywords there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

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
        for i, token in enumerate(tokens):
            for phrase in self.candidates(token.norm):
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
