"""Tokens and their normal forms, shared by name, keyword and country matching.

Text is tokenised once, on the original string, so every span points into the text the
monitor sees. A token is a run of letters with apostrophe-like marks inside (Uzbek oʻ gʻ,
Turkish Karimov'un, English Karimov's); a run of digits is a token of its own, so footnote
numbers glued to a word ("Magnitsky.144", "family.166") do not hide it, and keywords with
numbers ("Rule 39", "Article 3") keep them. Hyphens separate tokens
("Said-Emin", "Obidkhon-qori" are two tokens each).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

APOSTROPHES = "'ʻʼ’‘`´′ʹ"
_APOS_CLASS = re.escape(APOSTROPHES)
_TOKEN = re.compile(rf"[^\W\d_]+(?:[{_APOS_CLASS}][^\W\d_]+)*|\d+", re.UNICODE)
_APOS_TABLE = str.maketrans({c: "'" for c in APOSTROPHES})
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    raw: str  # as in the text
    norm: str  # casefolded, apostrophes unified: what keywords are compared with
    upper: bool  # starts with a capital letter (names must)


def tokenize(text: str) -> list[Token]:
    """Every word of `text` with its span and normal form."""
    out = []
    for found in _TOKEN.finditer(text):
        raw = found.group(0)
        out.append(Token(found.start(), found.end(), raw, word_norm(raw), raw[0].isupper()))
    return out


def clean(text: str) -> str:
    """Remove soft hyphens, zero-width and bidi control characters that hide words from matching.

    Offsets change, so only use this on text whose spans are not reported (rules, queries)."""
    return text.translate(_INVISIBLE)


@lru_cache(maxsize=200_000)
def word_norm(word: str) -> str:
    """NFKC, casefold, one apostrophe, ё -> е, Turkish İ's stray dot removed."""
    folded = unicodedata.normalize("NFKC", word).casefold().replace("\u0307", "")
    return folded.translate(_APOS_TABLE).replace("ё", "е")


def phrase_norm(phrase: str) -> list[str]:
    """A keyword or name as the list of its token normal forms."""
    return [t.norm for t in tokenize(clean(phrase))]
