"""What `watcher rules variants NAME` shows: the spellings and forms a name will be recognised in.

The matcher compares spelling keys, so the set of recognised spellings is open-ended; this
lists the key of each part, sample spellings in the common romanisations and in Cyrillic, and
every inflected form with what it is.
"""

from __future__ import annotations

from watcher.matching.morphology import given_forms, is_female_surname, surname_forms
from watcher.matching.namesakes import stem
from watcher.matching.normalize import clean, tokenize
from watcher.matching.translit import name_key
from watcher.rules import Rules

MIN_DISTINCTIVE = 6  # as names.MIN_DISTINCTIVE (names imports the index; this module stays light)

_SAMPLES = {  # how a key letter is commonly written, for display only
    "latin": [("sh", "sh"), ("ch", "ch"), ("j", "j"), ("h", "kh")],
}
_TO_CYRILLIC = [("shch", "щ"), ("sh", "ш"), ("ch", "ч"), ("ja", "я"), ("ju", "ю"), ("j", "дж"), ("h", "х"),
                ("c", "ц"), ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"),
                ("i", "и"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("p", "п"), ("r", "р"), ("s", "с"),
                ("t", "т"), ("u", "у"), ("f", "ф")]


def _spellings(key: str) -> list[str]:
    latin = {key, key.replace("h", "kh"), key.replace("h", "x"), key.replace("j", "dzh"), key.replace("j", "zh"),
             key.replace("k", "q"), key.replace("a", "o"), key.replace("ev", "yev")}
    cyrillic = key
    for old, new in _TO_CYRILLIC:
        cyrillic = cyrillic.replace(old, new)
    return sorted(s.capitalize() for s in latin) + [cyrillic.capitalize()]


def surname_rule(name: str, rules: Rules | None = None) -> str:
    """When the surname of `name` alone will name the person, given the watchlist `rules`
    (the person's own entry if listed there, else as if they were added)."""
    tokens = [t.raw for t in tokenize(clean(name))]
    if len(tokens) < 2:
        return "a one-word name counts only where that word appears."
    people = rules.people if rules is not None else ()
    wanted = clean(name).casefold()
    person = next((p for p in people if wanted in {s.casefold() for s in p.spellings()}), None)
    mode = person.surname_alone if person is not None else "auto"
    if mode == "never":
        return "the surname alone never counts (surname_alone: never): only a full mention does."
    beside = ("unless a given name, an initial, a patronymic or another capitalised name beside it "
              "makes it somebody else's, or it names a regime or an era ('the Karimov regime')")
    key = name_key(tokens[-1])
    family = stem(key)
    shared = [p for p in people if p is not person and any(
        stem(name_key(s.split()[-1])) == family for s in p.spellings() if len(s.split()) > 1)]
    blocked = person is not None and any(stem(name_key(n.split()[-1])) == family for n in person.not_ if n.split())
    if mode == "always":
        return f"the surname alone counts (surname_alone: always), {beside}."
    if len(key) < MIN_DISTINCTIVE:
        why = f"it is short ({len(key)} letters in the spelling key)"
    elif shared:
        why = f"{len(shared)} other watched person(s) bear it"
    elif blocked:
        why = "a name in this person's `not` list shares it"
    else:
        return f"the surname alone counts (distinctive), {beside}; and after a full mention in the same item."
    return (f"the surname alone counts only after a full mention in the same item ({why}; "
            "set surname_alone: always to change that).")


def describe_variants(name: str, rules: Rules | None = None) -> list[str]:
    tokens = [t.raw for t in tokenize(clean(name))]
    if not tokens:
        return ["(no name given)"]
    lines = []
    female = is_female_surname(name_key(tokens[-1])) if len(tokens) > 1 else False
    for position, raw in enumerate(tokens):
        key = name_key(raw)
        role = "given name" if position == 0 and len(tokens) > 1 else "surname" if position == len(tokens) - 1 else "middle"
        lines.append(f"{role} {raw!r}: spelling key {key!r}")
        lines.append("  any spelling with this key matches, e.g. " + ", ".join(_spellings(key)))
        forms = given_forms(key) if role == "given name" else surname_forms(key, female) if role == "surname" else {key: ""}
        for form, label in sorted(forms.items(), key=lambda kv: (kv[1] != "", kv[0])):
            if label:
                lines.append(f"  form {form!r}: {label}")
    lines.append("both parts must appear together (either order, a middle name or an initial allowed);")
    lines.append(surname_rule(name, rules))
    return lines
