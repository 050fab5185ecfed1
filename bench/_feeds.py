"""Shared pieces of the loopback benchmarks (poll_cycle, memory, burst, storage).

- synthetic RSS 2.0 feeds whose items come from bench/match.py's text generator (English or
  Russian, 40-80 words, ~5 % naming a watched person, ~10 % with an incident keyword);
- a real HTTP server for them (aiohttp, in its own process so it does not share the measured
  process's core): `python bench/_feeds.py serve DIR --hosts N --latency 0.2`. It listens on N
  loopback addresses 127.0.1.1, 127.0.1.2, ... 127.0.4.250 (one socket per address, same port;
  Linux routes all of 127.0.0.0/8 to lo), so every feed has its own host, as on the internet,
  and watcher's per-host limit (2) never binds. Each answer, 200 or 304, waits `latency`
  seconds first; answers carry an ETag and Last-Modified, and If-None-Match gives a 304.
  With `--reload` (FeedServer(reload=True)) a file replaced while it runs is served anew
  (feeds that grow over time: bench/soak.py rewrites them with os.replace);
- feeds.yaml / rules folder writers, a fast builder of a large database with the real schema,
  and the BENCHMARKS.md section writer (date, machine, commit).

aiohttp is needed for the server only: `.venv/bin/pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from match import SEED, code_version, make_items, make_people, make_people_colliding

TODAY = datetime.now(timezone.utc).date().isoformat()  # the day of the run (NOW is the feeds' own clock)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
BENCHMARKS = ROOT / "BENCHMARKS.md"
PY = sys.executable


# -- machine and report ------------------------------------------------------------------------


def machine() -> str:
    return f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def load() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


START_LOAD = load()  # when the benchmark script started (it imports this module first)


def header_line(what: str) -> str:
    """The provenance sentence every section starts with."""
    return (f"Run {TODAY} on {machine()}, {code_version()}; load average at start {START_LOAD} "
            f"(other sessions may run test suites on this 2-core machine at the same time, so wall "
            f"times can be inflated; every figure below comes from one run). {what}")


def write_section(heading: str, body: list[str]) -> None:
    """Replace the section that starts with exactly `heading` (up to the next "## "), or append it."""
    section = "\n".join([heading, "", *body]).rstrip("\n") + "\n"
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else (
        "# Benchmarks\n\nMeasurements of watcher's performance; each section says how to reproduce it.\n")
    found = re.search(r"^" + re.escape(heading) + r"[ \t]*\n.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if found:
        text = text[:found.start()] + section + ("\n" if found.end() < len(text) else "") + text[found.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text, encoding="utf-8")
    print(f"wrote {heading!r} into {BENCHMARKS}")


def table(head: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or ("l" + "r" * (len(head) - 1))
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


# -- watchlist, rules, texts ---------------------------------------------------------------------


def people(count: int):
    """The first `count` of bench/match.py's seeded watchlist: names that collide like a real
    list's (shared surnames and given names; issue #16), or with BENCH_NAMES=distinct the
    syllable-built list of the earlier runs, whose names rarely collide."""
    make = make_people if os.environ.get("BENCH_NAMES") == "distinct" else make_people_colliding
    return make(max(count, 1), random.Random(SEED))[:count]


def incident_rules():
    from watcher.rules import load_rules

    return load_rules(ROOT / "rules")


def write_rules(folder: Path, watched) -> None:
    """A rules folder: the repo's rules/ (incident types) plus people.yaml with `watched`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "rules" / "incidents.yaml", folder / "incidents.yaml")
    entries = []
    for p in watched:
        entry: dict = {"name": p.name}
        if p.aliases:
            entry["aliases"] = list(p.aliases)
        if p.country:
            entry["country"] = p.country
        if p.not_:
            entry["not"] = list(p.not_)
        entries.append(entry)
    lines = ["# synthetic watchlist (bench/_feeds.py)", "people:"]
    lines += [f"  - {json.dumps(e, ensure_ascii=False)}" for e in entries]
    (folder / "people.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def texts(count: int, watched, seed: int = SEED) -> list[tuple[str, str, str]]:
    """(language, title, summary) of `count` synthetic items (bench/match.py's generator)."""
    rng = random.Random(seed)
    raw, _ = make_items(count, list(watched), incident_rules(), rng)
    out = []
    for text in raw:
        title, _, summary = text.partition("\n")
        lang = "ru" if re.search("[а-яё]", title.lower()) else "en"
        out.append((lang, title, summary))
    return out


# -- feeds -----------------------------------------------------------------------------------------


def host_addr(index: int) -> str:
    """127.0.1.1 ... 127.0.1.250, 127.0.2.1 ... : the loopback address of host number `index`."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def feed_id(index: int) -> str:
    return f"feed-{index:04d}"


def rss_document(index: int, items: list[tuple[str, str, str]], *, when: datetime = NOW, tag: str = "") -> bytes:
    """An RSS 2.0 feed like a news site's: guid, link, pubDate, an HTML description."""
    lang = items[0][0] if items else "en"
    site = f"https://news{index:04d}.example.org"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>',
        f"<title>Synthetic news {index}</title><link>{site}/</link><language>{lang}</language>",
        f"<description>Feed {index} for watcher's benchmarks</description>",
        f"<lastBuildDate>{format_datetime(when)}</lastBuildDate>",
    ]
    for n, (_, title, summary) in enumerate(items):
        link = f"{site}/{when:%Y/%m/%d}/article-{index}-{n}{tag}.html?utm_source=rss"
        published = when - timedelta(minutes=37 * n + index % 30)
        parts.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{site}/a/{index}-{n}{tag}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<category>News</category>"
            f"<description>{escape('<p>' + summary + '</p>')}</description>"
            "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def rss_entries(index: int, entries: list[tuple[int, datetime, str, str, str]], when: datetime) -> bytes:
    """An RSS 2.0 feed of (serial, published, language, title, summary) entries, newest first, whose
    links and guids depend on the serial only: the same item keeps its link as the feed grows."""
    site = f"https://news{index:04d}.example.org"
    lang = entries[0][2] if entries else "en"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<rss version="2.0"><channel>',
             f"<title>Synthetic news {index}</title><link>{site}/</link><language>{lang}</language>",
             f"<description>Feed {index} for watcher's benchmarks</description>",
             f"<lastBuildDate>{format_datetime(when)}</lastBuildDate>"]
    for serial, published, _, title, summary in entries:
        parts.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>{site}/{published:%Y/%m/%d}/article-{index}-{serial}.html</link>"
            f'<guid isPermaLink="false">{site}/a/{index}-{serial}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate><category>News</category>"
            f"<description>{escape('<p>' + summary + '</p>')}</description></item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def make_feeds(folder: Path, n_feeds: int, per_feed: int, watched, *, seed: int = SEED) -> list[bytes]:
    """Write feed-0000.xml ... into `folder` (what the server serves) and return the documents."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = texts(n_feeds * per_feed, watched, seed)
    docs = []
    for i in range(n_feeds):
        doc = rss_document(i, pool[i * per_feed:(i + 1) * per_feed])
        (folder / f"{feed_id(i)}.xml").write_bytes(doc)
        docs.append(doc)
    return docs


def write_feeds_yaml(path: Path, n_feeds: int, port: int, *, hosts: int | None = None,
                     backfill: str = "silent") -> None:
    """feeds.yaml with one rss source per document; feed i on host_addr(i % hosts)."""
    hosts = hosts or n_feeds
    lines = ["sources:"]
    for i in range(n_feeds):
        lines += [
            f"  - id: {feed_id(i)}",
            "    type: rss",
            f"    url: http://{host_addr(i % hosts)}:{port}/{feed_id(i)}.xml",
            "    every: 15m",
            "    allow_private: true",
            f"    backfill: {backfill}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class FeedServer:
    """The aiohttp feed server in a child process: `with FeedServer(dir, hosts=1000) as srv: srv.port`."""

    def __init__(self, folder: Path, *, hosts: int = 1, latency: float = 0.0, reload: bool = False):
        self.folder, self.hosts, self.latency, self.reload = folder, hosts, latency, reload
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> FeedServer:
        self.proc = subprocess.Popen(
            [PY, str(Path(__file__).resolve()), "serve", str(self.folder), "--hosts", str(self.hosts),
             "--latency", str(self.latency), *(["--reload"] if self.reload else [])],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> dict[str, int]:
        import httpx

        return httpx.get(f"http://{host_addr(0)}:{self.port}/_stats").json()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve(folder: Path, hosts: int, latency: float, reload: bool = False) -> None:
    from aiohttp import web

    docs: dict[str, tuple[bytes, str]] = {}
    for path in sorted(folder.glob("*.xml")):
        body = path.read_bytes()
        docs["/" + path.name] = (body, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')
    last_modified = format_datetime(NOW, usegmt=True)
    counts = {"200": 0, "304": 0, "404": 0}
    seen: dict[str, int] = {}  # --reload: path -> mtime_ns of the file last read

    def fresh(name: str) -> None:
        """--reload: read the file again if it was replaced since (or first appeared)."""
        path = folder / name.lstrip("/")
        try:
            mtime = path.stat().st_mtime_ns
            if "/" in name.lstrip("/") or seen.get(name) == mtime:
                return
            body = path.read_bytes()
        except OSError:
            return
        seen[name] = mtime
        docs[name] = (body, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/_stats":
            return web.json_response(counts)
        await asyncio.sleep(latency)
        if reload:
            fresh(request.path)
        found = docs.get(request.path)
        if found is None:
            counts["404"] += 1
            return web.Response(status=404, text="not found")
        body, etag = found
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=300"}
        if request.headers.get("If-None-Match") == etag:
            counts["304"] += 1
            return web.Response(status=304, headers=headers)
        counts["200"] += 1
        return web.Response(body=body, headers=headers, content_type="application/rss+xml", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        port = 0
        for i in range(hosts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host_addr(i), port))
            port = sock.getsockname()[1]
            sock.listen(1024)
            await web.SockSite(runner, sock).start()
        print(f"port {port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


# -- a large database -------------------------------------------------------------------------------


def build_db(path: Path, n_items: int, source_ids: list[str], *, matched: float = 0.01, alerted: float = 0.005,
             days: int = 365, watched=None, pool_size: int = 5_000) -> dict[str, float]:
    """A database of `n_items` synthetic items with the real schema, fast.

    Store(path) creates it and runs the migrations; then one transaction of executemany inserts
    items (title + 40-80-word summary from a pool of `pool_size` generated texts, unique key, URL
    and content hash, first/last seen spread over the past `days`), one sighting per item,
    a person match for `matched` of them and a sent alert for `alerted` of them."""
    from watcher.store import Store, iso

    t0 = time.perf_counter()
    store = Store(path)
    for sid in source_ids:
        store.ensure_source(sid, "rss")
    store.close()
    watched = list(watched or people(20))
    pool = texts(pool_size, watched, seed=SEED + 7)
    rng = random.Random(SEED + 11)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("BEGIN")
    span = days * 86400

    def rows():
        for i in range(n_items):
            lang, title, summary = pool[i % pool_size]
            sid = source_ids[i % len(source_ids)]
            seen = NOW - timedelta(seconds=span * (n_items - i) / n_items)
            stamp = iso(seen)
            url = f"https://{sid}.example.org/{seen:%Y/%m/%d}/old-{i}.html"
            digest = hashlib.sha256(f"{i}\n{title}".encode()).hexdigest()
            yield (i + 1, sid, f"https://{sid}.example.org/a/old-{i}", url, digest, f"{title} ({i})", summary,
                   iso(seen - timedelta(minutes=rng.randint(0, 600))), lang, "{}", stamp, stamp)

    conn.executemany(
        "INSERT INTO items (id, source_id, key, url, content_hash, title, summary, published, language, fields,"
        " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    conn.execute(
        "INSERT INTO sightings (source_id, key, item_id, first_seen, published, url, content_hash)"
        " SELECT source_id, key, id, first_seen, published, url, content_hash FROM items")
    step_m = max(1, round(1 / matched)) if matched else 0
    step_a = max(1, round(1 / alerted)) if alerted else 0
    if step_m:
        conn.executemany(
            "INSERT INTO matches (item_id, rule, kind, variant, span_start, span_end, text, why, matched_at)"
            " VALUES (?, ?, 'person', ?, 0, 10, ?, 'synthetic', ?)",
            ((i, f"person:{watched[i % len(watched)].name}", watched[i % len(watched)].name,
              watched[i % len(watched)].name, iso(NOW)) for i in range(1, n_items + 1, step_m)))
    if step_a:
        conn.executemany(
            "INSERT INTO alerts (item_id, destination, status, urgent, created_at, attempts, next_attempt_at,"
            " sent_at, message_id) VALUES (?, 'telegram', 'sent', 0, ?, 1, ?, ?, ?)",
            ((i, iso(NOW), iso(NOW), iso(NOW), str(i)) for i in range(1, n_items + 1, step_a)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"seconds": time.perf_counter() - t0}


def db_bytes(path: Path) -> int:
    """The database file plus its WAL, after a checkpoint."""
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists())


def main() -> int:
    parser = argparse.ArgumentParser(description="the loopback feed server of the benchmarks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve DIR/*.xml on N loopback addresses")
    s.add_argument("folder", type=Path)
    s.add_argument("--hosts", type=int, default=1)
    s.add_argument("--latency", type=float, default=0.0)
    s.add_argument("--reload", action="store_true", help="serve a file again when it is replaced")
    args = parser.parse_args()
    if args.cmd == "serve":
        serve(args.folder, args.hosts, args.latency, args.reload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
