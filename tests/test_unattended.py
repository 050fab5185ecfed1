"""Running for months unattended: the heartbeat, logs (JSON, a rotating private file, one line
when every source fails, a "stopped" line), and the watchlist at rest (state 0700/0600 fixed at
start, rules files warned about and written 0600)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from conftest import rss

from watcher.app import App
from watcher.cli import cli
from watcher.cli.logs import setup_logging
from watcher.config import Paths
from watcher.delivery.heartbeat import Heartbeat
from watcher.store import Store, iso

REPO = Path(__file__).resolve().parent.parent


def _env(ws, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state), **extra}


def test_poll_once_pings_the_heartbeat_when_delivery_works(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "Weather", "Sunny.")))})
    ws.serve("/hb/abc123", b"OK")
    ws.serve("/hb/abc123/fail", b"OK")
    result = CliRunner(env=_env(ws, WATCHER_HEARTBEAT_URL=ws.server.url("/hb/abc123"))).invoke(cli, ["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert ws.server.routes["/hb/abc123"].hits == 1 and ws.server.routes["/hb/abc123/fail"].hits == 0


def test_stuck_delivery_pings_the_fail_url_and_a_dead_endpoint_never_stops_watcher(ws, caplog) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "Weather", "Sunny.")))})
    ws.serve("/hb", b"OK")
    ws.serve("/hb/fail", b"OK")
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={"WATCHER_HEARTBEAT_URL": ws.server.url("/hb")})
    now = datetime.now(timezone.utc)
    with app.store.transaction():
        app.store.ensure_source("news", "rss")
        app.store.add_items([], now)
        app.store.enqueue_notice("checkin:x", "console", "text", now)
        app.store.conn.execute("UPDATE alerts SET attempts = 3, next_attempt_at = ?", (iso(now),))

    async def scenario() -> None:
        await app.beat()
        await app.beat()  # nothing changed within a minute: no second ping
        app.heartbeat.url = app.heartbeat.fail_url = "http://127.0.0.1:9/nothing-listens"  # type: ignore[union-attr]
        with caplog.at_level(logging.WARNING):
            await app.beat(force=True)
            await app.beat(force=True)
        await app.aclose()

    asyncio.run(scenario())
    assert ws.server.routes["/hb/fail"].hits == 1 and ws.server.routes["/hb"].hits == 0
    failed = [r for r in caplog.records if "heartbeat" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(failed) == 1 and "127.0.0.1" in failed[0].getMessage() and "nothing-listens" not in failed[0].getMessage()


def test_heartbeat_settings_are_checked() -> None:
    assert Heartbeat.from_env({}) is None
    beat = Heartbeat.from_env({"WATCHER_HEARTBEAT_URL": "https://hc-ping.com/uuid/"})
    assert beat is not None and beat.fail_url == "https://hc-ping.com/uuid/fail"
    try:
        Heartbeat.from_env({"WATCHER_HEARTBEAT_URL": "ftp://x", "WATCHER_HEARTBEAT_EVERY": "soon"})
        raise AssertionError("accepted")
    except Exception as exc:  # ConfigError naming both problems
        assert "not an http(s) URL" in str(exc) and "WATCHER_HEARTBEAT_EVERY" in str(exc)


def test_json_logs_and_one_line_when_every_source_fails(ws) -> None:
    ws.write_feeds({"id": "a", "url": ws.serve("/a.xml", b"", status=500)},
                   {"id": "b", "url": ws.serve("/b.xml", b"", status=503)},
                   {"id": "c", "url": ws.serve("/c.xml", b"", status=500)})
    result = CliRunner(env=_env(ws)).invoke(cli, ["--log-format", "json", "poll", "--once"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    summary = [e for e in lines if e["message"].startswith("ALL 3 sources are failing")]
    assert len(summary) == 1 and "is the network up?" in summary[0]["message"]
    assert summary[0]["level"] == "WARNING"


def test_the_log_file_rotates_and_stays_private(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "watcher.log"
    setup_logging("info", "text", {"WATCHER_LOG_FILE": str(target), "WATCHER_LOG_MAX": "2K", "WATCHER_LOG_KEEP": "2"})
    try:
        for n in range(400):
            logging.getLogger("watcher.test").info("line %d of a long run", n)
    finally:
        setup_logging("info")
    files = sorted(p.name for p in target.parent.iterdir())
    assert files == ["watcher.log", "watcher.log.1", "watcher.log.2"]
    assert all((target.parent / f).stat().st_mode & 0o777 == 0o600 for f in files)
    assert target.parent.stat().st_mode & 0o777 == 0o700
    assert "line 399" in target.read_text(encoding="utf-8")


def test_state_is_made_private_at_start_and_exposed_rules_are_warned_about(ws, caplog) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "Weather", "Sunny.")))})
    Store(ws.state / "watcher.db").close()
    os.chmod(ws.state, 0o755)
    os.chmod(ws.state / "watcher.db", 0o644)
    os.chmod(ws.rules / "people.yaml", 0o644)
    with caplog.at_level(logging.WARNING):
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={})
    app.store.close()
    assert ws.state.stat().st_mode & 0o777 == 0o700
    assert (ws.state / "watcher.db").stat().st_mode & 0o777 == 0o600
    warned = [r.getMessage() for r in caplog.records if "people.yaml is readable" in r.getMessage()]
    assert len(warned) == 1 and "readable by everyone" in warned[0] and "chmod 600" in warned[0]


def test_demo_keeps_its_state_private(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    assert keep.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o077 == 0 for p in keep.rglob("*") if p.is_file())


def test_watcher_run_says_it_stopped(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "Weather", "Sunny.")))})
    env = {**os.environ, **_env(ws), "WATCHER_EVIDENCE": "0"}
    env.pop("WATCHER_TELEGRAM_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "run"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while ws.server.routes["/f.xml"].hits == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "watcher run did not poll"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.rstrip().splitlines()[-1].endswith("watcher stopped")


def test_a_skipped_run_of_a_busy_job_is_not_a_warning(caplog) -> None:
    """APScheduler's "skipped: maximum number of running instances" (the delivery job during an
    outage) loses nothing with max_instances=1 and coalesce=True; it is demoted to DEBUG, while
    its other warnings still reach the log."""
    from watcher.scheduler import quiet_skipped_runs

    quiet_skipped_runs()
    quiet_skipped_runs()  # idempotent: one filter
    logger = logging.getLogger("apscheduler.scheduler")
    assert len(logger.filters) == 1
    caplog.set_level(logging.INFO)
    logger.warning('Execution of job "%s" skipped: maximum number of running instances reached (%d)', "deliver", 1)
    logger.warning('Run time of job "%s" was missed by %s', "poll:news", "0:00:31")
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "missed" in caplog.records[0].getMessage()
