"""Turn people.yaml (real public figures and their real spellings) into labelled cases.

Pure and deterministic: the same people.yaml always gives byte-identical outputs. Every
random choice (template, namesake, placement) comes from a Random seeded with a SHA-256 of
what is being generated, never from the clock or Python's salted hash().

Outputs, next to this file:

- cases.jsonl: one JSON object a line, in the fields of ../shared/eval/cases.jsonl (`id`,
  `title`, `summary`, `lang`, `expected_people`, `optional_people`, `confusable_people`) plus
  `kind`, `form`, `person`, `split`, `variant`, `variant_kind`, `mention` (the name as written).
- watchlist.yaml: the rules-format watchlist the cases are labelled against. Each person is
  listed as a monitor plausibly would: the Latin name plus ONE Cyrillic spelling (the first
  cyrillic_ru variant). Every other spelling is left for the matcher to find.

Positives: each variant in sentences of its languages (Latin spellings in English and, for a
national alphabet, in that language; Cyrillic in Russian and, for local letters, in Kazakh,
Kyrgyz, Tajik or Uzbek); every Russian Cyrillic spelling in five oblique cases; the listed
name in Surname Given order. Negatives: namesakes sharing only the surname (another given
name; the official SURNAME Given Patronymic form; the other gender's form) or only the given
name, in English and Russian. Split: per person, by a stable hash of the name (~40 % heldout).

    .venv/bin/python bench/realnames/make_cases.py           # write cases.jsonl, watchlist.yaml
    .venv/bin/python bench/realnames/make_cases.py --check   # validate people.yaml only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
KINDS = ("cyrillic_ru", "cyrillic_local", "latin_alt", "german_french", "derussified")
COUNTRIES = {"UZ", "KZ", "KG", "TJ", "TM", "AZ", "RU", "GE", "AM"}
VARIANT_LANGS = {"uz", "az", "tk", "de", "fr"}
LOCAL_LANG = {"KZ": "kk", "KG": "ky", "TJ": "tg", "UZ": "uz"}
HELDOUT_PERCENT = 40
CASES = ("gen", "dat", "acc", "ins", "prep")
CYR = re.compile(r"[\u0400-\u04FF]")
LATIN = re.compile(r"[A-Za-z\u00C0-\u024F\u0259]")
LOCAL_LETTERS = re.compile(r"[ҚқҒғҲҳӮӯӢӣҮүӨөҢңӘәҰұЎўІіҶҷҺһ]")

# ------------------------------------------------------------------ loading and checking


def load_people(path: Path) -> list[dict[str, Any]]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    people = data.get("people") or []
    problems = check_people(people)
    if problems:
        raise SystemExit(f"{path}: {len(problems)} problem(s):\n" + "\n".join(problems))
    return people


def check_people(people: list[Any]) -> list[str]:
    """Every field present and well-formed, no person twice, no spelling twice."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, p in enumerate(people, 1):
        where = f"#{i} {p.get('name') if isinstance(p, dict) else p!r}"
        if not isinstance(p, dict):
            problems.append(f"{where}: not a mapping")
            continue
        for key in ("name", "country", "gender", "role", "variants"):
            if not p.get(key):
                problems.append(f"{where}: missing {key}")
        extra = set(p) - {"name", "country", "gender", "role", "variants", "region", "names_from", "patronymic"}
        if extra:
            problems.append(f"{where}: unknown fields {sorted(extra)}")
        name = str(p.get("name", ""))
        if len(name.split()) != 2 or not LATIN.search(name) or CYR.search(name):
            problems.append(f"{where}: name must be two Latin words, Given Surname")
        key = fold(name)
        if key in seen:
            problems.append(f"{where}: same person as #{seen[key]}")
        seen[key] = i
        if p.get("country") not in COUNTRIES:
            problems.append(f"{where}: country {p.get('country')!r} not in {sorted(COUNTRIES)}")
        if p.get("gender") not in ("m", "f"):
            problems.append(f"{where}: gender must be m or f")
        if p.get("region") not in (None, "CE", "DA", "IN") or (p.get("region") and p.get("country") != "RU"):
            problems.append(f"{where}: region is CE, DA or IN, for RU only")
        if p.get("names_from") not in (None, "ru"):
            problems.append(f"{where}: names_from must be ru")
        if p.get("patronymic") and not CYR.search(str(p["patronymic"])):
            problems.append(f"{where}: patronymic must be Cyrillic")
        variants = p.get("variants") or []
        texts = {fold(name)}
        for v in variants:
            text, kind = str(v.get("text", "")), v.get("kind")
            if kind not in KINDS:
                problems.append(f"{where}: variant {text!r}: kind {kind!r} not in {KINDS}")
            if len(text.split()) != 2:
                problems.append(f"{where}: variant {text!r} must be two words")
            if fold(text) in texts:
                problems.append(f"{where}: variant {text!r} repeats a spelling")
            texts.add(fold(text))
            cyrillic = bool(CYR.search(text))
            if kind in ("cyrillic_ru", "cyrillic_local") and (not cyrillic or LATIN.search(text)):
                problems.append(f"{where}: variant {text!r} must be all Cyrillic")
            if kind in ("latin_alt", "german_french") and cyrillic:
                problems.append(f"{where}: variant {text!r} must be Latin")
            if kind == "cyrillic_ru" and LOCAL_LETTERS.search(text):
                problems.append(f"{where}: cyrillic_ru {text!r} has a non-Russian letter")
            if kind == "german_french" and v.get("lang") not in ("de", "fr"):
                problems.append(f"{where}: german_french {text!r} needs lang de or fr")
            if v.get("lang") not in (None, *VARIANT_LANGS):
                problems.append(f"{where}: variant {text!r}: lang {v.get('lang')!r}")
        if not variants or variants[0].get("kind") != "cyrillic_ru":
            problems.append(f"{where}: the first variant must be the cyrillic_ru spelling a monitor lists")
    return problems


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


# ------------------------------------------------------------------ Russian declension
# Returns the form, or None when the rule is not sure (stress-dependent endings, Georgian
# vowel-final surnames): such a case is not generated rather than generated wrong.

SIBILANT = "жшчщц"
VELAR_SIB = "гкхжшчщ"
GIVEN_EXCEPTIONS = {
    "Лев": ("Льва", "Льву", "Льва", "Львом", "Льве"),
    "Павел": ("Павла", "Павлу", "Павла", "Павлом", "Павле"),
    "Пётр": ("Петра", "Петру", "Петра", "Петром", "Петре"),
    "Илья": ("Ильи", "Илье", "Илью", "Ильёй", "Илье"),
    "Любовь": ("Любови", "Любови", "Любовь", "Любовью", "Любови"),
}


def _first_declension(word: str, case: str) -> str:
    """Nouns in -а/-я (Гульнара, Мария, Кара-Мурза, Дерипаска)."""
    stem, end = word[:-1], word[-1]
    if end == "а":
        forms = {"gen": "и" if stem[-1] in VELAR_SIB else "ы", "dat": "е", "acc": "у",
                 "ins": "ей" if stem[-1] in SIBILANT else "ой", "prep": "е"}
    elif stem.endswith("и"):
        forms = {"gen": "и", "dat": "и", "acc": "ю", "ins": "ей", "prep": "и"}
    else:
        forms = {"gen": "и", "dat": "е", "acc": "ю", "ins": "ей", "prep": "е"}
    return stem + forms[case]


def _consonant(word: str, case: str, ins: str | None = "ом") -> str | None:
    if case == "ins":
        return None if ins is None else word + ins
    return word + {"gen": "а", "dat": "у", "acc": "а", "prep": "е"}[case]


def _soft(word: str, case: str) -> str:
    """Nouns in -й/-ь: Сергей, Абай, Игорь, Скрипаль; -ий: Дмитрий."""
    stem = word[:-1]
    if word.endswith("ий"):
        return stem + {"gen": "я", "dat": "ю", "acc": "я", "ins": "ем", "prep": "и"}[case]
    return stem + {"gen": "я", "dat": "ю", "acc": "я", "ins": "ем", "prep": "е"}[case]


def _hyphenated(word: str, case: str, decline: Any) -> str | None:
    head, sep, last = word.rpartition("-")
    form = decline(last, case)
    return None if form is None else head + sep + form


def decline_given(word: str, gender: str, case: str) -> str | None:
    if "-" in word:
        return _hyphenated(word, case, lambda w, c: decline_given(w, gender, c))
    if word in GIVEN_EXCEPTIONS:
        return GIVEN_EXCEPTIONS[word][CASES.index(case)]
    end = word[-1]
    if end in "ая":
        return _first_declension(word, case)
    if gender == "f":
        return word  # consonant- and other-vowel-final women's names do not decline
    if end in "йь":
        return _soft(word, case)
    if end in "оеиуюыэё":
        return word
    return _consonant(word, case, None if end in SIBILANT else "ом")


def decline_surname(word: str, gender: str, case: str, country: str) -> str | None:
    if "-" in word:
        return _hyphenated(word, case, lambda w, c: decline_surname(w, gender, c, country))
    low = word.lower()
    if country == "GE" and low[-1] in "аеиоуяэ":
        return None if low.endswith(("ия", "иа", "а", "я")) else word
    if low.endswith(("зода", "заде", "оглу", "оглы", "кызы", "гызы", "ых")) or re.search(r"[гкхжчшщн]их$", low):
        return word  # Черных, Певчих, Долгих do not decline; Салих does
    if gender == "f":
        if low.endswith(("ова", "ева", "ёва", "ина", "ына")):
            return word[:-1] + {"gen": "ой", "dat": "ой", "acc": "у", "ins": "ой", "prep": "ой"}[case]
        if low.endswith("ая"):
            return word[:-2] + {"gen": "ой", "dat": "ой", "acc": "ую", "ins": "ой", "prep": "ой"}[case]
        if low.endswith("а"):
            return _first_declension(word, case)
        return None if low.endswith("я") else word
    if low.endswith(("ов", "ев", "ёв", "ин", "ын")) and not low.endswith("ддин"):
        return word + {"gen": "а", "dat": "у", "acc": "а", "ins": "ым", "prep": "е"}[case]
    if low.endswith(("ский", "цкий", "ый", "ой")):
        return word[:-2] + {"gen": "ого", "dat": "ому", "acc": "ого",
                            "ins": "им" if low.endswith("кий") else "ым", "prep": "ом"}[case]
    if low.endswith(("ий", "я")):
        return None
    if low[-1] in "йь":
        return _soft(word, case)
    if low.endswith("а"):
        return _first_declension(word, case)
    if low[-1] in "оеиуюыэё":
        return word
    if low.endswith("ич"):
        return _consonant(word, case, "ем")
    return _consonant(word, case, None if low[-1] in SIBILANT else "ом")


def decline_patronymic(word: str, case: str) -> str | None:
    if word.endswith("вич"):
        return _consonant(word, case, "ем")
    if word.endswith("ич"):
        return _consonant(word, case, "ом")
    if word.endswith(("вна", "чна")):
        return _first_declension(word, case)
    return None


def other_gender_surname(word: str, gender: str, cyrillic: bool) -> str:
    """Каримов -> Каримова, Навальная -> Навальный; others (Пашинян, Алиева's Latin...) kept."""
    low = word.lower()
    if cyrillic:
        if gender == "m":
            if low.endswith(("ов", "ев", "ёв", "ин", "ын")) and not low.endswith("ддин"):
                return word + "а"
            if low.endswith(("ский", "цкий", "ый")):
                return word[:-2] + "ая"
        else:
            if low.endswith(("ова", "ева", "ёва", "ина", "ына")):
                return word[:-1]
            if low.endswith(("ская", "цкая")):
                return word[:-2] + "ий"
            if low.endswith("ная"):
                return word[:-2] + "ый"
        return word
    if gender == "m":
        if low.endswith(("ov", "ev", "in", "yn", "ow", "ew")) and not low.endswith("ddin"):
            return word + "a"
        if low.endswith("sky"):
            return word[:-1] + "aya"
        if low.endswith("ny"):
            return word[:-1] + "aya"
        return word
    if low.endswith(("ova", "eva", "ina", "yna", "owa", "ewa")):
        return word[:-1]
    if low.endswith("skaya"):
        return word[:-3] + "y"
    if low.endswith("naya"):
        return word[:-3] + "y"
    return word


# ------------------------------------------------------------------ namesake name pools
# Plausible given names and surnames of each region, (Latin, Russian Cyrillic). Any pairing
# that is a watched person, or close to one, is refused by `skeleton` below.

GIVEN = {
    "ca": {"m": [("Tulkin", "Тулкин"), ("Farrukh", "Фаррух"), ("Sardor", "Сардор"), ("Jasur", "Жасур"),
                 ("Otabek", "Отабек"), ("Nodir", "Нодир"), ("Anvar", "Анвар"), ("Sherzod", "Шерзод"),
                 ("Ulugbek", "Улугбек"), ("Azamat", "Азамат"), ("Nurlan", "Нурлан"), ("Daulet", "Даулет"),
                 ("Bakyt", "Бакыт"), ("Firdavs", "Фирдавс"), ("Kairat", "Кайрат"), ("Bekzod", "Бекзод")],
           "f": [("Dilnoza", "Дилноза"), ("Nilufar", "Нилуфар"), ("Malika", "Малика"), ("Zarina", "Зарина"),
                 ("Madina", "Мадина"), ("Feruza", "Феруза"), ("Shahnoza", "Шахноза"), ("Aizhan", "Айжан"),
                 ("Saltanat", "Салтанат"), ("Nargiza", "Наргиза"), ("Gulnara", "Гульнара"), ("Aigul", "Айгуль")]},
    "cauc": {"m": [("Rashad", "Рашад"), ("Elchin", "Эльчин"), ("Tural", "Турал"), ("Vugar", "Вугар"),
                   ("Kamran", "Камран"), ("Orkhan", "Орхан"), ("Magomed", "Магомед"), ("Murad", "Мурад"),
                   ("Ruslan", "Руслан"), ("Rustam", "Рустам"), ("Said", "Саид"), ("Timur", "Тимур")],
             "f": [("Aysel", "Айсель"), ("Gunel", "Гюнель"), ("Sevda", "Севда"), ("Aida", "Аида"),
                   ("Madina", "Мадина"), ("Khava", "Хава"), ("Lala", "Лала"), ("Aminat", "Аминат"),
                   ("Milana", "Милана"), ("Zulfiya", "Зульфия")]},
    "ru": {"m": [("Andrey", "Андрей"), ("Pavel", "Павел"), ("Igor", "Игорь"), ("Oleg", "Олег"),
                 ("Nikolai", "Николай"), ("Viktor", "Виктор"), ("Konstantin", "Константин"), ("Denis", "Денис"),
                 ("Roman", "Роман"), ("Anton", "Антон"), ("Maxim", "Максим"), ("Kirill", "Кирилл")],
           "f": [("Irina", "Ирина"), ("Olga", "Ольга"), ("Natalia", "Наталья"), ("Elena", "Елена"),
                 ("Svetlana", "Светлана"), ("Tatyana", "Татьяна"), ("Anna", "Анна"), ("Marina", "Марина"),
                 ("Oksana", "Оксана"), ("Ekaterina", "Екатерина")]},
    "ge": {"m": [("Levan", "Леван"), ("Davit", "Давид"), ("Zurab", "Зураб"), ("Tornike", "Торнике"),
                 ("Lasha", "Лаша"), ("Gela", "Гела"), ("Beka", "Бека"), ("Giorgi", "Георгий"), ("Nika", "Ника"),
                 ("Tengiz", "Тенгиз")],
           "f": [("Nino", "Нино"), ("Tamar", "Тамар"), ("Ketevan", "Кетеван"), ("Mariam", "Мариам"),
                 ("Natia", "Натия"), ("Eka", "Эка"), ("Tea", "Тея"), ("Ana", "Ана")]},
    "am": {"m": [("Gevorg", "Геворг"), ("Hayk", "Айк"), ("Vardan", "Вардан"), ("Narek", "Нарек"),
                 ("Suren", "Сурен"), ("Ashot", "Ашот"), ("Tigran", "Тигран"), ("Aram", "Арам"),
                 ("Armen", "Армен"), ("Davit", "Давид")],
           "f": [("Anahit", "Анаит"), ("Lilit", "Лилит"), ("Gayane", "Гаяне"), ("Mariam", "Мариам"),
                 ("Nune", "Нуне"), ("Armine", "Армине"), ("Ani", "Ани"), ("Lusine", "Лусине")]},
}
SURNAMES = {
    "ca": [("Yusupov", "Юсупов"), ("Tursunov", "Турсунов"), ("Nurmatov", "Нурматов"), ("Ergashev", "Эргашев"),
           ("Sultanov", "Султанов"), ("Mamatov", "Маматов"), ("Omarov", "Омаров"), ("Beisenov", "Бейсенов"),
           ("Zhumabaev", "Жумабаев"), ("Toktogulov", "Токтогулов"), ("Ismoilov", "Исмоилов"),
           ("Khodjaev", "Ходжаев"), ("Mirzaev", "Мирзаев"), ("Abdullaev", "Абдуллаев")],
    "cauc": [("Guliyev", "Гулиев"), ("Rzayev", "Рзаев"), ("Abbasov", "Аббасов"), ("Magomedov", "Магомедов"),
             ("Ibragimov", "Ибрагимов"), ("Salimov", "Салимов"), ("Babayev", "Бабаев"), ("Kuliyev", "Кулиев"),
             ("Gasimov", "Гасымов"), ("Umarov", "Умаров")],
    "ru": [("Smirnov", "Смирнов"), ("Kuznetsov", "Кузнецов"), ("Popov", "Попов"), ("Sokolov", "Соколов"),
           ("Morozov", "Морозов"), ("Vasiliev", "Васильев"), ("Petrov", "Петров"), ("Novikov", "Новиков"),
           ("Pavlov", "Павлов"), ("Zaitsev", "Зайцев"), ("Belov", "Белов")],
    "ge": [("Beridze", "Беридзе"), ("Kapanadze", "Капанадзе"), ("Lomidze", "Ломидзе"), ("Gelashvili", "Гелашвили"),
           ("Maisuradze", "Маисурадзе"), ("Tsiklauri", "Циклаури"), ("Abashidze", "Абашидзе"),
           ("Nozadze", "Нозадзе"), ("Mchedlishvili", "Мчедлишвили")],
    "am": [("Hovhannisyan", "Оганесян"), ("Avetisyan", "Аветисян"), ("Mkrtchyan", "Мкртчян"),
           ("Manukyan", "Манукян"), ("Poghosyan", "Погосян"), ("Ghazaryan", "Казарян"), ("Hakobyan", "Акопян"),
           ("Vardanyan", "Варданян"), ("Melkonyan", "Мелконян"), ("Stepanyan", "Степанян")],
}
PATRONYMICS = {
    "ca": [("Рашидович", "Рашидовна"), ("Алишерович", "Алишеровна"), ("Турсунович", "Турсуновна"),
           ("Нурланович", "Нурлановна"), ("Маратович", "Маратовна"), ("Бахтиярович", "Бахтияровна")],
    "cauc": [("Магомедович", "Магомедовна"), ("Ахмедович", "Ахмедовна"), ("Русланович", "Руслановна"),
             ("Саидович", "Саидовна")],
    "az": [("Рашид оглы", "Рашид кызы"), ("Тофиг оглы", "Тофиг кызы"), ("Вагиф оглы", "Вагиф кызы")],
    "ru": [("Сергеевич", "Сергеевна"), ("Иванович", "Ивановна"), ("Петрович", "Петровна"),
           ("Андреевич", "Андреевна"), ("Николаевич", "Николаевна")],
    "ge": [("Гивиевич", "Гивиевна"), ("Тенгизович", "Тенгизовна"), ("Гурамович", "Гурамовна")],
    "am": [("Ашотович", "Ашотовна"), ("Грантович", "Грантовна"), ("Суренович", "Суреновна")],
}

_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяқғҳӯӣүөңәұўіҷһ",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "kh", "ts", "ch", "sh", "sh", "", "y", "", "e", "yu", "ya",
                      "k", "g", "h", "u", "i", "u", "o", "n", "a", "u", "o", "i", "j", "h"], strict=True))
_CLASSES = str.maketrans({"p": "b", "f": "v", "w": "v", "g": "k", "q": "k", "t": "d", "z": "s", "c": "s",
                          "j": "s", "x": "k"})


def skeleton(word: str) -> str:
    """A deliberately coarse key (script, romanisation and gender ending folded away) used
    only to keep namesakes clear of every watched person: Karimov = Каримова = Karimow."""
    s = "".join(_TRANSLIT.get(ch, ch) for ch in word.lower().replace("ə", "a").replace("ı", "i"))
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if ch.isascii() and ch.isalpha())
    for a, b in (("dzh", "j"), ("dsch", "j"), ("tsch", "c"), ("sch", "s"), ("dj", "j"), ("zh", "j"),
                 ("kh", "k"), ("ch", "c"), ("sh", "s"), ("ts", "c"), ("tz", "c"), ("gh", "g")):
        s = s.replace(a, b)
    s = s.replace("h", "").translate(_CLASSES)
    head = "a" if s[:1] in tuple("aeiouy") else s[:1]  # Otabek = Atabek, Ergashev = Ergashev
    out = head + "".join(ch for ch in s[1:] if ch not in "aeiouy")
    return re.sub(r"(.)\1+", r"\1", out)


# ------------------------------------------------------------------ sentence templates

EN = {
    "nom": ["{X} was detained in Istanbul on Tuesday, according to {his} relatives.",
            "Police in Moscow questioned {X} for several hours.",
            "{X} told reporters in Brussels that {he} would appeal the ruling.",
            "Relatives of {X} say they have had no news since March.",
            "A court in Vienna heard the case of {X} on Monday.",
            "Rights groups called for the release of {X}.",
            "{X} left the country after receiving threats, friends said.",
            "Border guards stopped {X} at the airport in Almaty.",
            "{X} spoke at a conference in Berlin on Thursday.",
            "A statement attributed to {X} was published on Telegram."],
    "poss": ["{X}'s lawyer said the hearing had been postponed.",
             "{X}'s family has asked for consular help.",
             "Investigators searched {X}'s apartment on Friday."],
    "list": ["The list published on Friday includes {X}, according to the document.",
             "Among those named in the notice is {X}.",
             "The court papers name the defendant as {X}."],
    "head": ["Court hearing postponed", "Rights groups voice concern", "Lawyers appeal ruling",
             "Exiles report pressure", "Update from the region", "Family appeals for information"],
    "fill": ["The foreign ministry did not respond to a request for comment.",
             "The hearing is expected to resume next month.",
             "Local media reported the news on Wednesday.",
             "Human rights organisations are following the case."],
}
RU = {
    "nom": ["{X} задержан{a} в Стамбуле во вторник.", "{X} заявил{a}, что обжалует решение суда.",
            "{X} покинул{a} страну после угроз, сообщают правозащитники.",
            "По данным родственников, {X} находится в Вильнюсе.", "{X} выступил{a} на конференции в Берлине."],
    "gen": ["Суд продлил арест {X} ещё на два месяца.", "Адвокат {X} сообщил о давлении на семью.",
            "Родственники {X} обратились в ООН.", "Следствие запросило экстрадицию {X}.",
            "В квартире {X} прошёл обыск."],
    "dat": ["{X} предъявлено обвинение в экстремизме.", "Суд назначил {X} штраф.",
            "Правозащитники направили письмо {X}.", "{X} запретили выезд из страны."],
    "acc": ["Полиция задержала {X} в аэропорту.", "Суд заочно арестовал {X}.", "Журналисты видели {X} в Риге.",
            "Власти объявили {X} в розыск."],
    "ins": ["Правозащитники встретились с {X} в Вильнюсе.", "Связь с {X} пропала неделю назад.",
            "Интервью с {X} вышло в понедельник."],
    "prep": ["В докладе говорится о {X}.", "Мы писали о {X} в прошлом году.", "Новости о {X} появились в субботу."],
    "list": ["В списке, опубликованном в пятницу, значится {X}.", "В документах суда фигурирует {X}.",
             "В розыск объявлен{a} {X}."],
    "list_gen": ["В деле {X} появились новые материалы.", "Суд рассмотрел жалобу {X}."],
    "head": ["Заседание суда отложено", "Правозащитники выразили обеспокоенность", "Новости региона",
             "Адвокаты обжалуют решение", "Родственники просят о помощи"],
    "fill": ["В МИД не ответили на запрос.", "Следующее заседание назначено на следующий месяц.",
             "Об этом сообщили местные СМИ."],
}
LOCAL = {  # one nominative sentence per language; the name opens it
    "uz": ["{X} seshanba kuni Istanbulda hibsga olindi.", "{X} Berlindagi konferensiyada so'zga chiqdi."],
    "uz_cyr": ["{X} сешанба куни Истанбулда ҳибсга олинди.", "{X} Берлиндаги конференцияда сўзга чиқди."],
    "tg": ["{X} рӯзи сешанбе дар Истанбул боздошт шуд.", "{X} дар конфронс дар Берлин суханронӣ кард."],
    "kk": ["{X} сейсенбі күні Ыстамбұлда ұсталды.", "{X} Берлиндегі конференцияда сөз сөйледі."],
    "ky": ["{X} шейшемби күнү Стамбулда кармалды.", "{X} Берлиндеги конференцияда сөз сүйлөдү."],
    "az": ["{X} çərşənbə axşamı İstanbulda saxlanılıb.", "{X} Berlində konfransda çıxış edib."],
    "tk": ["{X} Berlinde çykyş etdi."],
    "de": ["{X} wurde am Dienstag in Istanbul festgenommen.",
           "{X} sprach am Donnerstag auf einer Konferenz in Berlin."],
    "fr": ["{X} a été arrêté{e} mardi à Istanbul.", "{X} s'est exprimé{e} jeudi lors d'une conférence à Berlin."],
}


# ------------------------------------------------------------------ generating the cases


def seeded(*parts: str) -> random.Random:
    return random.Random(int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16], 16))


def _bucket(name: str) -> int:
    return int(hashlib.sha256(f"realnames-split:{name}".encode()).hexdigest()[:8], 16)


def splits(people: list[dict[str, Any]]) -> dict[str, str]:
    """Per person, by a stable hash of the name: dev or heldout, ~40 % heldout.

    Most people: hash bucket < 40 of 100 is heldout. People who carry a rare variant kind
    (a derussified spelling, or a second Russian spelling) are few, so a threshold could
    leave one split with none: within each such group the people are ranked by the same
    hash and the first 40 % (at least one) are held out."""
    out = {p["name"]: "heldout" if _bucket(p["name"]) % 100 < HELDOUT_PERCENT else "dev" for p in people}
    groups: dict[str, list[str]] = {}
    for p in people:
        kinds = [v["kind"] for v in p["variants"]]
        rare = ("derussified" if "derussified" in kinds
                else "second_cyrillic_ru" if kinds.count("cyrillic_ru") > 1 else "")
        if rare:
            groups.setdefault(rare, []).append(p["name"])
    for names in groups.values():
        ranked = sorted(names, key=_bucket)
        held = max(1, round(len(ranked) * HELDOUT_PERCENT / 100)) if len(ranked) > 1 else 0
        for i, name in enumerate(ranked):
            out[name] = "heldout" if i < held else "dev"
    return out


def pool_of(person: dict[str, Any]) -> str:
    if person.get("names_from") == "ru":
        return "ru"
    country = person["country"]
    if country == "RU":
        return "cauc" if person.get("region") else "ru"
    return {"AZ": "cauc", "GE": "ge", "AM": "am"}.get(country, "ca")


def fill(template: str, mention: str, gender: str) -> str:
    f = gender == "f"
    return template.format(X=mention, he="she" if f else "he", his="her" if f else "his",
                           a="а" if f else "", e="e" if f else "")


class Generator:
    def __init__(self, people: list[dict[str, Any]]):
        self.people = people
        self.pairs: set[tuple[str, str]] = set()
        self.surnames: set[str] = set()
        self.givens: set[str] = set()
        for p in people:
            for text in spellings(p):
                given, surname = text.split()
                self.pairs.add((skeleton(given), skeleton(surname)))
                self.surnames.add(skeleton(surname))
                self.givens.add(skeleton(given))
        self.cases: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.split = splits(people)

    # -------------------------------------------------------------- one case

    def sharing(self, p: dict[str, Any], part: int) -> list[str]:
        """The person, then every other watched person bearing the same surname (part 1) or
        given name (part 0) in some spelling: a namesake must trigger none of them."""
        def keys(q: dict[str, Any]) -> set[str]:
            latin, cyrillic = q["name"].split()[part], q["variants"][0]["text"].split()[part]
            if part == 1 and q["gender"] == "f":
                latin = other_gender_surname(latin, "f", cyrillic=False)
                cyrillic = other_gender_surname(cyrillic, "f", cyrillic=True)
            return {latin.casefold(), cyrillic.casefold()}

        mine = keys(p)
        return [p["name"], *(q["name"] for q in self.people if q is not p and mine & keys(q))]

    def add(self, p: dict[str, Any], kind: str, form: str, lang: str, template: str, mention: str,
            gender: str, variant: str, variant_kind: str, negative: bool = False) -> None:
        rng = seeded(p["name"], kind, form, lang, mention, variant)
        sentence = fill(template, mention, gender)
        if lang in ("en", "ru"):
            texts = EN if lang == "en" else RU
            if rng.random() < 0.5:
                title, summary = sentence.rstrip("."), rng.choice(texts["fill"])
            else:
                title, summary = rng.choice(texts["head"]), sentence + " " + rng.choice(texts["fill"])
        else:
            title, summary = sentence, ""
        key = "\x1f".join((p["name"], kind, form, lang, mention, variant))
        case_id = "RN-" + hashlib.sha1(key.encode()).hexdigest()[:10]
        if case_id in self.ids:
            return
        self.ids.add(case_id)
        self.cases.append({
            "id": case_id, "title": title, "summary": summary, "lang": lang,
            "expected_people": [] if negative else [p["name"]], "optional_people": [],
            "confusable_people": self.sharing(p, 1 if kind == "namesake_surname" else 0) if negative else [],
            "kind": kind, "form": form, "person": p["name"], "split": self.split[p["name"]],
            "variant": variant, "variant_kind": variant_kind, "mention": mention,
        })

    def sentence(self, p: dict[str, Any], kind: str, form: str, lang: str, key: str, mention: str,
                 variant: str, variant_kind: str, gender: str | None = None, negative: bool = False) -> None:
        table = EN if lang == "en" else RU if lang == "ru" else LOCAL
        rng = seeded(p["name"], "template", kind, form, lang, mention)
        template = rng.choice(table[key])
        self.add(p, kind, form, lang, template, mention, gender or p["gender"], variant, variant_kind, negative)

    # -------------------------------------------------------------- positives

    def positives(self, p: dict[str, Any]) -> None:
        name, gender, country = p["name"], p["gender"], p["country"]
        listed = p["variants"][0]["text"]
        self.sentence(p, "listed", "en", "en", "nom", name, name, "name")
        self.sentence(p, "listed", "ru", "ru", "nom", listed, listed, "cyrillic_ru")
        self.sentence(p, "inflection", "en_possessive", "en", "poss", name, name, "name")
        for i, v in enumerate(p["variants"]):
            text, kind, lang = v["text"], v["kind"], v.get("lang")
            cyrillic = bool(CYR.search(text))
            if cyrillic and i > 0:
                self.sentence(p, kind, "ru", "ru", "nom", text, text, kind)
            if not cyrillic:
                self.sentence(p, kind, "en", "en", "nom", text, text, kind)
                if lang:
                    self.sentence(p, kind, lang, lang, lang, text, text, kind)
            if cyrillic and (kind == "cyrillic_local" or LOCAL_LETTERS.search(text)) and country in LOCAL_LANG:
                local = LOCAL_LANG[country]
                self.sentence(p, kind, local, local, "uz_cyr" if local == "uz" else local, text, text, kind)
            if kind == "cyrillic_ru":
                given, surname = text.split()
                for case in CASES:
                    g, s = decline_given(given, gender, case), decline_surname(surname, gender, case, country)
                    if g is None or s is None or (g, s) == (given, surname):
                        continue
                    self.sentence(p, "inflection", case, "ru", case, f"{g} {s}", text, kind)
        self.order(p, listed)

    def order(self, p: dict[str, Any], listed: str) -> None:
        name, gender, country = p["name"], p["gender"], p["country"]
        given, surname = name.split()
        self.sentence(p, "order", "en_surname_given", "en", "list", f"{surname} {given}", name, "name")
        self.sentence(p, "order", "en_caps", "en", "list", f"{surname.upper()} {given}", name, "name")
        g_cyr, s_cyr = listed.split()
        self.sentence(p, "order", "ru_surname_given", "ru", "list", f"{s_cyr} {g_cyr}", listed, "cyrillic_ru")
        patronymic = p.get("patronymic")
        if patronymic:
            self.sentence(p, "order", "ru_surname_given_patronymic", "ru", "list",
                          f"{s_cyr} {g_cyr} {patronymic}", listed, "cyrillic_ru")
        parts = [decline_surname(s_cyr, gender, "gen", country), decline_given(g_cyr, gender, "gen")]
        form = "ru_gen_surname_given"
        if patronymic and decline_patronymic(patronymic, "gen"):
            parts.append(decline_patronymic(patronymic, "gen"))
            form += "_patronymic"
        if None not in parts:
            self.sentence(p, "order", form, "ru", "list_gen", " ".join(parts), listed, "cyrillic_ru")  # type: ignore[arg-type]

    # -------------------------------------------------------------- negatives

    def namesakes(self, p: dict[str, Any]) -> None:
        name, gender, country = p["name"], p["gender"], p["country"]
        pool, other = pool_of(p), "f" if p["gender"] == "m" else "m"
        given_lat, surname_lat = name.split()
        given_cyr, surname_cyr = p["variants"][0]["text"].split()
        own_given = {skeleton(t.split()[0]) for t in spellings(p)}
        own_surnames = {skeleton(t.split()[1]) for t in spellings(p)}
        rng = seeded(name, "namesakes")

        def free_given(gen: str) -> list[tuple[str, str]]:
            # a pool name that is also a watched surname (Otabek ~ Atabek) would test that
            # surname instead of the namesake's, so it is not used
            return [(lat, cyr) for lat, cyr in GIVEN[pool][gen]
                    if not {skeleton(lat), skeleton(cyr)} & (own_given | self.surnames)
                    and not any((skeleton(x), s) in self.pairs for x in (lat, cyr) for s in own_surnames)]

        same = free_given(gender)
        rng.shuffle(same)
        a, b, c = same[0], same[1 % len(same)], same[2 % len(same)]
        neg = {"negative": True}
        self.sentence(p, "namesake_surname", "en", "en", "nom", f"{a[0]} {surname_lat}", name, "name", **neg)
        self.sentence(p, "namesake_surname", "ru", "ru", "nom", f"{b[1]} {surname_cyr}", name, "name", **neg)
        self.inflected_negative(p, "namesake_surname", b[1], surname_cyr, gender, rng)
        patronymics = PATRONYMICS["az" if country == "AZ" else pool]
        patronymic = rng.choice(patronymics)[0 if gender == "m" else 1]
        self.sentence(p, "namesake_surname", "ru_official", "ru", "list", f"{surname_cyr} {c[1]} {patronymic}",
                      name, "name", **neg)
        opposite = free_given(other)
        if opposite:
            d = rng.choice(opposite)
            lat_o = other_gender_surname(surname_lat, gender, cyrillic=False)
            cyr_o = other_gender_surname(surname_cyr, gender, cyrillic=True)
            if (skeleton(d[0]), skeleton(lat_o)) not in self.pairs:
                self.sentence(p, "namesake_surname", "en_other_gender", "en", "nom", f"{d[0]} {lat_o}", name, "name",
                              gender=other, **neg)
                self.sentence(p, "namesake_surname", "ru_other_gender", "ru", "nom", f"{d[1]} {cyr_o}", name, "name",
                              gender=other, **neg)
        surnames = [(lat, cyr) for lat, cyr in SURNAMES[pool]
                    if not {skeleton(lat), skeleton(cyr)} & (self.surnames | self.givens)]
        rng.shuffle(surnames)
        e, f = surnames[0], surnames[1]
        if gender == "f":
            e = (other_gender_surname(e[0], "m", False), other_gender_surname(e[1], "m", True))
            f = (other_gender_surname(f[0], "m", False), other_gender_surname(f[1], "m", True))
        self.sentence(p, "namesake_given", "en", "en", "nom", f"{given_lat} {e[0]}", name, "name", **neg)
        self.sentence(p, "namesake_given", "ru", "ru", "nom", f"{given_cyr} {f[1]}", name, "name", **neg)
        self.inflected_negative(p, "namesake_given", given_cyr, f[1], gender, rng)

    def inflected_negative(self, p: dict[str, Any], kind: str, given: str, surname: str, gender: str,
                           rng: random.Random) -> None:
        cases = list(CASES)
        rng.shuffle(cases)
        for case in cases:
            g, s = decline_given(given, gender, case), decline_surname(surname, gender, case, p["country"])
            if g is not None and s is not None and (g, s) != (given, surname):
                self.sentence(p, kind, f"ru_{case}", "ru", case, f"{g} {s}", p["name"], "name", negative=True)
                return

    def run(self) -> list[dict[str, Any]]:
        for p in self.people:
            self.positives(p)
            self.namesakes(p)
        return self.cases


def spellings(p: dict[str, Any]) -> list[str]:
    return [p["name"], *(v["text"] for v in p["variants"])]


# ------------------------------------------------------------------ outputs


def watchlist_text(people: list[dict[str, Any]]) -> str:
    lines = [
        "# Benchmark watchlist for bench/realnames (generated by make_cases.py from people.yaml).",
        "# NOT A WATCHLIST: public figures listed only to measure spelling recognition.",
        "# Each person as a monitor would list them: the Latin name and one Cyrillic spelling.",
        "people:",
    ]
    for p in people:
        lines += [f"- name: {json.dumps(p['name'], ensure_ascii=False)}",
                  f"  aliases: [{json.dumps(p['variants'][0]['text'], ensure_ascii=False)}]",
                  f"  country: {p['country']}"]
    return "\n".join(lines) + "\n"


def summary(people: list[dict[str, Any]], cases: list[dict[str, Any]]) -> str:
    per_split = Counter(splits(people).values())
    by_kind = Counter((c["kind"], c["split"]) for c in cases)
    kinds = sorted({k for k, _ in by_kind})
    rows = [(f"{len(people)} people ({per_split['dev']} dev, {per_split['heldout']} heldout), "
             f"{sum(len(p['variants']) for p in people)} variants, {len(cases)} cases")]
    rows += [f"  {k:<18} dev {by_kind[(k, 'dev')]:5d}  heldout {by_kind[(k, 'heldout')]:5d}" for k in kinds]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=Path, default=HERE / "people.yaml")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for cases.jsonl and watchlist.yaml")
    parser.add_argument("--check", action="store_true", help="only validate people.yaml")
    args = parser.parse_args(argv)
    people = load_people(args.people)
    if args.check:
        print(f"{args.people}: {len(people)} people, {sum(len(p['variants']) for p in people)} variants, ok")
        return 0
    cases = Generator(people).run()
    with (args.out / "cases.jsonl").open("w", encoding="utf-8", newline="\n") as out:
        for case in cases:
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
    (args.out / "watchlist.yaml").write_text(watchlist_text(people), encoding="utf-8", newline="\n")
    print(summary(people, cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
