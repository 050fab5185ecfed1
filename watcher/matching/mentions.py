"""A found mention of a watched person, and the `Match` it becomes (with its explanation).

Kept apart from the name index (names.py): this is what the monitor reads, the spelling
listed for the person that is closest to what the text says, and the script it was seen in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from watcher.matching.normalize import clean, tokenize
from watcher.matching.translit import name_key, split_suffix
from watcher.models import Match


@dataclass(frozen=True)
class Mention:
    person: int
    start: int  # character offsets
    end: int
    spelling: int
    reasons: tuple[str, ...]
    full: bool


def mention_match(index: Any, mention: Mention, text: str) -> Match:
    entry = index.entries[mention.person]
    found = text[mention.start:mention.end]
    variant = entry.spellings[_closest_spelling(entry, found, mention.spelling)]
    reasons = list(mention.reasons)
    if _script(found) != _script(entry.person.name):
        reasons.insert(0, f"{_script(found)}→{_script(entry.person.name)}")
    return Match(entry.person.rule_id, "person", variant, (mention.start, mention.end), found, "; ".join(reasons))


def _closest_spelling(entry: Any, found: str, default: int) -> int:
    """The listed spelling most like the text: same script first, then most keys in common."""
    found_keys = _keys_of(found)
    script = _script(found)
    spelling_keys = [spelling_keys_of(s) for s in entry.spellings]

    def score(index: int) -> tuple[bool, int, bool]:
        own_script, keys = spelling_keys[index]
        return (own_script == script, len(keys & found_keys), index == default)

    return max(range(len(spelling_keys)), key=score)


@lru_cache(maxsize=4096)
def spelling_keys_of(spelling: str) -> tuple[str, frozenset[str]]:
    """A listed spelling's script and spelling keys, worked out when a match is reported rather
    than kept for every person in the index."""
    return _script(spelling), _keys_of(clean(spelling))


def _keys_of(text: str) -> frozenset[str]:
    """The spelling keys of the tokens of `text`, word by word: a token never spans whitespace,
    and the words of a watchlist's spellings repeat far more than the spellings do."""
    words = text.split()
    if len(words) == 1:
        return _word_keys(words[0])
    return frozenset().union(*map(_word_keys, words))


@lru_cache(maxsize=8192)
def _word_keys(word: str) -> frozenset[str]:
    return frozenset(name_key(split_suffix(t.raw)[0]) for t in tokenize(word))


_CYRILLIC = re.compile("[\u0400-\u04ff]")


def _script(text: str) -> str:
    return "cyrillic" if _CYRILLIC.search(text) else "latin"
