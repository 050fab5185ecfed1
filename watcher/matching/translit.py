"""Spelling keys for names: one key for every way a name is written across scripts.

`name_key("Джураев") == name_key("Jo'rayev") == name_key("Dzhuraev") == name_key("Juraev")`.
The key is not a transliteration anyone would print; it folds what differs between the
romanisations found in this field, so that equivalences are generated, not listed per person:

- scripts: Russian, Ukrainian, Uzbek (ў қ ғ ҳ; Latin oʻ gʻ sh ch ng x q j), Tajik (ҷ ӣ ӯ қ ғ ҳ),
  Kazakh (ә ғ қ ң ө ұ ү һ і), Kyrgyz, Azerbaijani (ə ı ş ç ğ ö ü; c = j) and Turkish
  (the same letters, with c = j) all map into one Latin alphabet;
- x ≈ kh ≈ h, q ≈ k, gh ≈ g, j ≈ dzh ≈ dj ≈ dsch ≈ zh ≈ ž, and j ≈ y (German/scholarly Juldaschew,
  Yordanskij), so yu ≈ iu ≈ ju and ya ≈ ia ≈ ja;
- sch ≈ sh, tsch ≈ tch ≈ ch, ts ≈ tz ≈ c (Tsvetkov/Cvetkov), w ≈ v, ph ≈ f, ou ≈ u (French);
- a y/j between vowels is dropped (Aliyev ≈ Aliev ≈ Алиев, Khamroyev ≈ Хамроев, Майя ≈ Maya), and
  so is a j after a consonant before a vowel, which only marks softness in Russian (Кязимова ≈
  Kazimova, Гюльнур ≈ Gulnur, Tatiana ≈ Tatyana); a y between consonants is the vowel i
  (Kasym ≈ Касым, Bakhodyr ≈ Bakhodir); й after a vowel is i, as English and German print it
  (Айсина ≈ Aisina, Дуйсебаев ≈ Duisebayev, Гусейнов ≈ Guseinov ≈ Guseynov, Сергей ≈ Sergei);
- Azerbaijani q is g (Daşqın ≈ Дашгын); French spellings with "ou" read ch as sh and gu as g
  and gu before i/e as g (Gannouchkina, Ibraguimov);
- o ≈ a, because Russian spelling of Uzbek and Tajik names turns o into a
  (Toshmatov/Tashmatov, Yo'ldoshev/Yuldashev);
- Kazakh and Kyrgyz ң is n (Жаңаөзен = Zhanaozen), a final -ay is -ai;
- double letters are single (Gannushkina/Ganushkina), a final -off is -ov (Karimoff), and
  Tajik -zoda, Azerbaijani -zadə and Russian -заде are one suffix (Nazarzoda ≈ Назарзаде);
- German dsch is дж (Dschumabajew ≈ Джумабаев), French ï is й (Tokaïev ≈ Токаев), and a
  Cyrillic д before я/ю is no dj (Дудя ≈ Dudya, Дьяков ≈ Dyakov; Джураев stays Djuraev).

Some letters are read two ways by the sources themselves, so no single key can be right for
both readings; for those `name_keys` gives, after the key, a few alternate keys (see
ALTERNATES): Latin h as г (Hüseynov = Гусейнов), x as кс (Alexandr = Александр), q as г or к
(Quliyev = Гулиев, Oqtay = Октай), c as дж (Cavid = Джавид), ch as х or ш (German Michail,
French Tachiev), ə and an a past the first syllable as е (Məmmədov = Mammadov = Мамедов),
ö as ё, a Latin yo as ё and ё as yo (Miraliyon = Миралиён, Pyotr = Пётр), Kazakh ы and a
Latin y between consonants as у (Қоныров = Qonyrov = Конуров), and the German readings:
s before a vowel as з (Rosa = Роза, Ramsan = Рамзан), sch as ж (Schirinowski), z as ц
(Nemzow = Немцов), Je- as Е- (Jelena = Елена); a final d or t as the other, which Turkic
spelling devoices (Raşit = Рашид, Murat = Мурад). Two spellings of one name share a key.

Distinct names can share a key (Юраев/Джураев, and through alternates Kasimov/Kazimov); the
name matcher compensates by demanding two name parts, or a distinctive surname, before it
reports a person.
"""

from __future__ import annotations

import itertools
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
    "ï": "j",  # French Tokaïev = Токаев, Bassaïev, Aïssa: the diaeresis letter is й
    "ž": "j", "š": "sh", "č": "ch", "ć": "ch", "ł": "l", "ñ": "n", "ß": "ss", "ø": "o", "å": "a", "æ": "a",
}
_IOTATED = set("яюєї")
# Letters that mark a word as Azerbaijani or Turkish, where c is the sound j.
_TURKIC = set("əışçğ")
_MULTI = [  # applied in order, after the letter tables
    ("dsch", "j"), ("tsch", "ch"), ("sch", "sh"), ("tch", "ch"), ("dzh", "j"), ("dj", "j"), ("zh", "j"),
    ("kh", "h"), ("gh", "g"), ("ph", "f"), ("ou", "u"), ("ts", "c"), ("tz", "c"), ("ck", "k"),
    ("x", "h"), ("q", "k"), ("w", "v"),
]
_VOWELS = "aeiou"
_Y_BETWEEN_CONSONANTS = re.compile(r"(?<=[b-df-hj-np-tv-z])y(?=[b-df-hj-np-tv-z]|$)")
_J_BETWEEN_VOWELS = re.compile(r"(?<=[aeiou])j(?=[aeiou])")
_I_BEFORE_VOWEL = re.compile(r"(?:(?<=[b-df-hj-np-tv-z])|^)i(?=[aeou])")
_J_AFTER_CONSONANT = re.compile(r"(?<=[b-df-hk-np-tv-z])j(?=[aeou])")
_J_BEFORE_CONSONANT = re.compile(r"(?<=[aeiou])j(?=[b-df-hk-np-tv-z])")
_DOUBLES = re.compile(r"(.)\1+")
_ZADE = re.compile(r"(?<=[a-z]{3})zadeh?(?![aeiou])")
_FRENCH_CH = re.compile(r"(?<!t)ch")
_UZBEK_O = re.compile(r"o'(?=\w)")
_UZBEK_G = re.compile(r"g'(?=\w)")
_TURKIC_SET = frozenset(_TURKIC)


def _uzbek_apostrophes(word: str) -> str:
    """oʻ -> u (ў), gʻ -> g (ғ); every other apostrophe is dropped."""
    if "'" not in word:
        return word
    word = _UZBEK_O.sub("u", word)
    word = _UZBEK_G.sub("g", word)
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


def _source(word: str) -> str:
    """The word as name_key reads it: normalised, Uzbek apostrophe letters resolved."""
    return _uzbek_apostrophes(word_norm(word))


def _is_turkic(text: str) -> bool:
    return not _TURKIC_SET.isdisjoint(text)


@lru_cache(maxsize=200_000)
def name_key(word: str) -> str:
    """The spelling key of one name token (see the module docstring)."""
    text = _source(word)
    return _key(text, _is_turkic(text))


def _key(text: str, turkic: bool) -> str:
    """The key of a normalised word; `turkic` says c is j and q is g (Azerbaijani, Turkish).

    Passed in rather than read from the word so that an alternate reading (ə as е) keeps the
    word's c and q as they were.

    Each rule below runs only when the letters it rewrites are there (a regex that cannot match
    is not run): an index compile keys a few hundred thousand forms, a text every new word."""
    if text.isascii() and not turkic:  # the letter tables leave ASCII as it is (c is c, q is q)
        key = text
    else:
        key = _letters(text, turkic)
    if "ou" in key:  # French spelling: Gannouchkina, Ibraguimov, Iouldachev
        key = _FRENCH_CH.sub("sh", key)
    if "gu" in key:
        key = key.replace("gui", "gi").replace("gue", "ge")
    if key.startswith("ye"):
        key = "e" + key[2:]
    for old, new in _MULTI:
        if old in key:
            key = key.replace(old, new)
    if "y" in key:
        key = _Y_BETWEEN_CONSONANTS.sub("i", key)
        key = key.replace("y", "j")
    if "j" in key:
        key = key.replace("jj", "j")  # Майя = Maya
        key = _J_BETWEEN_VOWELS.sub("", key)
    if "i" in key:
        key = _I_BEFORE_VOWEL.sub("j", key)
    if "j" in key:
        key = _J_BEFORE_CONSONANT.sub("i", key)  # Айсина = Aisina, Гусейнов = Guseinov
    if key.endswith("j") and key[-2:-1] in _VOWELS:
        key = key[:-1] + "i"  # Tugolbay = Tugolbai = Түгөлбай; Yordanskiy = Yordanskii
    if key.endswith("ii"):
        key = key[:-1]
    if "j" in key:
        key = _J_AFTER_CONSONANT.sub("", key)
    key = key.replace("o", "a")
    if _DOUBLES.search(key) is not None:
        key = _DOUBLES.sub(r"\1", key)
    if "zade" in key:
        key = _ZADE.sub("zada", key)  # Nazarzoda = Nazarzade = Назарзаде
    if key.endswith(("af", "ef")) and len(key) > 4:
        key = key[:-1] + "v"
    return key


def _letters(text: str, turkic: bool) -> str:
    """Every letter of a normalised word in the key's Latin alphabet (the tables above)."""
    out = []
    for ch in text:
        if ch in CYRILLIC:
            letter = CYRILLIC[ch]
            if ch in _IOTATED and "".join(out[-2:]).endswith("d"):
                letter = letter[1:]  # дя is not the dj of Djuraev: Дудя = Duda, Дьяков = Dyakov
            out.append(letter)
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
    return "".join(out)


_JOINT_PATTERNS = tuple(old for old, _ in _MULTI) + ("gui", "gue", "zade", "ou", "ye")
_KEY_LETTERS = set("abcdefghiklmnprstuvz")  # what a key is made of, bar j (a j joint is re-keyed)


def join_key(key: str, suffix: str) -> str:
    """name_key(key + suffix) for a key and a suffix in key letters, as morphology builds forms.

    A watchlist's forms are most of the index's build time, and almost every joint changes
    nothing; so the key is recomputed only where a rule of name_key could fire across the
    joint (a double letter, i or j before a vowel, a digraph, -zade, a final -af/-j/-ii).
    Whether one could is decided by the key's last four letters and the suffix alone, so that
    decision is remembered (a few thousand pairs for any watchlist)."""
    joined = key + suffix
    if not key or not suffix or not _KEY_LETTERS.issuperset(key) or _joint_may_change(key[-4:], suffix):
        return form_key(joined)
    return joined


def form_key(word: str) -> str:
    """name_key, not remembered: for the forms an index compile builds, once per distinct name
    part (the compile has its own memo), which no text is read with afterwards."""
    if word.isascii() and word.isalpha() and word.islower():  # key letters: word_norm changes nothing
        return _key(word, False)
    text = _source(word)
    return _key(text, _is_turkic(text))


@lru_cache(maxsize=8192)
def _joint_may_change(tail: str, suffix: str) -> bool:
    region = tail + suffix[:4]
    return (not _KEY_LETTERS.issuperset(suffix) or tail[-1] == suffix[0] or tail[-1] in "ij"
            or any(p in region and p not in tail for p in _JOINT_PATTERNS)
            or re.search(r"i[aeou]", region) is not None or (tail + suffix).endswith(("af", "ef", "ii")))


# -- alternate keys ------------------------------------------------------------------------

MAX_ALTERNATES = 8  # alternate keys per word, after the primary one
MAX_POINTS = 5  # ambiguous letters considered per word (the cheapest ones)
_YO = "\ue000"  # stands for ё, which word_norm would turn into е
_VOWEL_LETTERS = set("aeiouəıöüаеиоуыэюяәөұүі") | {_YO}
_KAZAKH = set("әғқңөұүһі")
_CONS = "b-df-hj-np-tv-z"
_Alternates = tuple[tuple[str, int], ...]  # (replacement, cost); cost 1 common, 2 rarer
# Letters the sources print two ways: pattern (in the normalised word), its other readings, and
# when the rule applies (None always; "turkic"/"plain": with/without Azerbaijani letters).
# _ambiguities adds the rules that depend on the whole word: Kazakh ы, ə, and a past the first
# syllable. Replacements are Cyrillic letters, which _key reads one way only.
ALTERNATES: list[tuple[re.Pattern[str], _Alternates, str | None]] = [
    (re.compile(_YO), (("йо", 1),), None),  # ё printed yo: Миралиён = Miraliyon, Пётр = Pyotr
    (re.compile("yo"), (("ё", 1),), None),  # Latin yo read as ё, which Russian prints е
    (re.compile("x"), (("кс", 1),), None),  # English x: Alexandr = Александр (Uzbek x = х)
    (re.compile("(?<![ts])ch"), (("х", 1), ("ш", 2)), None),  # German/Polish Michail; French Tachiev
    (re.compile("(?<![kszcgdtp])h"), (("г", 1),), None),  # Azerbaijani h: Hüseynov = Гусейнов
    (re.compile("q"), (("к", 1),), "turkic"),  # Azerbaijani q is к too, mostly at the end: Şəfiq = Шафик
    (re.compile("q"), (("г", 1),), "plain"),  # and q without ə/ı/ş/ç/ğ is г too: Quliyev = Гулиев
    (re.compile("c(?![hkz])"), (("дж", 2),), "plain"),  # Azerbaijani c without ə/ı/ş: Cavid = Джавид
    (re.compile("ö"), (("ё", 1),), None),  # Gözəl = Гёзель
    (re.compile(f"(?<=[{_CONS}])y(?=[{_CONS}])"), (("у", 1),), None),  # Kazakh Latin y: Qonyrov = Конуров
    (re.compile("(?<=[aeiouyəıöü])s(?=[aeiouyəıöü])"), (("з", 2),), None),  # German/French Rosa = Роза
    (re.compile(f"(?<=[{_CONS}])(?<![s])s(?=[aeiouy])"), (("з", 2),), None),  # German Ramsan = Рамзан
    (re.compile("(?<![dt])sch"), (("ж", 1),), None),  # German sch is also ж: Schirinowski, Prigoschin
    (re.compile("z(?!h)"), (("ц", 2),), None),  # German z is ц: Nemzow = Немцов, Jelzin = Ельцин
    (re.compile("^j(?=e)"), (("", 1),), None),  # German Je- is Е-: Jelena = Елена, Jewgeni = Евгений
    (re.compile("d$"), (("т", 2),), None),  # a final consonant devoiced in Turkic: Rashid = Raşit,
    (re.compile("t$"), (("д", 2),), None),  # Ahmed = Ahmet, Murad = Murat (Cyrillic too: Рашит)
    (re.compile("д$"), (("т", 2),), None),
    (re.compile("т$"), (("д", 2),), None),
]
# a literal each pattern above needs (in the same order): a word without it is not searched
_NEEDLES = (_YO, "yo", "x", "ch", "h", "q", "q", "c", "ö", "y", "s", "s", "sch", "z", "j", "d", "t", "д", "т")
assert len(_NEEDLES) == len(ALTERNATES)


def _ambiguities(text: str, turkic: bool) -> list[tuple[int, int, str, _Alternates]]:
    """The ambiguous letters of a normalised word: (start, end, default text, alternates)."""
    found = []
    skip = "plain" if turkic else "turkic"
    for (pattern, options, when), needle in zip(ALTERNATES, _NEEDLES):
        if when == skip or needle not in text:
            continue
        for m in pattern.finditer(text):
            default = "е" if m.group() == _YO else m.group()
            found.append((m.start(), m.end(), default, options))
    vowels = [i for i, ch in enumerate(text) if ch in _VOWEL_LETTERS]
    if any(ch in _KAZAKH for ch in text):
        found += [(i, i + 1, "ы", (("у", 1),)) for i, ch in enumerate(text) if ch == "ы"]  # Қоныров = Конуров
    if "ə" in text:  # ə is а or е in Russian: Məmmədov = Мамедов, Kərimov = Керимов, Əliyev = Алиев
        found += [(i, i + 1, "ə", (("е", 2 if i == vowels[0] else 1),)) for i in vowels if text[i] == "ə"]
    else:  # an Azerbaijani ə printed a (Mammadov = Мамедов): not in the first or last syllable
        found += [(i, i + 1, "a", (("е", 2),)) for i in vowels[1:-1] if text[i] == "a"]
    found.sort()
    points, end = [], -1
    for point in found:  # overlapping matches: the first one wins
        if point[0] >= end:
            points.append(point)
            end = point[1]
    if len(points) > MAX_POINTS:
        keep = sorted(points, key=lambda p: min(cost for _, cost in p[3]))[:MAX_POINTS]
        points = sorted(keep)
    return points


@lru_cache(maxsize=200_000)
def name_keys(word: str) -> tuple[str, ...]:
    """The spelling keys of one name token: name_key(word) first, then at most MAX_ALTERNATES
    alternate keys, one for each other reading of its ambiguous letters (see ALTERNATES), the
    likeliest readings first.

    Words without ambiguous letters have only their primary key. Matching two spellings is
    asking whether their keys intersect; the alternates aim at the key of the Russian Cyrillic
    spelling, so usually one side's primary key is among the other's keys."""
    return first_keys(word, 1 + MAX_ALTERNATES)


def first_keys(word: str, count: int) -> tuple[str, ...]:
    """name_keys(word)[:count], computing no more alternate keys than asked for (the index
    keeps only the likeliest other reading of a listed name, and a watchlist has thousands)."""
    primary = name_key(word)
    if count <= 1:
        return (primary,)
    if _YO in word:  # the placeholder itself in the text: no ё reading
        return (primary,)
    text = _source(word.replace("ё", _YO).replace("Ё", _YO))
    points = _ambiguities(text, _is_turkic(text))
    if not points:
        return (primary,)
    turkic = _is_turkic(text)
    choices = [[(p[2], 0)] + list(p[3]) for p in points]
    combos = sorted(itertools.product(*choices),
                    key=lambda combo: (sum(cost for _, cost in combo), sum(cost > 0 for _, cost in combo)))
    keys = [primary]
    for combo in combos[1:]:
        pieces, at = [], 0
        for (start, end, _, _), (replacement, _) in zip(points, combo):
            pieces += [text[at:start], replacement]
            at = end
        key = _key("".join(pieces) + text[at:], turkic)
        if key not in keys:
            keys.append(key)
            if len(keys) >= count:
                break
    return tuple(keys)
