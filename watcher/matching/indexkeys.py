"""Which keys a listed name part is indexed under, and which inflections a token may carry.

Split from names.py: the index's build policy (how many other readings of ambiguous letters
are indexed, which forms a de-Russified surname gets) and the rule that Russian cases belong to
Cyrillic text.
"""

from __future__ import annotations

from watcher.matching.translit import first_keys, join_key, split_suffix

MAX_INDEX_ALTERNATES = 1  # other readings indexed per listed name part (the text's are all tried)
_VARIANT_CASES = (("", ""), ("a", "genitive -а"), ("u", "dative -у"), ("am", "instrumental -ом"), ("e", "prepositional -е"))


def variant_forms(variant: str) -> list[tuple[str, str]]:
    """A de-Russified variant key and, after a consonant, its Russian cases (join_key: the
    variant is a key, so its forms are name_key(variant + suffix) without re-keying each)."""
    if variant[-1:] in "aeiou":
        return [(variant, "")]
    return [(join_key(variant, suffix), label) for suffix, label in _VARIANT_CASES]


def index_keys(raw: str) -> tuple[str, ...]:
    """The keys a listed name part is indexed under: its own and its likeliest other readings."""
    return first_keys(split_suffix(raw)[0], 1 + MAX_INDEX_ALTERNATES)


_RUSSIAN_CASES = ("genitive", "dative", "accusative", "instrumental", "prepositional", "plural", "oblique",
                  "feminine")


def russian_case(label: str) -> bool:
    return label.startswith(_RUSSIAN_CASES)
