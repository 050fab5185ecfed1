"""Namesakes: is the surname in this text someone else's? Evidence words and shared helpers.

A watched person's surname alone is only trusted when nothing in the text gives that surname to
somebody else. This module reads the word just before each surname for that evidence (see
`other_bearers`), using word lists for titles, roles and function words and a bundled list of
common given names of the region (given_names.txt, nominative forms; inflected forms are
generated).
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from watcher.matching.countries import is_country_word
from watcher.matching.morphology import given_forms, is_female_surname
from watcher.matching.namelike import is_feminine_given, is_patronymic, looks_like_given_name, unknown_word
from watcher.matching.normalize import Token
from watcher.matching.translit import name_key, split_suffix

MIN_FUZZY = 7
CONNECTORS = {"and", "&", "и", "va", "ва", "və", "ve", "und", "et", "або", "та"}
TITLES = {  # a title before a surname means an official of that name, not our person
    "president", "prezident", "президент", "minister", "министр", "vazir", "premier", "prime", "general",
    "генерал", "judge", "судья", "prosecutor", "прокурор", "генпрокурор", "colonel", "полковник",
    "ambassador", "посол", "governor", "губернатор", "mayor", "мэр", "senator", "сенатор", "deputy",
    "депутат", "chairman", "председатель", "king", "emir", "sheikh", "mr", "mrs", "ms", "dr", "sir",
    "господин", "г-н", "janob", "hokim", "хоким",
}
ROLES = {  # words that commonly stand before a watched person's surname
    "exile", "exiled", "dissident", "refugee", "migrant", "activist", "journalist", "blogger", "editor",
    "critic", "opposition", "defender", "lawyer", "imam", "cleric", "businessman", "producer", "publisher",
    "poet", "writer", "emigrant", "émigré", "whistleblower", "veteran", "bodyguard", "academic", "leader",
    "head", "founder", "member", "son", "brother", "father", "wife", "husband", "nephew", "cousin", "mr",
    "лидер", "глава", "основатель", "брат", "отец", "сын", "жена", "муж",
    "эмигрант", "беженец", "мигрант", "оппозиционер", "журналист", "журналистка", "активист", "активистка",
    "блогер", "правозащитник", "правозащитница", "критик", "адвокат", "имам", "бизнесмен", "издатель",
    "muxolif", "jurnalist", "faol", "bloger", "muhojir", "qochqin",
}
FUNCTION_WORDS = {
    "the", "a", "an", "but", "and", "when", "while", "after", "before", "meanwhile", "still", "then", "as",
    "if", "in", "on", "at", "for", "with", "by", "of", "from", "to", "since", "although", "however", "so",
    "that", "this", "his", "her", "their", "mr", "both", "both", "according", "speaking", "with",
    "но", "и", "а", "когда", "после", "в", "на", "с", "по", "от", "для", "однако", "также", "тогда", "как",
}
GIVEN_NAMES = Path(__file__).with_name("given_names.txt")


@cache
def common_given_forms() -> frozenset[str]:
    """Spelling keys of common given names of the region, with their inflected forms."""
    keys: set[str] = set()
    if GIVEN_NAMES.exists():
        for line in GIVEN_NAMES.read_text(encoding="utf-8").splitlines():
            word = line.strip()
            if word and not word.startswith("#"):
                keys.update(given_forms(name_key(word)))
    return frozenset(keys)


_SENTENCE_BREAK = re.compile(r"[.!?:;\n«“\"(\[—]")
_GAP_OK = re.compile(r"^[\s\-‐‑–'’\"“”«»„]*$")
_INITIAL_GAP = re.compile(r"^\.?[\s\-]*$")


def other_bearers(
    index: Any, text: str, tokens: list[Token], hits: list[list[Any]], covered: set[int]
) -> tuple[dict[str, set[int | None]], set[int]]:
    """Who this text gives each surname stem to, by the words on either side of the surname.

    Strong evidence, which holds for the whole item: a watched person's given name (their
    index), or a stranger (None): a given name that is not the watched person's (from any list,
    or one the Russian dictionary knows, or shaped like the region's given names), an initial
    that is not theirs, a patronymic, a feminine given name beside the -a form of a masculine
    surname, or an official's title before it ('Tahir Yuldashev', 'Ислама Каримова',
    'Каримов Тулкин Рашидович', 'Каримова Гульнара', 'President Karimov'). The place in the
    sentence does not matter: 'Тўлкинжон Каримов задержан' names Tulkinjon.

    Weak evidence: an unknown capitalised word next to the surname rules out only that one
    occurrence ('Radio Liberty Agalarli', 'Karimov Foundation'). At a sentence start or in a
    Title-Case headline an unknown capital says nothing ('Экстрадиция Камолова'), nor does
    another watched person's surname ('Бахрома Хамроева Камолову').

    Returns (stem -> bearers, token indexes ruled out by weak evidence)."""
    bearers: dict[str, set[int | None]] = defaultdict(set)
    weak: set[int] = set()
    title_case = title_case_line(tokens)
    known = index.known_given
    for i, hit in enumerate(hits):
        if not hit.surname:
            continue
        stems = index.summary("stems", hit.surname_srcs)
        verdicts = []
        if i > 0:
            verdicts.append(_neighbour(index, text, tokens, hits, covered, i, i - 1, known, title_case))
        if i + 1 < len(tokens):
            verdicts.append(_neighbour(index, text, tokens, hits, covered, i, i + 1, known, title_case))
        owners = {v for v in verdicts if isinstance(v, int) and not isinstance(v, bool)}
        if owners:
            for family in stems:
                bearers[family].update(owners)
        elif "stranger" in verdicts:
            for family in stems:
                bearers[family].add(None)
        elif "weak" in verdicts:
            weak.add(i)
    return bearers, weak


def _neighbour(
    index: Any, text: str, tokens: list[Token], hits: list[Any], covered: set[int], i: int, j: int,
    known: frozenset[str], title_case: bool,
) -> int | str | None:
    """What the word at j says of the surname at i: a watched owner's index, "stranger",
    "weak", or None (nothing). What the surname's bearers have (given-name initials, middle
    names, given names) is read per name source, never per bearer."""
    other = tokens[j]
    before = j < i
    hit = hits[i]
    if other.start in covered:
        return None
    if not (gap_ok(text, *(sorted((other, tokens[i]), key=lambda t: t.start))) or (before and is_initial(other, text))):
        return None
    owners = hits[j].given & hit.surname
    if owners:
        return min(owners)
    if hits[j].surname:
        return None  # another watched person's surname beside it: a list of names, not evidence
    key = name_key(split_suffix(other.raw)[0])
    if is_initial(other, text):
        return None if key[:1] in index.summary("initials", hit.surname_srcs) else "stranger"
    if not before and other.raw[:1].isupper() and is_patronymic(other.raw):
        return None if key in index.summary("middles", hit.surname_srcs) else "stranger"
    if before and (other.norm in TITLES or (j >= 1 and other.upper and tokens[j - 1].norm in TITLES
                                            and gap_ok(text, tokens[j - 1], other))):
        return "stranger"
    if not other.upper:
        return None
    if index.near_bearers("given", hit.surname_srcs, key, len(other.raw)):
        return None  # a typo of the person's own given name
    if looks_like_given_name(other.raw, known) or (hit.genitive and is_feminine_given(other.raw)):
        return "stranger"
    sentence_first = starts_sentence(text, tokens, j)
    if (before and sentence_first and not title_case and other.norm not in ROLES and other.norm not in FUNCTION_WORDS
            and not is_country_word(other.norm) and unknown_word(other.raw)):
        return "stranger"  # "Firdavs Nazarov spoke": a given name no list holds, first in its sentence
    if not before and j + 1 < len(tokens) and gap_ok(text, other, tokens[j + 1]) and is_patronymic(tokens[j + 1].raw):
        return "stranger"  # SURNAME Given Patronymic, as official lists write: "Umarov Nariman Madzhitovich"
    if (not title_case and not sentence_first
            and other.norm not in ROLES and other.norm not in FUNCTION_WORDS and not is_country_word(other.norm)):
        return "weak"
    return None


# words after a surname that make it a regime, an era or a policy, not a person
NON_PERSON_AFTER = {
    "regime", "government", "administration", "era", "years", "rule", "times", "period", "dictatorship",
    "presidency", "doctrine", "policy", "policies", "system", "state", "режим", "режима", "правительство",
    "правительства", "эпоха", "эпохи", "времена", "времен", "правление", "правления", "годы", "rejimi", "davri",
    "hukumati", "rejim", "dönemi", "rejimi",
}
PERSON_AFTER = {"family", "brothers", "sisters", "clan", "семья", "семьи", "семью", "oilasi", "ailesi"}
NON_PERSON_BEFORE = {"under", "при", "после", "davrida"}


def not_a_person_here(tokens: list[Token], j: int) -> bool:
    """'the Karimov regime', 'Karimov era', 'under Karimov': the surname names a rule or a time."""
    after = tokens[j + 1].norm if j + 1 < len(tokens) else ""
    before = tokens[j - 1].norm if j > 0 else ""
    return after in NON_PERSON_AFTER or before in NON_PERSON_BEFORE


def family_context(text: str, tokens: list[Token], j: int, named: list[tuple[int, int]]) -> bool:
    """Does the surname at token j name a person (so a lone given name elsewhere may be theirs)?"""
    token = tokens[j]
    if any(start <= token.start < end for start, end in named):
        return True
    after = tokens[j + 1].norm if j + 1 < len(tokens) else ""
    before = tokens[j - 1].norm if j > 0 else ""
    if not_a_person_here(tokens, j):
        return False
    if after in PERSON_AFTER or before in ROLES or before in {"mr", "mrs", "ms", "господин", "госпожа"}:
        return True
    if split_suffix(token.raw)[1] == "s" and after not in NON_PERSON_AFTER:
        return True  # a possessive: "Karimov's wife"
    # without such a word the surname may be anybody's (a president, a regime), so a given name
    # alone does not borrow it
    return False


def starts_sentence(text: str, tokens: list[Token], i: int) -> bool:
    return i == 0 or bool(_SENTENCE_BREAK.search(text[tokens[i - 1].end:tokens[i].start]))


def title_case_line(tokens: list[Token]) -> bool:
    """Headline Style Capitalises Every Word, so capitals there say nothing."""
    words = [t for t in tokens[:12] if len(t.raw) > 3]
    return len(words) >= 3 and sum(t.upper for t in words) >= 0.7 * len(words)


def is_initial(token: Token, text: str) -> bool:
    return len(token.raw) <= 2 and token.upper and text[token.end:token.end + 1] == "."


def near(key: str, forms: dict[str, str], length: int) -> bool:
    """One edit (insert, delete, substitute) from a form, for long tokens only."""
    if length < MIN_FUZZY:
        return False
    return any(len(form) >= MIN_FUZZY - 2 and one_edit(key, form) for form in forms)


def one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)):] == b[i + 1:]


def gap_ok(text: str, left: Token, right: Token) -> bool:
    """Only spaces, hyphens or quotes between two tokens: they can belong to one name."""
    return bool(_GAP_OK.match(text[left.end:right.start]))


def stem(surname_key: str) -> str:
    """Male and female forms of one family name share a stem (Karimov, Karimova)."""
    return surname_key[:-1] if is_female_surname(surname_key) else surname_key
