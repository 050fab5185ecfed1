"""Benchmark: does a poll cycle slow down as the database grows, and what does retention do?

What it measures (issue #7, item 5), in one run:

- the time of a 10,000-item cycle (200 feeds × 50 new items) written the way the pipeline writes
  it: per feed, `store.source(id)` then `watcher.pipeline._record_items` (one transaction:
  mutes, `Store.add_items` with its dedupe lookups, matching every new item against the rules,
  `add_matches`, `enqueue_alert`, the source's health row) as under `watcher run`: no checkpoint
  inside the commits (`Store.wal.take_over()`), the checkpoint job's body (`Store.wal.tick`) run
  in a thread beside the polls (every TICK s: the cycle is compressed in time, so is the job),
  its time reported, and the final checkpoint that empties the WAL timed apart; into
  (a) an empty database and (b) a database of 1,000,000 items; the median of 3 runs each, every
  run on a new empty database or a fresh copy of the 1,000,000-item one. The items are parsed
  beforehand by watcher's `parse_feed` from generated RSS (not timed); the rules are the repo's
  incident types plus 20 synthetic watched people (compiled before timing). The sources count as
  polled before (first_ok set), so matching items alert as in steady state. Also measured once
  per database: the storage alone, `Store.add_items` of the same items in one transaction per
  feed, no matching; and, to compare with how watcher wrote before, the cycle with SQLite's
  automatic checkpoints inside the commits, and the cycle with items' url and content_hash
  indexes put back (the schema before migration m010);
- the database size per million items (file + WAL after a checkpoint, split by table and index
  with SQLite's dbstat);
- retention: `Store.prune(before)` on a copy of the 1,000,000-item database, with `before` 180
  days back (the default WATCHER_RETENTION): its time, the items removed, and that matched items,
  their matches and every alert are still there.

The 1,000,000-item database is built fast (bench/_feeds.py `build_db`): `Store` creates it (so
the migrations run), then one executemany transaction of synthetic rows with the real schema:
items (title + 40-80-word summary, unique key, URL and content hash, first/last seen spread
over the past 365 days), one sighting each, a person match for 1 % and a sent alert for 0.5 %.

Run from the repo root (no server needed; builds a ~2 GB database in /tmp, a few minutes):

    .venv/bin/python bench/storage.py            # writes BENCHMARKS.md
    .venv/bin/python bench/storage.py --quick    # 100,000-item database, 2,000-item cycle, 1 run
    .venv/bin/python bench/storage.py --items N --feeds N --runs N

Only a full run replaces the "## Storage growth" section of BENCHMARKS.md, unless --write /
--no-write says otherwise.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _feeds
from _feeds import NOW

from watcher.matching import matcher_for
from watcher.models import Response
from watcher.pipeline import Context, _record_items
from watcher.workers import Parsed
from watcher.rules import load_rules
from watcher.sources import build_source
from watcher.sources.rss import Settings, parse_feed
from watcher.store import Store, iso
from watcher.store.wal import AUTOCHECKPOINT, CHECKPOINT_EVERY

SECTION = "## Storage growth (bench/storage.py)"
PER_FEED = 50
RETENTION = timedelta(days=180)
TICK = 0.5  # seconds between runs of the checkpoint job's body in the benchmark's thread


def cycle_items(n_feeds: int, watched) -> list[tuple[str, list]]:
    """(source id, parsed items) for n_feeds generated feeds, with texts unlike the big database's."""
    folder = Path(tempfile.mkdtemp(prefix="watcher-bench-storage-www-"))
    docs = _feeds.make_feeds(folder, n_feeds, PER_FEED, watched, seed=_feeds.SEED + 99)
    shutil.rmtree(folder)
    now = NOW + timedelta(minutes=5)
    out = []
    for i, doc in enumerate(docs):
        sid = _feeds.feed_id(i)
        resp = Response(f"http://{_feeds.host_addr(i)}/{sid}.xml", 200, {"content-type": "application/rss+xml"},
                        doc, now)
        out.append((sid, parse_feed(resp, sid)))
    return out


def mark_polled(path: Path, source_ids: list[str]) -> None:
    """Every source polled before: first_ok set, state ok (so a matching item alerts)."""
    store = Store(path)
    with store.transaction():
        for sid in source_ids:
            store.ensure_source(sid, "rss")
            store.update_source(sid, state="ok", state_since=iso(NOW - timedelta(days=30)),
                                first_ok=iso(NOW - timedelta(days=365)), last_ok=iso(NOW - timedelta(minutes=15)),
                                last_polled=iso(NOW - timedelta(minutes=15)),
                                last_new_item=iso(NOW - timedelta(minutes=15)))
    store.close()


class Checkpointer(threading.Thread):
    """The scheduler's checkpoint job, compressed in time like the cycle itself: `store.wal.tick()`
    (its thresholds as in watcher: checkpoint once the WAL is past SOON_BYTES, truncate past
    LIMIT_BYTES) every TICK seconds in a worker thread while the polls write on the main one."""

    def __init__(self, store: Store):
        super().__init__(daemon=True)
        self.store, self.halt, self.busy, self.runs = store, threading.Event(), 0.0, 0

    def run(self) -> None:
        while not self.halt.wait(TICK):
            t0 = time.perf_counter()
            if self.store.wal.tick() is not None:
                self.runs += 1
                self.busy += time.perf_counter() - t0


def run_cycle(path: Path, feeds: list[tuple[str, list]], rules, *, full: bool, auto: bool = False,
              indexed: bool = False) -> tuple[float, dict]:
    """Write the cycle's items as a poll does under `watcher run`: automatic checkpoints off on the
    Store's connection (`wal.take_over()`) and the checkpoint job's body running beside in a thread.
    (seconds of the polls, details: the checkpoints' time in that thread, and the final checkpoint
    that empties the WAL once the polls are done, timed apart). `auto`: the old way instead,
    SQLite's automatic checkpoints inside the polls' commits; `indexed`: items' url and
    content_hash indexes put back first (the schema before m010)."""
    store = Store(path)
    if indexed:
        store.conn.execute("CREATE INDEX IF NOT EXISTS items_url ON items (url)")
        store.conn.execute("CREATE INDEX IF NOT EXISTS items_content_hash ON items (content_hash)")
        store.wal.checkpoint(truncate=True)
    now = NOW + timedelta(minutes=5)
    ctx = Context(store, None, lambda: rules, ["telegram"], lambda: now)  # type: ignore[arg-type]
    sources = {sid: build_source(Settings(id=sid, type="rss", url=f"http://{_feeds.host_addr(i)}/{sid}.xml",
                                          allow_private=True))
               for i, (sid, _) in enumerate(feeds)}
    gc.collect()
    new = alerts = 0
    adding = 0.0
    job = None
    if not auto:
        store.wal.take_over()
        job = Checkpointer(store)
        job.start()
    start = time.perf_counter()
    for sid, items in feeds:
        if full:
            state = store.source(sid) or {}
            report = _record_items(sources[sid], ctx, state, now, [], items, {}, Parsed(items))
            new += report.new
            alerts += report.alerts
        else:
            with store.transaction():
                t0 = time.perf_counter()
                added = store.add_items(items, now).new
                adding += time.perf_counter() - t0
            new += len(added)
    seconds = time.perf_counter() - start
    wal_peak = store.wal.wal_bytes()
    if job is not None:
        job.halt.set()
        job.join()
    t0 = time.perf_counter()
    done: list = []
    final = threading.Thread(target=lambda: done.append(store.wal.checkpoint(truncate=True)))
    final.start()
    final.join()
    last = time.perf_counter() - t0
    counts = {"new": new, "alerts": alerts, "items": store.count("items"), "add": adding,
              "commit": seconds - adding if not full else 0.0, "background": job.busy if job else 0.0,
              "background_runs": job.runs if job else 0, "final": last, "wal_end": wal_peak,
              "emptied": bool(done and done[0].truncated)}
    store.close()
    return seconds, counts


def table_sizes(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        rows = []
    conn.close()
    return rows


def prune_demo(path: Path) -> dict:
    conn = sqlite3.connect(str(path))

    def q(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    before = {
        "items": q("SELECT count(*) FROM items"),
        "old_unmatched": q(f"SELECT count(*) FROM items WHERE last_seen < '{iso(NOW - RETENTION)}' AND NOT EXISTS "
                           "(SELECT 1 FROM matches m WHERE m.item_id = items.id) AND NOT EXISTS "
                           "(SELECT 1 FROM alerts a WHERE a.item_id = items.id)"),
        "matches": q("SELECT count(*) FROM matches"),
        "matched_items": q("SELECT count(DISTINCT m.item_id) FROM matches m JOIN items i ON i.id = m.item_id"),
        "alerts": q("SELECT count(*) FROM alerts"),
        "alerted_items": q("SELECT count(*) FROM alerts a JOIN items i ON i.id = a.item_id"),
        "sightings": q("SELECT count(*) FROM sightings"),
    }
    conn.close()
    store = Store(path)
    gc.collect()
    start = time.perf_counter()
    removed = store.prune(NOW - RETENTION)
    seconds = time.perf_counter() - start
    store.close()
    conn = sqlite3.connect(str(path))
    after = {
        "items": q("SELECT count(*) FROM items"),
        "matches": q("SELECT count(*) FROM matches"),
        "matched_items": q("SELECT count(DISTINCT m.item_id) FROM matches m JOIN items i ON i.id = m.item_id"),
        "alerts": q("SELECT count(*) FROM alerts"),
        "alerted_items": q("SELECT count(*) FROM alerts a JOIN items i ON i.id = a.item_id"),
        "sightings": q("SELECT count(*) FROM sightings"),
        "orphan_sightings": q("SELECT count(*) FROM sightings s WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.id = s.item_id)"),
        "old_unmatched": q(f"SELECT count(*) FROM items WHERE last_seen < '{iso(NOW - RETENTION)}' AND NOT EXISTS "
                           "(SELECT 1 FROM matches m WHERE m.item_id = items.id) AND NOT EXISTS "
                           "(SELECT 1 FROM alerts a WHERE a.item_id = items.id)"),
        "free_bytes": q("PRAGMA freelist_count") * q("PRAGMA page_size"),
    }
    conn.close()
    return {"seconds": seconds, "removed": removed, "before": before, "after": after, "bytes": _feeds.db_bytes(path)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=None, help="items in the large database (default 1,000,000)")
    parser.add_argument("--feeds", type=int, default=None, help="feeds in the cycle, 50 items each (default 200)")
    parser.add_argument("--runs", type=int, default=None, help="runs per database (default 3)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    n_items = args.items or (100_000 if args.quick else 1_000_000)
    n_feeds = args.feeds or (40 if args.quick else 200)
    runs = args.runs or (1 if args.quick else 3)
    full = (n_items, n_feeds) == (1_000_000, 200) and not args.quick
    write = args.write if args.write is not None else full

    work = Path(tempfile.mkdtemp(prefix="watcher-bench-storage-"))
    print(f"working in {work}", flush=True)
    try:
        watched = _feeds.people(20)
        _feeds.write_rules(work / "rules", watched)
        rules = load_rules(work / "rules")
        matcher_for(rules)  # compiled before timing, as in a running watcher
        feeds = cycle_items(n_feeds, watched)
        per_cycle = sum(len(items) for _, items in feeds)
        print(f"cycle: {n_feeds} feeds, {per_cycle:,} parsed items", flush=True)

        big = work / "big" / "watcher.db"
        source_ids = [_feeds.feed_id(i) for i in range(max(1000, n_feeds))]
        t0 = time.perf_counter()
        _feeds.build_db(big, n_items, source_ids, watched=watched)
        mark_polled(big, source_ids)
        build_s = time.perf_counter() - t0
        size = _feeds.db_bytes(big)
        sizes = table_sizes(big)
        text_bytes = sqlite3.connect(str(big)).execute(
            "SELECT avg(length(CAST(title AS BLOB)) + length(CAST(summary AS BLOB))) FROM items").fetchone()[0]
        print(f"database of {n_items:,} items built in {build_s:.0f}s: {size:,} bytes "
              f"({size / n_items * 1e6 / 1e9:.2f} GB per million items)", flush=True)

        def fresh(kind: str, tag: str) -> Path:
            path = work / f"{kind}-{tag}" / "watcher.db"
            path.parent.mkdir()
            if kind == "big":
                shutil.copyfile(big, path)
            else:
                mark_polled(path, source_ids)
            return path

        times: dict[tuple[str, str], list[float]] = {}
        counts: dict[tuple[str, str], dict] = {}
        plan = [(r, kind, "cycle") for r in range(runs) for kind in ("empty", "big")]
        plan += [(runs, kind, mode) for mode in ("store", "cycle-auto", "cycle-indexed") for kind in ("empty", "big")]
        for r, kind, mode in plan:
            path = fresh(kind, f"{r}-{mode}")
            seconds, c = run_cycle(path, feeds, rules, full=mode.startswith("cycle"), auto=mode.endswith("auto"),
                                   indexed=mode.endswith("indexed"))
            times.setdefault((kind, mode), []).append(seconds)
            counts.setdefault((kind, mode), []).append(c)
            print(f"  {kind:>5} {mode}: {seconds:.2f}s (add_items {c['add']:.2f}s, commits {c['commit']:.2f}s; "
                  f"checkpoints beside {c['background']:.2f}s in {c['background_runs']} run(s), WAL at the end "
                  f"{c['wal_end'] / 1e6:.0f} MB, final checkpoint {c['final']:.2f}s), {c['new']:,} new, "
                  f"{c['alerts']} alerts, {c['items']:,} items now", flush=True)
            shutil.rmtree(path.parent)

        prune_path = fresh("big", "prune")
        pruned = prune_demo(prune_path)
        print(f"prune before {iso(NOW - RETENTION)}: removed {pruned['removed']:,} in {pruned['seconds']:.1f}s; "
              f"{pruned['before']} -> {pruned['after']}", flush=True)
        shutil.rmtree(prune_path.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}

    def mid(kind: str, mode: str) -> dict:
        """The details of the median run."""
        runs_ = counts[(kind, mode)]
        return sorted(runs_, key=lambda c: c["seconds"])[len(runs_) // 2]

    for key, runs_ in counts.items():
        for c, t in zip(runs_, times[key]):
            c["seconds"] = t
    with_final = {k: mid(*k)["seconds"] + mid(*k)["final"] for k in times}
    ratio = med[("big", "cycle")] / med[("empty", "cycle")]
    ratio_final = with_final[("big", "cycle")] / with_final[("empty", "cycle")]
    ratio_store = med[("big", "store")] / med[("empty", "store")]

    def row(label: str, mode: str, note: str) -> list[str]:
        return [label, f"{med[('empty', mode)]:.2f}", f"{med[('big', mode)]:.2f}",
                f"{med[('big', mode)] / med[('empty', mode)]:.2f}×", note]

    def beside(mode: str) -> str:
        e, b = mid("empty", mode), mid("big", mode)
        return (f"checkpoints in the thread {e['background']:.2f} ({e['background_runs']}) vs {b['background']:.2f} "
                f"({b['background_runs']}); final checkpoint {e['final']:.2f} vs {b['final']:.2f}")

    per_million = size / n_items * 1e6
    rows = [
        [f"**cycle** of {per_cycle:,} items (`_record_items`: store + match + alerts; checkpoints in a thread "
         f"beside), median of {runs}",
         f"{med[('empty', 'cycle')]:.2f}", f"{med[('big', 'cycle')]:.2f}", f"**{ratio:.2f}×**",
         " / ".join(f"{t:.2f}" for t in times[("empty", "cycle")]) + " vs "
         + " / ".join(f"{t:.2f}" for t in times[("big", "cycle")]) + "; " + beside("cycle")],
        ["cycle and then the final checkpoint that empties the WAL (median run's)",
         f"{with_final[('empty', 'cycle')]:.2f}", f"{with_final[('big', 'cycle')]:.2f}", f"{ratio_final:.2f}×", ""],
        row("storage alone: `Store.add_items` of the same items (one transaction per feed, checkpoints in a "
            "thread beside), one run", "store",
            f"add_items {mid('empty', 'store')['add']:.2f} + COMMITs {mid('empty', 'store')['commit']:.2f} vs "
            f"{mid('big', 'store')['add']:.2f} + {mid('big', 'store')['commit']:.2f}; " + beside("store")),
        row(f"before: cycle with SQLite's automatic checkpoints inside the commits (wal_autocheckpoint "
            f"{AUTOCHECKPOINT:,}), one run", "cycle-auto", f"final checkpoint {mid('empty', 'cycle-auto')['final']:.2f} "
            f"vs {mid('big', 'cycle-auto')['final']:.2f}"),
        row("before: cycle with items' `url` and `content_hash` indexes put back (the schema before m010), "
            "checkpoints in a thread, one run", "cycle-indexed", beside("cycle-indexed")),
    ]
    tab = _feeds.table(["What", "Into an empty database (s)", f"Into {n_items:,} items (s)", "Ratio", "Detail (s)"],
                       rows, "lrrrl")
    c = mid("big", "cycle")
    groups: dict[str, int] = {}
    for name, bytes_ in sizes:
        table = "items" if name.startswith(("items", "sqlite_autoindex_items")) else \
            "sightings" if name.startswith(("sightings", "sqlite_autoindex_sightings")) else "other"
        kind = "table" if name in ("items", "sightings") else "indexes"
        groups[f"{table} {kind}" if table != "other" else "other tables and indexes"] = \
            groups.get(f"{table} {kind}" if table != "other" else "other tables and indexes", 0) + bytes_
    size_rows = [[k, f"{v / n_items * 1e6 / 1e6:,.0f} MB"] for k, v in sorted(groups.items(), key=lambda kv: -kv[1])]
    b, a = pruned["before"], pruned["after"]
    prune_rows = [
        ["items", f"{b['items']:,}", f"{a['items']:,}"],
        ["of which unmatched, unalerted, last seen > 180 days ago", f"{b['old_unmatched']:,}", f"{a['old_unmatched']:,}"],
        ["sightings (orphaned after)", f"{b['sightings']:,}", f"{a['sightings']:,} ({a['orphan_sightings']})"],
        ["matches / matched items still present", f"{b['matches']:,} / {b['matched_items']:,}",
         f"{a['matches']:,} / {a['matched_items']:,}"],
        ["alerts / alerted items still present", f"{b['alerts']:,} / {b['alerted_items']:,}",
         f"{a['alerts']:,} / {a['alerted_items']:,}"],
        ["file size (pages freed inside the file, reused by later writes)", f"{size / 1e9:.2f} GB",
         f"{pruned['bytes'] / 1e9:.2f} GB ({a['free_bytes'] / 1e9:.2f} GB free)"],
    ]
    kept = a["matched_items"] == b["matched_items"] and a["alerts"] == b["alerts"] and \
        a["alerted_items"] == b["alerted_items"] and a["old_unmatched"] == 0 and a["orphan_sightings"] == 0
    auto_ratio = med[("big", "cycle-auto")] / med[("empty", "cycle-auto")]
    indexed_ratio = med[("big", "cycle-indexed")] / med[("empty", "cycle-indexed")]
    verdict = [
        f"- cycle into {n_items:,} items ÷ into an empty database: **{ratio:.2f}×** (target ≤ 1.2×) — "
        + ("met" if ratio <= 1.2 else "**not met**") + f"; with the final checkpoint that empties the WAL "
        f"{ratio_final:.2f}×; storage alone {ratio_store:.2f}×",
        f"- the same cycle the way watcher wrote before: checkpoints inside the commits {auto_ratio:.2f}×; "
        f"items' url/content_hash indexes back {indexed_ratio:.2f}×",
        f"- database size: **{per_million:,.0f} bytes per million items** ({per_million / 1e9:.2f} GB; "
        f"title + summary average {text_bytes:,.0f} bytes of UTF-8 per item)",
        f"- retention: `Store.prune` of {n_items:,} items (before = 180 days ago) took **{pruned['seconds']:.1f} s**, "
        f"removed {pruned['removed']:,} items; " + ("matched items, their matches and all alerts kept"
                                                    if kept else "**something that should be kept was removed**"),
        f"- checkpoints: the polls' commits do none (`Store.wal.take_over()`, as `watcher run` does); the "
        f"checkpoint job's body (`Store.wal.tick`, run every {TICK:g} s here in a thread, every "
        f"{CHECKPOINT_EVERY:g} s in `watcher run`) copied the big database's WAL in {c['background_runs']} "
        f"run(s) taking {c['background']:.2f} s of that thread beside the polls, and the final one "
        f"{c['final']:.2f} s after them (WAL emptied: {'yes' if c['emptied'] else 'no'}).",
    ]

    print()
    print("\n".join(tab))
    print("\n".join(_feeds.table(["Part of the database", "Per million items"], size_rows, "lr")))
    print("\n".join(_feeds.table(["Retention (`Store.prune`)", "Before", "After"], prune_rows, "lrr")))
    print()
    print("\n".join(verdict))
    if write:
        body = [
            _feeds.header_line(
                f"A cycle of {n_feeds} feeds × {PER_FEED} new items ({per_cycle:,} items parsed by `parse_feed` "
                f"from generated RSS beforehand) written as the pipeline writes a poll — per feed "
                f"`store.source(id)` and `watcher.pipeline._record_items` (one transaction: `add_items` with its "
                f"dedupe lookups, matching against the repo's incident types plus 20 synthetic people, "
                f"`add_matches`, `enqueue_alert`, the source row), with automatic checkpoints off and the "
                f"checkpoint job's body (`Store.wal.tick`) every {TICK:g} s in a thread beside, as `watcher run` "
                f"does (every {CHECKPOINT_EVERY:g} s there) — into a new empty database and into a fresh "
                f"copy of a {n_items:,}-item database (real schema, built by `Store` then one executemany "
                f"transaction: one sighting per item, 1 % matched, 0.5 % alerted, last seen spread over 365 "
                f"days; the file is in the OS page cache, as a running watcher's would mostly be). In the "
                f"{n_items:,}-item database the cycle's feeds already have ~{n_items // len(source_ids):,} items "
                f"each. Sources count as polled before, so the cycle raised {c['alerts']} alerts. Reproduce: "
                f"`.venv/bin/python bench/storage.py` (builds a ~2 GB database in /tmp)."),
            "",
            *tab,
            "",
            *_feeds.table(["Part of the database (dbstat)", "Per million items"], size_rows, "lr"),
            "",
            *_feeds.table(["Retention: `Store.prune(180 days ago)`", "Before", "After"], prune_rows, "lrr"),
            "",
            *verdict,
        ]
        _feeds.write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
