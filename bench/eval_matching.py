"""Measure how well `watcher match` finds watched people and incident types.

It scores the product's batch matcher against the labelled development set
(../shared/eval/cases.jsonl with its watchlist people.yaml; see ../shared/eval/README.md).
A temporary rules folder is built from a copy of the eval watchlist and the project's
rules/incidents.yaml. Then `python -m watcher --rules TMP match` runs once with every case on
stdin, and its output is scored with the README's rules:

- per item, with required set G, optional set O, predicted set P:
  TP = |P ∩ G|, FP = |P − G − O|, FN = |G − P|;
- sums over items (micro), then precision, recall and F1, for people and, separately,
  for incident types;
- the confusable rate: of the items that list `confusable_people` (namesakes that must not
  be output), the share where one of them was output. It should be 0;
- the same figures per language (en, ru, uz, tg) and per hard_case_tag.

Run from the repo root with the project venv:

    .venv/bin/python bench/eval_matching.py                # compact report
    .venv/bin/python bench/eval_matching.py --show-errors  # plus every item's FP/FN
    .venv/bin/python bench/eval_matching.py --json         # machine-readable summary

Options: --cases, --people, --incidents override the input files; --command replaces the
matcher command (default: this Python's `-m watcher`), e.g. `--command "python fake.py"`.
The script is called with `--rules TMP match` appended. This is a measurement, not a test:
it always exits 0, and says so clearly when the matcher fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared/eval"
LANGS = ("en", "ru", "uz", "tg")
TIMEOUT_S = 600


class BenchError(Exception):
    """The matcher could not be run or its output could not be read."""


@dataclass
class Counts:
    """Micro-averaged TP/FP/FN with the derived metrics (None when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None

    def as_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": r(self.precision), "recall": r(self.recall), "f1": r(self.f1)}


@dataclass
class SetScore:
    """One item's comparison of predicted against required/optional labels."""

    expected: set[str]
    optional: set[str]
    predicted: set[str]

    @property
    def false_pos(self) -> set[str]:
        return self.predicted - self.expected - self.optional

    @property
    def false_neg(self) -> set[str]:
        return self.expected - self.predicted

    @property
    def counts(self) -> Counts:
        return Counts(len(self.predicted & self.expected), len(self.false_pos), len(self.false_neg))


@dataclass
class ItemResult:
    case: dict[str, Any]
    people: SetScore
    types: SetScore
    confusable_output: set[str]


@dataclass
class Group:
    """Aggregate over a set of items (all, one language, one tag)."""

    n: int = 0
    people: Counts = field(default_factory=Counts)
    types: Counts = field(default_factory=Counts)

    def add(self, item: ItemResult) -> None:
        self.n += 1
        self.people.add(item.people.counts)
        self.types.add(item.types.counts)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "people": self.people.as_dict(), "incident_types": self.types.as_dict()}


# ---------------------------------------------------------------- inputs

def load_cases(path: Path) -> list[dict[str, Any]]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BenchError(f"{path}:{number}: not JSON: {exc}") from exc
    return cases


def watchlist_names(people_path: Path) -> set[str]:
    data = YAML(typ="safe").load(people_path.read_text(encoding="utf-8")) or {}
    return {str(p["name"]) for p in data.get("people") or [] if isinstance(p, dict) and "name" in p}


def incident_ids(incidents_path: Path) -> set[str]:
    data = YAML(typ="safe").load(incidents_path.read_text(encoding="utf-8")) or {}
    return {str(k) for k in data.get("incident_types") or {}}


def check_labels(cases: list[dict[str, Any]], names: set[str], types: set[str]) -> list[str]:
    """Warn about labels that the rules cannot produce (mismatched --cases/--people)."""
    warnings = []
    for case in cases:
        for key in ("expected_people", "optional_people", "confusable_people"):
            for name in sorted(set(case.get(key) or []) - names):
                warnings.append(f"{case['id']}: {key} {name!r} is not on the watchlist")
        for key in ("expected_incident_types", "optional_incident_types"):
            for type_id in sorted(set(case.get(key) or []) - types):
                warnings.append(f"{case['id']}: {key} {type_id!r} is not in the incidents file")
    return warnings


# ---------------------------------------------------------------- running the matcher

def build_rules(folder: Path, people: Path, incidents: Path) -> None:
    shutil.copyfile(people, folder / "people.yaml")
    shutil.copyfile(incidents, folder / "incidents.yaml")


def match_command(command: str | None, rules: Path) -> list[str]:
    base = shlex.split(command) if command else [sys.executable, "-m", "watcher"]
    return [*base, "--rules", str(rules), "match"]


def run_matcher(argv: list[str], cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stdin = "".join(
        json.dumps({"id": c["id"], "title": c.get("title") or "", "summary": c.get("summary") or "",
                    "lang": c.get("lang")}, ensure_ascii=False) + "\n"
        for c in cases
    )
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, encoding="utf-8",
                              cwd=REPO, timeout=TIMEOUT_S)
    except FileNotFoundError as exc:
        raise BenchError(f"cannot start {shlex.join(argv)}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{shlex.join(argv)} did not finish within {TIMEOUT_S}s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:]) or "(no stderr)"
        raise BenchError(f"{shlex.join(argv)} exited with status {proc.returncode}:\n{tail}")
    return parse_output(proc.stdout, cases)


def parse_output(stdout: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != len(cases):
        raise BenchError(f"matcher wrote {len(lines)} lines for {len(cases)} items")
    outputs = []
    for number, (line, case) in enumerate(zip(lines, cases, strict=True), 1):
        try:
            out = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchError(f"output line {number} is not JSON: {exc}: {line[:200]}") from exc
        if not isinstance(out, dict) or out.get("id") != case["id"]:
            got = out.get("id") if isinstance(out, dict) else out
            raise BenchError(f"output line {number} has id {got!r}, expected {case['id']!r} (order must be kept)")
        outputs.append(out)
    return outputs


# ---------------------------------------------------------------- scoring

def score_item(case: dict[str, Any], out: dict[str, Any]) -> ItemResult:
    people = SetScore(set(case.get("expected_people") or []), set(case.get("optional_people") or []),
                      set(out.get("people") or []))
    types = SetScore(set(case.get("expected_incident_types") or []),
                     set(case.get("optional_incident_types") or []), set(out.get("incident_types") or []))
    confusable = people.predicted & set(case.get("confusable_people") or [])
    return ItemResult(case, people, types, confusable)


def aggregate(items: Iterable[ItemResult]) -> Group:
    group = Group()
    for item in items:
        group.add(item)
    return group


def by_language(items: list[ItemResult]) -> dict[str, Group]:
    langs = [*LANGS, *sorted({str(i.case.get("lang")) for i in items} - set(LANGS))]
    return {lang: aggregate(i for i in items if str(i.case.get("lang")) == lang) for lang in langs}


def by_tag(items: list[ItemResult]) -> dict[str, Group]:
    tags = {t for i in items for t in i.case.get("hard_case_tags") or []}
    groups = {t: aggregate(i for i in items if t in (i.case.get("hard_case_tags") or [])) for t in tags}
    return dict(sorted(groups.items(), key=lambda kv: (-kv[1].n, kv[0])))


def confusable_summary(items: list[ItemResult]) -> dict[str, Any]:
    at_risk = [i for i in items if i.case.get("confusable_people")]
    hits = [i for i in at_risk if i.confusable_output]
    return {"items_with_confusable": len(at_risk), "items_with_confusable_output": len(hits),
            "rate": round(len(hits) / len(at_risk), 4) if at_risk else None,
            "ids": [i.case["id"] for i in hits]}


def has_error(item: ItemResult) -> bool:
    return bool(item.people.false_pos or item.people.false_neg or item.types.false_pos or item.types.false_neg)


def error_record(item: ItemResult) -> dict[str, Any]:
    def side(s: SetScore) -> dict[str, list[str]]:
        return {"expected": sorted(s.expected), "optional": sorted(s.optional), "predicted": sorted(s.predicted),
                "fp": sorted(s.false_pos), "fn": sorted(s.false_neg)}

    return {"id": item.case["id"], "lang": item.case.get("lang"), "title": item.case.get("title"),
            "people": side(item.people), "incident_types": side(item.types),
            "confusable_output": sorted(item.confusable_output)}


# ---------------------------------------------------------------- reporting

def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def overall_line(label: str, c: Counts) -> str:
    return (f"{label:<15} P {fmt(c.precision)}  R {fmt(c.recall)}  F1 {fmt(c.f1)}"
            f"   TP {c.tp:3d}  FP {c.fp:3d}  FN {c.fn:3d}")


def table(title: str, groups: dict[str, Group]) -> list[str]:
    rows = [f"{title:<32} {'n':>3}  {'people F1':>9} {'FP':>3} {'FN':>3}  {'incid F1':>8} {'FP':>3} {'FN':>3}"]
    for key, g in groups.items():
        rows.append(f"{key:<32} {g.n:3d}  {fmt(g.people.f1):>9} {g.people.fp:3d} {g.people.fn:3d}"
                    f"  {fmt(g.types.f1):>8} {g.types.fp:3d} {g.types.fn:3d}")
    return rows


def error_lines(items: list[ItemResult]) -> list[str]:
    def show(values: set[str]) -> str:
        return "[" + ", ".join(sorted(values)) + "]"

    lines = ["errors (items with a false positive or a false negative):"]
    for item in filter(has_error, items):
        title = (item.case.get("title") or "").replace("\n", " ")
        lines.append(f"{item.case['id']} [{item.case.get('lang')}] {title[:80]}")
        for label, s in (("people", item.people), ("types", item.types)):
            if s.false_pos or s.false_neg:
                optional = f" opt={show(s.optional)}" if s.optional else ""
                lines.append(f"    {label:<6} expected={show(s.expected)}{optional} got={show(s.predicted)}"
                             f"  FP={show(s.false_pos)} FN={show(s.false_neg)}")
        if item.confusable_output:
            lines.append(f"    CONFUSABLE namesake output: {show(item.confusable_output)}")
    return lines


def text_report(items: list[ItemResult], cases_path: Path, show_errors: bool) -> str:
    total = aggregate(items)
    conf = confusable_summary(items)
    rate = "-" if conf["rate"] is None else f"{conf['rate']:.2f}"
    lines = [
        f"watcher match on {len(items)} cases ({cases_path})",
        overall_line("people", total.people),
        overall_line("incident types", total.types),
        f"confusable output: {conf['items_with_confusable_output']}/{conf['items_with_confusable']} items"
        f" ({rate}; should be 0){'  ' + ', '.join(conf['ids']) if conf['ids'] else ''}",
        "",
        *table("by language", by_language(items)),
        "",
        *table("by hard_case_tag", by_tag(items)),
    ]
    if show_errors:
        lines += ["", *error_lines(items)]
    return "\n".join(lines)


def json_report(items: list[ItemResult], cases_path: Path, show_errors: bool) -> dict[str, Any]:
    total = aggregate(items)
    report: dict[str, Any] = {
        "cases": str(cases_path),
        "n_items": total.n,
        "people": total.people.as_dict(),
        "incident_types": total.types.as_dict(),
        "confusable": confusable_summary(items),
        "by_language": {k: g.as_dict() for k, g in by_language(items).items()},
        "by_tag": {k: g.as_dict() for k, g in by_tag(items).items()},
    }
    if show_errors:
        report["errors"] = [error_record(i) for i in items if has_error(i)]
    return report


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=SHARED_EVAL / "cases.jsonl")
    parser.add_argument("--people", type=Path, default=SHARED_EVAL / "people.yaml")
    parser.add_argument("--incidents", type=Path, default=REPO / "rules/incidents.yaml")
    parser.add_argument("--command", default=None,
                        help="matcher command to run instead of `python -m watcher` ('--rules DIR match' is appended)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of the report")
    parser.add_argument("--show-errors", action="store_true", help="list every item with its FP/FN")
    return parser.parse_args(argv)


def evaluate(args: argparse.Namespace) -> list[ItemResult]:
    cases = load_cases(args.cases)
    for warning in check_labels(cases, watchlist_names(args.people), incident_ids(args.incidents)):
        print(f"warning: {warning}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="watcher-bench-") as tmp:
        build_rules(Path(tmp), args.people, args.incidents)
        outputs = run_matcher(match_command(args.command, Path(tmp)), cases)
    return [score_item(case, out) for case, out in zip(cases, outputs, strict=True)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        items = evaluate(args)
    except (BenchError, OSError) as exc:
        print(f"error: matching benchmark not run: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        return 0
    if args.json:
        print(json.dumps(json_report(items, args.cases, args.show_errors), ensure_ascii=False, indent=2))
    else:
        print(text_report(items, args.cases, args.show_errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
