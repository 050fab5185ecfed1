"""Tokens and their normal forms, shared by name, keyword and country matching.

Text is tokenised once, on the original string, so every span points into the text the
monitor sees. A token is a run of letters with apostrophe-like marks inside (Uzbek oʻ gʻ,
Turkish Karimov'un, English Karimov's); a run of digits is a token of its own, so footnote
numbers glued to a word ("Magnitsky.144", "family.166") do not hide it, and keywords with
numbers ("Rule 39", "Article 3") keep them. Hyphens separate tokens
("Said-Emin", "Obidkhon-qori" are two tokens each).

Invisible characters (soft hyphens from CMS hyphenation, bidi marks, embeddings and isolates,
word joiners: every Unicode "format" character, and the C1 controls of mis-decoded text) are
not letters, so inside a name they would split it ("Bakho\u00addir"). `visible` removes them
before matching and keeps the way back, so reported spans still index the original text.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache, partial
from operator import itemgetter
from typing import NamedTuple

APOSTROPHES = "'ʻʼ’‘`´′ʹ"
_APOS_CLASS = re.escape(APOSTROPHES)
_TOKEN = re.compile(rf"[^\W\d_]+(?:[{_APOS_CLASS}][^\W\d_]+)*|\d+", re.UNICODE)
_APOS_TABLE = str.maketrans({c: "'" for c in APOSTROPHES})


def _hidden_class() -> str:
    """A regex class of every format (Cf) character of this Python's Unicode, plus C1 controls.

    Computed rather than listed, so a new Unicode version's format characters are covered.
    Format characters live in planes 0, 1 and 14 only (the tag characters), which keeps the
    scan at a few milliseconds."""
    points = [c for block in (range(0x20000), range(0xE0000, min(0xE1000, sys.maxunicode + 1)))
              for c in block if unicodedata.category(chr(c)) == "Cf"]
    points += range(0x80, 0xA0)  # C1 controls: never text, usually cp1252 read as latin-1
    ranges: list[list[int]] = []
    for point in sorted(set(points)):
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


HIDDEN = re.compile(f"[{_hidden_class()}]+")


class Token(NamedTuple):
    """One word of a text. A tuple, built by C code in `tokenize` (no Python call per token):
    a frozen dataclass per token was a third of `Matcher.analyse`."""

    start: int
    end: int
    raw: str  # as in the text
    norm: str  # casefolded, apostrophes unified: what keywords are compared with
    upper: bool  # starts with a capital letter (names must)


_new_token = partial(tuple.__new__, Token)
_START, _END = itemgetter(0), itemgetter(1)
_FIRST = itemgetter(0)


def tokenize(text: str) -> list[Token]:
    """Every word of `text` with its span and normal form."""
    found = list(_TOKEN.finditer(text))
    if not found:
        return []
    spans = list(map(re.Match.span, found))
    raws = list(map(re.Match.group, found))
    if text.isascii():  # casefold of ASCII is lower, NFKC changes nothing: one call for the text
        norms = _TOKEN.findall(text.lower().replace("`", "'"))
    else:
        norms = list(map(word_norm, raws))
    uppers = map(str.isupper, map(_FIRST, raws))
    return list(map(_new_token, zip(map(_START, spans), map(_END, spans), raws, norms, uppers)))


def clean(text: str) -> str:
    """Remove soft hyphens, zero-width, bidi and other invisible characters that hide words.

    Offsets change, so only use this on text whose spans are not reported (rules, queries);
    for a text whose spans are reported use `visible`, which can map them back."""
    return HIDDEN.sub("", text)


@dataclass(frozen=True, slots=True)
class Visible:
    """A text without its invisible characters, and the way back to offsets in the original.

    `cuts[i]` is where, in the visible text, the i-th removed run was; `shifts[i]` how many
    characters were removed up to and including it."""

    text: str
    cuts: tuple[int, ...] = ()
    shifts: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.cuts)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original offsets of a visible span; it starts and ends on visible characters,
        so invisible ones at its edges are left out and those inside it are kept."""
        if not self.cuts:
            return start, end
        at = bisect_right(self.cuts, start)
        first = start + (self.shifts[at - 1] if at else 0)
        if end <= start:
            return first, first
        before = bisect_left(self.cuts, end)
        return first, end + (self.shifts[before - 1] if before else 0)


def visible(text: str) -> Visible:
    """`text` with its invisible characters removed (see `Visible` for mapping spans back)."""
    if text.isascii() or HIDDEN.search(text) is None:  # the common case: nothing to remove or map
        return Visible(text)
    pieces: list[str] = []
    cuts: list[int] = []
    shifts: list[int] = []
    pos = removed = 0
    for run in HIDDEN.finditer(text):
        pieces.append(text[pos:run.start()])
        cuts.append(run.start() - removed)
        removed += run.end() - run.start()
        shifts.append(removed)
        pos = run.end()
    pieces.append(text[pos:])
    return Visible("".join(pieces), tuple(cuts), tuple(shifts))


@lru_cache(maxsize=200_000)
def word_norm(word: str) -> str:
    """NFKC, casefold, one apostrophe, ё -> е, Turkish İ's stray dot removed."""
    folded = unicodedata.normalize("NFKC", word).casefold().replace("\u0307", "")
    return folded.translate(_APOS_TABLE).replace("ё", "е")


def phrase_norm(phrase: str) -> list[str]:
    """A keyword or name as the list of its token normal forms."""
    return [t.norm for t in tokenize(clean(phrase))]
