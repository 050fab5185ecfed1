"""Inflected forms of name parts, generated in key space (see translit.name_key).

Russian declines names, Uzbek and Tajik add case suffixes, Turkish and English attach theirs
after an apostrophe (cut off by translit.split_suffix before this module is needed), while
Azerbaijani, Uzbek, Kazakh and Kyrgyz news attach them straight to the surname (Əliyevin,
Karimovga, Тоқаевтың). Every form carries a label, which becomes part of a match's explanation
("genitive -а").

Gender is kept: a male surname in -ov/-ev/-in gets masculine endings (Каримова is his genitive),
a female one in -ova/-eva/-ina feminine ones (Каримовой); Aliyeva is never a form of Aliyev.

Surnames also change by law rather than by grammar: Tajik and Azerbaijani families (and some
Uzbek ones) dropped the Russian -ov/-ev (Rahmonov → Rahmon, Kabirov → Kabiri, Nazarov →
Nazarzoda, Agalarov → Ağalarlı). `derussified_forms` gives those keys, both ways; they are a
weaker sign than an inflection, so the matcher should accept one only beside an exact given name.
"""

from __future__ import annotations

from functools import lru_cache

from watcher.matching.translit import form_key, join_key

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
# Suffixes written straight onto the surname, in key letters (ı and i are i, ü and u are u, ə is a,
# y is j). Only on surnames: in a Turkic full name the last word takes the case, and short endings
# on given names would make other names (Ali + Kazakh -на = Alina); -на/-не, -нда and -нан follow
# a possessive, not a name, and -на would turn a surname into a patronymic (Каримовна).
AZERBAIJANI_TURKISH = {
    "in": "Azerbaijani/Turkish genitive -in/-ın", "un": "Azerbaijani/Turkish genitive -un/-ün",
    "nin": "Azerbaijani/Turkish genitive -nin/-nın", "nun": "Azerbaijani/Turkish genitive -nun/-nün",
    "a": "Azerbaijani/Turkish dative -a/-ə", "e": "Azerbaijani/Turkish dative -e",
    "ja": "Azerbaijani/Turkish dative -ya/-yə", "je": "Azerbaijani/Turkish dative -ye",
    "i": "Azerbaijani/Turkish accusative -i/-ı", "u": "Azerbaijani/Turkish accusative -u/-ü",
    "nu": "Azerbaijani/Turkish accusative -nu/-nü", "ji": "Azerbaijani/Turkish accusative -yi/-yı",
    "de": "Azerbaijani/Turkish locative -de/-də", "ta": "Azerbaijani/Turkish locative -ta",
    "te": "Azerbaijani/Turkish locative -te", "den": "Azerbaijani/Turkish ablative -den/-dən",
    "tan": "Azerbaijani/Turkish ablative -tan", "ten": "Azerbaijani/Turkish ablative -ten",
    "ler": "Azerbaijani/Turkish plural -ler/-lər",
}
KAZAKH_KYRGYZ = {  # ң is n in keys, so -ның is "nin"
    "ti": "Kazakh/Kyrgyz accusative -ты/-ті", "di": "Kazakh/Kyrgyz accusative -ды/-ді",
    "tu": "Kyrgyz accusative -ту/-тү", "du": "Kyrgyz accusative -ду/-дү",
    "tin": "Kazakh/Kyrgyz genitive -тың/-тің/-тын", "din": "Kazakh/Kyrgyz genitive -дың/-дің/-дын",
    "tun": "Kyrgyz genitive -тун/-түн", "dun": "Kyrgyz genitive -дун/-дүн",
    "ge": "Kazakh/Kyrgyz dative -ге", "ke": "Kazakh/Kyrgyz dative -ке",
    "men": "Kazakh instrumental -мен", "ben": "Kazakh instrumental -бен", "pen": "Kazakh instrumental -пен",
}  # no plurals (-дар/-тар, "the Tokayevs"): rare in news, and four more keys per surname
RU_J_STEM = {  # given names in -й after a vowel, added to the stem without the final i (Сергей, Абай)
    "ja": "genitive/accusative -я", "ju": "dative -ю", "jem": "instrumental -ем", "je": "prepositional -е",
}
RU_IJ_STEM = {  # given names in -ий, added to the whole key (Юрий: key juri)
    "ja": "genitive/accusative -я", "ju": "dative -ю", "em": "instrumental -ем",
}
RU_FLEETING_E = {  # short given names that lose their е (Лев, Павел), added to the stem without it
    "a": "genitive/accusative -а (е dropped)", "u": "dative -у (е dropped)",
    "am": "instrumental -ом (е dropped)", "e": "prepositional -е (е dropped)",
}
DERUSSIFIED = {  # what replaced -ov/-ev, added to the stem (-zade is zada in keys)
    "": "de-Russified: -ov/-ev dropped", "i": "de-Russified -i", "zada": "de-Russified -zoda/-zade",
    "li": "de-Russified -li", "uli": "de-Russified -uly/-ұлы", "ulu": "de-Russified -uulu",
    "kizi": "de-Russified -qyzy/-қызы", "gizi": "de-Russified -qızı", "aglu": "de-Russified -oğlu",
}
_PATRONYMIC = ("uli", "ulu", "kizi", "gizi", "aglu")  # son of / daughter of

_CONSONANTS = set("bcdfghjklmnpqrstvwxz")
_VOWELS = set("aeiu")  # o is a in keys
MALE_SURNAME_ENDINGS = ("av", "ev", "in")
FEMALE_SURNAME_ENDINGS = ("ava", "eva", "ina")


def is_female_surname(key: str) -> bool:
    return key.endswith(FEMALE_SURNAME_ENDINGS) and len(key) > 4


def _add(forms: dict[str, str], stem: str, table: dict[str, str], *, extends: str = "") -> None:
    """Add stem + each suffix; with `extends`, only forms that keep that key whole in front
    (a suffix must not eat into the name: Ali + -ya is the key of Alla)."""
    for suffix, label in table.items():
        form = join_key(stem, suffix)
        if not extends or (form.startswith(extends) and form != extends):
            forms.setdefault(form, label)


def _common(forms: dict[str, str], base: str) -> None:
    _add(forms, base, UZBEK)
    _add(forms, base, TAJIK)
    _add(forms, base, ENGLISH)


def surname_forms(base: str, female: bool) -> dict[str, str]:
    """Every key an inflected surname can have, mapped to what the inflection is."""
    return dict(_surname_table(base, female))


def given_forms(base: str) -> dict[str, str]:
    """Every key an inflected given name can have, mapped to what the inflection is."""
    return dict(_given_table(base))


# Cached because a watchlist repeats its names (every Karimov, every Bakhodir) and each form is
# a name_key call; a fresh dict is handed out so that callers may change theirs.
@lru_cache(maxsize=50_000)
def _surname_table(base: str, female: bool) -> tuple[tuple[str, str], ...]:
    forms = {base: ""}
    if female and is_female_surname(base):
        _add(forms, base[:-1], RU_FEMALE_SURNAME)
    elif not female and base.endswith(MALE_SURNAME_ENDINGS):
        _add(forms, base, RU_MALE_SURNAME)
    elif base.endswith("ski") or (not female and base.endswith("i") and len(base) >= 5 and base[-2] in _CONSONANTS):
        _add(forms, base[:-1], RU_ADJECTIVE)  # Иорданского; Навального
    elif not female and base.endswith("i") and len(base) >= 4 and base[-2] in _VOWELS:
        _add(forms, base[:-1], RU_J_STEM)  # Мамай: Мамая, Мамаю, Мамаем
        if base.endswith("ai"):
            _add(forms, base[:-2], RU_ADJECTIVE)  # -ой is -ai too: Толстой, Толстого
    elif not female and base.endswith("a") and len(base) > 3:
        _add(forms, base[:-1], RU_A_STEM)  # Дерипаска: Дерипаски; Кара-Мурза: Мурзы, Мурзе
    elif base[-1:] in _CONSONANTS:
        _add(forms, base, RU_CONSONANT_STEM)
    _common(forms, base)
    _add(forms, base, _turkic_suffixes(base), extends=base)
    return tuple(forms.items())


def clear_form_tables() -> None:
    """Forget the cached inflection tables (after a compile, which needs each only once)."""
    _surname_table.cache_clear()
    _given_table.cache_clear()


_AFTER_VOWEL_ONLY = {"nin", "nun", "nu", "ja", "je", "ji", "ju"}  # Azerbaijani buffer n and y
_AFTER_CONSONANT_ONLY = {"in", "un", "a", "e", "i", "u", "ti", "di", "tu", "du", "tin", "din", "tun", "dun"}


def _turkic_suffixes(base: str) -> dict[str, str]:
    """The Azerbaijani/Turkish and Kazakh/Kyrgyz suffixes a surname key can take: the buffer
    consonant only after a vowel (Əliyevin, but Hüseynzadənin), a rounded vowel only after a
    back syllable (Kərimovun, Ташиевдин, never Əliyevun), so that the index holds no form no
    text can print."""
    vowels = [ch for ch in base if ch in _VOWELS]
    after_vowel, front = base[-1:] in _VOWELS, bool(vowels) and vowels[-1] in "ei"
    out = {}
    for table in (AZERBAIJANI_TURKISH, KAZAKH_KYRGYZ):
        for suffix, label in table.items():
            if suffix in (_AFTER_CONSONANT_ONLY if after_vowel else _AFTER_VOWEL_ONLY):
                continue
            if front and "u" in suffix:
                continue
            out[suffix] = label
    return out


@lru_cache(maxsize=50_000)
def _given_table(base: str) -> tuple[tuple[str, str], ...]:
    forms = {base: ""}
    if base.endswith("a") and len(base) > 2:
        _add(forms, base[:-1], RU_A_STEM)
    elif base[-1:] in _CONSONANTS:
        _add(forms, base, RU_CONSONANT_STEM)
        if len(base) <= 5 and base[-2:-1] == "e" and base[-1] in "lv":
            _add(forms, base[:-2] + base[-1], RU_FLEETING_E)  # Лев: Льва; Павел: Павла
    elif base.endswith("i") and len(base) >= 3 and base[-2] in _VOWELS:
        _add(forms, base[:-1], RU_J_STEM)  # Сергей: Сергея, Сергею, Сергеем; Абай: Абая
    elif base.endswith("i") and len(base) >= 4:
        _add(forms, base, RU_IJ_STEM)  # Юрий: Юрия, Юрию, Юрием
    _common(forms, base)
    return tuple(forms.items())


def _derussified_stems(stem: str, soft: bool) -> list[tuple[str, tuple[str, ...]]]:
    """The stems a de-Russified surname is built on, each with the suffixes it takes.

    An -ev key may have lost an i or a й (Aliyev is key alev: Ali, Alizade; Kunanbaev:
    Qunanbaiuly); the lost й comes back only before a patronymic suffix (Hamroyev is Hamro,
    Hamrozoda), and a stem of two letters is only a lost i. Kept small: the matcher indexes
    every form of every variant."""
    every = tuple(DERUSSIFIED)
    if not soft:
        return [(stem, every)]
    if stem[-1:] in _VOWELS:
        return [(stem, every), (stem + "i", _PATRONYMIC)]
    if len(stem) < 3:
        return [(stem + "i", every)]
    return [(stem, every), (stem + "i", every)]


def derussified_forms(surname_key: str) -> dict[str, str]:
    """The keys the same surname has with or without its Russian suffix, mapped to a label.

    A Russian-suffixed key (-ov/-ev, -ova/-eva) gives its de-Russified forms: Rahmonov →
    Rahmon, Kabirov → Kabiri, Nazarov → Nazarzoda/Nazarzade, Agalarov → Agalarli; an -ev after
    a lost i gives them with the i too (Aliyev, key alev: Ali, Alizade). Any other key is taken
    as de-Russified and gives the Russian forms (Rahmon → Rahmonov, Kabiri → Kabirov, Nazarzoda
    → Nazarov, Agalarli → Agalarov). The key itself is not included. These are the same family
    name, not an inflection: a match needs the exact given name beside it."""
    key, forms = surname_key, {}
    for ending in ("ava", "eva", "av", "ev"):
        if key.endswith(ending) and len(key) - len(ending) >= 2:
            female = len(ending) == 3  # a daughter is -qızı/-қызы, a son -oğlu/-ұлы
            skip = ("uli", "ulu", "aglu") if female else ("kizi", "gizi")
            table = {suffix: label for suffix, label in DERUSSIFIED.items() if suffix not in skip}
            stem = key[: -len(ending)]
            for base, suffixes in _derussified_stems(stem, ending.startswith("e")):
                for suffix in suffixes:
                    if suffix in table:
                        form = form_key(base + suffix)
                        if len(form) >= 3 and form != key:
                            forms.setdefault(form, table[suffix])
            return forms
    stems, endings = [key], ("av", "ev")
    patronymic = next((p for p in _PATRONYMIC if key.endswith(p) and len(key) >= len(p) + 3), "")
    if patronymic:  # Qunanbaiuly → Kunanbaev; Vagifqizi → Vagifova
        stem = key[: -len(patronymic)]
        stems = [stem] + ([stem[:-1]] if stem[-2:-1] in _VOWELS and stem.endswith("i") else [])
        if patronymic in ("kizi", "gizi"):
            endings = ("ava", "eva")
    elif key.endswith("zada") and len(key) >= 7:
        stems = [key[:-4]]
    elif key.endswith("li") and len(key) >= 5:
        stems = [key[:-2], key[:-1]]  # Agalarli → Agalarov; Jalili → Jalilov
    elif key.endswith("i") and len(key) >= 5:
        stems = [key[:-1]]  # Kabiri → Kabirov; the -ev form is Mahdi → Mahdiyev's key too
    for stem in stems:
        for suffix in endings:
            form = form_key(stem + suffix)
            if form != key:
                forms.setdefault(form, f"Russified -{'o' if suffix.startswith('a') else 'e'}{suffix[1:]}")
    return forms
