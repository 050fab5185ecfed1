"""Crash safety: `watcher poll --once` SIGKILLed at random points of a poll-and-deliver cycle.

One loopback feed and ONE FakeBotApi for the whole run (it records every message it accepts, so
losses and duplicates are visible). The process is killed at a seeded random delay, restarted,
killed again; new items appear now and then. Then it runs to completion and every alert that
should exist must be in the channel exactly once, except alerts resolved by the documented
Telegram rule "assume sent" (README, "Exactly once"), which must then be named in the admin chat.

Each cycle adds a few non-alerting "tick" items, so the state after a kill tells whether that
cycle's poll transaction committed; with the feed server's timing and the Bot API's records this
classifies where each kill landed.

Kills are drawn uniformly from 0 to the measured length of an uninterrupted cycle; every 4th is
aimed at a random point after the feed answered (parse, match, the write transaction), and in every
4th run the Bot API holds its answer to the first channel message (applied at once, answered
later: the real "did it arrive?" window). Where each kill landed is printed (pytest -s) and is in
every assertion message, with the seed and the kill times.

The fake's flood limit is off: every restart starts a fresh FloodGate, so a restart loop would
otherwise hit 429s whose waits (up to a minute) only slow the test. watcher's own gate (one
message a second) stays, so delivery is the longest phase. The 50 kills take about 70 s.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from botapi import FakeBotApi
from conftest import Workspace, rss

from watcher.demo.replay import ReplayServer, Route

CHANNEL = -1001234567890
ADMIN = 4242
PEOPLE = "people:\n  - name: Bakhodir Karimov\n"
LINK = re.compile(r"https://news\.example\.org/([A-Za-z0-9_-]+)")
FEED_DELAY = 0.3  # seconds the feed server waits before answering
TICKS = 8  # non-alerting items added every cycle (they make the write transaction non-trivial)
SEED = 20261123
HOLD = 5.0  # seconds a held Bot API answer waits (longer than any kill delay)


# --------------------------------------------------------------------------- the world


class Feed:
    """The feed's current items; served by a handler that records when each answer went out."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []
        self.alerting: set[str] = set()
        self.served: list[float] = []  # monotonic time each full answer was written
        self._n = 0

    def add_alerting(self, n: int) -> None:
        for _ in range(n):
            key = f"p{self._n:04d}"
            self._n += 1
            desc = "Faces extradition." if self._n % 3 else "Seen at the border."
            self.items.append((key, f"Bakhodir Karimov detained, case {key}", desc))
            self.alerting.add(key)

    def add_quiet(self, key: str) -> None:
        words = " ".join(f"Traders in the capital watched grain and cotton prices ({key}, line {i})." for i in range(8))
        self.items.append((key, f"Markets closed higher, report {key}", words))

    def handler(self, request) -> None:  # Route.handler: Route.delay has already been slept
        body = rss(*self.items)
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            request.wfile.write(body)
            request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        self.served.append(time.monotonic())


def _env(ws: Workspace, api: FakeBotApi) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update({
        "WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
        "WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": str(CHANNEL),
        "WATCHER_TELEGRAM_ADMIN_CHAT": str(ADMIN), "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}",
        "WATCHER_EVIDENCE": "0",  # the items link to news.example.org: no page is fetched
    })
    return env


def _start(ws: Workspace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(ws.root / "last-run.log", "wb")  # noqa: SIM115 - closed by the child's exit
    try:
        return subprocess.Popen([sys.executable, "-m", "watcher", "poll", "--once"], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
    finally:
        log.close()


def _setup(root: Path, server: ReplayServer, feed: Feed) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root, server)
    ws.write_rules(PEOPLE)
    server.routes["/feed.xml"] = Route(delay=FEED_DELAY, handler=feed.handler)
    ws.write_feeds({"id": "news", "url": server.url("/feed.xml"), "backfill": "alert"})
    return ws


@dataclass
class Snapshot:
    alerts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (status, item key)
    keys: set[str] = field(default_factory=set)  # keys stored from the feed

    def with_status(self, status: str) -> set[int]:
        return {i for i, (s, _) in self.alerts.items() if s == status}


def _snapshot(db: Path) -> Snapshot:
    """The state a dead process left (opening it replays the WAL, as the next start would)."""
    if not db.exists():
        return Snapshot()
    con = sqlite3.connect(db, timeout=5)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alerts" not in tables:
            return Snapshot()
        alerts = {r[0]: (r[1], _key(r[2])) for r in
                  con.execute("SELECT a.id, a.status, i.url FROM alerts a JOIN items i ON i.id = a.item_id")}
        keys = {r[0] for r in con.execute("SELECT key FROM sightings WHERE source_id = 'news'")}
        return Snapshot(alerts, {_key(k) for k in keys})
    finally:
        con.close()


def _key(url: str) -> str:
    m = LINK.search(url or "")
    return m.group(1) if m else url


def _links(messages: list[dict]) -> list[str]:
    return [k for m in messages for k in LINK.findall(m["text"])]


# --------------------------------------------------------------------------- the kill loop


def _wait_for(condition, timeout: float = 20.0, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(poll)




@dataclass
class Kill:
    n: int
    delay: float
    phase: str
    detail: str = ""

    def __str__(self) -> str:
        return f"#{self.n} {self.delay:.3f}s {self.phase}{' ' + self.detail if self.detail else ''}"


@dataclass
class Outcome:
    kills: list[Kill]
    cycle: float  # measured duration of an uninterrupted cycle (the kill window)
    seconds: float
    expected: set[str]  # keys of every item that should alert
    channel: Counter[str]  # key -> times it appears in the monitors' channel
    announced: set[str]  # keys the admin chat was told were in flight
    notice_lost: set[str]  # keys resolved "assume sent" by a run killed before it told the admin chat
    statuses: Counter[str]
    alert_keys: Counter[str]
    integrity: str

    def log(self) -> str:
        phases = Counter(k.phase for k in self.kills)
        return (f"seed {SEED}, {len(self.kills)} kills in {self.seconds:.1f}s, kill window 0..{self.cycle:.2f}s; "
                f"phases {dict(phases)}\n" + "\n".join(map(str, self.kills)))


def _measure_cycle(root: Path) -> tuple[float, float]:
    """One uninterrupted cycle of a small backlog (3 alerts: startup, fetch, write, three sends
    one second apart): the window the kills are drawn from. Also how long it takes from the feed's
    answer to the first message (parse, match, the write transaction, the bot's start)."""
    feed = Feed()
    feed.add_alerting(3)
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _setup(root, server, feed)
        started = time.monotonic()
        proc = _start(ws, _env(ws, api))
        _wait_for(lambda: api.messages(CHANNEL), timeout=60, poll=0.002)
        first = time.monotonic()
        assert proc.wait(timeout=60) == 0, (ws.root / "last-run.log").read_text()
        assert len(api.messages(CHANNEL)) == 3
        return time.monotonic() - started, first - feed.served[0]


def _crash_loop(tmp: Path, kills: int, initial_alerting: int, initial_quiet: int) -> Outcome:
    rng = random.Random(SEED)
    began = time.monotonic()
    cycle, write_window = _measure_cycle(tmp / "calibrate")
    feed = Feed()
    feed.add_alerting(initial_alerting)
    for i in range(initial_quiet):
        feed.add_quiet(f"q{i:04d}")
    rng.shuffle(feed.items)
    log: list[Kill] = []
    notice_lost: set[str] = set()
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _setup(tmp / "run", server, feed)
        env = _env(ws, api)
        db = ws.state / "watcher.db"
        route = server.routes["/feed.xml"]
        before = _snapshot(db)
        for n in range(kills):
            if n and n % 3 == 0:  # now and then, news that alerts (so there is always something to send)
                feed.add_alerting(rng.randint(1, 3))
            for j in range(TICKS):
                feed.add_quiet(f"t{n:03d}-{j}")
            hits, served = route.hits, len(feed.served)
            channel, admin = len(api.messages(CHANNEL)), len(api.messages(ADMIN))
            # every 4th kill aims at the poll's write: a random point after the feed answered
            aimed = n % 4 == 3
            # every 4th run meets a slow Telegram: the first message is applied at once, its answer
            # held (the real "did it arrive?" case), so a kill after it lands between send and 'sent'
            slow_answer = n % 4 == 1
            delay, after_answer = rng.uniform(0.0, cycle), rng.uniform(0.0, write_window)
            notice_first = bool(before.with_status("sending"))  # recover will message the admin chat first
            if slow_answer and not notice_first:
                api.delay_next("sendMessage", HOLD)
            proc = _start(ws, env)
            started = time.monotonic()
            try:
                if slow_answer and notice_first:  # hold the channel's first message, not the notice
                    _wait_for(lambda a=admin, p=proc, end=started + delay: len(api.messages(ADMIN)) > a
                              or p.poll() is not None or time.monotonic() > end, poll=0.002)
                    api.delay_next("sendMessage", HOLD)
                if aimed:
                    _wait_for(lambda s=served, p=proc: len(feed.served) > s or p.poll() is not None, poll=0.002)
                    time.sleep(after_answer)
                    delay = time.monotonic() - started
                code = proc.wait(timeout=max(0.0, started + delay - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                code = proc.wait(timeout=30)
            killed_at = time.monotonic()
            with api.lock:
                api._delays.clear()  # an unused hold must not slow a later run
            after = _snapshot(db)
            new_channel = _links(api.messages(CHANNEL)[channel:])
            new_admin = set(_links(api.messages(ADMIN)[admin:]))
            recovered = {after.alerts[i][1] for i in before.with_status("sending") if after.alerts[i][0] == "sent"}
            unannounced = recovered - new_admin
            notice_lost |= unannounced
            in_flight = {after.alerts[i][1] for i in after.with_status("sending")}
            if code != -signal.SIGKILL:
                phase = "finished before the kill"
            elif route.hits == hits:
                phase = "startup/recover"
            elif len(feed.served) == served or feed.served[-1] > killed_at:
                phase = "fetching"
            elif f"t{n:03d}-0" not in after.keys:
                phase = "parse/match/write transaction"
            elif not in_flight:
                phase = "delivery: nothing claimed"
            elif in_flight <= set(new_channel):
                phase = "delivery: sent, 'sent' mark not committed"
            else:
                phase = "delivery: claimed, not sent (waiting for the flood gate)"
            detail = ["(aimed at the write)"] if aimed else ["(slow Bot API answer)"] if slow_answer else []
            if unannounced:
                detail.append(f"recovered {sorted(unannounced)} but the admin notice never went out")
            if in_flight:
                detail.append(f"left sending: {sorted(in_flight)}")
            if new_channel:
                detail.append(f"{len(new_channel)} alert(s) reached the channel")
            log.append(Kill(n, delay, phase, " ".join(detail)))
            before = after
        for _ in range(2):  # then let it finish, twice: everything due is delivered
            admin = len(api.messages(ADMIN))
            proc = _start(ws, env)
            assert proc.wait(timeout=180) == 0, (ws.root / "last-run.log").read_text()
            after = _snapshot(db)
            recovered = {after.alerts[i][1] for i in before.with_status("sending") if after.alerts[i][0] == "sent"}
            notice_lost |= recovered - set(_links(api.messages(ADMIN)[admin:]))
            before = after
        con = sqlite3.connect(db)
        try:
            integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
            statuses = Counter(r[0] for r in con.execute("SELECT status FROM alerts"))
            alert_keys = Counter(_key(r[0]) for r in
                                 con.execute("SELECT i.url FROM alerts a JOIN items i ON i.id = a.item_id"))
        finally:
            con.close()
        return Outcome(
            kills=log, cycle=cycle, seconds=time.monotonic() - began, expected=set(feed.alerting),
            channel=Counter(_links(api.messages(CHANNEL))), announced=set(_links(api.messages(ADMIN))),
            notice_lost=notice_lost, statuses=statuses, alert_keys=alert_keys, integrity=integrity,
        )


def _check(out: Outcome) -> None:
    log = out.log()
    print("\n" + log)
    assert out.integrity == "ok", log  # (a)
    assert set(out.statuses) == {"sent"}, (dict(out.statuses), log)  # (b) none pending/sending/failed
    assert set(out.alert_keys) == out.expected and max(out.alert_keys.values()) == 1, log  # one row per alert
    twice = {k: c for k, c in out.channel.items() if c > 1}
    assert not twice, (f"alerted more than once: {twice}", log)  # (c)
    assert set(out.channel) <= out.expected, log  # nothing that should not alert
    missing = out.expected - set(out.channel)
    # (d) missing only by "assume sent", and then named in the admin chat. A run killed after
    # recover committed 'sent' but before its admin notice went out never names them (a bug of
    # its own, pinned deterministically by test_assumed_sent_alerts_are_announced_even_if_killed_while_announcing).
    unexplained = missing - out.announced - out.notice_lost
    assert not unexplained, (f"lost without a word to the admin chat: {sorted(unexplained)}", log)
    in_window = sum(k.phase.startswith("delivery: sent") or k.phase.startswith("delivery: claimed") for k in out.kills)
    print(f"{len(out.expected)} alerts; {len(out.expected) - len(missing)} delivered once, {len(missing)} missing "
          f"(announced as uncertain: {sorted(missing & out.announced)}; "
          f"notice lost: {sorted(missing & out.notice_lost)}); "
          f"{in_window} of {len(out.kills)} kills hit the claimed-to-answered window")


def test_fifty_random_kills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    _check(_crash_loop(tmp_path, kills=50, initial_alerting=30, initial_quiet=10))


# --------------------------------------------------------------------------- pinned bugs


def _kill_while_waiting_for_the_gate(ws: Workspace, env: dict[str, str], api: FakeBotApi) -> None:
    """Start a cycle with 3 alerts due, kill it 0.5 s after the first message was accepted, while
    the next alert waits for its flood-limit slot (1 message/s)."""
    proc = _start(ws, env)
    try:
        _wait_for(lambda: len(api.messages(CHANNEL)) == 1, poll=0.002)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def test_an_alert_waiting_for_the_flood_limit_is_not_claimed_so_a_kill_loses_nothing(tmp_path: Path) -> None:
    feed = Feed()
    feed.add_alerting(3)
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _setup(tmp_path, server, feed)
        env = _env(ws, api)
        _kill_while_waiting_for_the_gate(ws, env, api)
        assert not _snapshot(ws.state / "watcher.db").with_status("sending")  # waiting is not claiming
        assert _start(ws, env).wait(timeout=60) == 0
        links = _links(api.messages(CHANNEL))
        assert len(links) == 3 and len(set(links)) == 3  # all delivered, none twice
        assert not api.messages(ADMIN)  # nothing was uncertain


def test_an_uncertain_alert_is_announced_even_if_killed_while_announcing(tmp_path: Path) -> None:
    feed = Feed()
    feed.add_alerting(1)
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _setup(tmp_path, server, feed)
        env = _env(ws, api)
        api.delay_next("sendMessage", 5.0)  # Telegram posts it at once but answers late
        proc = _start(ws, env)
        try:
            _wait_for(lambda: len(api.messages(CHANNEL)) == 1, poll=0.002)
        finally:
            proc.send_signal(signal.SIGKILL)  # the outcome is unknown to watcher
            proc.wait(timeout=30)
        (posted,) = _links(api.messages(CHANNEL))
        api.delay_next("getMe", 10.0)  # the restarted run is killed while it would announce
        getme = api.counts.get("getMe", 0)
        proc = _start(ws, env)
        try:
            _wait_for(lambda: api.counts.get("getMe", 0) > getme)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert not api.messages(ADMIN)
        assert _start(ws, env).wait(timeout=60) == 0
        assert _links(api.messages(CHANNEL)) == [posted]  # assumed sent: never twice
        assert posted in _links(api.messages(ADMIN))  # and the notice survived the second kill
