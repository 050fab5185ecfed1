"""Measure how well watcher groups the reports of one story into one incident (issue #13).

Two sets:

- heldout: bench/incident_stories.jsonl with its watchlist bench/incident_people.yaml.
  CONSTRUCTED, not collected: 25 stories told by 75 reports, written for this benchmark in the
  way the outlets write (RFE/RL, Eurasianet, HRW, Amnesty, OCCRP, OC Media, Balkan Insight,
  Memorial in English; Fergana, Mediazona, Novaya Gazeta, Kavkaz.Realii, Asia-Plus, Zerkalo,
  Turan, JAMnews, Vlast, Khronika Turkmenistana in Russian; Ozodlik in Uzbek Latin; Ozodi in Tajik; Azattyq in Kazakh; Meydan in Azerbaijani;
  bianet, Gazete Duvar in Turkish). The people are fictional, the events invented (dates in
  March-April 2025), and none of it was written from or tuned to watcher/incidents/. It was
  not looked at while the clustering was built: keep it that way (do not tune the clustering
  on it; add new stories rather than editing these when they are used up).
  Each line: id, story (one event: what should be one incident), lang, outlet, title, summary,
  hours (after 00:00 UTC of the story's day), day (days after the base date 2025-03-03),
  case (one label per person's case: a person's later events share it), people (canonical
  names of the watched people the report is about), note, and `indirect: true` on the few
  reports that name the person only indirectly (initials, "the blogger").
  Hard cases: (a) S03/S04 two Uzbeks detained in Istanbul on one day; (b) S05/S06 and S18/S19
  one person's events 9 and 12 days apart, S01/S02 (detained, then an ECtHR Rule 39 measure
  1.5 days later) and S21/S22 (freed, then abducted the next day); (c) S07 (an INTERPOL
  notice of someone not watched) and S08 (three unnamed migrants), no watched person;
  (d) S09/S10 a watched lawyer quoted in two people's stories on one day; (e) S11 father and
  son with one surname, both watched.
- dev: the `dup_group` items of ../shared/eval/cases.jsonl (looked at while building) with
  ../shared/eval/people.yaml; each group is a story on its own day, groups 5 days apart, a
  group's reports spread over 20 hours in file order; groups that share an expected person
  are one case.

Each report goes through the steps of watcher/pipeline.py `_record_items`: `Store.add_items`,
`matcher_for(rules).analyse(item.text())`, `Store.add_matches`, `alert_worthy(matches, rules)`,
`watcher.incidents.place(store, Report(...), now, window)`, and for the outbox
`alert_kind` + `Store.enqueue_alert` (one destination), in a fresh `Store(":memory:")` with a
throwaway rules folder (the set's watchlist + the project's rules/incidents.yaml). The poll
time `now` is the latest publication time seen so far plus 5 minutes. Reports are processed in
publication order, then in `--shuffles N` random arrival orders (the same publication times;
many feeds polled at once, a report may arrive after later ones).

Figures per set and order (a shuffle row gives the mean and, in brackets, min-max):

- stories: how many; `alert`: stories with at least one alert-worthy report;
- `once`: stories notified exactly once: all their alert-worthy reports in one incident that
  holds no other story's report, and for a story whose case has other alerting stories, in
  the same (predicted) case as they are (a new development: a separate incident of the case);
- `split`: stories whose alert-worthy reports are in two or more incidents;
- `merged`: incidents holding reports of two or more stories;
- `cases`: gold cases of two or more events (one person's events) handled right, each event
  its own incident and all of them in one predicted case / such cases; `bad`: new-development
  links (`previous`) between incidents with no gold case in common;
- `notif`: notifying outbox rows (kind alert or followup; ideally one per alerting story);
- `pairP`/`pairR`: PAIRWISE precision and recall of "same incident" over the pairs of
  alert-worthy reports (gold: same story); `b3F`: B-cubed F1 over the same reports;
- reports that did not alert: `missed` (the report names a watched person and matching found
  none: a matching miss), `indirect` (names the person only indirectly and has no alone-type
  keyword), `none` (no watched person expected and no alone-type keyword); and `ppl`:
  alert-worthy reports whose found people differ from the gold people.

Run from the repo root with the project venv:

    .venv/bin/python bench/eval_incidents.py                   # both sets, compact table
    .venv/bin/python bench/eval_incidents.py --set heldout --show
    .venv/bin/python bench/eval_incidents.py --shuffles 50 --seed 7 --window-hours 72

--show prints every split story, merged incident and wrong or missing case link with the
reports' ids and each placement's reason (publication order in full; for the shuffles, how
often each error happened and one example), and every report that did not alert or found
other people than expected. This is a measurement, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO.parent / "shared" / "eval"
HELDOUT_STORIES = REPO / "bench" / "incident_stories.jsonl"
HELDOUT_PEOPLE = REPO / "bench" / "incident_people.yaml"
DEV_CASES = SHARED_EVAL / "cases.jsonl"
DEV_PEOPLE = SHARED_EVAL / "people.yaml"
INCIDENTS = REPO / "rules" / "incidents.yaml"
BASE = datetime(2025, 3, 3, tzinfo=UTC)
POLL_LAG = timedelta(minutes=5)
DESTINATION = "bench"
DEV_DAYS_APART = 5
DEV_SPREAD_HOURS = 20.0


@dataclass(frozen=True)
class Row:
    """One report of one story, as the benchmark labels it."""

    rid: str
    story: str
    case: str
    lang: str
    outlet: str
    title: str
    summary: str
    published: datetime
    people: tuple[str, ...]
    indirect: bool = False


@dataclass
class Placed:
    """What watcher did with one report."""

    row: Row
    found: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    worthy: bool = False
    incident: int | None = None
    joined: bool = False
    previous: int | None = None
    reason: str = ""
    kind: str = ""
    order: int = 0


@dataclass
class Run:
    placed: dict[str, Placed]
    case_of: dict[int, int]  # incident -> predicted case id
    previous_of: dict[int, int | None]  # incident -> the incident it follows


@dataclass
class Score:
    stories: int = 0
    alerting: int = 0
    once: int = 0
    split: list[str] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    cases_ok: int = 0  # gold cases of several events: each event its own incident, all in one case
    cases_needed: int = 0
    links_bad: list[int] = field(default_factory=list)  # incidents wrongly linked to their previous
    cases_unlinked: list[str] = field(default_factory=list)
    notif: int = 0
    pair_p: float | None = None
    pair_r: float | None = None
    b3_f: float | None = None


# -- loading ---------------------------------------------------------------------------------


def load_heldout(path: Path) -> list[Row]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        published = BASE + timedelta(days=int(d["day"]), hours=float(d["hours"]))
        rows.append(Row(d["id"], d["story"], d["case"], d["lang"], d["outlet"], d["title"], d.get("summary", ""),
                        published, tuple(d.get("people") or ()), bool(d.get("indirect"))))
    return rows


def load_dev(path: Path) -> list[Row]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in items:
        if d.get("dup_group"):
            groups[d["dup_group"]].append(d)
    # groups that share an expected person are one case (union-find over the groups)
    parent = {g: g for g in groups}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    by_person: dict[str, str] = {}
    for g in sorted(groups):
        for d in groups[g]:
            for person in d.get("expected_people") or ():
                if person in by_person:
                    parent[find(g)] = find(by_person[person])
                else:
                    by_person[person] = g
    rows = []
    for i, g in enumerate(sorted(groups)):
        members = groups[g]
        for j, d in enumerate(members):
            hours = DEV_SPREAD_HOURS * j / (len(members) - 1) if len(members) > 1 else 0.0
            published = BASE + timedelta(days=DEV_DAYS_APART * i, hours=hours)
            rows.append(Row(d["id"], g, "case-" + find(g), d["lang"], f"dev-{d['lang']}-{j}", d["title"],
                            d.get("summary", ""), published, tuple(d.get("expected_people") or ())))
    return rows


def build_rules(people: Path, tmp: Path):
    from watcher.rules import load_rules

    folder = tmp / "rules"
    folder.mkdir()
    shutil.copy(people, folder / "people.yaml")
    shutil.copy(INCIDENTS, folder / "incidents.yaml")
    return load_rules(folder)


# -- running ---------------------------------------------------------------------------------


def run(rows: list[Row], rules, order: list[Row], window: timedelta) -> Run:
    """Feed the reports in `order` through watcher's steps, as one poll each."""
    from watcher.incidents import Report, alert_kind, place
    from watcher.matching import matcher_for
    from watcher.models import Item
    from watcher.pipeline import alert_worthy
    from watcher.store import Store
    from watcher.text import content_hash

    store = Store(":memory:")
    matcher = matcher_for(rules)
    placed: dict[str, Placed] = {}
    now: datetime | None = None
    for n, row in enumerate(order):
        now = max(now or row.published, row.published + POLL_LAG)
        item = Item(source_id=row.outlet, key=row.rid, title=row.title, summary=row.summary,
                    url=f"https://{row.outlet}.example.org/news/{row.rid.lower()}", published=row.published,
                    language=row.lang, content_hash=content_hash(row.title, row.summary))
        result = placed[row.rid] = Placed(row, order=n)
        with store.transaction():
            store.ensure_source(row.outlet, "rss")
            added = store.add_items([item], now)
            for stored in added.new:
                analysis = matcher.analyse(stored.item.text())
                matches = analysis.matches
                result.found = tuple(analysis.people)
                result.types = tuple(analysis.incident_types)
                if not matches:
                    continue
                store.add_matches(stored.id, matches, now)
                worthy, urgent = alert_worthy(matches, rules)
                if not worthy:
                    continue
                report = Report(stored.id, stored.item.source_id, stored.item.title, stored.item.summary,
                                stored.item.published, people=analysis.people,
                                incident_types=analysis.incident_types, origin=analysis.origin,
                                host=analysis.host, fields=stored.item.fields)
                placement = place(store, report, now, window)
                kind, parent = alert_kind(store, placement, DESTINATION)
                store.enqueue_alert(stored.id, DESTINATION, urgent, now, kind=kind,
                                    incident_id=placement.incident_id, parent_id=parent)
                result.worthy = True
                result.incident = placement.incident_id
                result.joined = placement.joined
                result.previous = placement.previous
                result.reason = placement.reason + (f" [score {placement.score:g}]" if placement.score is not None
                                                    and "score" not in placement.reason else "")
                result.kind = kind
    case_of, previous_of = {}, {}
    for incident_id in {p.incident for p in placed.values() if p.incident is not None}:
        incident = store.incident(incident_id) or {}
        case_of[incident_id] = int(incident.get("case_id") or incident_id)
        previous_of[incident_id] = incident.get("previous_id")
    store.close()
    return Run(placed, case_of, previous_of)


# -- scoring ---------------------------------------------------------------------------------


def score(rows: list[Row], result: Run) -> Score:
    s = Score(stories=len({r.story for r in rows}))
    worthy = [p for p in result.placed.values() if p.worthy]
    story_incidents: dict[str, set[int]] = defaultdict(set)
    incident_stories: dict[int, set[str]] = defaultdict(set)
    for p in worthy:
        story_incidents[p.row.story].add(p.incident)
        incident_stories[p.incident].add(p.row.story)
    s.alerting = len(story_incidents)
    s.split = sorted(st for st, incs in story_incidents.items() if len(incs) > 1)
    s.merged = sorted(i for i, sts in incident_stories.items() if len(sts) > 1)
    case_of_story = {r.story: r.case for r in rows}
    # gold case -> predicted cases of its stories' incidents
    gold_cases: dict[str, set[str]] = defaultdict(set)
    for st in story_incidents:
        gold_cases[case_of_story[st]].add(st)
    predicted_cases = {c: {result.case_of[i] for st in sts for i in story_incidents[st]} for c, sts in gold_cases.items()}
    for st, incs in story_incidents.items():
        if len(incs) != 1:
            continue
        (inc,) = incs
        if len(incident_stories[inc]) != 1:
            continue
        case = case_of_story[st]
        if len(gold_cases[case]) > 1 and len(predicted_cases[case]) != 1:
            continue
        s.once += 1
    s.cases_unlinked = sorted(c for c, sts in gold_cases.items() if len(sts) > 1 and len(predicted_cases[c]) != 1)
    multi = {c: sts for c, sts in gold_cases.items() if len(sts) > 1}
    s.cases_needed = len(multi)
    for c, sts in multi.items():
        own = [next(iter(story_incidents[st])) for st in sts if len(story_incidents[st]) == 1]
        pure = len(own) == len(sts) and len(set(own)) == len(own) and all(len(incident_stories[i]) == 1 for i in own)
        if pure and len(predicted_cases[c]) == 1:
            s.cases_ok += 1
    incident_cases = {i: {case_of_story[st] for st in sts} for i, sts in incident_stories.items()}
    for inc, prev in result.previous_of.items():
        if prev is not None and prev in incident_cases and not incident_cases[inc] & incident_cases[prev]:
            s.links_bad.append(inc)
    s.notif = sum(p.kind in ("alert", "followup") for p in worthy)
    # pairwise and B-cubed over the alert-worthy reports
    tp = pred = gold = 0
    for a, b in itertools.combinations(worthy, 2):
        same_pred, same_gold = a.incident == b.incident, a.row.story == b.row.story
        tp += same_pred and same_gold
        pred += same_pred
        gold += same_gold
    s.pair_p = tp / pred if pred else None
    s.pair_r = tp / gold if gold else None
    if worthy:
        bp = br = 0.0
        for a in worthy:
            same_inc = [b for b in worthy if b.incident == a.incident]
            same_story = [b for b in worthy if b.row.story == a.row.story]
            both = sum(b.row.story == a.row.story for b in same_inc)
            bp += both / len(same_inc)
            br += both / len(same_story)
        bp, br = bp / len(worthy), br / len(worthy)
        s.b3_f = 2 * bp * br / (bp + br) if bp + br else 0.0
    return s


@dataclass
class MatchFigures:
    reports: int
    worthy: int
    missed: list[Placed]
    indirect: list[Placed]
    none: list[Placed]
    people_diff: list[Placed]


def match_figures(result: Run) -> MatchFigures:
    placed = sorted(result.placed.values(), key=lambda p: p.row.rid)
    quiet = [p for p in placed if not p.worthy]
    return MatchFigures(
        reports=len(placed), worthy=sum(p.worthy for p in placed),
        missed=[p for p in quiet if p.row.people and not p.row.indirect],
        indirect=[p for p in quiet if p.row.people and p.row.indirect],
        none=[p for p in quiet if not p.row.people],
        people_diff=[p for p in placed if p.worthy and set(p.found) != set(p.row.people)],
    )


# -- reporting -------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def spread(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    mean = statistics.mean(values)
    lo, hi = min(values), max(values)
    if digits == 1 and all(float(v).is_integer() for v in values):
        if lo == hi:
            return f"{lo:g}"
        return f"{mean:.1f} ({lo:g}-{hi:g})"
    if lo == hi:
        return f"{lo:.2f}"
    return f"{mean:.2f} ({lo:.2f}-{hi:.2f})"


HEADER = ("set", "order", "stories", "alert", "once", "split", "merged", "cases", "bad", "notif", "pairP", "pairR",
          "b3F")


def table_row(name: str, order: str, scores: list[Score]) -> tuple[str, ...]:
    if len(scores) == 1:
        s = scores[0]
        return (name, order, str(s.stories), str(s.alerting), str(s.once), str(len(s.split)), str(len(s.merged)),
                f"{s.cases_ok}/{s.cases_needed}", str(len(s.links_bad)), str(s.notif), fmt(s.pair_p),
                fmt(s.pair_r), fmt(s.b3_f))

    def col(get):
        return spread([float(get(s)) for s in scores])

    def col2(get):
        values = [get(s) for s in scores if get(s) is not None]
        return spread(values, digits=2) if values else "-"

    return (name, order, str(scores[0].stories), col(lambda s: s.alerting), col(lambda s: s.once),
            col(lambda s: len(s.split)), col(lambda s: len(s.merged)),
            spread([float(s.cases_ok) for s in scores]) + f"/{scores[0].cases_needed}",
            col(lambda s: len(s.links_bad)), col(lambda s: s.notif), col2(lambda s: s.pair_p),
            col2(lambda s: s.pair_r), col2(lambda s: s.b3_f))


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for r in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


def describe_report(p: Placed) -> str:
    where = f"#{p.incident}" if p.incident is not None else "-"
    return (f"      {p.row.rid} {p.row.story} {p.row.lang} {p.row.outlet:<16} -> incident {where:<4} "
            f"{p.kind or '-':<8} {p.reason or 'not alert-worthy'}  | found: {', '.join(p.found) or '-'}"
            f" | types: {', '.join(p.types) or '-'} | {p.row.title[:70]}")


def errors(result: Run, s: Score) -> list[tuple[str, list[Placed]]]:
    """Each error with the reports involved (in arrival order)."""
    worthy = [p for p in result.placed.values() if p.worthy]
    out = []
    for st in s.split:
        out.append((f"split story {st}", sorted((p for p in worthy if p.row.story == st), key=lambda p: p.order)))
    for inc in s.merged:
        members = sorted((p for p in worthy if p.incident == inc), key=lambda p: p.order)
        stories = "+".join(sorted({p.row.story for p in members}))
        out.append((f"merged incident holding {stories}", members))
    for case in s.cases_unlinked:
        members = sorted((p for p in worthy if p.row.case == case), key=lambda p: p.order)
        n = len({result.case_of[p.incident] for p in members})
        out.append((f"case {case} not linked into one case ({n} predicted cases)", members))
    for inc in s.links_bad:
        prev = result.previous_of[inc]
        members = sorted((p for p in worthy if p.incident in (inc, prev)), key=lambda p: p.order)
        stories = "+".join(sorted({p.row.story for p in members}))
        out.append((f"wrong case link {stories}", members))
    return out


def signature(label: str) -> str:
    return label.split(" (")[0]


def show_errors(name: str, pub: Run, pub_score: Score, shuffles: list[tuple[Run, Score]]) -> None:
    print(f"\n== {name}: errors in publication order")
    found = errors(pub, pub_score)
    if not found:
        print("   none")
    for label, members in found:
        print(f"   {label}:")
        for p in members:
            print(describe_report(p))
    if not shuffles:
        return
    print(f"\n== {name}: errors over {len(shuffles)} shuffled arrival orders (count, then one example)")
    counts: Counter[str] = Counter()
    example: dict[str, list[Placed]] = {}
    for r, s in shuffles:
        for label, members in errors(r, s):
            key = signature(label)
            counts[key] += 1
            example.setdefault(key, members)
    if not counts:
        print("   none")
    for key, n in counts.most_common():
        print(f"   {key}: {n}/{len(shuffles)}")
        for p in example[key]:
            print(describe_report(p))


def show_matching(name: str, m: MatchFigures) -> None:
    print(f"\n== {name}: reports that did not alert, and people found other than expected")
    for label, group in (("missed by matching", m.missed), ("indirect mention", m.indirect),
                         ("no watched person, no alone-type keyword", m.none),
                         ("alert-worthy, people differ from gold", m.people_diff)):
        if not group:
            continue
        print(f"   {label}:")
        for p in group:
            print(f"      {p.row.rid} {p.row.story} {p.row.lang}: gold {', '.join(p.row.people) or '-'}; found"
                  f" {', '.join(p.found) or '-'}; types {', '.join(p.types) or '-'} | {p.row.title[:80]}")


def evaluate(name: str, rows: list[Row], people: Path, args: argparse.Namespace) -> list[tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="eval-incidents-") as tmp:
        rules = build_rules(people, Path(tmp))
        window = timedelta(hours=args.window_hours)
        publication = sorted(rows, key=lambda r: (r.published, r.rid))
        pub = run(rows, rules, publication, window)
        pub_score = score(rows, pub)
        rng = random.Random(args.seed)
        shuffles = []
        for _ in range(args.shuffles):
            order = list(rows)
            rng.shuffle(order)
            r = run(rows, rules, order, window)
            shuffles.append((r, score(rows, r)))
    table = [table_row(name, "publication", [pub_score])]
    if shuffles:
        table.append(table_row(name, f"shuffle x{len(shuffles)}", [s for _, s in shuffles]))
    m = match_figures(pub)
    langs = Counter(r.lang for r in rows)
    summary = (f"{name}: {len(rows)} reports ({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}), "
               f"{m.worthy} alert-worthy; did not alert: missed by matching {len(m.missed)}, indirect "
               f"{len(m.indirect)}, none expected {len(m.none)}; alert-worthy with other people than gold "
               f"{len(m.people_diff)}")
    details = io.StringIO()
    if args.show:
        with contextlib.redirect_stdout(details):
            show_errors(name, pub, pub_score, shuffles)
            show_matching(name, m)
    return table + [("#", summary), ("+", details.getvalue())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("heldout", "dev", "both"), default="both")
    parser.add_argument("--show", action="store_true", help="print every error with reasons")
    parser.add_argument("--shuffles", type=int, default=20, help="random arrival orders (default 20)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--window-hours", type=float, default=72.0)
    parser.add_argument("--stories", type=Path, default=HELDOUT_STORIES)
    parser.add_argument("--people", type=Path, default=HELDOUT_PEOPLE)
    parser.add_argument("--dev-cases", type=Path, default=DEV_CASES)
    parser.add_argument("--dev-people", type=Path, default=DEV_PEOPLE)
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, or a usage error already printed: still a measurement's exit 0
        return 0
    try:
        sys.path.insert(0, str(REPO))
        lines: list[tuple[str, ...]] = []
        if args.set in ("heldout", "both"):
            lines += evaluate("heldout", load_heldout(args.stories), args.people, args)
        if args.set in ("dev", "both"):
            lines += evaluate("dev", load_dev(args.dev_cases), args.dev_people, args)
        print(f"\nincident clustering (window {args.window_hours:g} h; pairP/pairR pairwise over alert-worthy"
              f" reports, b3F B-cubed F1)")
        print_table([line for line in lines if line[0] not in ("#", "+")])
        for line in lines:
            if line[0] == "#":
                print(line[1])
        for line in lines:
            if line[0] == "+" and line[1]:
                print(line[1], end="")
    except Exception:  # noqa: BLE001 - a measurement: say what failed, exit 0
        print("eval_incidents: the benchmark could not run:", file=sys.stderr)
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
