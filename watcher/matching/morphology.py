"""Inflected forms of name parts, generated in key space (see translit.name_key).

Russian declines names, Uzbek and Tajik add case suffixes, Turkish and English attach theirs
after an apostrophe (cut off by translit.split_suffix before this module is needed). Every form
carries a label, which becomes part of a match's explanation ("genitive -а").

Gender is kept: a male surname in -ov/-ev/-in gets masculine endings (Каримова is his genitive),
a female one in -ova/-eva/-ina feminine ones (Каримовой); Aliyeva is never a form of Aliyev.
"""

from __future__ import annotations

from watcher.matching.translit import name_key

# suffixes are written in key letters (o is a, й is j, х is h)
RU_MALE_SURNAME = {
    "a": "genitive/accusative -а", "u": "dative -у", "im": "instrumental -ым", "e": "prepositional -е",
    "i": "plural -ы", "ih": "plural genitive -ых", "imi": "plural instrumental -ыми",
}
RU_FEMALE_SURNAME = {  # added to the stem without the final -a
    "aj": "oblique case -ой", "u": "accusative -у", "aju": "instrumental -ою",
}
RU_CONSONANT_STEM = {
    "a": "genitive/accusative -а", "u": "dative -у", "am": "instrumental -ом", "em": "instrumental -ем",
    "e": "prepositional -е",
}
RU_A_STEM = {  # added to the stem without the final -a (Tatyana, Dzhuma, Gulnora)
    "i": "genitive -ы/-и", "e": "dative/prepositional -е", "u": "accusative -у", "aj": "instrumental -ой",
    "ej": "instrumental -ей",
}
RU_ADJECTIVE = {  # -skiy surnames, added to the stem without the final -i
    "aga": "genitive -ого", "amu": "dative -ому", "im": "instrumental -им", "am": "prepositional -ом",
    "aja": "feminine -ая",
}
UZBEK = {
    "ni": "Uzbek accusative -ni", "ning": "Uzbek genitive -ning", "ga": "Uzbek dative -ga", "ka": "Uzbek dative -ka",
    "da": "Uzbek locative -da", "dan": "Uzbek ablative -dan", "lar": "Uzbek plural -lar", "niki": "Uzbek -niki",
}
TAJIK = {"ra": "Tajik object marker -ро", "i": "Tajik izafet -и"}
ENGLISH = {"s": "English plural -s"}

_CONSONANTS = set("bcdfghjklmnpqrstvwxz")
MALE_SURNAME_ENDINGS = ("av", "ev", "in")
FEMALE_SURNAME_ENDINGS = ("ava", "eva", "ina")


def is_female_surname(key: str) -> bool:
    return key.endswith(FEMALE_SURNAME_ENDINGS) and len(key) > 4


def _add(forms: dict[str, str], stem: str, table: dict[str, str]) -> None:
    for suffix, label in table.items():
        forms.setdefault(name_key(stem + suffix), label)


def _common(forms: dict[str, str], base: str) -> None:
    _add(forms, base, UZBEK)
    _add(forms, base, TAJIK)
    _add(forms, base, ENGLISH)


def surname_forms(base: str, female: bool) -> dict[str, str]:
    """Every key an inflected surname can have, mapped to what the inflection is."""
    forms = {base: ""}
    if female and is_female_surname(base):
        _add(forms, base[:-1], RU_FEMALE_SURNAME)
    elif not female and base.endswith(MALE_SURNAME_ENDINGS):
        _add(forms, base, RU_MALE_SURNAME)
    elif base.endswith("ski"):
        _add(forms, base[:-1], RU_ADJECTIVE)
    elif base[-1:] in _CONSONANTS:
        _add(forms, base, RU_CONSONANT_STEM)
    _common(forms, base)
    return forms


def given_forms(base: str) -> dict[str, str]:
    """Every key an inflected given name can have, mapped to what the inflection is."""
    forms = {base: ""}
    if base.endswith("a") and len(base) > 2:
        _add(forms, base[:-1], RU_A_STEM)
    elif base[-1:] in _CONSONANTS:
        _add(forms, base, RU_CONSONANT_STEM)
    _common(forms, base)
    return forms
