"""Is this word a person's name? The evidence that a surname in a text belongs to somebody else.

A watched surname standing beside a given name, an initial or a patronymic that are not the
watched person's own is another person: "Islam Karimov", "Каримов Тулкин Рашидович",
"Umarov Nariman Madzhitovich", "Каримова Гульнара". This module answers, for one neighbouring
word, whether it is name-like and how sure that is:

- a given name from the bundled list of the region's names (namesakes.common_given_forms) or
  one of the watched people's given names;
- a patronymic: Russian -ovich/-evich/-ich, -ovna/-evna/-ichna/-ична, and the Turkic
  o'g'li/oglu/ogly/uly/uulu/qizi/kyzy/qızı (as a separate word or a suffix);
- a Russian-Cyrillic word that pymorphy3's dictionary knows as a given name or patronymic
  (Name/Patr), or, as a guess, a word ending the way the region's given names end (-jon/-жон,
  -bek/-бек, -boy/-бой, -xon/-хон, -gul/-гуль, -iddin/-иддин…);
- and the gender of a given name (feminine: -a/-ya/-gul/-nisa/-bibi, or pymorphy3's femn),
  because "Каримова Гульнара" is a woman named Karimova, never Karimov's genitive.

Only words next to a surname hit are ever asked, so the dictionary costs nothing per item.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from watcher.matching.lemmas import russian_morph
from watcher.matching.translit import name_key

_PATRONYMIC_RU = re.compile(
    r"(?:ович|евич|ьевич|ич|овна|евна|ьевна|ична|инична|vich|vych|vitch|ovna|evna|ichna|ovic)$", re.I)
_PATRONYMIC_WORDS = {"ogli", "ugli", "oglu", "ogly", "uly", "ulu", "uulu", "kizi", "qizi", "kyzy", "kizy",
                     "gizi", "угли", "оглы", "улы", "уулу", "кызы", "кизи", "қизи", "ўғли", "o'g'li", "qızı", "oğlu"}
# given-name endings of the region (Uzbek, Tajik, Kazakh, Kyrgyz, Turkmen), as printed
_GIVEN_ENDING = re.compile(
    r"(?:jon|dzhon|zhon|djon|джон|жон|жан|bek|бек|boy|бой|bay|бай|xon|khon|хон|gul|гул|гуль|iddin|uddin|"
    r"иддин|уддин|ullo|ulla|улло|улла|mirzo|мирзо|nisa|ниса|bibi|биби|xonim|khanum|хоним|ханум|sulton|султон|"
    r"murod|мурод|nazar|назар|qul|kul|қул|кул)$", re.I)
_FEMININE_ENDING = re.compile(r"(?:a|я|а|gul|гул|гуль|nisa|ниса|bibi|биби|xonim|khanum|хоним|ханум|oy|ой)$", re.I)
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LOCAL_LETTERS = re.compile("[ўқғҳҷӣӯәңөұүһі]", re.I)  # Uzbek, Tajik, Kazakh, Kyrgyz Cyrillic: not in the dictionary
# men's given names that end like women's (spelling keys)
_MASCULINE_IN_A = frozenset(name_key(n) for n in (
    "Musa", "Isa", "Mustafa", "Hamza", "Khamza", "Yahya", "Murtaza", "Mirza", "Nikita", "Ilya", "Foma", "Kuzma",
    "Luka", "Sasha", "Misha", "Vanya", "Kolya", "Dima", "Ata", "Ulla", "Aka", "Mulla", "Akbarkhoja", "Khoja"))


def _morph() -> Any:
    """pymorphy3's Russian analyser, shared with the incident lemmas (one dictionary per process)."""
    return russian_morph()


@lru_cache(maxsize=50_000)
def _russian_name_tags(word: str) -> frozenset[str]:
    """The name grammemes (Name, Patr, Surn, masc, femn) of a Russian word's parses."""
    morph = _morph()
    if morph is None:
        return frozenset()
    found: set[str] = set()
    for parse in morph.parse(word.lower()):
        grammemes = parse.tag.grammemes
        if grammemes & {"Name", "Patr"}:
            found.update(grammemes & {"Name", "Patr", "masc", "femn"})
    return frozenset(found)


def _plain(raw: str) -> str:
    """Lower case, apostrophes of Uzbek Latin (oʻ, gʻ) dropped, Uzbek Cyrillic ў/қ/ғ/ҳ as Russian."""
    word = raw.lower()
    for old, new in (("ʻ", ""), ("’", ""), ("'", ""), ("ў", "у"), ("қ", "к"), ("ғ", "г"), ("ҳ", "х"), ("ӯ", "у")):
        word = word.replace(old, new)
    return word


@lru_cache(maxsize=50_000)
def _known_russian_word(raw: str) -> bool:
    """In the Russian dictionary (not guessed from its ending)? Uzbek, Tajik, Kazakh and Kyrgyz
    letters never are."""
    morph = _morph()
    if morph is None or _LOCAL_LETTERS.search(raw):
        return False
    return bool(morph.word_is_known(raw.lower()))


def is_patronymic(raw: str) -> bool:
    """Is this word (or its Turkic suffix) a patronymic?"""
    word = raw.lower().replace("ʻ", "'").replace("’", "'")
    if word in _PATRONYMIC_WORDS or any(word.endswith(p) for p in ("o'g'li", "ogli", "ugli", "qizi", "kizi", "oglu", "ogly",
                                                                     "uulu", "kyzy", "ович", "евич", "овна", "евна")):
        return True
    if len(word) >= 7 and _PATRONYMIC_RU.search(word):
        return True
    return bool(_CYRILLIC.search(raw)) and len(word) >= 6 and "Patr" in _russian_name_tags(raw)


def looks_like_given_name(raw: str, known: frozenset[str] | set[str]) -> bool:
    """A given name: in the lists (spelling keys in `known`), in the Russian dictionary, or
    ending the way the region's given names end."""
    key = name_key(raw)
    if key in known:
        return True
    if _CYRILLIC.search(raw):
        if "Name" in _russian_name_tags(raw):
            return True
        if _known_russian_word(raw):
            return False  # a Russian word the dictionary knows, and not as a name
    return len(raw) >= 5 and bool(_GIVEN_ENDING.search(_plain(raw)))


def is_feminine_given(raw: str, known_female: frozenset[str] | set[str] = frozenset()) -> bool:
    """A feminine given name (so a surname beside it in -ova/-eva/-ina is a woman's)."""
    key = name_key(raw)
    if key in known_female:
        return True
    if _CYRILLIC.search(raw) and _morph() is not None:
        tags = _russian_name_tags(raw)
        if "Name" in tags:
            return "femn" in tags and "masc" not in tags
        if _known_russian_word(raw):
            return False  # a Russian word the dictionary knows, and not as a name ("Экстрадиция")
    return len(raw) >= 4 and bool(_FEMININE_ENDING.search(_plain(raw))) and key not in _MASCULINE_IN_A


@cache
def _english_lexicon() -> Any:
    try:
        import simplemma
    except ImportError:  # pragma: no cover - then an unknown word is only judged by the lists
        return None
    return simplemma


@lru_cache(maxsize=50_000)
def unknown_word(raw: str) -> bool:
    """Not a word of the language's dictionary (Russian for Cyrillic, English for Latin): at the
    start of a sentence, right before a surname, such a capitalised word is most likely a
    given name the lists do not hold ("Firdavs Nazarov spoke", "Фирдавс Тургунов задержан")."""
    if _CYRILLIC.search(raw):
        return _morph() is not None and not _known_russian_word(raw)
    lexicon = _english_lexicon()
    if lexicon is None or not raw.isalpha() or not raw.isascii():
        return False
    return not lexicon.is_known(raw.lower(), lang="en", low_memory=True)  # the dictionary simple_lemma uses
