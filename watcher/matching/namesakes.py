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
    """Who this text gives each surname stem to, by the evidence right before the surname:
    a watched person's given name (their index), or a stranger (None): a common given name,
    a non-matching initial, or an official's title ('Tahir Yuldashev', 'Ислама Каримова',
    'President Karimov'). That is strong evidence and holds for the whole item. An unknown
    capitalised word in mid-sentence is weak evidence: it rules out only the surname right
    after it ('Radio Liberty Agalarli'). At a sentence start or in a Title-Case headline a
    capital says nothing ('Экстрадиция Камолова'), nor does another watched person's
    surname ('Бахрома Хамроева Камолову').

    Returns (stem -> bearers, token indexes ruled out by weak evidence)."""
    bearers: dict[str, set[int | None]] = defaultdict(set)
    weak: set[int] = set()
    title_case = title_case_line(tokens)
    for i, parts in enumerate(hits):
        surnames = [p for p in parts if p.role == "surname"]
        if not surnames or i == 0:
            continue
        before = tokens[i - 1]
        if before.start in covered or (not gap_ok(text, before, tokens[i]) and not is_initial(before, text)):
            continue
        key = name_key(split_suffix(before.raw)[0])
        owners = {q.person for q in hits[i - 1] if q.role == "given"} & {p.person for p in surnames}
        stems = {stem(s) for p in surnames for s in index.entries[p.person].surnames}
        if owners:
            for family in stems:
                bearers[family].update(owners)
            continue
        initial_of_someone = is_initial(before, text) and any(
            key[:1] == g[:1] for p in surnames for g in index.entries[p.person].given)
        own_typo = any(near(key, index.entries[p.person].given_forms, len(before.raw)) for p in surnames)
        plain_word = not before.upper or is_initial(before, text) or own_typo
        known_name = not plain_word and (key in index.watched_given or key in common_given_forms())
        titled = before.norm in TITLES or (
            i >= 2 and before.upper and tokens[i - 2].norm in TITLES and gap_ok(text, tokens[i - 2], before))
        if titled or (is_initial(before, text) and not initial_of_someone) or known_name:
            for family in stems:
                bearers[family].add(None)
        elif (not plain_word and not title_case and not starts_sentence(text, tokens, i - 1)
              and before.norm not in ROLES and before.norm not in FUNCTION_WORDS and not is_country_word(before.norm)):
            weak.add(i)
    return bearers, weak


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
