"""What `watcher rules variants NAME` shows: the spellings and forms a name will be recognised in.

The matcher compares spelling keys, so the set of recognised spellings is open-ended; this
lists the key of each part, sample spellings in the common romanisations and in Cyrillic, and
every inflected form with what it is.
"""

from __future__ import annotations

from watcher.matching.morphology import given_forms, is_female_surname, surname_forms
from watcher.matching.normalize import clean, tokenize
from watcher.matching.translit import name_key

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


def describe_variants(name: str) -> list[str]:
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
    lines.append("the surname alone counts after a full mention, or when no other watched person bears it.")
    return lines
