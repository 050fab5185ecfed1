"""Benchmark: a burst of 300 alerts delivered to a Telegram channel that allows 20 messages a minute.

What it measures (issue #7, item 4): 300 alerts become pending at once, and watcher's real
outbox (`App.deliver` -> `deliver_pending`, which groups a burst larger than the notifier's
capacity) and its real `TelegramNotifier` (python-telegram-bot, FloodGate sleeping for real)
deliver them to tests/botapi.py's FakeBotApi: a loopback Bot API server that answers
429 "Too Many Requests" to a 21st message within 60 s to one channel. Reported: the 429s the
server sent, the alerts dropped (not marked sent, or whose item is missing from every message
the channel received), the messages sent, and the wall time from the first delivery call until
no alert is pending.

How the 300 alerts arise: one rss feed of 300 items (each title names one of 20 watched people
and an incident) is served by bench/_feeds.py's aiohttp server on 127.0.1.1; feeds.yaml says
`backfill: alert`; `App.build` gets the environment `watcher run` would get
(WATCHER_TELEGRAM_TOKEN, WATCHER_TELEGRAM_CHAT = a channel id, WATCHER_TELEGRAM_API = the fake),
so the notifier is configured as in production; one `App.poll` stores the items and enqueues
the alerts. Delivery then runs as the scheduler runs it: `App.deliver()`, again every 5 s while
alerts are pending (and waiting for their retry time if one was deferred), at most 10 minutes.

Run from the repo root (needs aiohttp: `.venv/bin/pip install -e '.[bench]'`; about 20 s):

    .venv/bin/python bench/burst.py            # 300 alerts; writes BENCHMARKS.md
    .venv/bin/python bench/burst.py --quick    # 60 alerts; prints only
    .venv/bin/python bench/burst.py --alerts N

Only a full run (300 alerts) replaces the "## Delivery burst" section, unless --write / --no-write.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _feeds
from _feeds import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from botapi import FakeBotApi

from watcher.app import App
from watcher.config import Paths

SECTION = "## Delivery burst (bench/burst.py)"
CHANNEL = "-1001234567890"
TOKEN = "123:abc"
PLACES = ["Istanbul", "Moscow", "Dubai", "Almaty", "Warsaw", "Berlin", "Bishkek", "Kyiv"]
EVENTS = [
    ("detained in {place}, faces extradition to {country}", "Lawyers say the extradition request was filed last week."),
    ("abducted in {place}, relatives say", "The family reported the abduction to the police the same night."),
    ("deported from {place} despite asylum claim", "The deportation went ahead although the appeal is pending."),
    ("placed on an INTERPOL Red Notice at {country}'s request", "The Red Notice was published on Monday."),
]
COUNTRIES = {"UZ": "Uzbekistan", "TJ": "Tajikistan", "KZ": "Kazakhstan", "KG": "Kyrgyzstan", "TM": "Turkmenistan"}


def burst_items(count: int, watched) -> list[tuple[str, str, str]]:
    rng = random.Random(_feeds.SEED + 3)
    out = []
    for i in range(count):
        person = watched[i % len(watched)]
        event, summary = EVENTS[i % len(EVENTS)]
        title = f"{person.name} {event.format(place=rng.choice(PLACES), country=COUNTRIES[person.country])} (#{i})"
        out.append(("en", title, f"{summary} {person.name} left {COUNTRIES[person.country]} years ago."))
    return out


async def run(paths: Paths, api: FakeBotApi, expected: int, limit: float = 600.0) -> dict:
    env = {"WATCHER_TELEGRAM_TOKEN": TOKEN, "WATCHER_TELEGRAM_CHAT": CHANNEL,
           "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}
    app = App.build(paths, env=env)
    try:
        reports = await app.poll(app.enabled())
        enqueued = sum(r.alerts for r in reports)
        pending = app.store.alert_counts().get("pending", 0)
        print(f"poll: {sum(r.new for r in reports)} new items, {enqueued} alerts enqueued, {pending} pending; "
              f"errors {[r.error for r in reports if r.error]}", flush=True)
        calls = 0
        sent = messages = deferred = 0
        start = time.perf_counter()
        while True:
            calls += 1
            report = await app.deliver()
            sent, messages, deferred = sent + report.sent, messages + report.messages, deferred + report.deferred
            print(f"  deliver #{calls} at {time.perf_counter() - start:5.1f}s: sent {report.sent} alerts in "
                  f"{report.messages} messages, deferred {report.deferred}, failed {report.failed}", flush=True)
            if not app.store.alert_counts().get("pending", 0):
                break
            due = app.store.next_retry(list(app.notifiers))
            wait = 5.0 if due is None else max(5.0, (due - app.clock()).total_seconds())
            if time.perf_counter() - start + wait > limit:
                break
            await asyncio.sleep(wait)
        wall = time.perf_counter() - start
        counts = app.store.alert_counts()
        titles = [r[0] for r in app.store.conn.execute(
            "SELECT i.title FROM alerts a JOIN items i ON i.id = a.item_id ORDER BY a.id")]
    finally:
        await app.aclose()
    received = api.messages(int(CHANNEL))
    text = "\n".join(m["text"] for m in received)
    missing = [t for t in titles if html.escape(t) not in text and t not in text]
    return {
        "enqueued": enqueued, "wall": wall, "calls": calls, "sent": sent, "messages": messages, "deferred": deferred,
        "counts": counts, "received": len(received), "missing": len(missing), "missing_examples": missing[:3],
        "429": sum(e["status"] == 429 for e in api.errors), "errors": len(api.errors),
        "max_chars": max((len(m["text"]) for m in received), default=0),
        "per_message": sorted({m["text"].split(" alerts", 1)[0].removeprefix("<b>") for m in received}),
        "span": (received[-1]["at"] - received[0]["at"]) if len(received) > 1 else 0.0,
        "expected": expected,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=None, help="alerts in the burst (default 300; 60 with --quick)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", dest="write", action="store_true", default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args()
    n = args.alerts or (60 if args.quick else 300)
    write = args.write if args.write is not None else (n == 300 and not args.quick)

    work = Path(tempfile.mkdtemp(prefix="watcher-bench-burst-"))
    watched = _feeds.people(20)
    _feeds.write_rules(work / "rules", watched)
    www = work / "www"
    www.mkdir()
    (www / f"{_feeds.feed_id(0)}.xml").write_bytes(_feeds.rss_document(0, burst_items(n, watched)))
    with _feeds.FeedServer(www, hosts=1) as server, FakeBotApi(token=TOKEN) as api:
        _feeds.write_feeds_yaml(work / "feeds.yaml", 1, server.port, backfill="alert")
        result = asyncio.run(run(Paths(work / "feeds.yaml", work / "rules", work / "state"), api, n))
    shutil.rmtree(work, ignore_errors=True)

    dropped = n - result["counts"].get("sent", 0) + result["missing"]
    rows = [
        ["alerts pending at once", f"{result['enqueued']:,}", ""],
        ["HTTP 429 answers from the Bot API", f"{result['429']}", "0"],
        ["alerts dropped (not sent, or missing from the channel)", f"{dropped}", "0"],
        ["messages sent (received by the channel)", f"{result['received']}", "≤ 20"],
        ["alerts per message", ", ".join(result["per_message"]) if result["received"] > 1 else "1", ""],
        ["longest message (characters, Telegram's limit 4,096)", f"{result['max_chars']:,}", ""],
        ["delivery calls (`App.deliver`, every 5 s while pending)", f"{result['calls']}", ""],
        ["wall time, first delivery call until nothing pending (s)", f"{result['wall']:.1f}", ""],
        ["first to last message (s)", f"{result['span']:.1f}", ""],
        ["outbox afterwards", ", ".join(f"{k} {v}" for k, v in sorted(result["counts"].items())), ""],
    ]
    tab = _feeds.table(["What", "Value", "Target"], rows, "lrr")
    ok = result["429"] == 0 and dropped == 0 and result["received"] <= 20
    verdict = [
        f"- 429s **{result['429']}**, dropped **{dropped}**, messages **{result['received']}**, wall "
        f"**{result['wall']:.1f} s** — " + ("all targets met" if ok else "**not all targets met**"),
    ]
    print()
    print("\n".join(tab))
    print()
    print("\n".join(verdict))
    if write:
        body = [
            _feeds.header_line(
                f"{n} alerts (one rss feed of {n} items, each naming one of 20 watched people and an incident, "
                f"`backfill: alert`, polled once by `App.poll`) delivered by watcher's real outbox (`App.deliver`, "
                f"called as the scheduler does, every 5 s while alerts are pending) and `TelegramNotifier` "
                f"(python-telegram-bot; its FloodGate sleeps for real) configured from the environment "
                f"(WATCHER_TELEGRAM_TOKEN/CHAT/API) against tests/botapi.py's FakeBotApi on loopback, which "
                f"answers 429 to a 21st message within 60 s to one channel. \"Dropped\" counts alerts not marked "
                f"sent plus alerts whose title is in no message the channel received. Reproduce: "
                f"`.venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/burst.py`."),
            "",
            *tab,
            "",
            *verdict,
        ]
        _feeds.write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
