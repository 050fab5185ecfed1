"""Fault tests: broken rules in a running watcher, secrets and names kept out of logs and
state kept private, Telegram and SMTP outages, and fuzzing of the parser and the matcher.

(A stranger's bot command changing nothing is covered by tests/test_bot.py.)
"""

from __future__ import annotations

import asyncio
import email
import io
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from botapi import FakeBotApi
from conftest import free_port, rss
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from watcher.app import App
from watcher.config import Paths
from watcher.errors import SourceError
from watcher.matching import Matcher
from watcher.matching.normalize import tokenize, word_norm
from watcher.matching.translit import name_key
from watcher.models import Response
from watcher.delivery.notifiers.console import ConsoleNotifier
from watcher.rules import IncidentType, Person, Rules
from watcher.sources.rss import parse_feed
from watcher.store import Store
from watcher.text import canonical_url

CHANNEL = "-1001234567890"
TOKEN = "123456:SECRET-TOKEN-abc"

PEOPLE = """\
people:
  - name: Bakhodir Karimov
    aliases: [Баходир Каримов]
    country: UZ
"""
INCIDENTS = """\
incident_types:
  extradition:
    urgent: true
    alone: true
    keywords:
      en: [extradition, extradite*]
"""
# Every spelling of the watched person that must never reach a log line.
NAME_WORDS = ("bakhodir", "bahodir", "baxodir", "karimov", "баходир", "бахадир", "каримов")
NAME_KEYS = {name_key(w) for w in NAME_WORDS}

# (kind, file broken, its broken text, "file:line" expected in the error, a fragment of the reason)
BROKEN = [
    ("yaml_syntax", "people.yaml",
     "people:\n  - name: Bakhodir Karimov\n    aliases: [Баходир Каримов\n    country: UZ\n",
     "people.yaml:4", "YAML syntax error"),
    ("unknown_key", "incidents.yaml", INCIDENTS.replace("    urgent: true\n", "    urgnt: true\n"),
     "incidents.yaml:3", "unknown key 'urgnt'"),
    ("empty_name", "people.yaml", PEOPLE + "  - name: '   '\n", "people.yaml:5", "person #2: name: name must not be empty"),
    ("re2_refused", "people.yaml", PEOPLE + "    regex: '(?<=x)y'\n", "people.yaml:5", "RE2 refuses"),
    ("duplicate_person", "people.yaml", PEOPLE + "  - name: bakhodir   KARIMOV\n", "people.yaml:5",
     "person #2: the same person is already listed at people.yaml:2"),
]


def _write_rules(ws, people: str = PEOPLE, incidents: str = INCIDENTS) -> None:
    ws.rules.mkdir(exist_ok=True)
    (ws.rules / "people.yaml").write_text(people, encoding="utf-8")
    (ws.rules / "incidents.yaml").write_text(incidents, encoding="utf-8")


def _break(ws, file: str, text: str) -> None:
    """One file broken, the other back to its valid text; each written atomically, so a refresh in a
    running watcher never reads a half-written file."""
    for name, body in (("people.yaml", PEOPLE), ("incidents.yaml", INCIDENTS)):
        body = text if name == file else body
        path = ws.rules / name
        if path.read_text(encoding="utf-8") != body:
            tmp = ws.rules / f".{name}.tmp"
            tmp.write_text(body, encoding="utf-8")
            os.replace(tmp, path)


def _mentions_name(text: str) -> list[str]:
    """Words of `text` that are a spelling of the watched person (any script or romanisation)."""
    folded = text.casefold()
    found = [w for w in NAME_WORDS if w in folded]
    found += [t.raw for t in tokenize(text) if name_key(t.raw) in NAME_KEYS]
    return found


# ------------------------------------------------------------------ 1. bad rules


@pytest.mark.parametrize("kind, file, text, where, reason", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_rules_file_is_refused_with_file_line_and_old_rules_keep_alerting(
        ws, caplog, kind, file, text, where, reason) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("k1", "Bakhodir Karimov detained", "x"))),
                    "backfill": "alert"})
    _write_rules(ws)
    out = io.StringIO()
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), notifiers={"console": ConsoleNotifier(out)})
    caplog.set_level(logging.INFO)

    async def cycle() -> None:
        await app.poll(app.enabled(), respect_backoff=False)
        await app.deliver()

    async def main() -> None:
        try:
            await cycle()
            assert "Bakhodir Karimov detained" in out.getvalue()
            old = app.rules.rules
            assert (ws.rules / file).stat().st_size != len(text.encode())  # the change is seen
            _break(ws, file, text)
            caplog.clear()
            assert app.rules.refresh() is False
            assert app.rules.rules is old
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1, caplog.text
            message = errors[0].getMessage()
            assert where in message and reason in message, message
            assert not _mentions_name(message), message  # people by position, never by name
            assert [f"{p.file}:{p.line}" for p in app.rules.last_error.problems] == [where]
            # a new item naming the watched person still alerts, with the rules in force before the edit
            ws.serve("/f.xml", rss(("k1", "Bakhodir Karimov detained", "x"),
                                   ("k2", "Баходира Каримова задержали", "x")))
            caplog.clear()
            await cycle()
            assert "Баходира Каримова задержали" in out.getvalue()
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # refused once, not every poll
        finally:
            await app.aclose()

    asyncio.run(main())


class _Lines:
    """Collects a pipe's lines in a thread, so a test can wait for one without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.text):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got:\n{self.text[-3000:]}")
            time.sleep(0.05)

    def join(self) -> None:
        self._thread.join(timeout=10)


def _env(ws, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHER_", "PYTEST"))}
    env.update(WATCHER_FEEDS=str(ws.feeds), WATCHER_RULES=str(ws.rules), WATCHER_STATE=str(ws.state),
               WATCHER_LOG_LEVEL="info", WATCHER_EVIDENCE="0", **extra)  # no page of news.example.org
    return env


def _start(ws, env: dict[str, str]) -> tuple[subprocess.Popen[str], _Lines, _Lines]:
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, _Lines(proc.stdout), _Lines(proc.stderr)


def _stop(proc: subprocess.Popen[str], *readers: _Lines) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for reader in readers:
        reader.join()


def test_running_watcher_refuses_each_kind_of_broken_rules_and_keeps_alerting(ws) -> None:
    """One real `watcher run`: every kind of broken edit is logged with file:line and refused (each
    poll refreshes the rules, as does the 15 s job), and the watched person still alerts."""
    items = [("k1", "Bakhodir Karimov detained", "x")]
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(*items)), "backfill": "alert", "every": "2s"})
    _write_rules(ws)
    proc, out, err = _start(ws, _env(ws))
    try:
        out.wait_for(lambda t: "Bakhodir Karimov detained" in t, 15, "the first alert")
        for kind, file, text, where, reason in BROKEN:
            refused = err.text.count("rules refused")
            _break(ws, file, text)
            err.wait_for(lambda t, n=refused: t.count("rules refused") > n, 20, f"the {kind} error")
            try:  # the problem lines follow the heading line
                err.wait_for(lambda t, n=refused, w=where: w in t.split("rules refused")[n + 1], 2, where)
            except AssertionError:
                pass
            logged = err.text.split("rules refused")[refused + 1]
            assert f"{where}: " in logged and reason in logged, (kind, logged)
        items.append(("k2", "Bakhodir Karimov faces extradition", "x"))
        ws.serve("/f.xml", rss(*items))
        out.wait_for(lambda t: "Bakhodir Karimov faces extradition" in t, 15, "the alert after the broken edits")
    finally:
        _stop(proc, out, err)
    assert proc.returncode == 0, err.text
    assert "rules reloaded" not in err.text  # no broken set was ever put in force
    assert out.text.count("Bakhodir Karimov faces extradition") == 1
    assert not _mentions_name(err.text), _mentions_name(err.text)


# ------------------------------------------------------------------ 2. security




@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    mails: list[bytes] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope.content)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mails
    controller.stop()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_full_cycle_logs_neither_token_nor_watched_name_and_state_is_private(ws, smtp) -> None:
    port, mails = smtp
    ws.write_feeds({"id": "news", "backfill": "alert", "every": "2s", "url": ws.serve("/f.xml", rss(
        ("k1", "Bakhodir Karimov faces extradition", "Uzbek exile Bahodir Karimov was detained."),
        ("k2", "Баходира Каримова задержали", "Экстрадиция в Узбекистан")))})
    _write_rules(ws)
    with FakeBotApi(token=TOKEN) as api:
        env = _env(ws, WATCHER_TELEGRAM_TOKEN=TOKEN, WATCHER_TELEGRAM_CHAT=CHANNEL,
                   WATCHER_TELEGRAM_API=f"http://127.0.0.1:{api.port}",
                   WATCHER_SMTP_HOST="127.0.0.1", WATCHER_SMTP_PORT=str(port), WATCHER_SMTP_SECURITY="none",
                   WATCHER_DIGEST_FROM="watcher@example.org", WATCHER_DIGEST_TO="desk@example.org",
                   WATCHER_DIGEST_AT="23:59", WATCHER_TZ="Europe/London")
        proc, out, err = _start(ws, env)
        try:
            deadline = time.monotonic() + 20
            while len(api.messages(int(CHANNEL))) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(api.messages(int(CHANNEL))) == 2, err.text
            state = ws.state
            assert _mode(state) == 0o700
            for name in ("watcher.db", "watcher.db-wal", "watcher.db-shm"):
                assert (state / name).exists() and _mode(state / name) == 0o600, name
            if (ws.rules / ".lock").exists():
                assert _mode(ws.rules / ".lock") == 0o600
        finally:
            _stop(proc, out, err)
        assert proc.returncode == 0, err.text
        assert "Bakhodir Karimov" in api.messages(int(CHANNEL))[0]["text"] or \
            "Bakhodir Karimov" in api.messages(int(CHANNEL))[1]["text"]
        today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
        digest = subprocess.run([sys.executable, "-m", "watcher", "digest", "--send", "--date", today],
                                env=env, capture_output=True, text=True, timeout=60, check=False)
    assert digest.returncode == 0, digest.stderr
    texts = [part.get_payload(decode=True).decode() for m in mails
             for part in email.message_from_bytes(m).walk() if part.get_content_type() == "text/plain"]
    assert any("Bakhodir Karimov" in t for t in texts)  # the digest did handle the name
    assert _mode(ws.state) == 0o700 and _mode(ws.state / "watcher.db") == 0o600
    logs = err.text + digest.stderr
    assert "INFO" in logs and "running" in logs  # info level really was on
    assert TOKEN not in logs and "SECRET-TOKEN" not in logs
    assert not _mentions_name(logs), _mentions_name(logs)
    assert out.text == ""  # alerts went to Telegram, not the console


def test_revoked_token_is_not_logged(ws, caplog) -> None:
    ws.write_feeds({"id": "news", "backfill": "alert", "url": ws.serve("/f.xml", rss(("k1", "x", "extradition")))})
    _write_rules(ws)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")  # as the CLI sets it: its INFO lines carry the bot URL
    with FakeBotApi(token=TOKEN) as api:
        api.fail_next("getMe", 401)
        env = {"WATCHER_TELEGRAM_TOKEN": TOKEN, "WATCHER_TELEGRAM_CHAT": CHANNEL,
               "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)

        async def cycle():
            try:
                await app.poll(app.enabled())
                return await app.deliver()
            finally:
                await app.aclose()

        report = asyncio.run(cycle())
    assert report.deferred == 1  # the alert is kept for later
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "delivery to telegram failed" in logged
    assert "SECRET-TOKEN" not in logged
    assert "SECRET-TOKEN" not in str(Store(ws.state / "watcher.db").conn.execute(
        "SELECT group_concat(last_error) FROM alerts").fetchone()[0])


def test_run_with_revoked_token_does_not_print_the_token(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("k1", "x", "y")))})
    _write_rules(ws)
    with FakeBotApi(token=TOKEN) as api:
        api.fail_next("getMe", 401, times=10)
        env = _env(ws, WATCHER_TELEGRAM_TOKEN=TOKEN, WATCHER_TELEGRAM_CHAT=CHANNEL,
                   WATCHER_TELEGRAM_API=f"http://127.0.0.1:{api.port}")
        proc, out, err = _start(ws, env)
        try:
            err.wait_for(lambda t: "InvalidToken" in t or "watcher running" in t, 15, "start or failure")
        finally:
            _stop(proc, out, err)
    assert "SECRET-TOKEN" not in err.text + out.text


# ------------------------------------------------------------------ 3. outages


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.mono += seconds


def _telegram_app(ws, api: FakeBotApi, clock: _Clock, read_timeout: float = 5.0) -> App:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from watcher.delivery.notifiers.telegram import FloodGate, TelegramNotifier

    bot = Bot(api.token, base_url=api.base_url,
              request=HTTPXRequest(connect_timeout=2.0, read_timeout=read_timeout, write_timeout=2.0))
    notifier = TelegramNotifier(bot, CHANNEL, FloodGate(clock=lambda: clock.mono, sleep=clock.sleep))
    return App.build(Paths(ws.feeds, ws.rules, ws.state), notifiers={"telegram": notifier}, clock=clock)


async def _deliver_until_done(app: App, clock: _Clock, rounds: int = 10) -> list[int]:
    """Drive the outbox like `watcher run` does, moving the clock past each retry time."""
    sent_per_round = []
    for _ in range(rounds):
        report = await app.deliver()
        sent_per_round.append(report.sent)
        due = app.store.next_retry(["telegram"])
        if due is None:
            break
        clock.now = max(clock.now, due) + timedelta(seconds=1)
    return sent_per_round


def test_telegram_5xx_outage_is_retried_with_backoff_and_each_alert_arrives_once(ws, caplog) -> None:
    titles = [f"Bakhodir Karimov detained {i}" for i in range(3)]
    ws.write_feeds({"id": "news", "backfill": "alert",
                    "url": ws.serve("/f.xml", rss(*[(f"k{i}", t, "x") for i, t in enumerate(titles)]))})
    _write_rules(ws)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")  # as the CLI sets it: its INFO lines carry the bot URL
    clock = _Clock()
    with FakeBotApi(token=TOKEN) as api:
        api.strict_rate = False
        app = _telegram_app(ws, api, clock)
        api.fail_next("sendMessage", 502, times=3)
        api.fail_next("sendMessage", 502, times=1, body=b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>")
        api.fail_next("sendMessage", 503, "Service Unavailable", times=1)

        async def run():
            try:
                await app.poll(app.enabled())
                start = clock.now
                first = await app.deliver()
                # one failure ends the destination's wave: the other alerts wait with it (issue #11)
                assert first.deferred == 3 and first.sent == 0
                rows = app.store.conn.execute("SELECT next_attempt_at, attempts FROM alerts").fetchall()
                assert {datetime.fromisoformat(r[0]) - start for r in rows} == {timedelta(seconds=30)}
                assert {r[1] for r in rows} == {1}  # every alert of the wave counts the attempt
                clock.now += timedelta(seconds=31)
                second = await app.deliver()
                assert second.deferred == 3 and second.sent == 0
                waits = {datetime.fromisoformat(r[0]) - clock.now for r in app.store.conn.execute(
                    "SELECT next_attempt_at FROM alerts WHERE status = 'pending'")}
                assert waits == {timedelta(seconds=60)}  # the backoff doubles, for the destination as one
                return await _deliver_until_done(app, clock)
            finally:
                await app.aclose()

        asyncio.run(run())
        texts = [m["text"] for m in api.messages(int(CHANNEL))]
        assert [e["status"] for e in api.errors] == [502, 502, 502, 502, 503]
    for title in titles:
        assert sum(title in t for t in texts) == 1, (title, texts)
    assert len(texts) == 3
    assert Store(ws.state / "watcher.db").alert_counts() == {"sent": 3}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    waves = [w for w in warnings if w.startswith("delivery to telegram failed")]
    assert len(waves) == 5, warnings  # one line per wave, not one per alert
    assert [f"(attempt {n}" in w for n, w in enumerate(waves, start=1)] == [True] * 5, waves
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "SECRET-TOKEN" not in logged and not _mentions_name(logged)


def test_telegram_timeout_after_the_message_was_posted_sends_no_duplicate(ws, caplog) -> None:
    ws.write_feeds({"id": "news", "backfill": "alert",
                    "url": ws.serve("/f.xml", rss(("k1", "Bakhodir Karimov detained", "x")))})
    _write_rules(ws)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")  # as the CLI sets it: its INFO lines carry the bot URL
    clock = _Clock()
    with FakeBotApi(token=TOKEN) as api:
        app = _telegram_app(ws, api, clock, read_timeout=0.3)

        async def run():
            try:
                await app.poll(app.enabled())
                await app.notifiers["telegram"]._ensure_ready()  # getMe before the delay is armed
                api.delay_next("sendMessage", 1.0)
                return await _deliver_until_done(app, clock)
            finally:
                await app.aclose()

        asyncio.run(run())
        texts = [m["text"] for m in api.messages(int(CHANNEL))]
    # an answer that never came is an unknown outcome: assumed sent (README, "Exactly once")
    assert any("unknown outcome; assumed sent" in r.getMessage() for r in caplog.records)
    assert Store(ws.state / "watcher.db").alert_counts() == {"sent": 1}
    assert len(texts) == 1, f"posted {len(texts)} times"


def test_smtp_outage_at_digest_time_is_logged_with_backoff_then_sent(ws, caplog) -> None:
    from aiosmtpd.controller import Controller

    from watcher.digest import DigestSchedule, DigestService
    from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings

    caplog.set_level(logging.INFO)
    port = free_port()
    settings_ = SmtpSettings.from_env({"WATCHER_SMTP_HOST": "127.0.0.1", "WATCHER_SMTP_PORT": str(port),
                                       "WATCHER_SMTP_SECURITY": "none", "WATCHER_DIGEST_FROM": "w@example.org",
                                       "WATCHER_DIGEST_TO": "desk@example.org"})
    store = Store(ws.state / "watcher.db")
    now = [datetime(2026, 11, 23, 8, 0, tzinfo=UTC)]
    service = DigestService(store, DigestSchedule(tz=ZoneInfo("Europe/London")), settings_.recipients,
                            lambda r: EmailNotifier(settings_, r), lambda: None, lambda: now[0])
    assert asyncio.run(service.run()).deferred == 1
    mails: list[bytes] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope.content)
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        now[0] += timedelta(seconds=61)
        assert asyncio.run(service.run()).sent == 1 and len(mails) == 1
    finally:
        controller.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(re.search(r"digest for 2026-11-23 to recipient #\d+ failed \(attempt 1\), retrying in 60s", w)
               for w in warnings), warnings
    assert not any("desk@example.org" in w for w in warnings)


# ------------------------------------------------------------------ 4. fuzz

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FETCHED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _response(content: bytes, content_type: str = "application/rss+xml") -> Response:
    return Response("https://news.example.org/feed", 200, {"content-type": content_type}, content, FETCHED)


def _check_parse(content: bytes, content_type: str = "application/rss+xml") -> None:
    try:
        items = parse_feed(_response(content, content_type), "fuzz", None)
    except SourceError:
        return
    assert items
    for item in items:
        assert "\x00" not in item.title and "\x00" not in item.summary
        assert item.key and len(item.title) <= 1000
        assert item.published.tzinfo is not None and item.published <= FETCHED + timedelta(hours=24)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["application/rss+xml", "text/html", "text/plain; charset=utf-16", ""]))
def test_parse_feed_on_arbitrary_bytes_raises_only_source_errors(content: bytes, content_type: str) -> None:
    _check_parse(content, content_type)


def _port_bug(link: str) -> bool:
    try:
        canonical_url(link)
    except ValueError:
        return True
    return False


_FIELD = st.text(max_size=80)
_LINK = st.text(max_size=80).filter(lambda s: not _port_bug(s.strip()))  # that bug has its own test below


def _near_rss(title: str, description: str, guid: str, link: str, pub: str, encoding: str = "utf-8") -> bytes:
    doc = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
           "<link>https://news.example.org/</link><description>d</description>"
           f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
           f"<description>{description}</description><pubDate>{pub}</pubDate></item>"
           "<item><title>second &amp; fine</title><link>https://news.example.org/2</link></item>"
           "</channel></rss>")
    return doc.encode(encoding, "surrogatepass")


@FUZZ
@given(_FIELD, _FIELD, _FIELD, _LINK, _FIELD | st.sampled_from(["Mon, 02 Nov 2026 10:00:00 GMT", "31 Feb 9999",
                                                               "Tue, 99 Zzz 0000 25:61:61 +9999", "-1"]))
@example("\x00Karimov", "a\x00b", "\x00", "https://x.org/\x00", "\x00")
@example("<![CDATA[x]]>", "<script>alert(1)</script>&bogus;", "", "", "Sat, 31 Dec 9999 23:59:59 GMT")
def test_parse_feed_on_near_rss_raises_only_source_errors(title, description, guid, link, pub) -> None:
    _check_parse(_near_rss(title, description, guid, link, pub))


@pytest.mark.parametrize("link", ["http://news.example.org:99999/a", "https://news.example.org:abc/a"])
def test_parse_feed_item_with_bad_port_in_link_raises_only_source_errors(link: str) -> None:
    _check_parse(_near_rss("Bakhodir Karimov detained", "d", "g1", link, "Mon, 02 Nov 2026 10:00:00 GMT"))


@FUZZ
@given(st.text())
def test_tokenize_word_norm_and_name_key_never_raise(text: str) -> None:
    tokens = tokenize(text)
    for token in tokens:
        assert text[token.start:token.end] == token.raw
        assert isinstance(name_key(token.raw), str)
    assert isinstance(word_norm(text), str)
    assert isinstance(name_key(text), str)


def _fuzz_rules() -> Rules:
    people = (
        Person(name="Bakhodir Karimov", aliases=("Баходир Каримов", "Bahodir Karimov"), country="UZ",
               not_=("Islam Karimov",)),
        Person(name="Tatyana Karimova", country="UZ"),
        Person(name="Mirsobir Khamidkariyev", aliases=("Мирсобир Хамидкариев",), country="UZ"),
        Person(name="Jo'rayev Ulug'bek", regex=r"ulug.?bek\s+\d+"),
        Person(name="Ҷумъа Қодиров", country="TJ"),
    )
    types = {
        "extradition": IncidentType(urgent=True, keywords={"en": ("extradition", "extradite*"),
                                                           "ru": ("экстрадиц*", "выдать")}),
        "detention": IncidentType(alone=False, keywords={"en": ("detained",)}, regex=r"rule\s*39"),
    }
    return Rules(people, types)


MATCHER = Matcher(_fuzz_rules())
_WORDS = st.sampled_from([
    "Bakhodir", "Karimov", "Karimov's", "Karimov'un", "Баходира", "Каримова", "Каримовой", "B.", "Islam", "President",
    "Tatyana", "and", "Tanya", "Jo'rayev", "Ulug'bek", "Джураев", "Ҷумъа", "Қодиров", "Хамидкариева", "extradition",
    "экстрадиции", "Rule", "39", "Uzbek", "exile", "İstanbul", "ß", "ﷺ", "\u0307", "\u200b", "'", "’", "-", ".",
])
_TEXT = st.text() | st.lists(_WORDS | st.text(max_size=3), max_size=30).map(" ".join) \
    | st.lists(_WORDS, max_size=20).map("".join)


@FUZZ
@given(_TEXT)
@example("Bakhodir Karimov\x00 Karimov\u0307 Баходира\u200bКаримова")
def test_matcher_on_arbitrary_text_never_raises_and_spans_point_into_the_text(text: str) -> None:
    analysis = MATCHER.analyse(text)
    for found in analysis.matches:
        start, end = found.span
        assert 0 <= start <= end <= len(text), found
        assert text[start:end] == found.text, found
