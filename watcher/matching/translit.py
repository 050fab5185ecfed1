"""Spelling keys for names: one key for every way a name is written across scripts.

`name_key("Джураев") == name_key("Jo'rayev") == name_key("Dzhuraev") == name_key("Juraev")`.
The key is not a transliteration anyone would print; it folds what differs between the
romanisations found in this field, so that equivalences are generated, not listed per person:

- scripts: Russian, Ukrainian, Uzbek (ў қ ғ ҳ; Latin oʻ gʻ sh ch ng x q j), Tajik (ҷ ӣ ӯ қ ғ ҳ),
  Kazakh (ә ғ қ ң ө ұ ү һ і), Kyrgyz, Azerbaijani (ə ı ş ç ğ ö ü; c = j) and Turkish
  (the same letters, with c = j) all map into one Latin alphabet;
- x ≈ kh ≈ h, q ≈ k, gh ≈ g, j ≈ dzh ≈ dj ≈ zh ≈ ž, and j ≈ y (German/scholarly Juldaschew,
  Yordanskij), so yu ≈ iu ≈ ju and ya ≈ ia ≈ ja;
- sch ≈ sh, tsch ≈ tch ≈ ch, ts ≈ tz ≈ c (Tsvetkov/Cvetkov), w ≈ v, ph ≈ f, ou ≈ u (French);
- a y/j between vowels is dropped (Aliyev ≈ Aliev ≈ Алиев, Khamroyev ≈ Хамроев), and so is a j
  after a consonant before a vowel, which only marks softness in Russian (Кязимова ≈ Kazimova,
  Гюльнур ≈ Gulnur, Tatiana ≈ Tatyana); a y between consonants is the vowel i
  (Kasym ≈ Касым, Bakhodyr ≈ Bakhodir);
- Azerbaijani q is g (Daşqın ≈ Дашгын); French spellings with "ou" read ch as sh and gu as g
  and gu before i/e as g (Gannouchkina, Ibraguimov);
- o ≈ a, because Russian spelling of Uzbek and Tajik names turns o into a
  (Toshmatov/Tashmatov, Yo'ldoshev/Yuldashev);
- Kazakh and Kyrgyz ң is n (Жаңаөзен = Zhanaozen), a final -ay is -ai;
- double letters are single (Gannushkina/Ganushkina), a final -off is -ov (Karimoff).

Distinct names can share a key (Юраев/Джураев); the name matcher compensates by demanding two
name parts, or a distinctive surname, before it reports a person.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

from watcher.matching.normalize import word_norm

CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "j", "з": "z",
    "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sh",
    "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "ju", "я": "ja",
    # Uzbek and Tajik
    "ў": "u", "қ": "k", "ғ": "g", "ҳ": "h", "ҷ": "j", "ӣ": "i", "ӯ": "u",
    # Kazakh and Kyrgyz
    "ә": "a", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
    # Ukrainian
    "є": "je", "ї": "ji", "ґ": "g",
}
LATIN = {
    "ə": "a", "ı": "i", "ş": "sh", "ç": "ch", "ğ": "g", "ö": "o", "ü": "u", "ä": "a",
    "ž": "j", "š": "sh", "č": "ch", "ć": "ch", "ł": "l", "ñ": "n", "ß": "ss", "ø": "o", "å": "a", "æ": "a",
}
# Letters that mark a word as Azerbaijani or Turkish, where c is the sound j.
_TURKIC = set("əışçğ")
_MULTI = [  # applied in order, after the letter tables
    ("tsch", "ch"), ("sch", "sh"), ("tch", "ch"), ("dzh", "j"), ("dj", "j"), ("zh", "j"),
    ("kh", "h"), ("gh", "g"), ("ph", "f"), ("ou", "u"), ("ts", "c"), ("tz", "c"), ("ck", "k"),
    ("x", "h"), ("q", "k"), ("w", "v"),
]
_VOWELS = "aeiou"
_Y_BETWEEN_CONSONANTS = re.compile(r"(?<=[b-df-hj-np-tv-z])y(?=[b-df-hj-np-tv-z]|$)")
_J_BETWEEN_VOWELS = re.compile(r"(?<=[aeiou])j(?=[aeiou])")
_I_BEFORE_VOWEL = re.compile(r"(?:(?<=[b-df-hj-np-tv-z])|^)i(?=[aeou])")
_J_AFTER_CONSONANT = re.compile(r"(?<=[b-df-hk-np-tv-z])j(?=[aeou])")
_DOUBLES = re.compile(r"(.)\1+")


def _uzbek_apostrophes(word: str) -> str:
    """oʻ -> u (ў), gʻ -> g (ғ); every other apostrophe is dropped."""
    word = re.sub(r"o'(?=\w)", "u", word)
    word = re.sub(r"g'(?=\w)", "g", word)
    return word.replace("'", "")


def split_suffix(word: str) -> tuple[str, str]:
    """Separate what follows an apostrophe that is not an Uzbek letter: Karimov's, Karimov'un.

    Returns (stem, suffix) with the suffix lower-cased; suffix is "" when there is none."""
    norm = word_norm(word)
    at = norm.rfind("'")
    if at <= 1:
        return word, ""
    tail = norm[at + 1:]
    uzbek_letter = norm[at - 1] in "og" and tail and not (tail == "s" or len(tail) <= 3 and at >= len(norm) - 4)
    if tail == "s" or (not uzbek_letter and 1 <= len(tail) <= 5):
        return word[:at], tail
    return word, ""


@lru_cache(maxsize=200_000)
def name_key(word: str) -> str:
    """The spelling key of one name token (see the module docstring)."""
    text = _uzbek_apostrophes(word_norm(word))
    turkic = any(ch in _TURKIC for ch in text)
    out = []
    for ch in text:
        if ch in CYRILLIC:
            out.append(CYRILLIC[ch])
        elif ch in LATIN:
            out.append(LATIN[ch])
        elif ch == "c":
            out.append("j" if turkic else "c")
        elif ch == "q" and turkic:
            out.append("g")  # Azerbaijani q is a g: Daşqın = Дашгын
        elif "a" <= ch <= "z":
            out.append(ch)
        else:
            plain = unicodedata.normalize("NFKD", ch)
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            out.append(plain if plain.isascii() else anyascii(plain).lower())
    key = "".join(out)
    if "ou" in key:  # French spelling: Gannouchkina, Ibraguimov, Iouldachev
        key = re.sub(r"(?<!t)ch", "sh", key)
    key = key.replace("gui", "gi").replace("gue", "ge")
    if key.startswith("ye"):
        key = "e" + key[2:]
    for old, new in _MULTI:
        key = key.replace(old, new)
    key = _Y_BETWEEN_CONSONANTS.sub("i", key)
    key = key.replace("y", "j")
    key = _J_BETWEEN_VOWELS.sub("", key)
    key = _I_BEFORE_VOWEL.sub("j", key)
    if key.endswith("j") and key[-2:-1] in _VOWELS:
        key = key[:-1] + "i"  # Tugolbay = Tugolbai = Түгөлбай; Yordanskiy = Yordanskii
    if key.endswith("ii"):
        key = key[:-1]
    key = _J_AFTER_CONSONANT.sub("", key)
    key = key.replace("o", "a")
    key = _DOUBLES.sub(r"\1", key)
    if key.endswith(("af", "ef")) and len(key) > 4:
        key = key[:-1] + "v"
    return key
