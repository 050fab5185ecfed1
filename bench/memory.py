"""Benchmark: peak memory (RSS) of `watcher run` through its first poll cycle at scale.

What it measures (issue #7, item 3): the peak resident set size (VmHWM in /proc/<pid>/status,
the kernel's high-water mark of the process since its exec) of a real `watcher run` subprocess with

- 1,000 rss feeds × 50 items (bench/_feeds.py: an aiohttp server in its own process on 1,000
  loopback addresses, 200 ms per answer), `allow_private: true`, `backfill: silent`;
- 10,000 watched people (bench/match.py's seeded synthetic generator, two aliases each, 1 % with
  a namesake) in a rules folder next to the repo's incident types; ~5 % of the feed items name
  one of them;
- a database of 1,000,000 items: created by `watcher.store.Store` (so the migrations run), then
  filled in one transaction with executemany (real schema: items, one sighting each, 1 % with a
  match, 0.5 % with a sent alert; first/last seen spread over a year).

It waits until every source has been polled once (sources.last_polled set, read from the
database by this process), samples VmRSS every 0.25 s, then waits 10 s more (delivery and
rules jobs run meanwhile) and stops watcher with SIGTERM.

If the peak is over the 130 MB target (issue #16), it reruns (unless --no-diagnose) with 20 people and/or an
empty database, to show which part costs what.

Run from the repo root (needs aiohttp: `.venv/bin/pip install -e '.[bench]'`); the full run
builds a ~2 GB database in /tmp and takes a few minutes:

    .venv/bin/python bench/memory.py            # writes BENCHMARKS.md
    .venv/bin/python bench/memory.py --quick    # 100 feeds, 1,000 people, 100,000 items; prints only
    .venv/bin/python bench/memory.py --feeds N --people N --items N [--no-diagnose]

Only a full run replaces the "## Memory" section of BENCHMARKS.md, unless --write / --no-write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _feeds
from _feeds import ROOT

SECTION = "## Memory (bench/memory.py)"
PER_FEED = 50
TARGET_MB = 130  # issue #16 (was 150 in #7)
WATCHER = Path(sys.executable).parent / "watcher"


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def polled(db: Path, prefix: str = "feed-") -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM sources WHERE last_polled IS NOT NULL AND id LIKE ?",
                                    (prefix + "%",)).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def run_watcher(work: Path, n_feeds: int, state: Path, timeout: float = 900.0, linger: float = 10.0) -> dict:
    """Start `watcher run`, wait for its first full cycle, stop it; memory and timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update(WATCHER_FEEDS=str(work / "feeds.yaml"), WATCHER_RULES=str(work / "rules"), WATCHER_STATE=str(state),
               WATCHER_LOG_LEVEL="info")
    log_path = state.parent / f"{state.name}.log"
    with open(log_path, "wb") as log, open(state.parent / f"{state.name}.out", "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(WATCHER), "run"], env=env, stdout=out, stderr=log, cwd=work)
        samples: list[tuple[float, int]] = []
        started_at = started_rss = None
        done_at = done_hwm = None
        try:
            while True:
                now = time.perf_counter() - t0
                mem = status_kb(proc.pid)
                if mem:
                    samples.append((now, mem.get("VmRSS", 0)))
                if started_at is None and b"watcher running" in log_path.read_bytes():
                    started_at, started_rss = now, mem.get("VmRSS", 0)
                if done_at is None and started_at is not None and polled(state / "watcher.db") >= n_feeds:
                    done_at, done_hwm = now, mem.get("VmHWM", 0)
                if done_at is not None and now - done_at >= linger:
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"watcher run exited early ({proc.returncode}); see {log_path}")
                if now > timeout:
                    raise RuntimeError(f"no complete cycle within {timeout:.0f}s; see {log_path}")
                time.sleep(0.25)
            final = status_kb(proc.pid)
            proc.send_signal(signal.SIGTERM)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    stats_db = sqlite3.connect(f"file:{state / 'watcher.db'}?mode=ro", uri=True)
    states = dict(stats_db.execute("SELECT state, count(*) FROM sources WHERE id LIKE 'feed-%' GROUP BY state"))
    items = stats_db.execute("SELECT count(*) FROM items").fetchone()[0]
    matches = stats_db.execute("SELECT count(*) FROM matches").fetchone()[0]
    stats_db.close()
    return {
        "start_s": started_at, "start_rss": started_rss, "cycle_s": done_at - started_at,
        "hwm_at_cycle": done_hwm, "hwm": final.get("VmHWM", 0), "rss_end": final.get("VmRSS", 0),
        "anon_end": final.get("RssAnon", 0), "maxrss": usage.ru_maxrss, "exit": proc.returncode,
        "peak_sample": max(r for _, r in samples), "states": states, "items": items, "matches": matches,
        "log": log_path,
    }


PROBE = r"""
import json, sys, tracemalloc
from pathlib import Path

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

trace = sys.argv[2] == "trace"
import watcher.app, watcher.scheduler, watcher.cli, watcher.sources.rss  # what `watcher run` imports
from watcher.rules import load_rules
from watcher.matching import matcher_for
out = {"imports": rss()}
if trace:
    tracemalloc.start(1)
rules = load_rules(Path(sys.argv[1]))
out["rules"] = rss()
if trace:
    out["rules_traced"], out["rules_peak"] = (v // 1024 for v in tracemalloc.get_traced_memory())
    before = tracemalloc.take_snapshot()
    base = tracemalloc.get_traced_memory()[0]  # the snapshot itself is traced too
matcher_for(rules)
out["matcher"] = rss()
if trace:
    out["matcher_traced"] = (tracemalloc.get_traced_memory()[0] - base) // 1024
    stats = tracemalloc.take_snapshot().compare_to(before, "filename")
    out["top"] = [(str(s.traceback[0].filename).split("/watcher/")[-1], s.size_diff // 1024) for s in stats
                  if s.traceback[0].filename != "<string>" and "tracemalloc" not in s.traceback[0].filename][:6]
print(json.dumps(out))
"""


def probe(rules: Path) -> dict:
    """In fresh interpreters: RSS after watcher's imports, after loading the rules, after compiling
    the matcher; and (traced, separately) what the matcher's memory is made of."""
    import json

    out = {}
    for mode in ("rss", "trace"):
        res = subprocess.run([sys.executable, "-c", PROBE, str(rules), mode], capture_output=True, text=True,
                             check=True, cwd=ROOT)
        out[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def prepare(work: Path, name: str, n_feeds: int, n_people: int, n_items: int, port: int) -> Path:
    """A rules folder for n_people and a state folder with an n_items database; returns the state folder."""
    rules = work / "rules"
    if rules.exists():
        shutil.rmtree(rules)
    _feeds.write_rules(rules, _feeds.people(n_people))
    _feeds.write_feeds_yaml(work / "feeds.yaml", n_feeds, port)
    state = work / name
    state.mkdir(parents=True, exist_ok=True)
    if n_items:
        t0 = time.perf_counter()
        _feeds.build_db(state / "watcher.db", n_items, [_feeds.feed_id(i) for i in range(n_feeds)],
                        watched=_feeds.people(min(n_people, 1000) or 20))
        size = _feeds.db_bytes(state / "watcher.db")
        print(f"  database of {n_items:,} items built in {time.perf_counter() - t0:.0f}s ({size / 1e6:,.0f} MB)",
              flush=True)
    return state


def diagnosis(runs, probes, n_people: int) -> list[str]:
    """What stands in the way, from the variant runs and the probes."""
    by = {(p, i): r for _, p, i, r in runs}
    big = max(i for _, _, i, _ in runs)
    small, large = probes.get(20), probes.get(n_people)
    rows = []
    for count, pr in sorted(probes.items()):
        r = pr["rss"]
        t = pr["trace"]
        rows.append([f"{count:,}", mb(r["imports"]), mb(r["rules"] - r["imports"]), mb(r["matcher"] - r["rules"]),
                     mb(r["matcher"]), f"{t['rules_peak'] / 1024:.0f} / {t['rules_traced'] / 1024:.0f}",
                     f"{t['matcher_traced'] / 1024:.0f}"])
    lines = ["What stands in the way (measured, not changed):", ""]
    if (20, big) in by and (n_people, big) in by:
        lines.append(f"- The **watchlist**: with the same {big:,}-item database and feeds, 20 people peak at "
                     f"{mb(by[(20, big)]['hwm'])} MB and {n_people:,} people at {mb(by[(n_people, big)]['hwm'])} MB.")
    if (n_people, 0) in by and (n_people, big) in by:
        lines.append(f"- Not the database: with {n_people:,} people, an empty database peaks at "
                     f"{mb(by[(n_people, 0)]['hwm'])} MB vs {mb(by[(n_people, big)]['hwm'])} MB with {big:,} items "
                     f"(SQLite's page cache is 2 MB per connection; no query loads the items).")
    lines += [
        "- Where the watchlist's memory goes, in a fresh interpreter: RSS after watcher's imports, then "
        "after `load_rules(folder)`, then after compiling the matcher (`matcher_for(rules)`); and, in a second "
        "interpreter under tracemalloc, the Python objects allocated at the peak of `load_rules` / still held "
        "after it, and held by the compiled matcher:",
        "",
        *_feeds.table(["People", "Imports (MB)", "+ load_rules (MB RSS)", "+ matcher (MB RSS)", "Total (MB RSS)",
                       "load_rules traced: peak / kept (MB)", "matcher traced, kept (MB)"], rows, "rrrrrrr"),
    ]
    if large is not None:
        top = ", ".join(f"{name} {kb / 1024:.0f} MB" for name, kb in large["trace"]["top"][:5])
        lines += ["", f"- The matcher's allocations at {n_people:,} people by file (tracemalloc): {top}."]
    if small is not None and large is not None:
        per = ((large["rss"]["matcher"] - large["rss"]["imports"]) - (small["rss"]["matcher"] - small["rss"]["imports"])) \
            / (n_people - 20)
        lt = large["trace"]
        cycle = by[(n_people, big)]["hwm"] - large["rss"]["matcher"] if (n_people, big) in by else None
        lines.append(
            f"- That is about {per:.1f} KB of RSS per watched person, on a base of {mb(small['rss']['imports'])} MB "
            f"for the interpreter and watcher's imports. Two parts: `load_rules` (YAML parsing, then pydantic) "
            f"briefly holds {lt['rules_peak'] / 1024:.0f} MB of objects to keep {lt['rules_traced'] / 1024:.0f} MB "
            f"(CPython keeps freed arenas, so a transient peak stays in RSS); the compiled matcher holds "
            f"{lt['matcher_traced'] / 1024:.0f} MB of Python objects (by file above: mostly the name index of "
            f"matching/names.py)."
            + (f" The first cycle adds about {mb(cycle)} MB on top (responses, feedparser's objects, parsed "
               f"items, SQLite)." if cycle is not None else "")
            + f" The target is a peak of {TARGET_MB} MB; see BENCHMARKS.md's issue #16 section for what stands in its way.")
    return lines


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--people", type=int, default=None)
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-diagnose", dest="diagnose", action="store_false")
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    n_feeds = args.feeds or (100 if args.quick else 1000)
    n_people = args.people or (1000 if args.quick else 10_000)
    n_items = args.items if args.items is not None else (100_000 if args.quick else 1_000_000)
    full = (n_feeds, n_people, n_items) == (1000, 10_000, 1_000_000) and not args.quick
    write = args.write if args.write is not None else full

    work = Path(tempfile.mkdtemp(prefix="watcher-bench-memory-"))
    print(f"working in {work}", flush=True)
    _feeds.make_feeds(work / "www", n_feeds, PER_FEED, _feeds.people(n_people))
    runs: list[tuple[str, int, int, dict]] = []
    try:
        with _feeds.FeedServer(work / "www", hosts=n_feeds, latency=0.2) as server:
            variants = [("main", n_people, n_items)]
            for index, (name, people_n, items_n) in enumerate(variants):
                print(f"{name}: {n_feeds:,} feeds, {people_n:,} people, {items_n:,} items", flush=True)
                state = prepare(work, f"state-{name}", n_feeds, people_n, items_n, server.port)
                result = run_watcher(work, n_feeds, state)
                runs.append((name, people_n, items_n, result))
                print(f"  started in {result['start_s']:.1f}s at {mb(result['start_rss'])} MB; first cycle "
                      f"{result['cycle_s']:.1f}s; VmHWM {mb(result['hwm'])} MB (at cycle end {mb(result['hwm_at_cycle'])}); "
                      f"largest sample {mb(result['peak_sample'])} MB; RSS at the end {mb(result['rss_end'])} MB; "
                      f"sources {result['states']}; exit {result['exit']}", flush=True)
                shutil.rmtree(state, ignore_errors=True)  # the 1M database is large; keep /tmp tidy
                if index == 0 and args.diagnose and result["hwm"] / 1024 > TARGET_MB:
                    variants += [("20-people", 20, n_items), ("empty-db", n_people, 0), ("20-people-empty-db", 20, 0)]
    finally:
        shutil.rmtree(work / "www", ignore_errors=True)

    probes = {}
    if args.diagnose and runs[0][3]["hwm"] / 1024 > TARGET_MB:
        for count in sorted({20, n_people}):
            folder = work / f"rules-{count}"
            _feeds.write_rules(folder, _feeds.people(count))
            probes[count] = probe(folder)
            print(f"probe, {count:,} people: {probes[count]}", flush=True)

    main_run = runs[0][3]
    peak = main_run["hwm"] / 1024
    rows = [[f"{people_n:,}", f"{items_n:,}", f"{r['start_s']:.1f}", mb(r["start_rss"]), f"{r['cycle_s']:.1f}",
             mb(r["hwm"]), mb(r["peak_sample"]), mb(r["rss_end"]),
             ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))]
            for _, people_n, items_n, r in runs]
    tab = _feeds.table(["Watched people", "Items in database", "Start (s)", "RSS at start (MB)", "First cycle (s)",
                        "Peak (VmHWM, MB)", "Largest VmRSS sample (MB)", "RSS at the end (MB)", "Sources after the cycle"], rows,
                       "rrrrrrrrl")
    verdict = [f"- peak RSS of `watcher run` with {n_feeds:,} feeds, {n_people:,} people, {n_items:,} items: "
               f"**{peak:.0f} MB** (target ≤ {TARGET_MB} MB) — " + ("met" if peak <= TARGET_MB else "**not met**")]
    print()
    print("\n".join(tab))
    print()
    print("\n".join(verdict))
    diag = diagnosis(runs, probes, n_people) if probes else []
    if diag:
        print()
        print("\n".join(diag))
    if write:
        body = [
            _feeds.header_line(
                f"A real `watcher run` subprocess (console notifier, no Telegram) with {n_feeds:,} rss feeds × "
                f"{PER_FEED} items served by bench/_feeds.py's aiohttp server on {n_feeds:,} loopback addresses "
                f"(200 ms per answer; `backfill: silent`, so the first cycle stores and matches but does not alert), "
                f"{n_people:,} synthetic watched people (bench/match.py's generator) plus the repo's incident types, "
                f"and a database of {n_items:,} synthetic items (real schema, built by `Store` then one executemany "
                f"transaction; one sighting each, 1 % matched, 0.5 % alerted). Memory is VmRSS sampled every 0.25 s "
                f"and VmHWM (the kernel's high-water mark) from /proc/<pid>/status, read just before SIGTERM, 10 s "
                f"after every source has been polled once (ru_maxrss of the child is not used: Linux starts a forked "
                f"child's maxrss at its parent's RSS, here the benchmark's own). Start = until the log says \"watcher running\" "
                f"(App.build: feeds, rules, database open). Reproduce: `.venv/bin/pip install -e '.[bench]' && "
                f".venv/bin/python bench/memory.py` (builds a ~2 GB database in /tmp)."),
            "",
            *tab,
            "",
            *verdict,
        ]
        if diag:
            body += ["", *diag]
        _feeds.write_section(SECTION, body)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
