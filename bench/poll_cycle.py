"""Benchmark: one poll cycle of 1,000 RSS feeds (50 items each) from a real loopback server.

What it measures (issue #7, item 1), in one run:

- the wall time of a fresh cycle: watcher's real path, `App.build(paths)` from a feeds.yaml of
  1,000 rss sources (`allow_private: true`, `backfill: silent`) and a rules folder (the repo's
  rules/ plus 20 synthetic watched people), then `await app.poll(app.enabled())` on an empty
  database: fetch (httpx, conditional GET), parse, store, match, all in one process;
- the floor: `feedparser.parse` of the same 1,000 documents, one after the other in this process
  (with watcher's own arguments: bytes, content-type, resolve_relative_uris, no sanitising);
- the all-304 cycle: the same App polls again and every feed answers 304 Not Modified;
- a naive sequential loop, `httpx.get(url)` then `feedparser.parse(body)` over the first 100
  feeds, scaled ×10.

The feeds are served by bench/_feeds.py's aiohttp server in its own process, listening on 1,000
loopback addresses (127.0.1.1 ... 127.0.4.250, one socket per address on one port), one feed per
address: every feed is its own host, as on the internet, so watcher's limit of 2 requests per
host never binds and its global connection limit (Fetcher's `concurrency`, read from the code)
does. Every answer (200 or 304) waits
200 ms in the server first. Each document is ~50 KB: 50 items of 40-80 words (English or
Russian; bench/match.py's generator: ~5 % name a watched person, ~10 % an incident keyword).

Then, to show what stands in the way of the targets, it measures (unless --no-diagnose): the
same two cycles at another connection limit (`--other`, default 100, watcher's before issue #16:
the App is built as usual and its `fetcher` replaced by watcher's own `Fetcher(concurrency=100)`,
whose httpx pools are sized to it), and a cProfile of a fresh cycle at watcher's own settings,
summarised by stage. `--concurrency N` runs the main cycles at N instead of watcher's default.
Errors that are timeouts are counted apart: with a connection limit the loop cannot serve (the
fresh cycle is CPU-bound on its thread), fetches starve and time out.

Run from the repo root (needs aiohttp: `.venv/bin/pip install -e '.[bench]'`):

    .venv/bin/python bench/poll_cycle.py             # 1,000 feeds; writes BENCHMARKS.md
    .venv/bin/python bench/poll_cycle.py --quick     # 100 feeds, naive loop on 20; prints only
    .venv/bin/python bench/poll_cycle.py --feeds N --latency S --no-diagnose [--concurrency C]

Only a full run (1,000 feeds, 200 ms) replaces the "## Poll cycle" section of BENCHMARKS.md,
unless --write / --no-write says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import inspect
import io
import math
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _feeds
import feedparser
import httpx
from _feeds import ROOT

from watcher.app import App
from watcher.config import Paths
from watcher.http import Fetcher
from watcher.models import Response
from watcher.delivery.notifiers.console import ConsoleNotifier
from watcher.sources import _feedparse
from watcher.sources.rss import parse_feed
from watcher.workers import ParsePool

SECTION = "## Poll cycle (bench/poll_cycle.py)"
PER_FEED = 50
WATCHED = 20


def parse_floor(docs: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for doc in docs:
        feedparser.parse(io.BytesIO(doc), response_headers={"content-type": "application/rss+xml; charset=utf-8",
                                                            "content-location": "http://127.0.1.1/"},
                         resolve_relative_uris=True, sanitize_html=False)
    return time.perf_counter() - start


def fast_floor(docs: list[bytes]) -> tuple[float, float | None]:
    """The parse alone with watcher's fast path (lxml, `watcher/sources/_feedparse.py`), and with
    fastfeedparser (issue #16's candidate, not used by watcher: its entries cannot be made equal
    to feedparser's) when it is installed; None when it is not."""
    gc.collect()
    start = time.perf_counter()
    for doc in docs:
        _feedparse.fast(doc, "application/rss+xml; charset=utf-8", "http://127.0.1.1/")
    ours = time.perf_counter() - start
    try:
        import fastfeedparser
    except ImportError:
        return ours, None
    gc.collect()
    start = time.perf_counter()
    for doc in docs:
        fastfeedparser.parse(doc)  # bytes: a str starting with http would be fetched
    return ours, time.perf_counter() - start


def watcher_parse(docs: list[bytes]) -> tuple[float, int]:
    now = datetime.now(timezone.utc)
    responses = [Response(f"http://127.0.1.1/{i}.xml", 200, {"content-type": "application/rss+xml; charset=utf-8"},
                          doc, now) for i, doc in enumerate(docs)]
    gc.collect()
    start = time.perf_counter()
    n = sum(len(parse_feed(r, _feeds.feed_id(i))) for i, r in enumerate(responses))
    return time.perf_counter() - start, n


def naive_loop(urls: list[str]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    entries = 0
    for url in urls:
        resp = httpx.get(url)
        entries += len(feedparser.parse(resp.content).entries)
    return time.perf_counter() - start, entries


class Cycle:
    def __init__(self, label: str, reports, wall: float, cpu: float):
        self.label, self.wall, self.cpu = label, wall, cpu
        self.ok = sum(r.state == "ok" for r in reports)
        self.new = sum(r.new for r in reports)
        self.not_modified = sum(r.not_modified for r in reports)
        self.errors = [f"{r.source_id}: {r.error}" for r in reports if r.error]
        self.timeouts = sum("timed out" in e for e in self.errors)
        self.cpu_ms = 1000 * cpu / max(1, len(reports))  # CPU per feed


WATCHER_CONCURRENCY = inspect.signature(Fetcher).parameters["concurrency"].default


def worker_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the parse pool's worker processes have used so far (Linux)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def two_cycles(paths: Paths, *, concurrency: int | None = None, workers: int | None = None,
                     profiler: cProfile.Profile | None = None) -> tuple[Cycle, Cycle | None]:
    """A fresh cycle into an empty database, then (without a profiler) an all-304 cycle.
    `workers`: the parse pool's worker processes instead of watcher's default (0: in-process)."""
    app = App.build(paths, env={}, notifiers={"console": ConsoleNotifier()})
    if workers is not None:
        app.parse_pool = ParsePool(workers)
    if concurrency is not None:  # another connection limit: watcher's own Fetcher, its pools sized to it
        await app.fetcher.aclose()
        app.fetcher = Fetcher(concurrency=concurrency)
    try:
        sources = app.enabled()
        out = []
        for label in ("fresh", "304"):
            gc.collect()
            if profiler is not None:
                profiler.enable()
            c0, t0, w0 = time.process_time(), time.perf_counter(), worker_cpu(app.parse_pool.pids())
            reports = await app.poll(sources)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            workers_cpu = worker_cpu(app.parse_pool.pids()) - w0
            if workers_cpu:
                print(f"{label}: the parse pool's workers used {workers_cpu:.2f}s CPU on top "
                      f"({app.parse_pool.sent} polls parsed there)", flush=True)
            cpu += workers_cpu  # CPU of the whole cycle, on every core
            if profiler is not None:
                profiler.disable()
            out.append(Cycle(label, reports, wall, cpu))
            if profiler is not None:
                return out[0], None
        return out[0], out[1]
    finally:
        await app.aclose()


def profile_summary(profiler: cProfile.Profile, wall: float) -> tuple[list[list[str]], str]:
    stats = pstats.Stats(profiler)
    cum: dict[tuple[str, str], float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        cum[(filename.replace("\\", "/"), name)] = cum.get((filename.replace("\\", "/"), name), 0.0) + ct

    def total(suffix: str, name: str) -> float:
        return sum(v for (f, n), v in cum.items() if n == name and f.endswith(suffix))

    feed = total("feedparser/api.py", "parse")
    fast = total("watcher/sources/_feedparse.py", "fast")
    parse_all = total("watcher/sources/rss.py", "parse_feed")
    match = total("watcher/matching/__init__.py", "match")
    add = total("watcher/store/store.py", "add_items")
    record = total("watcher/pipeline.py", "_record_items")
    get = total("watcher/http.py", "_get")
    idle = sum(v[2] for (f, _l, name), v in stats.stats.items()  # type: ignore[attr-defined]
               if "select.epoll" in name or "select.select" in name)
    total_cpu = stats.total_tt - idle  # type: ignore[attr-defined]
    rows = [
        ["parse: `feedparser.parse` (documents the fast path does not take)", feed],
        ["parse: watcher's fast path (`_feedparse.fast`, lxml)", fast],
        ["parse: rest of watcher's `parse_feed` (html_to_text, canonical_url, hashes)", parse_all - feed - fast],
        ["match: `watcher.matching.match`", match],
        ["store: `Store.add_items` (SQLite lookups + inserts)", add],
        ["store: rest of `_record_items` (matches, source row, COMMIT)", record - add - match],
        ["HTTP: `Fetcher._get` steps (httpx work on the event loop)", get],
    ]
    named = sum(r[1] for r in rows)
    rows.append(["everything else (event loop, asyncio, gc; cumulative times overlap a little)",
                 max(0.0, total_cpu - named)])
    out = [[label, f"{sec:.1f}", f"{100 * sec / total_cpu:.0f} %"] for label, sec in rows]
    out.append(["(not CPU: the event loop waiting in epoll for the network)", f"{idle:.1f}", ""])
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(14)
    text = buf.getvalue()
    for prefix in (f"{sys.prefix}/lib/python3.11/site-packages/", f"{sys.base_prefix}/lib/python3.11/",
                   f"{ROOT}/"):
        text = text.replace(prefix, "")
    return out, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None, help="number of feeds (default 1,000; 100 with --quick)")
    parser.add_argument("--naive", type=int, default=None, help="feeds in the naive loop (default 100; 20 with --quick)")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default 0.2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-diagnose", dest="diagnose", action="store_false",
                        help="skip the other-concurrency cycles and the profile")
    parser.add_argument("--other", "--wide", dest="wide", type=int, default=100,
                        help="Fetcher concurrency of the diagnosis cycles (default 100, watcher's before #16)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help=f"Fetcher concurrency of the main cycles (default watcher's, {WATCHER_CONCURRENCY})")
    parser.add_argument("--workers", type=int, default=None,
                        help="parse pool worker processes (default: watcher's own; 0: parse in-process)")
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    n = args.feeds or (100 if args.quick else 1000)
    n_naive = min(n, args.naive or (20 if args.quick else 100))
    full = n == 1000 and args.latency == 0.2 and not args.quick
    write = args.write if args.write is not None else full

    work = Path(tempfile.mkdtemp(prefix="watcher-bench-poll-"))
    t0 = time.perf_counter()
    watched = _feeds.people(WATCHED)
    _feeds.write_rules(work / "rules", watched)
    docs = _feeds.make_feeds(work / "www", n, PER_FEED, watched)
    size = sum(map(len, docs))
    print(f"{n:,} feeds × {PER_FEED} items ({size / n / 1024:.0f} KB each) generated in "
          f"{time.perf_counter() - t0:.1f}s in {work}", flush=True)

    floor = parse_floor(docs)
    print(f"floor: feedparser.parse of {n:,} documents: {floor:.2f}s", flush=True)
    fast, ffp = fast_floor(docs)
    print(f"fast path floor: {fast:.2f}s; fastfeedparser floor: "
          + (f"{ffp:.2f}s" if ffp is not None else "not installed"), flush=True)
    wparse, n_items = watcher_parse(docs)
    print(f"watcher parse_feed of {n:,} documents: {wparse:.2f}s ({n_items:,} items)", flush=True)

    results: dict[str, Cycle] = {}
    prof_rows: list[list[str]] = []
    prof_text = ""
    with _feeds.FeedServer(work / "www", hosts=n, latency=args.latency) as server:
        _feeds.write_feeds_yaml(work / "feeds.yaml", n, server.port)

        def paths(name: str) -> Paths:
            return Paths(feeds=work / "feeds.yaml", rules=work / "rules", state=work / name)

        fresh, again = asyncio.run(two_cycles(paths("state"), workers=args.workers, concurrency=args.concurrency))
        results["fresh"], results["304"] = fresh, again  # type: ignore[assignment]
        for c in (fresh, again):
            print(f"{c.label:>5} cycle: {c.wall:.2f}s wall, {c.cpu:.2f}s CPU ({c.cpu_ms:.1f} ms a feed); ok {c.ok}, "
                  f"new items {c.new:,}, 304s {c.not_modified}, errors {len(c.errors)} ({c.timeouts} timeouts) "
                  f"{c.errors[:3]}; load {_feeds.load()}", flush=True)

        urls = [f"http://{_feeds.host_addr(i)}:{server.port}/{_feeds.feed_id(i)}.xml" for i in range(n_naive)]
        naive, entries = naive_loop(urls)
        print(f"naive loop over {n_naive} feeds: {naive:.2f}s ({entries:,} entries); ×{n / n_naive:g} = "
              f"{naive * n / n_naive:.1f}s", flush=True)

        if args.diagnose:
            wide, wide304 = asyncio.run(two_cycles(paths("state-wide"), concurrency=args.wide))
            results["wide"], results["wide304"] = wide, wide304  # type: ignore[assignment]
            for c in (wide, wide304):
                print(f"concurrency {args.wide}: {c.label:>5} cycle {c.wall:.2f}s wall, {c.cpu:.2f}s CPU; ok {c.ok}, "
                      f"new {c.new:,}, 304s {c.not_modified}, errors {len(c.errors)} ({c.timeouts} timeouts); "
                      f"load {_feeds.load()}", flush=True)
            profiler = cProfile.Profile()
            prof, _ = asyncio.run(two_cycles(paths("state-prof"), profiler=profiler))
            prof_rows, prof_text = profile_summary(profiler, prof.wall)
            print(f"profiled fresh cycle: {prof.wall:.2f}s wall (cProfile on)")
            print("\n".join(" | ".join(r) for r in prof_rows))
        stats = server.stats()
    print(f"server answered: {stats}")
    shutil.rmtree(work, ignore_errors=True)  # feeds and databases: hundreds of MB

    fresh, again = results["fresh"], results["304"]
    naive_scaled = naive * n / n_naive
    conc = args.concurrency or WATCHER_CONCURRENCY
    net_floor = math.ceil(n / conc) * args.latency
    rows = [
        ["floor: `feedparser.parse` of the same documents, sequential, in-process", f"{floor:.2f}", "", "", ""],
        ["floor: watcher's fast path (`_feedparse.fast`: lxml, feedparser's helpers), same documents", f"{fast:.2f}",
         "", "", ""],
        *([["floor: `fastfeedparser.parse` of the same documents (not used by watcher)", f"{ffp:.2f}", "", "", ""]]
          if ffp is not None else []),
        ["watcher's `parse_feed` of the same documents (fast path + text cleaning)", f"{wparse:.2f}", "", "", ""],
        ["**fresh cycle** (`App.poll`, empty database)", f"{fresh.wall:.2f}", f"{fresh.cpu:.2f}",
         f"{fresh.ok:,} ok, {fresh.new:,} new items", f"{len(fresh.errors)} ({fresh.timeouts} timed out)"],
        ["**all-304 cycle** (same App, second poll)", f"{again.wall:.2f}", f"{again.cpu:.2f}",
         f"{again.not_modified:,} × 304 ({again.cpu_ms:.1f} ms CPU a feed)", f"{len(again.errors)}"],
        [f"naive loop: `httpx.get` + `feedparser.parse`, first {n_naive} feeds", f"{naive:.2f}", "",
         f"{entries:,} entries", ""],
        [f"naive loop scaled ×{n / n_naive:g}", f"{naive_scaled:.1f}", "", "", ""],
    ]
    if "wide" in results:
        wide, wide304 = results["wide"], results["wide304"]
        rows += [
            [f"diagnosis: fresh cycle, Fetcher concurrency {args.wide:,} (swapped in)", f"{wide.wall:.2f}",
             f"{wide.cpu:.2f}", f"{wide.ok:,} ok, {wide.new:,} new items",
             f"{len(wide.errors)} ({wide.timeouts} timed out)"],
            [f"diagnosis: all-304 cycle, Fetcher concurrency {args.wide:,}", f"{wide304.wall:.2f}",
             f"{wide304.cpu:.2f}", f"{wide304.not_modified:,} × 304 ({wide304.cpu_ms:.1f} ms CPU a feed)",
             f"{len(wide304.errors)}"],
        ]
    tab = _feeds.table(["What", "Wall (s)", "CPU (s)", "Result", "Errors"], rows, "lrrrr")
    ratios = [
        f"- fresh cycle ÷ parse floor: **{fresh.wall / floor:.2f}×** (target ≤ 1.5×) — "
        + ("met" if fresh.wall / floor <= 1.5 else "**not met**"),
        f"- all-304 cycle: **{again.wall:.2f} s** (target ≤ 2 s) — " + ("met" if again.wall <= 2 else "**not met**")
        + f"; with watcher's {conc} connections and {args.latency * 1000:.0f} ms per answer the network floor "
          f"is ⌈{n:,}/{conc}⌉ × {args.latency:g} s = {net_floor:.1f} s",
        f"- naive loop (scaled) ÷ fresh cycle: **{naive_scaled / fresh.wall:.1f}×** (target ≥ 30×) — "
        + ("met" if naive_scaled / fresh.wall >= 30 else "**not met**"),
    ]
    print()
    print("\n".join(tab))
    print()
    print("\n".join(ratios))
    if prof_text:
        print(prof_text)
    if write:
        write_report(n, n_naive, args.latency, size, n_items, tab, ratios, results, floor, prof_rows,
                     prof_text, net_floor, args.wide, naive / n_naive, conc)
    return 0


def write_report(n, n_naive, latency, size, n_items, tab, ratios, results, floor, prof_rows, prof_text,
                 net_floor, wide_n, naive_per_feed, conc) -> None:
    fresh = results["fresh"]
    body = [
        _feeds.header_line(
            f"{n:,} RSS 2.0 feeds × {PER_FEED} items ({size / n / 1024:.0f} KB each, {n_items:,} items; "
            f"bench/match.py's text generator, ~5 % naming one of {WATCHED} watched people, ~10 % an incident keyword) "
            f"served by an aiohttp server in its own process on {n:,} loopback addresses "
            f"(127.0.1.1 … {_feeds.host_addr(n - 1)}, one socket each, one feed per address), every answer "
            f"delayed {latency * 1000:.0f} ms, with ETag/Last-Modified. watcher runs its real path: "
            f"`App.build` from a feeds.yaml of {n:,} rss sources (`allow_private: true`, `backfill: silent`) and a "
            f"rules folder (the repo's incidents plus {WATCHED} synthetic people), then `App.poll` of every source "
            f"(its Fetcher: {conc} connections, 2 per host). Wall and CPU (process time) of the cycle only. "
            f"Reproduce: `.venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/poll_cycle.py`."),
        "",
        *tab,
        "",
        *ratios,
    ]
    again = results["304"]
    if prof_rows:
        wide = results.get("wide")
        body += [
            "",
            "What stands in the way (measured, not changed):",
            "",
            f"- The fresh cycle is **CPU-bound in one thread**: it used {fresh.cpu:.1f} s of CPU "
            f"({fresh.cpu / floor:.2f}× the floor) in {fresh.wall:.1f} s of wall time. Parsing alone (the floor) "
            f"is {floor:.1f} s; on top of it come watcher's own text cleaning, matching of {fresh.new:,} items, "
            f"SQLite writes and httpx, all on the one event-loop thread (shares below). So no fetch setting "
            f"can bring it under {fresh.cpu / floor:.1f}× the floor"
            + (f" (at {wide_n} connections: {wide.wall:.1f} s)" if wide else "")
            + "; 1.5× needs that CPU work spread over processes (e.g. parse + match of each response in a "
              "process pool, storing in the loop) or a cheaper parse and match. Wall time above CPU time is "
              "waiting for the network, plus CPU lost to other processes on this 2-core machine (the feed "
              "server, other sessions' tests).",
            f"- The **all-304 cycle**: ⌈{n:,}/{conc}⌉ × {latency:g} s = {net_floor:.1f} s of network at "
            f"watcher's {conc} connections, and {again.cpu:.1f} s of CPU ({again.cpu_ms:.1f} ms a feed: httpx, "
            f"httpcore and h11 building and parsing the request and answer, asyncio's sockets, the pipeline's "
            f"source row and commit), all on the loop's one thread: past about 200 connections the CPU, not "
            f"the network, is the bound. "
            + (f"At {wide_n} connections it took {results['wide304'].wall:.2f} s (network floor "
               f"{math.ceil(n / wide_n) * latency:.1f} s, {results['wide304'].cpu:.1f} s CPU). " if wide else "")
            + "The fresh cycle at 256 connections no longer starves its fetches: workers.PollGate lets at "
              "most as many polls in as there are connections (of them at most 64 sure to bring a body, "
              "which wait for the CPU in memory) and runs their CPU-bound steps one per turn of the loop.",
            f"- **≥ 30× the naive loop** means a fresh cycle of ≤ {naive_per_feed * n / 30:.1f} s here "
            f"(the naive loop costs {naive_per_feed * 1000:.0f} ms a feed: {latency * 1000:.0f} ms latency plus its "
            f"parse), less than the parse floor itself ({floor:.1f} s in one process): unreachable in one "
            f"process whatever the concurrency; even parsing on both cores of this machine would leave "
            f"about {floor / 2:.1f} s.",
            "- CPU of the profiled fresh cycle by stage (cProfile cumulative time, which inflates "
            "Python-heavy code; shares are what matter):",
            "",
            *_feeds.table(["Stage", "CPU s (profiled)", "Share"], prof_rows, "lrr"),
            "",
            "Top functions by own time (cProfile, same cycle):",
            "",
            "```",
            *[line for line in prof_text.splitlines()
              if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced"))][1:],
            "```",
        ]
    _feeds.write_section(SECTION, body)


if __name__ == "__main__":
    raise SystemExit(main())
