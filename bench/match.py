"""Benchmark: does matching cost stay flat as the watchlist grows from 100 to 10,000 people?

Measures, on the same synthetic items (title + summary, 40-80 words of English or Russian):

- items/s of `Matcher(rules).analyse` with 100 and with 10,000 watched people, cold (first
  pass after clearing the module-level caches: word_norm, name_key(s), the gazetteer's, the
  reported spellings' keys) and warm (second pass over the same items, same order); the
  headline uses the warm pass of both;
- items/s of normalisation alone: `tokenize` plus `name_key` of every capitalised token; and
  the tokenizer-only floor: `tokenize` alone over the same items (the target: matching at
  10,000 people at least half of it);
- items/s of a naive matcher: one compiled `re` per person (`\\b(?:name|alias|alias)\\b`,
  re.IGNORECASE), every pattern searched in every item; at 10,000 people on a sample only;
- the time to build each Matcher (the index), and the matcher's size at 10,000 people: what
  tracemalloc sees still allocated after compiling it (kept) and at the peak of compiling;
- match counts against the planted mentions, as a sanity check.

The watchlist is synthetic (seeded). `--names colliding` (the default) draws real common given
names and surnames of Central Asia, the Caucasus and Russia with Zipf-like weights, so that many
people share a surname or a given name as in a real watchlist (half are told apart only by a
patronymic); `--names distinct` builds names from syllables, so that they rarely collide. Each
person has a Latin spelling variant and a Cyrillic alias (some a second Cyrillic one with a
patronymic); 1 % of people have a `not` namesake. The 100-person list is the first 100 of the 10,000. About 5 % of items mention
a person from the 10,000 (random spelling; Cyrillic ones sometimes in a Russian case), about
10 % carry an incident keyword from the project's rules/incidents.yaml.

Run from the repo root with the project venv:

    .venv/bin/python bench/match.py                 # 100,000 items; writes BENCHMARKS.md
    .venv/bin/python bench/match.py --quick         # 10,000 items; prints only
    .venv/bin/python bench/match.py --items N       # N items
    .venv/bin/python bench/match.py --profile       # also cProfile 2,000 items at 10,000 people
    .venv/bin/python bench/match.py --names distinct  # the syllable-built list, whose names rarely collide

Only a full run (100,000 items, no --quick) replaces the "## Matching" section of BENCHMARKS.md,
unless --write or --no-write says otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.matching import Matcher, mentions
from watcher.matching.countries import gazetteer_index
from watcher.matching.mentions import spelling_keys_of
from watcher.matching.normalize import tokenize, word_norm
from watcher.matching.translit import name_key, name_keys
from watcher.rules import Person, Rules, load_rules

SEED = 20261123
SMALL, LARGE = 100, 10_000
TODAY = "2026-11-23"
SECTION = "## Matching (bench/match.py)"

# -- a synthetic watchlist ------------------------------------------------------------------

MALE_FIRST = ["Bah", "Sha", "Dil", "Jam", "Ak", "Ra", "Far", "Nod", "Ul", "Sar", "Khu", "Ab", "Is", "Ham",
              "Mu", "Tol", "Ol", "Sher", "Bek", "Ilh", "Anv", "Ot", "Ruz", "Sa", "Zok", "Yus", "Kam", "Nur",
              "Ali", "Dav", "Jakh", "Shokh", "Ikh", "Ozod", "Khay"]
MALE_SECOND = ["odir", "rukh", "shod", "mol", "zod", "bek", "nur", "tosh", "jon", "ir", "om", "ur", "khon",
               "am", "iddin", "lon", "mat", "ulla", "at", "ali", "shid", "zhon", "yor"]
FEMALE_FIRST = ["Dil", "Gul", "Nig", "Mal", "Shah", "Zar", "Sev", "Ma", "Fe", "Lo", "Mukh", "Kha", "Ni",
                "Ro", "Sa", "Mokh", "Ozo", "Yul"]
FEMALE_SECOND = ["nora", "noza", "ora", "ina", "iza", "ya", "bonu", "gul", "khon", "oy", "shoda", "lola",
                 "rano", "dona"]
ROOT_FIRST = ["Kar", "Yul", "Tosh", "Khal", "Ab", "Nur", "Ras", "Ism", "Usm", "Rakh", "Mir", "Sal", "Khod",
              "Jur", "Mam", "Ergash", "Qod", "Zay", "Tur", "Bur", "Sob", "Hak", "Ash", "Umar", "Qur",
              "Sharip", "Nazar", "Shuk", "Ot", "Kuch", "Sult", "Yak", "Dzhum", "Khas", "Ibrag", "Mukhtar",
              "Gaf", "Fayz", "Naim", "Bobo", "Khol", "Tokh", "Yo'ld", "Shoh", "Kos", "Mad"]
ROOT_SECOND = ["im", "dash", "mat", "il", "dull", "ul", "ak", "an", "ur", "bek", "zod", "ir", "it", "un",
               "jon", "ar", "kul", "ber", "mur", "ad", "on", "okh", "al", "in"]
MALE_ENDINGS = ["ov", "ov", "ev", "iyev"]
FEMALE_ENDINGS = {"ov": "ova", "ev": "eva", "iyev": "iyeva"}

LATIN_TO_CYRILLIC = [  # longest first
    ("iye", "ие"), ("kh", "х"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("dzh", "дж"), ("ya", "я"), ("yu", "ю"),
    ("yo'", "ю"), ("yo", "ё"), ("ye", "е"), ("ts", "ц"), ("o'", "у"), ("g'", "г"),
    ("a", "а"), ("b", "б"), ("d", "д"), ("e", "е"), ("f", "ф"), ("g", "г"), ("h", "х"), ("i", "и"),
    ("j", "дж"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("q", "к"),
    ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("x", "х"), ("y", "й"), ("z", "з"),
]
LATIN_TO_CYRILLIC.sort(key=lambda pair: -len(pair[0]))


def to_cyrillic(name: str) -> str:
    words = []
    for word in name.split():
        low, out, i = word.lower(), [], 0
        while i < len(low):
            for latin, cyr in LATIN_TO_CYRILLIC:
                if low.startswith(latin, i):
                    out.append(cyr)
                    i += len(latin)
                    break
            else:
                out.append(low[i])
                i += 1
        text = "".join(out)
        words.append(("Э" + text[1:]) if text.startswith("е") else text[:1].upper() + text[1:])
    return " ".join(words)


def latin_variant(name: str, rng: random.Random) -> str:
    """Another Latin spelling: kh -> h or x, h -> kh or x, o -> a, -iyev -> -iev, yo' -> yu."""
    options = []
    if "kh" in name.lower():
        options += [lambda s: re.sub("kh", "h", re.sub("Kh", "H", s)), lambda s: re.sub("kh", "x", re.sub("Kh", "X", s))]
    if re.search(r"(?<![kKsScCzZ])h", name):
        options += [lambda s: re.sub(r"(?<![kKsScCzZ])h", "kh", re.sub(r"\bH", "Kh", s)),
                    lambda s: re.sub(r"(?<![kKsScCzZ])h", "x", re.sub(r"\bH", "X", s))]
    if re.search(r"o(?!v\b|va\b)", name):
        options.append(lambda s: re.sub(r"o(?!v\b|va\b)", "a", s))
    if "iye" in name:
        options.append(lambda s: s.replace("iye", "ie"))
    if "Yo'" in name:
        options.append(lambda s: s.replace("Yo'", "Yu"))
    if name.endswith("ov"):
        options.append(lambda s: s[:-1] + "ff")  # Karimoff
    for f in rng.sample(options, len(options)):
        variant = f(name)
        if variant != name:
            return variant
    return re.sub(r"(?<=[aeiou])([b-df-hj-np-tv-z])", r"\1\1", name, count=1)  # a doubled letter


def make_people(count: int, rng: random.Random) -> list[Person]:
    people: list[Person] = []
    seen: set[str] = set()
    while len(people) < count:
        female = rng.random() < 0.35
        if female:
            given = rng.choice(FEMALE_FIRST) + rng.choice(FEMALE_SECOND)
        else:
            given = rng.choice(MALE_FIRST) + rng.choice(MALE_SECOND)
        root = rng.choice(ROOT_FIRST) + rng.choice(ROOT_SECOND)
        ending = rng.choice(MALE_ENDINGS)
        if ending == "iyev" and root[-1] in "aeiou":
            ending = "yev"
        surname = root + (FEMALE_ENDINGS.get(ending, ending + "a") if female else ending)
        name = f"{given} {surname}"
        if name.casefold() in seen:
            continue
        seen.add(name.casefold())
        aliases = tuple(dict.fromkeys(a for a in (latin_variant(name, rng), to_cyrillic(name)) if a != name))
        extra = {}
        if rng.random() < 0.01:  # a namesake who must never trigger this person
            other = rng.choice(MALE_FIRST) + rng.choice(MALE_SECOND)
            extra["not"] = (f"{other} {surname}",)
        people.append(Person(name=name, aliases=aliases, country=rng.choice(["UZ", "TJ", "KZ", "KG", "TM"]), **extra))
    return people



# Real watchlists collide: a few dozen surnames (Karimov, Aliyev, Rakhimov...) and given names
# (Rustam, Gulnara...) cover most people, so many people share a surname or a given name, and
# the index holds each common spelling for hundreds of people. Pools of real, common names of
# Central Asia, the Caucasus and Russia, drawn with Zipf-like weights; a patronymic keeps full
# names apart when a given name and surname are already taken (as official lists write them).
COMMON_SURNAMES = """Karimov Rakhimov Yusupov Tursunov Usmonov Ergashev Abdullayev Sultanov Mirzayev Khodjayev
Nazarov Aliyev Ismoilov Rashidov Saidov Yuldashev Khamidov Kadyrov Safarov Umarov Akhmedov Alimov Azimov
Rustamov Salimov Sobirov Hakimov Djurayev Bobojonov Normatov Kholmatov Turgunov Makhmudov Nurmatov Qodirov
Rahmonov Sharipov Nazarzoda Davlatov Boboyev Karimzoda Sattorov Kurbonov Odinayev Sharifov Mahmadaliyev
Nurlanov Zhakupov Abenov Suleimenov Tokayev Bekov Ospanov Akhmetov Iskakov Omarov Asanov Omurbekov
Sadyrov Japarov Toktogulov Mamedov Guliyev Huseynov Hasanov Ibragimov Abbasov Babayev Magomedov
Dudayev Gadzhiyev Musayev Askerov Mammadli Gasanov Ismailov Kerimov Ivanov Petrov Smirnov Kuznetsov
Popov Sokolov Volkov Morozov Novikov Fedorov Tashkentov Berdiyev Annayev Ovezov Atayev Khalilov
Yakubov Mukhtarov Fayzullayev Sadikov Zakirov Gafurov Latipov Valiyev""".split()
COMMON_MALE = """Bakhodir Rustam Alisher Dilshod Farrukh Jamshid Sherzod Umid Nodir Shukhrat Akmal Azamat
Timur Ruslan Islam Murad Rashid Aziz Bobur Sardor Davron Olim Anvar Ulugbek Otabek Elbek Kamol Ilhom
Javlon Nurlan Askar Yerlan Daniyar Ramzan Magomed Akhmed Ali Elchin Tural Vugar Ilgar Emin Sergei
Alexei Dmitry Andrei Ivan Nikolai Pavel Zafar Bekzod Jasur Sanjar Abdulla Ibrokhim Mirzo Firdavs
Shavkat Saidjon Khurshed Mansur Parviz Daler Nurali Yusuf Asror Bakhtiyor Kairat Marat Berik Almaz""".split()
COMMON_FEMALE = """Gulnara Dilnoza Nigora Malika Shahnoza Zarina Sevara Madina Feruza Lola Mukhabbat Nilufar
Zulfiya Aigul Aizhan Gulshan Leyla Aynur Tatyana Elena Olga Natalia Yulia Svetlana Mokhira Kamola
Nodira Dildora Saodat Zilola Mavluda Gulchehra Aziza Barno Munira Sabina Aida Asel Gulmira""".split()
FATHERS = COMMON_MALE[:40]


def _zipf(rng: random.Random, pool: list[str], skew: float = 0.9) -> str:
    return rng.choices(pool, weights=[1 / (rank + 1) ** skew for rank in range(len(pool))])[0]


def _feminine(surname: str) -> str:
    if surname.endswith(("ov", "ev", "in")):
        return surname + "a"
    return surname  # Nazarzoda, Mammadli, Zhakupov's -uly...: one form for both


def _patronymic(father: str, female: bool) -> str:
    stem = father[:-1] if father.endswith(("a", "y", "i")) else father
    if father.endswith(("ei", "ai")):
        stem = father[:-1] + "y"
    return stem + ("ovna" if female else "ovich") if not stem.endswith("y") else stem + ("evna" if female else "evich")


def make_people_colliding(count: int, rng: random.Random) -> list[Person]:
    """A watchlist whose names collide like a real one's: many people share a surname or a given
    name (Zipf-drawn from pools of common names), some are told apart only by a patronymic;
    each has a Latin spelling variant and a Cyrillic alias, some a Cyrillic alias with the
    patronymic (Каримов Бахтиёр Рустамович style: given, patronymic, surname)."""
    people: list[Person] = []
    seen: set[str] = set()
    while len(people) < count:
        female = rng.random() < 0.3
        given = _zipf(rng, COMMON_FEMALE if female else COMMON_MALE)
        surname = _zipf(rng, COMMON_SURNAMES, 0.7)
        surname = _feminine(surname) if female else surname
        name = f"{given} {surname}"
        if name.casefold() in seen:
            name = f"{given} {_patronymic(_zipf(rng, FATHERS), female)} {surname}"
            if name.casefold() in seen:
                continue
        seen.add(name.casefold())
        cyrillic = to_cyrillic(name)
        aliases = [latin_variant(name, rng), cyrillic]
        if len(name.split()) == 2 and rng.random() < 0.3:
            aliases.append(to_cyrillic(f"{given} {_patronymic(_zipf(rng, FATHERS), female)} {surname}"))
        extra = {}
        if rng.random() < 0.01:
            extra["not"] = (f"{_zipf(rng, COMMON_MALE)} {surname}",)
        people.append(Person(name=name, aliases=tuple(dict.fromkeys(a for a in aliases if a != name)),
                             country=rng.choice(["UZ", "TJ", "KZ", "KG", "TM", "AZ", "RU"]), **extra))
    return people

# -- synthetic items -------------------------------------------------------------------------

EN_TEXT = """the a of to in and for on with by from at as that this it is was were be been has have had
will would said says say government officials report reported week month year day people city country
state police court law new news state security service meeting talks trade economy market prices
energy gas oil bank plan project company companies workers students school university hospital health
water river road railway bridge border region regional local national international foreign minister
ministry office spokesman statement press conference agreement cooperation development investment
growth budget tax taxes election elections vote voters party parliament committee council members
group groups family families children women men young old season football match team players
weather rain snow winter summer spring autumn festival music film culture history museum book books
writer journal article data study survey percent million billion thousand hundred many several few
more less most least other others another after before during while since until about against between
under over into through across around near far high low large small long short early late first last
next recent recently today yesterday tomorrow again also only still even just very much well however
because although though whether not no yes all some any each every both either neither such same
different important major minor public private official general special social political economic
military civil human rights community support opposed support supported announced announce plans
visited visit travel travelled flight flights airport passengers cargo transport exports imports
farmers cotton wheat harvest prices rose fell increase decrease record level levels figures
"""
RU_TEXT = """и в на с по для от к о из за у не что это как так был была были будет сказал заявил
сообщил сообщает правительство власти страна страны город года году неделе месяц день люди жители
суд закон новости безопасность служба встреча переговоры торговля экономика рынок цены энергия газ
нефть банк план проект компания компании рабочие студенты школа университет больница здоровье вода
река дорога железная мост граница регион области местные национальный международный министр
министерство пресс конференция соглашение сотрудничество развитие инвестиции рост бюджет налог
выборы голосование партия парламент комитет совет члены группа семья дети женщины мужчины сезон
футбол матч команда игроки погода дождь снег зима лето весна осень фестиваль музыка фильм культура
история музей книга писатель журнал статья данные исследование процент миллион миллиард тысяча
сотни много несколько более менее другие после перед во время пока между под над через около
высокий низкий большой малый первый последний следующий недавно сегодня вчера завтра снова также
только еще даже очень однако потому хотя ли все каждый оба такой другой важный главный общественный
частный официальный социальный политический экономический гражданский права сообщество поддержка
объявил планы визит поездка рейс аэропорт пассажиры груз транспорт экспорт импорт фермеры хлопок
пшеница урожай выросли снизились рекорд уровень показатели
"""
EN_WORDS, RU_WORDS = EN_TEXT.split(), RU_TEXT.split()
EN_PROPER = ["Moscow", "Tashkent", "Istanbul", "Dushanbe", "Almaty", "Bishkek", "Reuters", "Europe", "Monday",
             "Tuesday", "Friday", "January", "March", "October", "London", "Berlin", "Paris", "Warsaw",
             "Samarkand", "Fergana", "Brussels", "Amnesty", "Human", "Watch", "Radio", "Liberty", "Ozodlik",
             "BBC", "Ministry", "Foreign", "Affairs", "United", "Nations", "Kremlin", "Dubai", "Ankara"]
RU_PROPER = ["Москва", "Москве", "Ташкент", "Ташкенте", "Стамбул", "Душанбе", "Алматы", "Бишкек", "Европа",
             "Понедельник", "Пятницу", "Январе", "Марте", "Октябре", "Лондон", "Берлин", "Париж", "Самарканд",
             "Фергана", "Брюссель", "Кремль", "МИД", "ООН", "Радио", "Озодлик", "Азаттык", "Дубай", "Анкара"]
EN_ENDINGS = ["", "ed", "ion", "ing", "s", "e"]
RU_ENDINGS = ["", "ия", "ии", "ию", "ован", "ована", "а", "ы"]
RU_CASES = {  # (male surname, consonant given name, female surname stem, a-stem given) endings
    "genitive": ("а", "а", "ой", "ы"),
    "dative": ("у", "у", "ой", "е"),
    "instrumental": ("ым", "ом", "ой", "ой"),
}


def incident_words(rules: Rules) -> dict[str, list[str]]:
    """Keywords of the real incident types, by language group (en / ru), stems given an ending."""
    out: dict[str, list[str]] = {"en": [], "ru": []}
    for incident in rules.incident_types.values():
        for lang, words in incident.keywords.items():
            group = "en" if lang == "en" else "ru" if lang == "ru" else None
            if group:
                out[group].extend(words)
    return out


def realise(keyword: str, lang: str, rng: random.Random) -> str:
    if keyword.endswith("*"):
        return keyword[:-1] + rng.choice(EN_ENDINGS if lang == "en" else RU_ENDINGS)
    return keyword


def decline(spelling: str, rng: random.Random) -> str:
    """A Cyrillic name in a Russian case: Баходира Каримова, Нигоре Каримовой."""
    words = spelling.split()
    given, surname = words[0], words[-1]
    male_sur, cons_given, fem_sur, a_given = RU_CASES[rng.choice(list(RU_CASES))]
    if surname.endswith(("ов", "ев")):
        surname += male_sur
    elif surname.endswith(("ова", "ева")):
        surname = surname[:-1] + fem_sur
    if given[-1] in "бвгджзклмнпрстфхцчшщ":
        given += cons_given
    elif given.endswith("а"):
        given = given[:-1] + a_given
    return " ".join([given, *words[1:-1], surname])


def make_items(count: int, people: list[Person], rules: Rules, rng: random.Random):
    """Texts, and per item the index of the planted person (or -1)."""
    keywords = incident_words(rules)
    texts: list[str] = []
    planted: list[int] = []
    for _ in range(count):
        lang = "en" if rng.random() < 0.5 else "ru"
        words, proper = (EN_WORDS, EN_PROPER) if lang == "en" else (RU_WORDS, RU_PROPER)
        total = rng.randint(40, 80)
        title_len = rng.randint(6, 12)
        sentences: list[list[str]] = []
        n = 0
        while n < total:
            size = min(rng.randint(6, 16), total - n) if sentences else title_len
            sentence = [rng.choice(proper) if rng.random() < 0.06 else rng.choice(words) for _ in range(size)]
            sentence[0] = sentence[0][:1].upper() + sentence[0][1:]
            sentences.append(sentence)
            n += size
        if rng.random() < 0.10:
            s = rng.randrange(len(sentences))
            sentences[s].insert(rng.randint(1, len(sentences[s])), realise(rng.choice(keywords[lang]), lang, rng))
        who = -1
        if rng.random() < 0.05:
            who = rng.randrange(len(people))
            spelling = rng.choice(people[who].spellings())
            if re.search("[а-я]", spelling) and lang == "ru" and rng.random() < 0.5:
                spelling = decline(spelling, rng)
            s = rng.randrange(len(sentences))
            sentences[s].insert(rng.randint(0, len(sentences[s])), spelling)
        title = " ".join(sentences[0])
        summary = " ".join(" ".join(s) + "." for s in sentences[1:])
        texts.append(f"{title}\n{summary}")
        planted.append(who)
    return texts, planted


# -- measuring -------------------------------------------------------------------------------


def clear_caches() -> None:
    """Empty the module-level caches matching fills as it reads (shared by every Matcher)."""
    word_norm.cache_clear()
    name_key.cache_clear()
    name_keys.cache_clear()
    for cached in (spelling_keys_of, getattr(mentions, "_word_keys", None)):  # a reported name's spellings
        if cached is not None:
            cached.cache_clear()
    cache = getattr(gazetteer_index(), "_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def timed(fn, *args):
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def run_matcher(matcher: Matcher, texts: list[str]) -> list[list[str]]:
    analyse = matcher.analyse
    return [analyse(t).people for t in texts]


def run_tokenize(texts: list[str]) -> int:
    """The tokenizer-only floor: what reading the words costs before any matching."""
    return sum(len(tokenize(text)) for text in texts)


def matcher_size(rules: Rules) -> tuple[float, int, int]:
    """(seconds, bytes kept, peak bytes) of compiling a Matcher, traced by tracemalloc after
    a first compile (so imports, dictionaries and the region's name lists are not counted)."""
    Matcher(Rules(people=rules.people[:10], incident_types=rules.incident_types))
    gc.collect()
    start = time.perf_counter()
    Matcher(rules)
    seconds = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    matcher = Matcher(rules)
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del matcher
    return seconds, kept - before, peak - before


def run_normalise(texts: list[str]) -> int:
    n = 0
    for text in texts:
        for t in tokenize(text):
            if t.upper:
                name_key(t.raw)
                n += 1
    return n


def naive_patterns(people: list[Person]) -> list[tuple[str, re.Pattern]]:
    return [(p.name, re.compile(r"\b(?:" + "|".join(re.escape(s) for s in p.spellings()) + r")\b", re.IGNORECASE))
            for p in people]


def run_naive(patterns: list[tuple[str, re.Pattern]], texts: list[str]) -> list[list[str]]:
    out = []
    for text in texts:
        out.append([name for name, pattern in patterns if pattern.search(text)])
    return out


def score(found: list[list[str]], planted: list[int], people: list[Person], size: int) -> dict[str, int]:
    """Planted mentions of the first `size` people, how many of them were found, other people reported."""
    names = [p.name for p in people]
    planted_n = hit = extra = 0
    for people_found, who in zip(found, planted):
        target = names[who] if 0 <= who < size else None
        if target is not None:
            planted_n += 1
            hit += target in people_found
        extra += sum(1 for n in people_found if n != target)
    return {"planted": planted_n, "found": hit, "other": extra}


def profile(matcher: Matcher, texts: list[str]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run_matcher(matcher, texts)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue().replace(str(ROOT) + "/", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=None, help="number of items (default 100,000; 10,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="10,000 items, for a fast check")
    parser.add_argument("--naive-sample", type=int, default=200, help="items for the naive loop at 10,000 people")
    parser.add_argument("--naive-small-sample", type=int, default=20_000, help="items for the naive loop at 100 people")
    parser.add_argument("--profile", action="store_true", help="cProfile 2,000 items at 10,000 people")
    parser.add_argument("--names", choices=("colliding", "distinct"), default="colliding",
                        help="watchlist whose names collide like a real one's (default), or rarely collide")
    parser.add_argument("--write", dest="write", action="store_true", default=None, help="write BENCHMARKS.md")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    items = args.items or (10_000 if args.quick else 100_000)
    write = args.write if args.write is not None else (items == 100_000 and not args.quick)

    rng = random.Random(SEED)
    base = load_rules(ROOT / "rules")
    people = (make_people_colliding if args.names == "colliding" else make_people)(LARGE, rng)
    rules = {size: Rules(people=tuple(people[:size]), incident_types=base.incident_types) for size in (SMALL, LARGE)}
    t0 = time.perf_counter()
    texts, planted = make_items(items, people, base, rng)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{items:,} items ({words:.0f} words on average) generated in {time.perf_counter() - t0:.1f}s; "
          f"{sum(w >= 0 for w in planted):,} mention a watched person; "
          f"{len(base.incident_types)} incident types from rules/", flush=True)

    build: dict[int, float] = {}
    found: dict[int, list[list[str]]] = {}
    cold: dict[int, float] = {}
    warm: dict[int, float] = {}
    matchers: dict[int, Matcher] = {}
    for size in (SMALL, LARGE):
        clear_caches()
        build[size], matchers[size] = timed(Matcher, rules[size])
        clear_caches()
        seconds, _ = timed(run_matcher, matchers[size], texts)
        cold[size] = items / seconds
        print(f"watcher {size:>6,} people: build {build[size]:.2f}s, cold {cold[size]:,.0f} items/s", flush=True)
        seconds, found[size] = timed(run_matcher, matchers[size], texts)
        warm[size] = items / seconds
        print(f"watcher {size:>6,} people: warm {warm[size]:,.0f} items/s", flush=True)

    clear_caches()
    seconds, _ = timed(run_normalise, texts)
    norm_cold = items / seconds
    seconds, capitals = timed(run_normalise, texts)
    norm_warm = items / seconds
    seconds, _ = timed(run_tokenize, texts)
    floor = items / seconds
    print(f"normalisation: cold {norm_cold:,.0f}, warm {norm_warm:,.0f} items/s "
          f"({capitals / items:.1f} capitalised tokens per item); tokenize alone {floor:,.0f} items/s", flush=True)
    compile_s, kept, peak = matcher_size(rules[LARGE])
    print(f"compile at {LARGE:,} people: {compile_s:.2f}s; matcher kept {kept / 2**20:.1f} MB "
          f"(tracemalloc), peak while compiling {peak / 2**20:.1f} MB", flush=True)

    naive: dict[int, float] = {}
    naive_n: dict[int, int] = {}
    naive_found: dict[int, list[list[str]]] = {}
    naive_build: dict[int, float] = {}
    for size, sample in ((SMALL, args.naive_small_sample), (LARGE, args.naive_sample)):
        sample = min(sample, items)
        naive_build[size], patterns = timed(naive_patterns, people[:size])
        seconds, naive_found[size] = timed(run_naive, patterns, texts[:sample])
        naive[size], naive_n[size] = sample / seconds, sample
        print(f"naive re  {size:>6,} people: {naive[size]:,.1f} items/s on {sample:,} items", flush=True)

    scale = warm[LARGE] / warm[SMALL]
    scale_cold = cold[LARGE] / cold[SMALL]
    vs_naive = warm[LARGE] / naive[LARGE]
    scores = {size: score(found[size], planted, people, size) for size in (SMALL, LARGE)}
    naive_scores = {size: score(naive_found[size], planted[:naive_n[size]], people, size) for size in (SMALL, LARGE)}

    table = [
        "| What | People | Items | Build (s) | Cold items/s | Warm items/s | Planted | Found | Other people |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in (SMALL, LARGE):
        s = scores[size]
        table.append(f"| watcher `Matcher.analyse` | {size:,} | {items:,} | {build[size]:.2f} | {cold[size]:,.0f} | "
                     f"{warm[size]:,.0f} | {s['planted']:,} | {s['found']:,} | {s['other']:,} |")
    table.append(f"| normalisation only (tokenize + name_key of capitalised tokens) | – | {items:,} | – | "
                 f"{norm_cold:,.0f} | {norm_warm:,.0f} | | | |")
    table.append(f"| tokenizer-only floor (`tokenize` alone) | – | {items:,} | – | | {floor:,.0f} | | | |")
    for size in (SMALL, LARGE):
        s = naive_scores[size]
        table.append(f"| naive: one `re` per person | {size:,} | {naive_n[size]:,} | {naive_build[size]:.2f} | "
                     f"{naive[size]:,.1f} | | {s['planted']:,} | {s['found']:,} | {s['other']:,} |")
    ratios = [
        f"- items/s at 10,000 people ÷ at 100 people (warm): **{scale:.2f}** (target ≥ 0.8; cold: {scale_cold:.2f})",
        f"- watcher ÷ naive `re` loop at 10,000 people: **{vs_naive:,.0f}×** (target ≥ 100)",
        f"- watcher at 100 people ÷ normalisation alone (warm): {warm[SMALL] / norm_warm:.2f}",
        f"- watcher at 10,000 people ÷ the tokenizer-only floor (warm): **{warm[LARGE] / floor:.2f}** (target ≥ 0.5)",
        f"- compiling the matcher for 10,000 people ({args.names} names): **{compile_s:.2f} s** (target ≤ 1 s); "
        f"the matcher keeps {kept / 2**20:.1f} MB (tracemalloc), {peak / 2**20:.1f} MB at the peak of compiling",
    ]
    print()
    print("\n".join(table))
    print()
    print("\n".join(ratios))

    prof = ""
    if args.profile or scale < 0.8:
        sample = texts[:2000]
        print(f"\ncProfile, 2,000 items, {LARGE:,} people (warm caches):", flush=True)
        prof = profile(matchers[LARGE], sample)
        print(prof)

    if write:
        write_section(items, table, ratios, prof, args.names)
        print(f"wrote {ROOT / 'BENCHMARKS.md'}")
    return 0


def code_version() -> str:
    """The commit measured, and whether the matcher's files had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "watcher"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {head}" + (" with uncommitted changes to watcher/" if dirty else "")


def write_section(items: int, table: list[str], ratios: list[str], prof: str, names: str = "colliding") -> None:
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    body = [
        SECTION,
        "",
        (
            f"Run {TODAY} on {machine}, {code_version()}; {items:,} synthetic items (title + summary, 40–80 words, English or "
            f"Russian; ~5 % name a watched person, ~10 % carry an incident keyword from rules/incidents.yaml). "
            f"Synthetic watchlist of 10,000 people ({names} names; aliases: a Latin variant and a Cyrillic spelling); "
            f"the 100-person list is its first 100. Cold = first pass after clearing the matching caches; "
            f"warm = second pass over the same items in the same order. The naive loop at 10,000 people "
            f"runs on the first items only. Planted/Found count mentions of people on that list; "
            f"Other = people reported that were not planted (in this dense synthetic list mostly namesakes: "
            f"a distinctive surname alone, or a surname one edit away). "
            f"Reproduce: `.venv/bin/python bench/match.py`."
        ),
        "",
        *table,
        "",
        *ratios,
    ]
    if prof:
        top = [line for line in prof.splitlines() if line.strip()]
        top = top[next((i for i, line in enumerate(top) if line.lstrip().startswith("ncalls")), 0):]
        body += ["", "Profile of 2,000 items at 10,000 people (cProfile, by own time):", "", "```", *top, "```"]
    section = "\n".join(body) + "\n"
    path = ROOT / "BENCHMARKS.md"
    if not path.exists():
        path.write_text("# Benchmarks\n\nMeasurements of watcher's performance; each section says how to reproduce it.\n\n"
                        + section, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    # this section only: not "## Matching quality" or any other section that follows or precedes it
    match = re.search(r"^## Matching(?: \(bench/match\.py\))?[ \t]*\n.*?(?=^## |\Z)", text,
                      flags=re.MULTILINE | re.DOTALL)
    if match:
        text = text[:match.start()] + section + ("\n" if match.end() < len(text) else "") + text[match.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
