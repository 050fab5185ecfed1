"""Lemma keys: what lets an incident keyword match every form of its words, in each language.

Why: keywords used to be surface strings and stems, and lists of forms written beside a
development set fit that set and little else (выдали, выдала, выдан... one line each). Now a
keyword word and a text word match when they share a *key*, and a key is a lemma or a stem
computed by the same machinery on both sides, so one entry covers all of a word's forms.

Keys are tagged with the language that produced them ("ru:выдать", "en:hold", "tr~talep"), so
an English lemma never meets a Turkish stem by accident; the surface form itself is a key too
("=word"), so an exact match always counts.

- Russian: pymorphy3 with its OpenCorpora dictionary (offline): every normal form of every
  parse, so an ambiguous form (убит: убить / убитый) keeps all its readings.
- English: simplemma's dictionary lemmas (held → hold, spoke → speak, relatives → relative;
  its low-memory dictionary: about 0.1 s and 2.4 MB once). Chosen over Snowball's Porter2 stemmer, which over-conflates
  (relatives → relat, like relation; organization → organ) and misses irregular forms.
- Turkish, Uzbek (Latin; Cyrillic is transliterated first), Tajik, Kazakh, Azerbaijani:
  suffix stripping (plural, possessive, case, common verb endings), longest suffix first;
  Turkish and Azerbaijani final b c d ğ are folded to p ç t k, so talep and talebi share a
  key. For Turkish, simplemma's dictionary was measured and left out (1.7 s and 110 MB to
  load, or a slow low-memory mode, for no gain on our checks), and so was Snowball's Turkish
  stemmer (inconsistent: iade → ia but iadesi → iades). Negation (-ma-/-me-) is never
  stripped: berilmadi ("was not given") keeps a key of its own.

A text word's keys are computed once per distinct form and cached; the analysers are loaded
once per process (`russian_morph()`), never per item.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from os.path import commonprefix
from typing import Any

CYRILLIC = re.compile(r"[\u0400-\u04ff]")
RUSSIAN = re.compile(r"^[а-яё-]+$")  # no Kazakh, Tajik or Uzbek letters: pymorphy3 would guess
LATIN = re.compile(r"[a-zà-ɏ]")
TEXT_LANGS = {"latin": ("en", "tr", "az", "uz"), "cyrillic": ("ru", "uz", "tg", "kk")}
MIN_STEM = 2
MAX_STRIPS = 4


@cache
def russian_morph() -> Any:
    """The pymorphy3 analyser (dictionary loaded once per process; about 0.2 s, 10 MB)."""
    import logging

    import pymorphy3

    logging.getLogger("pymorphy3").setLevel(logging.WARNING)  # its "loading dictionaries" lines
    return pymorphy3.MorphAnalyzer()


def russian_lemmas(word: str, keyword: bool = False) -> tuple[str, ...]:
    """Normal forms of a Russian word. For a keyword, written as a lemma ("выдать"), keep the
    readings whose normal form is the word itself, so a keyword does not widen by accident."""
    try:
        forms = russian_morph().normal_forms(word)
    except Exception:  # noqa: BLE001 - an odd token must never stop matching
        return ()
    forms = [f.replace("ё", "е") for f in forms]
    if keyword and word in forms:
        return (word,)
    return tuple(dict.fromkeys(forms))


def simple_lemma(word: str, lang: str) -> str:
    """simplemma's lemma (the word itself when its dictionary does not know it). simplemma's
    low-memory dictionary (2.0's front-coded stream: 2.4 MB instead of 20 MB of RSS, same
    answers, ~17 µs a lookup instead of 2 µs; each distinct word is looked up once, then cached)."""
    import simplemma

    try:
        return str(simplemma.lemmatize(word, lang=lang, low_memory=True)).casefold()
    except Exception:  # noqa: BLE001 - a dictionary quirk is no reason to stop matching
        return word


def _suffixes(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(text.split()), key=len, reverse=True))


SUFFIXES: dict[str, tuple[str, ...]] = {
    "uz": _suffixes("""lar lari larni larga larda lardan larning ning ni ga ka qa da ta dan tan dagi gacha
        im ing i si imiz ingiz miz lari di gan ib ish ishi moqda yapti adi ydi il in dik digan gach"""),
    "tg": _suffixes("ҳо ҳои ҳоро ро и ӣ ии он ён гон ам ат аш амон атон ашон ем ед анд ид ад аст ааст анда а ан е"),
    "kk": _suffixes("""лар лер дар дер тар тер ы і сы сі ым ім ың ің ымыз іміз ның нің дың дің тың тің ны ні
        ды ді ты ті ға ге қа ке на не да де та те нда нде дан ден тан тен нан нен мен бен пен ған ген қан
        кен ып іп ыл іл у ады еді йды йді"""),
    "az": _suffixes("""lar lər ları ləri ın in un ün nın nin nun nün ı i u ü nı ni nu nü yı yi a ə ya yə na
        nə da də nda ndə dan dən ndan ndən sı si su sü dı di du dü ıb ib ub üb mış miş muş müş ıl il ul ül
        acaq əcək ır ir ur ür ar ər dır dir dur dür maq mək araq ərək"""),
    "tr": _suffixes("""lar ler ları leri ın in un ün nın nin nun nün ı i u ü yı yi yu yü nı ni nu nü a e ya ye
        na ne da de ta te nda nde dan den tan ten ndan nden sı si su sü dı di du dü tı ti tu tü mış miş
        muş müş ıl il ul ül acak ecek ıyor iyor uyor üyor arak erek dır dir dur dür tır tir tur tür
        yla yle ken"""),
}
_SOFTENED = str.maketrans({"b": "p", "c": "ç", "d": "t", "ğ": "k"})
_UZ_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "x", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ъ": "'", "ь": "", "ы": "i",
    "э": "e", "ю": "yu", "я": "ya", "ў": "o'", "қ": "q", "ғ": "g'", "ҳ": "h",
}
_UZ_TABLE = str.maketrans(_UZ_CYRILLIC)


def uz_latin(word: str) -> str:
    """Uzbek Cyrillic in the Latin alphabet (ўғирлаб → o'g'irlab), so Latin keywords cover both."""
    return word.translate(_UZ_TABLE)


def strip_suffixes(word: str, lang: str) -> str:
    """The word without its inflectional suffixes (at most four, longest first)."""
    suffixes = SUFFIXES.get(lang)
    if not suffixes:
        return word
    if lang in ("tr", "az") and "'" in word:  # Turkish proper names: İstanbul'da, Özbekistan'ın
        word = word.split("'", 1)[0]
    for _ in range(MAX_STRIPS):
        for suffix in suffixes:
            if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
                word = word[: -len(suffix)]
                break
        else:
            break
    return soften(word) if lang in ("tr", "az") else word


def soften(word: str) -> str:
    """Turkish and Azerbaijani final b c d ğ as p ç t k (talebi → taleb → talep)."""
    return word[:-1] + word[-1].translate(_SOFTENED) if word else word


def _english(word: str) -> str:
    if word.endswith("'s"):
        word = word[:-2]
    elif word.endswith("'"):
        word = word[:-1]
    return simple_lemma(word, "en")


def keys_in(word: str, lang: str, keyword: bool = False) -> set[str]:
    """The keys of a normalised word read as language `lang` (the surface key not included)."""
    if lang == "ru":
        return {f"ru:{f}" for f in russian_lemmas(word, keyword)} if RUSSIAN.match(word) else set()
    if lang == "en":
        return {f"en:{_english(word)}"} if not CYRILLIC.search(word) else set()
    if lang == "tr":
        if CYRILLIC.search(word):
            return set()
        return {f"tr~{strip_suffixes(word, 'tr')}"}
    if lang == "uz":
        latin = uz_latin(word) if CYRILLIC.search(word) else word
        return {f"uz~{strip_suffixes(latin, 'uz')}"}
    if lang in SUFFIXES:
        return {f"{lang}~{strip_suffixes(word, lang)}"}
    return set()


def keyword_keys(word: str, lang: str) -> frozenset[str]:
    """Keys of one word of a keyword written for `lang`: its surface form and its lemma or stem."""
    return frozenset({f"={word}", *keys_in(word, lang, keyword=True)})


@lru_cache(maxsize=20_000)
def token_keys(norm: str) -> frozenset[str]:
    """Keys of a normalised text word, in every language its script may be written in (the
    item's language is not trusted: feeds mislabel it, and items quote other languages).
    Remembered for the 20,000 words seen last: an entry is about 1 KB, and months of real news
    bring hundreds of thousands of distinct forms (300,000 entries would be over 300 MB)."""
    script = "cyrillic" if CYRILLIC.search(norm) else "latin" if LATIN.search(norm) else ""
    keys = {f"={norm}"}
    for lang in TEXT_LANGS.get(script, ()):
        keys |= keys_in(norm, lang)
    return frozenset(keys)


# ---------------------------------------------------------------- negation and hypotheticals
# Cue words. English and Russian ones are read like keywords (fearing = fear; могут = мочь);
# the others are surface forms (suffix stripping would make short cues like değil collide).
# "before" cues count within three words before a match, "after" cues (verb-final languages
# put modality after the verb) within two words after it, in the same clause.
CUE_WORDS: dict[tuple[str, str], dict[str, str]] = {
    ("negated", "before"): {"en": "not never no nor neither", "ru": "не ни нет никогда"},
    ("negated", "after"): {"uz": "emas yo'q", "tr": "değil", "az": "deyil", "kk": "емес", "tg": "нест нашуд накард"},
    ("hypothetical", "before"): {
        "en": "could might may would if unless whether fear afraid possible possibly potential potentially",
        "ru": "мочь может если опасаться бояться возможно возможный потенциальный",
        "uz": "agar", "tg": "агар метавонад метавонанд", "tr": "eğer", "az": "əgər",
    },
    ("hypothetical", "after"): {
        "uz": "mumkin qo'rqib qo'rqqan", "tg": "мумкин", "kk": "мүмкін қорқып", "az": "bilər qorxusu qorxusundan",
        "tr": "olabilir edilebilir korkusuyla korkusu korkusundan endişesiyle ihtimali",
    },
}
LOWERCASE_ONLY = frozenset({"=may"})  # "May" is a month


def cue(raw: str, norm: str, side: str) -> str | None:
    """'negated' or 'hypothetical' when this text word is such a cue on that side of a match."""
    keys = token_keys(norm)
    if keys & LOWERCASE_ONLY and raw != norm:
        return None
    return next((kind for kind in ("negated", "hypothetical") if keys & cues(kind, side)), None)


@cache
def cues(kind: str, side: str) -> frozenset[str]:
    """The keys of the cue words of one kind (negated, hypothetical) and side (before, after)."""
    return frozenset(key for lang, words in CUE_WORDS[(kind, side)].items() for word in words.split()
                     for key in (keyword_keys(word, lang) if lang in ("en", "ru") else {f"={word}"}))


# Turkic negative verb forms after the stem a keyword matched: tr edilmedi, tutuklanmadı,
# alınmamış; az edilmədi; uz olinmadi, berilmagan; kk ұсталмады
_TURKIC_NEGATION = re.compile(
    r"(?:[ıiuüə]?[ln])?(?:m[aeə](?:d[ıiuü]|z|m[ıiuü]ş|y[ae]c[ae]k|d[ıi]ğ|y[iı]b|di|gan|ydi)|m[ıiuü]yor)"
    r"|(?:[ыі]?[лн])?(?:ма(?:ды|ған|й)|ме(?:ді|ген|й))")


TURKIC = frozenset({"tr", "az", "uz", "kk"})


def negative_form(lang: str, norm: str, word: str, prefix: bool) -> bool:
    """Whether a text word matched for keyword `word` (a stem when `prefix`) is a Turkic negative
    verb form of it: what follows the part they share starts with a negative ending."""
    if lang not in TURKIC:
        return False
    rest = norm[len(word):] if prefix else norm[len(commonprefix([norm, word])):]
    return bool(rest) and _TURKIC_NEGATION.match(rest) is not None


def country_word(norm: str) -> bool:
    """Whether a word names a country, its people or capital (the gazetteer; for `@country`)."""
    from watcher.matching.countries import is_country_word  # countries.py imports keywords.py

    return is_country_word(norm)
