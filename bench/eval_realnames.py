"""Measure how well watcher recognises real people's real spellings (bench/realnames).

The cases (bench/realnames/cases.jsonl, made by bench/realnames/make_cases.py from
people.yaml) put ~400 public figures of Central Asia, the Caucasus and Russia into
constructed English, Russian and national-language sentences, under spellings a monitor did
not list (another romanisation, another script, a German or French scheme, a Russian case
ending, Surname Given order), and put namesakes who share only their surname or only their
given name into the same sentences.

The watchlist (bench/realnames/watchlist.yaml) lists each person once, as a monitor would:
the Latin name and one Cyrillic spelling. A temporary rules folder holds it with the
project's rules/incidents.yaml; `watcher.rules.load_rules` loads it and
`watcher.matching.analyse(title + "\\n" + summary, rules)` runs in-process on every case.

Scoring, per split (dev, heldout or all; people are split, never cases):

- variant recall: of the positive cases, the share where the expected person is output,
  by family (listed spellings as a baseline, script, romanisation, derussified, inflection,
  order), by kind and form, and by language; "other" counts positive cases where a watched
  person who is not in the text was output as well;
- namesake false alarms: of the negative cases (a namesake is named, nobody watched), the
  share where a confusable person was output (the person whose surname, or given name, the
  namesake shares, and any other watched person bearing it), for surname-only and
  given-name-only namesakes; "any" also counts any watched person output at all.

Misses and false alarms are listed for the dev split only (the first 30 of each): heldout
cases are for reporting, not for looking at while improving the matcher.

    .venv/bin/python bench/eval_realnames.py                 # heldout split
    .venv/bin/python bench/eval_realnames.py --split dev     # dev split, with the misses
    .venv/bin/python bench/eval_realnames.py --split all --json
    .venv/bin/python bench/eval_realnames.py --source /tmp/watcher-at-commit   # another checkout's matcher
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "realnames"

FAMILIES = {  # case kind -> reported family
    "listed": "listed (baseline)",
    "cyrillic_ru": "script", "cyrillic_local": "script",
    "latin_alt": "romanisation", "german_french": "romanisation",
    "derussified": "derussified",
    "inflection": "inflection",
    "order": "order",
}
FAMILY_ORDER = ("listed (baseline)", "script", "romanisation", "derussified", "inflection", "order")
NEGATIVE_KINDS = ("namesake_surname", "namesake_given")
SHOW = 30


@dataclass
class Tally:
    n: int = 0
    hit: int = 0
    other: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return self.hit / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate
        return {"n": self.n, "hits": self.hit, "rate": None if rate is None else round(rate, 4), "other": self.other}


@dataclass
class Result:
    case: dict[str, Any]
    predicted: list[str]

    @property
    def positive(self) -> bool:
        return bool(self.case["expected_people"])

    @property
    def found(self) -> bool:
        return set(self.case["expected_people"]) <= set(self.predicted)

    @property
    def extra(self) -> set[str]:
        return set(self.predicted) - set(self.case["expected_people"])

    @property
    def confusable_output(self) -> set[str]:
        return set(self.predicted) & set(self.case.get("confusable_people") or [])


# ------------------------------------------------------------------ running


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(cases: list[dict[str, Any]], watchlist: Path, incidents: Path,
        source: Path = REPO) -> tuple[list[Result], float]:
    """Match every case with the `watcher` package found in `source` (default: this repo)."""
    sys.path.insert(0, str(source))
    from watcher.matching import analyse
    from watcher.rules import load_rules

    with tempfile.TemporaryDirectory(prefix="watcher-realnames-") as tmp:
        folder = Path(tmp)
        shutil.copyfile(watchlist, folder / "people.yaml")
        shutil.copyfile(incidents, folder / "incidents.yaml")
        rules = load_rules(folder)
        names = {p.name for p in rules.people}
        unknown = {n for c in cases for n in c["expected_people"] + c.get("confusable_people", []) if n not in names}
        if unknown:
            raise SystemExit(f"labels not on the watchlist: {sorted(unknown)[:5]} (regenerate with make_cases.py)")
        start = time.perf_counter()
        results = []
        for case in cases:
            text = "\n".join(p for p in (case.get("title") or "", case.get("summary") or "") if p)
            results.append(Result(case, list(analyse(text, rules).people)))
        return results, time.perf_counter() - start


# ------------------------------------------------------------------ scoring


def positives_by(results: list[Result], key: Any) -> dict[str, Tally]:
    groups: dict[str, Tally] = defaultdict(Tally)
    for r in results:
        if r.positive:
            t = groups[key(r.case)]
            t.n += 1
            t.hit += r.found
            t.other += bool(r.extra)
    return groups


def negatives_by(results: list[Result], key: Any) -> tuple[dict[str, Tally], dict[str, Tally]]:
    """(confusable person output, any watched person output) per group."""
    confusable: dict[str, Tally] = defaultdict(Tally)
    anyone: dict[str, Tally] = defaultdict(Tally)
    for r in results:
        if not r.positive:
            k = key(r.case)
            confusable[k].n += 1
            confusable[k].hit += bool(r.confusable_output)
            anyone[k].n += 1
            anyone[k].hit += bool(r.predicted)
    return confusable, anyone


def kind_form(case: dict[str, Any]) -> str:
    return f"{case['kind']} / {case['form']}"


def summary(results: list[Result]) -> dict[str, Any]:
    fam = positives_by(results, lambda c: FAMILIES[c["kind"]])
    conf, anyone = negatives_by(results, lambda c: c["kind"])
    conf_f, anyone_f = negatives_by(results, kind_form)
    variants = positives_by([r for r in results if r.case["kind"] != "listed"], lambda c: "all")
    return {
        "people": len({r.case["person"] for r in results}),
        "cases": len(results),
        "recall_all_variants": {k: v.as_dict() for k, v in variants.items()},
        "recall_by_family": {k: fam[k].as_dict() for k in FAMILY_ORDER if k in fam},
        "recall_by_kind_form": {k: v.as_dict() for k, v in sorted(positives_by(results, kind_form).items())},
        "recall_by_language": {k: v.as_dict() for k, v in sorted(positives_by(results, lambda c: c["lang"]).items())},
        "namesake_false_alarms": {k: {"confusable": conf[k].as_dict(), "any_watched": anyone[k].as_dict()}
                                  for k in NEGATIVE_KINDS if k in conf},
        "namesake_by_form": {k: {"confusable": conf_f[k].as_dict(), "any_watched": anyone_f[k].as_dict()}
                             for k in sorted(conf_f)},
    }


# ------------------------------------------------------------------ report


def pct(t: Tally) -> str:
    return "–" if t.rate is None else f"{100 * t.rate:.1f} %"


def table(title: str, head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    rule = "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"
    out = [f"**{title}**", "", "| " + " | ".join(head) + " |", rule]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def recall_rows(groups: dict[str, Tally], order: Any = None) -> list[tuple[str, ...]]:
    keys = [k for k in order if k in groups] if order else sorted(groups)
    return [(k, str(groups[k].n), str(groups[k].hit), pct(groups[k]), str(groups[k].other)) for k in keys]


def shown(r: Result) -> str:
    text = (r.case["title"] + " | " + r.case["summary"]).strip(" |").replace("\n", " ")
    return (f"`{r.case['id']}` {r.case['kind']}/{r.case['form']} [{r.case['lang']}] **{r.case['mention']}** "
            f"(expected {r.case['expected_people'] or '-'}, got {r.predicted or '-'}): {text[:140]}")


def markdown(results: list[Result], split: str, seconds: float, cases_path: Path) -> str:
    people = len({r.case["person"] for r in results})
    pos = [r for r in results if r.positive]
    neg = [r for r in results if not r.positive]
    variants = [r for r in pos if r.case["kind"] != "listed"]
    found = sum(r.found for r in variants)
    lines = [
        f"## Real-name variants: split `{split}`",
        "",
        (f"{people} people, {len(results)} cases ({len(pos)} positive, {len(neg)} namesake negatives) from "
         f"`{cases_path.relative_to(REPO) if cases_path.is_relative_to(REPO) else cases_path}`; "
         f"matched in {seconds:.1f} s ({len(results) / max(seconds, 1e-9):,.0f} items/s)."),
        "",
        (f"Variant recall (every positive but the listed spellings): **{found}/{len(variants)} = "
         f"{100 * found / len(variants):.1f} %**.") if variants else "No positive cases.",
        "",
    ]
    head = ("group", "n", "found", "recall", "other person also output")
    by_family = positives_by(results, lambda c: FAMILIES[c["kind"]])
    lines += table("Recall by family", head, recall_rows(by_family, FAMILY_ORDER))
    lines += table("Recall by kind and form", head, recall_rows(positives_by(results, kind_form)))
    lines += table("Recall by language", head, recall_rows(positives_by(results, lambda c: c["lang"])))
    conf, anyone = negatives_by(results, lambda c: c["kind"])
    conf_f, anyone_f = negatives_by(results, kind_form)
    nhead = ("namesake", "n", "confusable output", "false-alarm rate", "any watched output")
    lines += table("Namesake false alarms", nhead,
                   [(k, str(conf[k].n), str(conf[k].hit), pct(conf[k]), f"{anyone[k].hit} ({pct(anyone[k])})")
                    for k in NEGATIVE_KINDS if k in conf])
    lines += table("Namesake false alarms by form", nhead,
                   [(k, str(conf_f[k].n), str(conf_f[k].hit), pct(conf_f[k]), f"{anyone_f[k].hit} ({pct(anyone_f[k])})")
                    for k in sorted(conf_f)])
    if split == "dev":
        misses = [r for r in pos if not r.found]
        alarms = [r for r in neg if r.confusable_output or r.predicted]
        lines += [f"**Misses** ({len(misses)}; first {SHOW})", ""] + [f"- {shown(r)}" for r in misses[:SHOW]] + [""]
        lines += [f"**Namesake false alarms** ({len(alarms)}; first {SHOW})", ""]
        lines += [f"- {shown(r)}" for r in alarms[:SHOW]] + [""]
    else:
        lines += ["Misses are listed for `--split dev` only (heldout is for reporting).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="heldout")
    parser.add_argument("--cases", type=Path, default=HERE / "cases.jsonl")
    parser.add_argument("--watchlist", type=Path, default=HERE / "watchlist.yaml")
    parser.add_argument("--incidents", type=Path, default=None,
                        help="incident types file (default: rules/incidents.yaml of --source)")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="folder holding the watcher package to measure (e.g. an exported older commit)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of Markdown")
    args = parser.parse_args(argv)
    cases = [c for c in load_cases(args.cases) if args.split == "all" or c["split"] == args.split]
    source = args.source.resolve()
    incidents = args.incidents or (source / "rules/incidents.yaml")
    results, seconds = run(cases, args.watchlist, incidents, source)
    if args.json:
        print(json.dumps({"split": args.split, "seconds": round(seconds, 2), **summary(results)},
                         ensure_ascii=False, indent=2))
    else:
        print(markdown(results, args.split, seconds, args.cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
