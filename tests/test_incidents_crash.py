"""Exactly once for the new kinds of message: an edit (a later report of an incident) and a
follow-up (a new development of a case), each across a SIGKILL between Telegram taking it and
watcher marking it sent (`watcher poll --once` in a subprocess, a loopback Bot API that applies
the request at once and answers late).

The rules differ on purpose (README, "Exactly once"): an edit is sent again after an unknown
outcome (editing twice to the same text changes nothing; Telegram answers "message is not
modified", which counts as done), a follow-up is a new message and follows the Telegram rule,
"assume sent", named in the admin chat.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

from botapi import FakeBotApi
from conftest import Workspace
from test_crash_safety import ADMIN, CHANNEL, _env, _start, _wait_for
from test_incidents import BASE, _feed

from watcher.demo.replay import ReplayServer
from watcher.store import Store

PEOPLE = "people:\n  - name: Bakhodir Karimov\n    country: UZ\n"
FIRST = ("a1", "Bakhodir Karimov detained in Moscow", "Police detained the Uzbek exile.", BASE)
SAME = ("a2", "Баходир Каримов задержан в Москве", "Узбекского эмигранта задержали.", BASE + timedelta(hours=4))
LATER = ("b1", "Bakhodir Karimov faces extradition", "A court ordered his extradition.", BASE + timedelta(days=8))


def _workspace(root: Path, server: ReplayServer, *items) -> Workspace:
    ws = Workspace(root, server)
    ws.write_rules(PEOPLE)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", _feed(list(items))), "backfill": "alert"})
    return ws


def _kill_when(proc, condition) -> None:
    try:
        _wait_for(condition, poll=0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _rows(ws: Workspace) -> list[tuple]:
    store = Store(ws.state / "watcher.db")
    try:
        return [tuple(r) for r in store.conn.execute("SELECT kind, status, via, uncertain FROM alerts ORDER BY id")]
    finally:
        store.close()


def test_an_edit_killed_before_it_was_marked_is_made_again_and_shown_once(tmp_path: Path) -> None:
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _workspace(tmp_path, server, FIRST)
        env = _env(ws, api)
        assert _start(ws, env).wait(timeout=60) == 0
        (alert,) = api.messages(CHANNEL)
        ws.serve("/f.xml", _feed([FIRST, SAME]))  # another outlet reports the same detention
        api.delay_next("editMessageText", 5.0)
        _kill_when(_start(ws, env), lambda: len(api.edits) == 1)
        assert _rows(ws)[1][:3] == ("also", "sending", "edit")  # the kill landed between send and mark
        assert _start(ws, env).wait(timeout=60) == 0
        (message,) = api.messages(CHANNEL)  # still one message: edited, never posted again
        assert message["message_id"] == alert["message_id"]
        assert "Also reported by" in message["text"] and message["text"].count("news.example.org/a2") == 1
        assert [r[:2] for r in _rows(ws)] == [("alert", "sent"), ("also", "sent")]
        assert not api.messages(ADMIN)  # an edit is repeated, not assumed: nothing to check by hand


def test_a_follow_up_killed_before_it_was_marked_is_assumed_sent_and_named_to_the_admins(tmp_path: Path) -> None:
    with ReplayServer() as server, FakeBotApi(token="123:abc") as api:
        api.strict_rate = False
        ws = _workspace(tmp_path, server, FIRST)
        env = _env(ws, api)
        assert _start(ws, env).wait(timeout=60) == 0
        (alert,) = api.messages(CHANNEL)
        ws.serve("/f.xml", _feed([FIRST, LATER]))  # a week later: extradition ordered
        api.delay_next("sendMessage", 5.0)
        _kill_when(_start(ws, env), lambda: len(api.messages(CHANNEL)) == 2)
        assert _rows(ws)[1][:3] == ("followup", "sending", "reply")
        assert _start(ws, env).wait(timeout=60) == 0
        first, follow_up = api.messages(CHANNEL)  # posted once, not again after the restart
        assert first["message_id"] == alert["message_id"]
        assert follow_up["params"]["reply_parameters"]["message_id"] == alert["message_id"]
        assert not follow_up["params"].get("disable_notification")  # a new development notifies
        assert _rows(ws)[1][:2] == ("followup", "sent") and _rows(ws)[1][3] == 2  # uncertain, announced
        assert any("news.example.org/b1" in m["text"] for m in api.messages(ADMIN))
