"""Soak: `watcher run` for 35 minutes on growing loopback feeds, the Bot API down for 10 of them.

What it measures (issue #15, "Done when"): a real `watcher run` subprocess (its own state folder
under /tmp, WATCHER_EVIDENCE=0) polls 40 rss feeds (`every: 1m`, `backfill: alert`,
`allow_private: true`) served by bench/_feeds.py's aiohttp server with `--reload`: this process
rewrites the feed files as news arrives (40 new items a minute spread at random over the feeds,
bench/match.py's generator, ~5 % naming one of the synthetic watched people, so alerts happen
steadily; each feed keeps its newest 30). Telegram is tests/botapi.py's FakeBotApi in this
process (flood limits on: 20 messages a minute to the channel), with a private admin chat.

After `--down-at` minutes (12) the Bot API becomes unreachable for `--down-for` minutes (10): the
listening socket is closed (new connections are refused) and a request on a connection already
open is answered with a reset, before anything is applied. Then it listens again on the same
port with the same records. New items stop `--quiet-tail` minutes (3) before the end, so the outbox
can drain; at `--minutes` (35) watcher gets SIGTERM and this waits for it to exit.

Figures: RSS (/proc/PID/status VmRSS; VmHWM for the peak) after the first full cycle, every
minute and at the end; alerts lost (an alert row not 'sent' at the end, or sent but its item's
link in no message the channel received) and doubled (an item link in two messages of the
channel that are not one incident's message and its replies; edits change one message); log
records per minute on stderr (all, and WARNING and above) and what watcher logged while the Bot
API was down (distinct messages with digits folded, and how often each).

Run from the repo root (needs aiohttp: `.venv/bin/pip install -e '.[bench]'`):

    .venv/bin/python bench/soak.py                          # 35 minutes; writes BENCHMARKS.md
    .venv/bin/python bench/soak.py --minutes 6 --down-at 2 --down-for 2 --no-write   # a try-out

Results go to `--json` (default: soak.json in the work folder, printed at the start). A run of
30 minutes or more replaces the "## Soak (bench/soak.py)" section, unless --write / --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _feeds
from _feeds import ROOT
from match import SEED, make_items

sys.path.insert(0, str(ROOT / "tests"))
from botapi import FakeBotApi

SECTION = "## Soak (bench/soak.py)"
CHANNEL = -1001234567890
ADMIN = 4242
TOKEN = "123:abc"
KEEP = 30  # items per feed document
INITIAL = 10  # items per feed before watcher starts (backfill: alert, so they alert too)
WATCHER = Path(sys.executable).parent / "watcher"
LINK = re.compile(r"article-(\d+)-(\d+)\.html")
RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ ([A-Z]+) (\S+): (.*)$")


class Outage:
    """Makes a FakeBotApi unreachable and reachable again on the same port, keeping its records."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api, self.down, self.resets = api, False, 0
        serve = api._serve

        def guarded(request) -> None:  # type: ignore[no-untyped-def]
            if self.down:  # a request on a connection opened before the outage: reset, nothing applied
                self.resets += 1
                api._hang_up(request, reset=True)
                return
            serve(request)

        api._serve = guarded  # type: ignore[method-assign]

    def go_down(self) -> None:
        self.down = True
        self.api._httpd.shutdown()  # stop accepting ...
        self.api._httpd.socket.close()  # ... and stop listening: connections are refused

    def come_up(self) -> None:
        httpd = self.api._httpd
        httpd.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        httpd.server_bind()  # same address and port (SO_REUSEADDR)
        httpd.server_activate()
        self.down = False
        self.api._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.api._thread.start()


class Newsroom:
    """The feeds' contents: a pool of generated texts handed out as news, written atomically."""

    def __init__(self, folder: Path, n_feeds: int, watched, size: int) -> None:
        self.folder, self.n_feeds, self.rng = folder, n_feeds, random.Random(SEED + 15)
        raw, planted = make_items(size, list(watched), _feeds.incident_rules(), random.Random(SEED + 16))
        self.pool = [(t.partition("\n")[0], t.partition("\n")[2], who) for t, who in zip(raw, planted)]
        self.next = 0
        self.feeds: list[list[tuple[int, datetime, str, str, str]]] = [[] for _ in range(n_feeds)]
        self.published: list[tuple[str, int]] = []  # (key "feed-serial", planted person or -1)
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, feed: int, when: datetime) -> None:
        title, summary, who = self.pool[self.next % len(self.pool)]
        serial = self.next
        self.next += 1
        lang = "ru" if re.search("[а-яё]", title.lower()) else "en"
        self.feeds[feed].insert(0, (serial, when, lang, f"{title} ({serial})", summary))
        del self.feeds[feed][KEEP:]
        self.published.append((f"{feed}-{serial}", who))

    def write(self, feed: int, when: datetime) -> None:
        target = self.folder / f"{_feeds.feed_id(feed)}.xml"
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(_feeds.rss_entries(feed, self.feeds[feed], when))
        os.replace(tmp, target)

    def start(self) -> None:
        now = datetime.now(timezone.utc)
        for feed in range(self.n_feeds):
            for k in range(INITIAL):
                self.add(feed, now - timedelta(minutes=17 * (INITIAL - k)))
            self.write(feed, now)

    def news(self, count: int) -> None:
        now = datetime.now(timezone.utc)
        touched = set()
        for _ in range(count):
            feed = self.rng.randrange(self.n_feeds)
            self.add(feed, now)
            touched.add(feed)
        for feed in touched:
            self.write(feed, now)


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def query(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def outbox(db: Path) -> dict[str, int]:
    return {f"{d}:{s}": n for d, s, n in query(db, "SELECT destination, status, count(*) FROM alerts GROUP BY 1, 2")}


def keys_in(text: str) -> set[str]:
    return {f"{f}-{s}" for f, s in LINK.findall(text)}


def check_delivery(db: Path, api: FakeBotApi) -> dict:
    """Lost and doubled, from watcher.db's outbox and the messages the fake received."""
    rows = query(db, "SELECT a.id, a.destination, a.status, a.kind, i.url FROM alerts a JOIN items i ON i.id = a.item_id")
    channel = api.messages(CHANNEL)
    admin_text = "\n".join(m["text"] for m in api.messages(ADMIN))
    per_message = {m["message_id"]: keys_in(m["text"]) for m in channel}
    parent = {}
    for m in channel:
        reply = m["params"].get("reply_parameters") or {}
        to = reply.get("message_id") if isinstance(reply, dict) else None
        parent[m["message_id"]] = int(to or m["params"].get("reply_to_message_id") or 0) or None

    def root(mid: int) -> int:
        while parent.get(mid):
            mid = parent[mid]  # type: ignore[assignment]
        return mid

    in_messages: Counter[str] = Counter(k for keys in per_message.values() for k in keys)
    threads: dict[str, set[int]] = {}
    for mid, keys in per_message.items():
        for k in keys:
            threads.setdefault(k, set()).add(root(mid))
    received = set(in_messages)
    statuses = Counter(status for _, _, status, _, _ in rows)
    not_sent = [(aid, status) for aid, _, status, _, _ in rows if status != "sent"]
    sent_missing = [k for _, _, status, _, url in rows if status == "sent" for k in [next(iter(keys_in(url)), url)]
                    if k not in received]
    return {
        "alert_rows": len(rows), "statuses": dict(statuses), "kinds": dict(Counter(r[3] for r in rows)),
        "destinations": dict(Counter(r[1] for r in rows)), "not_sent": len(not_sent),
        "sent_missing": len(sent_missing), "sent_missing_named_in_admin_chat":
            sum(k in keys_in(admin_text) for k in sent_missing),
        "lost": len(not_sent) + len(sent_missing),
        "doubled": sum(len(t) > 1 for t in threads.values()),
        "in_several_messages_of_one_incident": sum(c > 1 and len(threads[k]) == 1 for k, c in in_messages.items()),
        "channel_messages": len(channel), "channel_edits": sum(e["chat_id"] == CHANNEL for e in api.edits),
        "channel_replies": sum(bool(p) for p in parent.values()), "admin_messages": len(api.messages(ADMIN)),
        "links_in_channel": len(received), "api_errors": dict(Counter(e["status"] for e in api.errors)),
        "api_counts": dict(api.counts),
    }


def read_log(path: Path, start: datetime, secret: list[str], outage: tuple[float, float]) -> dict:
    """Records per minute since start (all, WARNING+), and what was said while the API was down."""
    minutes: Counter[int] = Counter()
    warn: Counter[int] = Counter()
    levels: Counter[str] = Counter()
    said: Counter[str] = Counter()
    during: Counter[str] = Counter()
    first_at: dict[str, float] = {}
    lines = names = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        lines += 1
        names += any(s in line for s in secret)
        m = RECORD.match(line)
        if not m:
            continue
        at = (datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") - start).total_seconds()
        minute = max(0, int(at // 60))
        minutes[minute] += 1
        levels[m.group(2)] += 1
        message = m.group(4)
        for s in secret:
            message = message.replace(s, "<name>")
        shape = f"{m.group(2)} {m.group(3)}: " + re.sub(r"\d+(\.\d+)?", "N", message)[:220]
        said[shape] += 1
        first_at.setdefault(shape, round(at / 60, 1))
        if m.group(2) in ("WARNING", "ERROR", "CRITICAL"):
            warn[minute] += 1
        if outage[0] <= at < outage[1] + 60:
            during[shape] += 1
    span = max(minutes) + 1 if minutes else 0
    per_minute = [minutes.get(i, 0) for i in range(span)]
    warn_per_minute = [warn.get(i, 0) for i in range(span)]
    return {
        "lines": lines, "records": sum(minutes.values()), "levels": dict(levels), "per_minute": per_minute,
        "warn_per_minute": warn_per_minute, "peak": max(per_minute, default=0),
        "peak_minute": per_minute.index(max(per_minute)) if per_minute else None,
        "warn_peak": max(warn_per_minute, default=0), "lines_naming_watched_people": names,
        "during_outage": during.most_common(25), "most_said": said.most_common(25),
        "first_said_at_minute": {k: first_at[k] for k, _ in said.most_common(25)},
    }


def run(args: argparse.Namespace, work: Path) -> dict:
    watched = _feeds.people(args.people)
    _feeds.write_rules(work / "rules", watched)
    for path in (work / "rules").iterdir():  # as a careful deployment has them (watcher warns otherwise)
        path.chmod(0o600)
    (work / "rules").chmod(0o700)
    secret = sorted({s for p in watched for s in (p.name, *p.aliases) if len(s) >= 5})
    news = Newsroom(work / "www", args.feeds,
                    watched, args.feeds * INITIAL + int(args.per_minute * args.minutes * 1.5) + 100)
    news.start()
    state = work / "state"
    state.mkdir(mode=0o700)
    db = state / "watcher.db"
    samples: list[dict] = []
    with _feeds.FeedServer(work / "www", hosts=args.feeds, latency=0.05, reload=True) as server, \
            FakeBotApi(token=TOKEN) as api:
        outage = Outage(api)
        _feeds.write_feeds_yaml(work / "feeds.yaml", args.feeds, server.port, backfill="alert")
        text = (work / "feeds.yaml").read_text().replace("every: 15m", f"every: {args.every}")
        (work / "feeds.yaml").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
        env.update(WATCHER_FEEDS=str(work / "feeds.yaml"), WATCHER_RULES=str(work / "rules"), WATCHER_STATE=str(state),
                   WATCHER_TELEGRAM_TOKEN=TOKEN, WATCHER_TELEGRAM_CHAT=str(CHANNEL),
                   WATCHER_TELEGRAM_ADMIN_CHAT=str(ADMIN), WATCHER_TELEGRAM_ADMINS=str(ADMIN),
                   WATCHER_TELEGRAM_API=f"http://127.0.0.1:{api.port}", WATCHER_EVIDENCE="0")
        log_path = work / "watcher.stderr"
        start_wall = datetime.now().replace(microsecond=0)
        t0 = time.monotonic()
        with open(log_path, "wb") as err, open(work / "watcher.stdout", "wb") as out:
            proc = subprocess.Popen([str(WATCHER), "run"], env=env, stdout=out, stderr=err, cwd=work)
        print(f"watcher run started, pid {proc.pid}; log {log_path}", flush=True)
        first = None
        down_at, up_at = args.down_at * 60.0, (args.down_at + args.down_for) * 60.0
        events: list[tuple[float, str]] = []
        owed = 0.0
        last_news = last_minute = t0
        peak = 0
        try:
            while (now := time.monotonic() - t0) < args.minutes * 60:
                if proc.poll() is not None:
                    raise RuntimeError(f"watcher run exited early ({proc.returncode}); see {log_path}")
                mem = status_kb(proc.pid)
                peak = max(peak, mem.get("VmHWM", 0))
                if first is None:
                    polled = query(db, "SELECT count(*) FROM sources WHERE last_polled IS NOT NULL")
                    if polled and polled[0][0] >= args.feeds:
                        first = {"t": round(now, 1), "rss_kb": mem.get("VmRSS", 0)}
                        print(f"first cycle done at {now:.0f}s: RSS {mem.get('VmRSS', 0) / 1024:.1f} MB", flush=True)
                if not outage.down and down_at <= now < up_at:
                    outage.go_down()
                    events.append((now, "down"))
                    print(f"[{now / 60:5.1f} min] Bot API down", flush=True)
                elif outage.down and now >= up_at:
                    outage.come_up()
                    events.append((now, "up"))
                    print(f"[{now / 60:5.1f} min] Bot API up again", flush=True)
                if now < (args.minutes - args.quiet_tail) * 60 and time.monotonic() - last_news >= 15:
                    owed += args.per_minute * (time.monotonic() - last_news) / 60
                    last_news = time.monotonic()
                    news.news(int(owed))
                    owed -= int(owed)
                if time.monotonic() - last_minute >= 60 or not samples:
                    last_minute = time.monotonic()
                    box = outbox(db)
                    sample = {"minute": round(now / 60, 1), "rss_kb": mem.get("VmRSS", 0), "hwm_kb": mem.get("VmHWM", 0),
                              "outbox": box, "channel_messages": len(api.messages(CHANNEL)),
                              "published": len(news.published), "log_lines": log_path.read_bytes().count(b"\n"),
                              "api_down": outage.down}
                    samples.append(sample)
                    print(f"[{sample['minute']:5.1f} min] RSS {sample['rss_kb'] / 1024:6.1f} MB, published "
                          f"{sample['published']}, outbox {box}, channel {sample['channel_messages']} msgs, "
                          f"log {sample['log_lines']} lines{', API DOWN' if outage.down else ''}", flush=True)
                time.sleep(2)
            if outage.down:
                outage.come_up()
            end_mem = status_kb(proc.pid)
            box_at_stop = outbox(db)
            stop_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
            exit_s = time.monotonic() - stop_at
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        print(f"watcher exited {code} after {exit_s:.1f}s", flush=True)
        (work / "botapi.json").write_text(json.dumps(  # the fake's records, to check again by hand
            {"sent": api.sent, "edits": api.edits, "errors": api.errors, "counts": api.counts, "events": events},
            default=str, ensure_ascii=False), encoding="utf-8")
        delivery = check_delivery(db, api)
        delivery["outage_resets"] = outage.resets
        stats = {k: query(db, sql)[0][0] for k, sql in (
            ("items", "SELECT count(*) FROM items"), ("matched_items", "SELECT count(DISTINCT item_id) FROM matches"),
            ("incidents", "SELECT count(*) FROM incidents"))}
        sent_at = [m["at"] - t0 for m in api.messages(CHANNEL)]
    up = next((t for t, e in events if e == "up"), None)
    after_up = [at for at in sent_at if up is not None and at >= up]
    log = read_log(log_path, start_wall, secret, (down_at, up_at))
    return {
        "args": vars(args), "work": str(work), "started": start_wall.isoformat(), "machine": _feeds.machine(),
        "load_at_start": _feeds.START_LOAD, "load_at_end": _feeds.load(), "events": events,
        "first_cycle": first, "rss_end_kb": end_mem.get("VmRSS", 0), "hwm_kb": max(peak, end_mem.get("VmHWM", 0)),
        "samples": samples, "outbox_at_stop": box_at_stop, "exit_code": code, "exit_seconds": round(exit_s, 1),
        "published": len(news.published), "published_naming_people": sum(w >= 0 for _, w in news.published),
        "delivery": delivery, "db": stats, "log": log,
        "channel_messages_after_up": len(after_up),
        "first_message_after_up_s": round(min(after_up) - up, 1) if after_up else None,
    }


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(r: dict) -> list[str]:
    a, d, log = r["args"], r["delivery"], r["log"]
    mb = lambda kb: f"{kb / 1024:.1f}"  # noqa: E731
    settled = r["first_cycle"]["t"] / 60 if r["first_cycle"] else 0
    rss = [s["rss_kb"] for s in r["samples"] if s["minute"] >= settled] or [0]
    during = [log["per_minute"][i] for i in range(a["down_at"], min(len(log["per_minute"]), a["down_at"] + a["down_for"]))]
    rows = [
        ["RSS after the first cycle (MB)", mb(r["first_cycle"]["rss_kb"]) if r["first_cycle"] else "?"],
        ["RSS at the end (MB)", mb(r["rss_end_kb"])],
        ["RSS per minute after the first cycle, min / max (MB)", f"{mb(min(rss))} / {mb(max(rss))}"],
        ["peak RSS, VmHWM (MB)", mb(r["hwm_kb"])],
        ["items published / naming a watched person", f"{r['published']:,} / {r['published_naming_people']}"],
        ["items stored / matched", f"{r['db']['items']:,} / {r['db']['matched_items']}"],
        ["alert rows (channel and others) / incidents", f"{d['alert_rows']} / {r['db']['incidents']}"],
        ["alerts lost (not sent, or sent but in no channel message)", f"{d['lost']}"],
        ["alerts doubled (one link in two incidents' messages)", f"{d['doubled']}"],
        ["first channel message after the API came back (s)", f"{r['first_message_after_up_s']}"],
        ["channel: messages / edits / replies", f"{d['channel_messages']} / {d['channel_edits']} / {d['channel_replies']}"],
        ["admin chat messages", f"{d['admin_messages']}"],
        ["Bot API error answers (status: count)", ", ".join(f"{k}: {v}" for k, v in d["api_errors"].items()) or "none"],
        ["log records per minute: mean / peak (minute)",
         f"{log['records'] / max(1, len(log['per_minute'])):.1f} / {log['peak']} (minute {log['peak_minute']})"],
        ["WARNING+ per minute: total / peak", f"{sum(log['warn_per_minute'])} / {log['warn_peak']}"],
        ["log records per minute while the API was down", ", ".join(map(str, during))],
        ["log lines naming a watched person", f"{log['lines_naming_watched_people']}"],
        ["exit after SIGTERM: code / seconds", f"{r['exit_code']} / {r['exit_seconds']}"],
    ]
    said = [f"- {n}× `{shape}`" for shape, n in log["during_outage"][:8]]
    return [
        f"Run {r['started'][:10]} (started {r['started']} UTC) on {r['machine']}, commit {commit()}; load average "
        f"{r['load_at_start']} at start, {r['load_at_end']} at the end. A real `watcher run` subprocess for "
        f"{a['minutes']} minutes: {a['feeds']} rss feeds (`every: {a['every']}`, `backfill: alert`) from "
        f"bench/_feeds.py's server in `--reload` mode, {INITIAL} items each at start and then {a['per_minute']} new "
        f"items a minute spread over them (none in the last {a['quiet_tail']} minutes), {a['people']} synthetic watched "
        f"people; Telegram = tests/botapi.py's FakeBotApi (flood limits on) with a channel and an admin chat, "
        f"unreachable (connections refused, open ones reset) from minute {a['down_at']} to {a['down_at'] + a['down_for']}; "
        f"WATCHER_EVIDENCE=0; SIGTERM at the end. Reproduce: `.venv/bin/python bench/soak.py`.",
        "",
        *_feeds.table(["What", "Value"], rows, "lr"),
        "",
        "Log records per minute (all): " + ", ".join(map(str, log["per_minute"])) + ".",
        "",
        "WARNING+ per minute: " + ", ".join(map(str, log["warn_per_minute"])) + ".",
        "",
        "What watcher logged from the outage until a minute after it ended (digits folded to N):",
        "",
        *said,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=35)
    parser.add_argument("--down-at", type=int, default=12, help="minute the Bot API goes down")
    parser.add_argument("--down-for", type=int, default=10, help="minutes it stays down")
    parser.add_argument("--quiet-tail", type=int, default=3, help="no new items in the last N minutes")
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--per-minute", type=int, default=40, help="new items a minute over all feeds")
    parser.add_argument("--every", default="1m", help="the feeds' poll interval")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="watcher-soak-"))
    out = args.json or work / "soak.json"
    print(f"working in {work}; results to {out}", flush=True)
    result = run(args, work)
    args.json = str(out)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    body = report(result)
    print("\n".join(body))
    if args.write if args.write is not None else args.minutes >= 30:
        _feeds.write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
