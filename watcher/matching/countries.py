"""Which countries an item names, and which of them is the person's origin and which the host.

Names and demonyms in en/ru/uz/tg/kk/az/tr come from gazetteer.yaml beside this module. Telling
origin from host is a heuristic, kept simple on purpose: a watched person's `country` is an
origin; a country word right before a word like exile, migrant or refugee ("Uzbek migrant",
"узбекский беженец") is an origin; every other country named is a host (where it happened).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ruamel.yaml import YAML

from watcher.matching.keywords import PhraseIndex
from watcher.matching.normalize import Token

GAZETTEER = Path(__file__).with_name("gazetteer.yaml")
ORIGIN_ROLES = {
    "exile", "exiles", "exiled", "migrant", "migrants", "refugee", "refugees", "dissident", "dissidents",
    "national", "nationals", "citizen", "citizens", "émigré", "emigre", "emigrant", "emigrants", "opposition",
    "activist", "activists", "journalist", "blogger", "asylum", "diaspora", "critic", "imam",
    "эмигрант", "эмигранта", "эмигранты", "мигрант", "мигранта", "мигранты", "мигрантов", "беженец",
    "беженца", "беженцы", "гражданин", "гражданина", "граждане", "уроженец", "уроженца", "оппозиционер",
    "оппозиционера", "журналист", "журналиста", "активист", "активиста", "диаспоры", "диаспора",
    "muhojir", "muhojirlar", "qochqin", "fuqarosi", "fuqarolari", "muxolifatchi", "jurnalist",
}


@cache
def gazetteer_index() -> PhraseIndex:
    entries: list[tuple[str, str, str]] = []
    if GAZETTEER.exists():
        data = YAML(typ="safe").load(GAZETTEER.read_text(encoding="utf-8")) or {}
        for code, languages in data.items():
            for lang, words in (languages or {}).items():
                entries.extend((str(code), str(lang), str(w)) for w in words or ())
    return PhraseIndex(entries)


@cache
def _english_names() -> dict[str, str]:
    data = YAML(typ="safe").load(GAZETTEER.read_text(encoding="utf-8")) or {} if GAZETTEER.exists() else {}
    names = {}
    for code, languages in data.items():
        words = [str(w).rstrip("*") for w in (languages or {}).get("en") or ()]
        if words:
            names[str(code)] = words[0]
    return names


def country_name(code: str) -> str:
    """A country's English name for an alert ("UZ" -> "Uzbekistan"); the code when unknown."""
    return _english_names().get(code, code)


def is_country_word(norm: str) -> bool:
    """Whether a normalised token names a country or its people ('uzbek', 'узбекский')."""
    return bool(gazetteer_index().candidates(norm))


def tag_countries(tokens: list[Token], person_countries: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(all countries named, origin countries, host countries), each in order of first mention."""
    named: list[str] = []
    origin: list[str] = [c for c in person_countries if c]
    for hit in gazetteer_index().find(tokens):
        code = hit.phrase.label
        if code not in named:
            named.append(code)
        following = tokens[hit.last + 1].norm if hit.last + 1 < len(tokens) else ""
        if following in ORIGIN_ROLES and code not in origin:
            origin.append(code)
    origin = list(dict.fromkeys(origin))
    host = [c for c in named if c not in origin]
    return named, origin, host
