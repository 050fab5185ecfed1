"""Routes (rules/routes.yaml): incidents reach the teams' chats by team, country and type, once
each; digest-only types never reach a chat; muted people are never named; check-ins fire once
per silence; WATCHER_TELEGRAM_CHAT takes one chat. Telegram is the loopback FakeBotApi."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botapi import FakeBotApi
from click.testing import CliRunner
from conftest import INCIDENTS, rss

from watcher.app import App
from watcher.cli import cli
from watcher.config import Paths
from watcher.digest import DigestSchedule, build_digest
from watcher.store import Store

CHANNEL, TAJIK, CHECHEN = "-1001234567890", "-1001111111111", "-1002222222222"
PEOPLE = """\
people:
  - name: Rustam Nazarov
    country: TJ
    team: tajik
  - name: Zelimkhan Israilov
    country: RU
    team: chechnya
    check_in: 14d
"""
ROUTES = f"""\
# the desks of the Central Asia team
destinations:
  tajik-desk: {{telegram: "{TAJIK}"}}
  chechnya-desk: {{telegram: "{CHECHEN}"}}
routes:
  - name: tajik cases
    when: {{team: tajik}}
    to: [tajik-desk]
  - name: chechen cases
    when: {{country: RU}}
    to: [chechnya-desk]
  - name: every extradition
    when: {{type: extradition}}
    to: [default]
"""


def _env(ws, api: FakeBotApi, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
            "WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
            "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}", **extra}


def _rules(ws, routes: str = ROUTES, people: str = PEOPLE) -> None:
    ws.write_rules(people, INCIDENTS)
    (ws.rules / "routes.yaml").write_text(textwrap.dedent(routes), encoding="utf-8")


def _texts(api: FakeBotApi, chat: str) -> list[str]:
    return [m["text"] for m in api.messages(int(chat))]


def test_incidents_go_to_the_team_chats_by_team_country_and_type_once_each(ws) -> None:
    _rules(ws)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Rustam Nazarov detained in Istanbul", "The Tajik blogger was held by police."),
        ("b", "Zelimkhan Israilov faces extradition from Germany", "A court in Berlin heard the case."),
        ("c", "Unnamed activist faces extradition from Turkey", "Nobody on the list is named."),
        ("d", "Weather in Dushanbe", "Sunny."),
    )), "backfill": "alert"})
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        first = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert first.exit_code == 0, first.output
        again = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert again.exit_code == 0, again.output
        tajik, chechen, channel = _texts(api, TAJIK), _texts(api, CHECHEN), _texts(api, CHANNEL)
    assert len(tajik) == 1 and "Rustam Nazarov" in tajik[0]  # team tajik, nothing else there
    assert len(chechen) == 1 and "Zelimkhan Israilov" in chechen[0]  # country RU
    assert len(channel) == 2  # both extraditions; the Tajik detention is not an extradition
    assert any("Zelimkhan Israilov" in t for t in channel) and any("Unnamed activist" in t for t in channel)
    assert not any("Rustam Nazarov" in t for t in channel)
    store = Store(ws.state / "watcher.db")
    routes = {r[0] for r in store.conn.execute("SELECT route FROM alerts")}
    assert routes == {"tajik cases", "chechen cases", "every extradition"}
    assert store.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 4  # one row per (item, destination)


def test_digest_only_types_never_reach_a_chat_but_are_in_the_digest(ws) -> None:
    routes = """\
    routes:
      - name: background
        when: {type: detention}
        to: [default]
        notify: digest
      - name: urgent only
        when: {type: extradition}
        to: [default]
        notify: urgent
    """
    _rules(ws, routes)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Rustam Nazarov detained in Istanbul", "The Tajik blogger was held by police."),
        ("b", "Zelimkhan Israilov faces extradition", "Germany may extradite him."),
    )), "backfill": "alert"})
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        assert CliRunner(env=env).invoke(cli, ["poll", "--once"]).exit_code == 0
        channel = _texts(api, CHANNEL)
    assert len(channel) == 1 and "Zelimkhan Israilov" in channel[0] and "Rustam Nazarov" not in channel[0]
    store = Store(ws.state / "watcher.db")
    held = store.conn.execute("SELECT a.status, i.title FROM alerts a JOIN items i ON i.id = a.item_id"
                              " WHERE a.status = 'held'").fetchall()
    assert [r[1] for r in held] == ["Rustam Nazarov detained in Istanbul"]
    schedule = DigestSchedule()
    now = datetime.now(UTC)
    digest = build_digest(store, schedule.today(now) + timedelta(days=1), schedule)
    titles = [e.title for e in digest.entries]
    assert any("Rustam Nazarov" in t for t in titles) and any("Zelimkhan" in t for t in titles)


def test_a_comma_in_the_chat_variable_is_refused_with_a_pointer_to_routes(ws) -> None:
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "x", "y")))})
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api, WATCHER_TELEGRAM_CHAT="-1001,-1002")
        result = CliRunner(env=env).invoke(cli, ["poll", "--once"])
    assert result.exit_code == 2
    assert "one chat id" in result.output and "routes.yaml" in result.output


def test_broken_routes_are_refused_with_file_and_line(ws) -> None:
    _rules(ws, """\
    destinations:
      tajik-desk: {telegram: "not a chat"}
    routes:
      - name: tajik cases
        when: {team: tajik, type: kidnapping}
        to: [nowhere]
    """)
    result = ws.cli("rules", "check")
    assert result.exit_code != 0
    assert "routes.yaml:2" in result.output and "not a Telegram chat id" in result.output
    assert "routes.yaml:" in result.output and "unknown destination(s) nowhere" in result.output


def test_route_destinations_print_labelled_without_a_token(ws) -> None:
    _rules(ws)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Rustam Nazarov detained in Istanbul", "Held by police."))), "backfill": "alert"})
    result = CliRunner(env={"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules),
                            "WATCHER_STATE": str(ws.state)}).invoke(cli, ["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert "[to tajik-desk]" in result.output and "Rustam Nazarov" in result.output


def test_a_muted_person_is_never_named_whichever_rule_alerts(ws) -> None:
    _rules(ws, "routes: []\n")
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Rustam Nazarov faces extradition", "Police in Istanbul hold Nazarov; Назаров's lawyer spoke."),
        ("b", "Rustam Nazarov detained again", "No other news."),
    )), "backfill": "alert"})
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env)
        with app.store.transaction():
            app.store.ensure_source("news", "rss")
            app.store.add_mute("news", "person:Rustam Nazarov", None, "telegram:1", app.clock())

        async def scenario() -> None:
            await app.poll_and_deliver(app.enabled())
            await app.aclose()

        asyncio.run(scenario())
        channel = _texts(api, CHANNEL)
    assert len(channel) == 1  # the extradition alerts alone; the detention needed the person
    assert "Nazarov" not in channel[0] and "Rustam" not in channel[0]
    assert "[muted]" in channel[0] and "extradition" in channel[0].lower()


def test_a_check_in_fires_once_per_silence_to_the_persons_route(ws) -> None:
    _rules(ws)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Zelimkhan Israilov spoke to reporters", "He is in Berlin."))), "backfill": "alert"})
    now = [datetime(2026, 11, 1, 9, 0, tzinfo=UTC)]
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api)
        app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env, clock=lambda: now[0])

        async def scenario() -> None:
            await app.poll_and_deliver(app.enabled())
            assert await app.check_ins() == 0  # named today
            now[0] += timedelta(days=13)
            assert await app.check_ins() == 0
            now[0] += timedelta(days=2)
            assert await app.check_ins() == 1
            assert await app.check_ins() == 0  # once per silence
            now[0] += timedelta(days=20)
            assert await app.check_ins() == 0
            await app.aclose()

        asyncio.run(scenario())
        chechen = _texts(api, CHECHEN)
    notices = [t for t in chechen if "Check-in" in t]
    assert len(notices) == 1
    assert "no news of Zelimkhan Israilov for 15 days" in notices[0] and "spoke to reporters" in notices[0]


def test_m008_keeps_old_alerts_and_their_feedback(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from watcher.store import migrations as schema

    path = tmp_path / "watcher.db"
    db = Database(str(path))
    schema.migrations.apply(db, stop_before="m008_routes")
    db.conn.execute("INSERT INTO sources (id, type) VALUES ('s', 'rss')")
    db.conn.execute("INSERT INTO items (id, source_id, key, url, title, summary, published, first_seen, last_seen,"
                    " content_hash) VALUES (1, 's', 'k', 'u', 't', '', 'x', 'x', 'x', 'h')")
    db.conn.execute("INSERT INTO alerts (id, item_id, destination, created_at, next_attempt_at, status)"
                    " VALUES (5, 1, 'telegram', 'x', 'x', 'sent')")
    db.conn.execute("INSERT INTO alerts (id, item_id, destination, created_at, next_attempt_at, kind, parent_id)"
                    " VALUES (6, 1, 'console', 'x', 'x', 'also', 5)")
    db.conn.execute("INSERT INTO feedback (alert_id, who, verdict, at) VALUES (5, 'telegram:1', 'relevant', 'x')")
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    rows = [tuple(r) for r in store.conn.execute("SELECT id, status, kind, parent_id FROM alerts ORDER BY id")]
    assert rows == [(5, "sent", "alert", None), (6, "pending", "also", 5)]
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    try:
        store.conn.execute("INSERT INTO feedback (alert_id, who, verdict, at) VALUES (99, 'x', 'relevant', 'x')")
        raise AssertionError("feedback accepted an alert that does not exist")
    except sqlite3.IntegrityError:
        pass
    store.close()


def test_an_email_destination_gets_only_its_routes_incidents_in_its_digest(ws) -> None:
    import email as email_lib

    from aiosmtpd.controller import Controller
    from conftest import free_port

    class Sink:
        mails: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            self.mails.append((list(envelope.rcpt_tos), email_lib.message_from_bytes(envelope.content)))
            return "250 OK"

    _rules(ws, """\
    destinations:
      tajik-mail: {email: [desk@example.org]}
    routes:
      - name: tajik cases
        when: {team: tajik}
        to: [tajik-mail, default]
    """)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Rustam Nazarov detained in Istanbul", "Held by police."),
        ("b", "Zelimkhan Israilov faces extradition", "A court heard the case."))), "backfill": "alert"})
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state),
               "WATCHER_SMTP_HOST": "127.0.0.1", "WATCHER_SMTP_PORT": str(controller.port),
               "WATCHER_SMTP_SECURITY": "none", "WATCHER_DIGEST_FROM": "watcher@example.org",
               "WATCHER_DIGEST_TO": "all@example.org", "WATCHER_DIGEST_AT": "23:59", "WATCHER_TZ": "UTC"}
        polled = CliRunner(env=env).invoke(cli, ["poll", "--once"])
        assert polled.exit_code == 0, polled.output
        assert polled.output.count("Rustam Nazarov") >= 1  # the default route printed it
        sent = CliRunner(env=env).invoke(cli, ["digest", "--send"])
        assert sent.exit_code == 0, sent.output
    finally:
        controller.stop()
    by_rcpt = {tuple(r): m for r, m in sink.mails}
    assert set(by_rcpt) == {("all@example.org",), ("desk@example.org",)}

    def body(message) -> str:
        return "".join(p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/plain")

    assert "Rustam Nazarov" in body(by_rcpt[("desk@example.org",)])
    assert "Zelimkhan" not in body(by_rcpt[("desk@example.org",)])
    assert "Rustam Nazarov" in body(by_rcpt[("all@example.org",)]) and "Zelimkhan" in body(by_rcpt[("all@example.org",)])


def test_rules_test_and_rules_routes_show_where_an_alert_would_go(ws) -> None:
    _rules(ws)
    said = ws.cli("rules", "test", "Zelimkhan Israilov faces extradition from Germany")
    assert said.exit_code == 0
    assert "WOULD ALERT (urgent) to chechnya-desk [route chechen cases]" in said.output
    assert "[route every extradition]" in said.output
    shown = ws.cli("rules", "routes")
    assert shown.exit_code == 0
    assert f"destination tajik-desk: Telegram chat {TAJIK}" in shown.output
    assert "route tajik cases: when team=tajik -> tajik-desk (now)" in shown.output
    assert "route default: when always -> default (now)" in shown.output


def test_a_check_in_interrupted_mid_send_is_never_sent_twice_and_the_admin_chat_is_told(ws) -> None:
    _rules(ws)
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(
        ("a", "Zelimkhan Israilov spoke to reporters", "He is in Berlin."))), "backfill": "alert"})
    now = [datetime(2026, 11, 1, 9, 0, tzinfo=UTC)]
    admin = "-1009999999999"
    with FakeBotApi(token="123:abc") as api:
        env = _env(ws, api, WATCHER_TELEGRAM_ADMIN_CHAT=admin)

        async def crash_then_restart() -> None:
            app = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env, clock=lambda: now[0])
            await app.poll_and_deliver(app.enabled())
            now[0] += timedelta(days=15)
            from watcher.incidents.checkins import check_ins

            with app.store.transaction():
                check_ins(app.store, app.rules.rules, app.context.filing, now[0])
                (row,) = app.store.conn.execute("SELECT id FROM alerts WHERE kind = 'checkin'").fetchall()
                assert app.store.claim_alert(row[0], "message")  # claimed: the process dies here
            await app.aclose()
            again = App.build(Paths(ws.feeds, ws.rules, ws.state), env=env, clock=lambda: now[0])
            assert await again.recover() == 1
            await again.deliver_all()
            assert await again.check_ins() == 0
            await again.aclose()

        asyncio.run(crash_then_restart())
        chechen = _texts(api, CHECHEN)
        told = _texts(api, admin)
    assert not any("Check-in" in t for t in chechen)  # assumed sent: never a second copy
    assert any("no news of Zelimkhan Israilov" in t for t in told)


def test_alerts_waiting_for_a_destination_that_is_gone_are_kept_and_said(ws, caplog) -> None:
    _rules(ws)
    store = Store(ws.state / "watcher.db")
    store.ensure_source("news", "rss")
    with store.transaction():
        store.enqueue_notice("checkin:x", "old-desk", "text", datetime.now(UTC))
    store.close()
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "x", "y")))})
    app = App.build(Paths(ws.feeds, ws.rules, ws.state), env={})

    async def scenario() -> None:
        await app.recover()
        await app.aclose()

    with caplog.at_level("WARNING"):
        asyncio.run(scenario())
    assert any("wait for destination 'old-desk'" in r.getMessage() for r in caplog.records)
