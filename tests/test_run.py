"""`watcher run` as a real process: it polls and delivers on schedule, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import rss

PEOPLE = "people:\n  - name: Bakhodir Karimov\n"
ITEM = ("k1", "Bakhodir Karimov detained", "Faces extradition.")


def _start(ws) -> subprocess.Popen[str]:
    env = {**os.environ, "WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state)}
    env.pop("WATCHER_TELEGRAM_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "watcher", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_run_polls_and_prints_alerts_then_stops_on_sigterm(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(ITEM)), "backfill": "alert"})
    ws.write_rules(PEOPLE)
    proc = _start(ws)
    try:
        _wait_for(lambda: (ws.state / "watcher.db").exists() and _alerts(ws, "sent") == 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.count("[watcher]") == 1 and "Bakhodir Karimov detained" in out
    assert "stopping" in err


def test_sigterm_during_a_slow_poll_leaves_no_half_written_rows(ws) -> None:
    items = [(f"k{i}", f"Bakhodir Karimov item {i}", "Faces extradition.") for i in range(50)]
    ws.write_feeds({"id": "slow", "url": ws.serve("/slow.xml", rss(*items), delay=1.5), "backfill": "alert"},
                   {"id": "fast", "url": ws.serve("/fast.xml", rss(("fast1", "Bakhodir Karimov seen", "x"))),
                    "backfill": "alert"})
    ws.write_rules(PEOPLE)
    proc = _start(ws)
    try:
        _wait_for(lambda: ws.server.routes["/slow.xml"].hits == 1)
    finally:
        proc.send_signal(signal.SIGTERM)  # while the slow source is still downloading
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    db = sqlite3.connect(ws.state / "watcher.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    per_source = dict(db.execute("SELECT source_id, count(*) FROM sightings GROUP BY source_id").fetchall())
    assert per_source.get("slow") == 50, err  # the poll in flight at SIGTERM was allowed to finish, whole
    assert per_source.get("fast", 0) in (0, 1)  # a poll not yet started is simply not started
    items = db.execute("SELECT count(*) FROM items").fetchone()[0]
    assert items == sum(per_source.values())
    orphans = db.execute(
        "SELECT count(*) FROM alerts a LEFT JOIN items i ON i.id = a.item_id WHERE i.id IS NULL"
    ).fetchone()[0]
    assert orphans == 0
    unmatched = db.execute(
        "SELECT count(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.item_id = i.id)"
    ).fetchone()[0]
    assert unmatched == 0  # every stored item got its matches in the same transaction
    states = dict(db.execute("SELECT id, state FROM sources").fetchall())
    assert states["slow"] == "ok"
    assert states["fast"] == ("ok" if per_source.get("fast") else "new")


def _alerts(ws, status: str) -> int:
    try:
        db = sqlite3.connect(ws.state / "watcher.db", timeout=1)
        return db.execute("SELECT count(*) FROM alerts WHERE status = ?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
