"""`watcher doctor`: one line per check with what to fix, exit 1 on a failure and not on a warning.

Everything on loopback: the Bot API fake (tests/botapi.py) for the token, the chats and the bot's
rights, aiosmtpd with and without AUTH for the mail server; files, modes and a damaged database in
tmp_path. The disk and the clock are passed in where a test needs them to be wrong."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from botapi import FakeBotApi
from click.testing import CliRunner, Result
from conftest import Workspace, free_port

from watcher.cli import cli
from watcher.cli.checks import Deployment
from watcher.cli.doctor import run_checks
from watcher.config import Paths
from watcher.store import Store

CHANNEL = "-1001234567890"
DESK = "-1002222222222"
GROUP = "-4455"
ADMIN = "-1009999999999"
USER, PASSWORD = "digest", "s3cret-pass"
PEOPLE = """\
people:
  - name: Rustam Nazarov
    country: TJ
"""
ROUTES = f"""\
destinations:
  tajik-desk: {{telegram: "{DESK}"}}
  mail-desk: {{email: [desk@example.org]}}
routes:
  - name: tajik cases
    when: {{country: TJ}}
    to: [tajik-desk, mail-desk]
"""
VARIABLES = ("WATCHER_TELEGRAM_TOKEN", "WATCHER_TELEGRAM_CHAT", "WATCHER_TELEGRAM_ADMIN_CHAT", "WATCHER_TELEGRAM_API",
             "WATCHER_SMTP_HOST", "WATCHER_SMTP_PORT", "WATCHER_SMTP_SECURITY", "WATCHER_SMTP_USER",
             "WATCHER_SMTP_PASSWORD", "WATCHER_SMTP_CAFILE", "WATCHER_DIGEST_FROM", "WATCHER_DIGEST_TO",
             "WATCHER_DB_KEY", "WATCHER_TELEGRAM_MONITORS", "WATCHER_TELEGRAM_ADMINS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site(ws: Workspace) -> Workspace:
    """A healthy deployment: one source, one watched person, private rules, a migrated database."""
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", b"")})
    ws.write_rules(PEOPLE)
    for path in ws.rules.glob("*.yaml"):
        path.chmod(0o600)
    Store(ws.state / "watcher.db", key=None).close()
    ws.state.chmod(0o700)
    return ws


def lines(result: Result) -> list[str]:
    return result.output.splitlines()


def line(result: Result, name: str) -> str:
    found = [text for text in lines(result) if text[2:].startswith(name + ":")]
    assert len(found) == 1, result.output
    return found[0]


def deployment(ws: Workspace, env: dict[str, str] | None = None, **kwargs: Any) -> Deployment:
    return Deployment(Paths(ws.feeds, ws.rules, ws.state), env or {}, **kwargs)


def statuses(checks: list[Any]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def telegram_env(monkeypatch: pytest.MonkeyPatch, api: FakeBotApi, token: str | None = None, **extra: str) -> None:
    values = {"WATCHER_TELEGRAM_TOKEN": token or api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
              "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}", **extra}
    for name, value in values.items():
        monkeypatch.setenv(name, value)


# -- the command ----------------------------------------------------------------------------------


def test_help_names_the_quick_and_json_options() -> None:
    result = CliRunner().invoke(cli, ["doctor", "--help"])
    assert result.exit_code == 0
    assert "--quick" in result.output and "--json" in result.output and "HEALTHCHECK" in result.output


def test_a_healthy_deployment_passes_with_one_line_per_check(site: Workspace) -> None:
    result = site.cli("doctor")
    assert result.exit_code == 0, result.output
    for name in ("feeds", "rules", "rules files private", "state folder", "state private", "disk space", "database"):
        assert line(result, name).startswith("✓ "), result.output
    assert "1 watched" in line(result, "rules") and "Rustam" not in result.output
    assert "schema up to date" in line(result, "database")
    assert line(result, "telegram").startswith("- ") and line(result, "smtp").startswith("- ")
    assert line(result, "clock").startswith("- ") and "Telegram" in line(result, "clock")
    assert lines(result)[-1].startswith("0 failed")


def test_json_reports_each_check_and_ok(site: Workspace) -> None:
    result = site.cli("doctor", "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["ok"] is True and report["quick"] is False
    assert {c["name"]: c["status"] for c in report["checks"]}["database"] == "ok"
    assert set(report["checks"][0]) == {"name", "status", "message", "fix", "details"}


def test_refused_feeds_and_rules_fail_with_file_and_line(site: Workspace) -> None:
    site.feeds.write_text("sources:\n  - id: news\n    type: rss\n    colour: blue\n", encoding="utf-8")
    (site.rules / "people.yaml").write_text("people:\n  - name: Rustam Nazarov\n    age: 40\n", encoding="utf-8")
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 1
    assert line(result, "feeds").startswith("✗ ") and "watcher feeds check" in line(result, "feeds")
    assert line(result, "rules").startswith("✗ ")
    assert "feeds.yaml:4" in result.output and "people.yaml:3" in result.output
    assert "Rustam" not in result.output  # errors name people by number
    report = json.loads(site.cli("doctor", "--quick", "--json").output)
    assert report["ok"] is False and any("people.yaml:3" in d for c in report["checks"] for d in c["details"])


def test_an_empty_watchlist_and_no_sources_are_warnings_not_failures(site: Workspace) -> None:
    site.feeds.write_text("sources: []\n", encoding="utf-8")
    (site.rules / "people.yaml").write_text("people: []\n", encoding="utf-8")
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0, result.output
    assert line(result, "rules").startswith("! ") and "watchlist is empty" in line(result, "rules")
    assert line(result, "feeds").startswith("! ")


# -- privacy, the state folder, the disk ---------------------------------------------------------


def test_a_world_readable_people_yaml_is_warned_with_the_chmod(site: Workspace) -> None:
    (site.rules / "people.yaml").chmod(0o644)
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0
    warned = line(result, "rules files private")
    assert warned.startswith("! ") and "people.yaml 0644 (everyone)" in warned and "watchlist" in warned
    assert f"chmod 600 {site.rules / 'people.yaml'}" in warned
    (site.rules / "people.yaml").chmod(0o640)
    assert "(its group)" in line(site.cli("doctor", "--quick"), "rules files private")


def test_a_state_folder_open_to_others_fails_with_the_chmod(site: Workspace) -> None:
    site.state.chmod(0o755)
    (site.state / "watcher.db").chmod(0o644)
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 1
    failed = line(result, "state private")
    assert failed.startswith("✗ ") and "0755" in failed and "watcher.db 0644" in failed
    assert f"chmod -R go-rwx {site.state}" in failed
    subprocess.run(["chmod", "-R", "go-rwx", str(site.state)], check=True)  # the fix it gave
    assert site.cli("doctor", "--quick").exit_code == 0


def test_a_missing_state_folder_is_fine_when_it_can_be_created(site: Workspace) -> None:
    shutil.rmtree(site.state)
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0, result.output
    assert "creates it (0700)" in line(result, "state folder")
    assert line(result, "database").startswith("- ")
    assert not site.state.exists()  # the doctor changes nothing


def test_a_state_path_that_is_a_file_fails(site: Workspace) -> None:
    shutil.rmtree(site.state)
    site.state.write_text("", encoding="utf-8")
    assert statuses(run_checks(deployment(site), quick=True))["state folder"] == "fail"


@pytest.mark.parametrize(("free", "status"), [(50 * 2**20, "fail"), (500 * 2**20, "warn"), (20 * 2**30, "ok")])
def test_disk_space_fails_under_100_mb_and_warns_under_1_gb(site: Workspace, free: int, status: str) -> None:
    asked: list[Path] = []

    def free_bytes(path: Path) -> int:
        asked.append(path)
        return free

    [disk] = [c for c in run_checks(deployment(site, free_bytes=free_bytes), quick=True) if c.name == "disk space"]
    assert disk.status == status and asked == [site.state.absolute()]
    assert ("free space" in disk.fix) == (status != "ok")


# -- the database ---------------------------------------------------------------------------------


def _corrupt_a_page(db: Path) -> None:
    """Fill a table with enough rows to span many pages, then overwrite one near the end."""
    store = Store(db, key=None)
    for i in range(3000):
        store.ensure_source(f"source-{i:05d}-" + "x" * 40, "rss")
    page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.close()
    with db.open("r+b") as f:
        f.seek((pages - 2) * page_size)
        f.write(b"\xff" * page_size)


def test_a_damaged_database_fails_quick_check(site: Workspace) -> None:
    _corrupt_a_page(site.state / "watcher.db")
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 1
    failed = line(result, "database")
    assert failed.startswith("✗ ") and "quick_check" in failed and "watcher restore" in failed
    assert "btreeInitPage" in result.output  # what quick_check found, indented under the line


def test_a_file_that_is_not_a_database_fails(site: Workspace) -> None:
    (site.state / "watcher.db").write_bytes(b"this is not SQLite at all" * 100)
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 1
    assert line(result, "database").startswith("✗ ") and "cannot be read" in line(result, "database")


def test_an_encrypted_database_is_checked_with_its_key(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sqlcipher3")
    db = site.state / "watcher.db"
    db.unlink()
    Store(db, key="correct horse").close()
    assert "encrypted? set WATCHER_DB_KEY" in line(site.cli("doctor", "--quick"), "database")
    monkeypatch.setenv("WATCHER_DB_KEY", "wrong horse")
    assert "wrong WATCHER_DB_KEY" in line(site.cli("doctor", "--quick"), "database")
    monkeypatch.setenv("WATCHER_DB_KEY", "correct horse")
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0 and "schema up to date" in line(result, "database")
    assert "horse" not in result.output


def test_pending_migrations_warn_and_unknown_ones_fail(site: Workspace) -> None:
    import sqlite3

    db = site.state / "watcher.db"
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id DESC LIMIT 1").fetchone()[0]
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (last,))
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0 and line(result, "database").startswith("! ")
    assert last in line(result, "database") and "watcher backup" in line(result, "database")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('watcher', 'm999_from_the_future', '2030-01-01')")
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 1 and "newer watcher" in line(result, "database")


# -- Telegram and the clock ---------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(token="4242:real-secret-token") as fake:
        yield fake


def test_telegram_token_chats_and_clock_pass(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    (site.rules / "routes.yaml").write_text(textwrap.dedent(ROUTES), encoding="utf-8")
    (site.rules / "routes.yaml").chmod(0o600)
    telegram_env(monkeypatch, api, WATCHER_TELEGRAM_ADMIN_CHAT=ADMIN)
    result = site.cli("doctor")
    assert result.exit_code == 0, result.output
    assert "@watcher_test_bot" in line(result, "telegram token") and line(result, "telegram token").startswith("✓ ")
    for name, chat in (("telegram alert chat", CHANNEL), ("telegram destination tajik-desk", DESK),
                       ("telegram admin chat", ADMIN)):
        assert line(result, name).startswith("✓ ") and chat in line(result, name)
    assert line(result, "clock").startswith("✓ ") and "Telegram" in line(result, "clock")
    assert api.token not in result.output and "real-secret" not in result.output
    asked = [(m, p.get("chat_id")) for m, p in api.requests if m == "getChatMember"]
    assert sorted(str(c) for _, c in asked) == sorted([CHANNEL, DESK, ADMIN])
    assert api.sent == []  # nothing posted
    # routes.yaml has an email destination and no SMTP is configured
    assert line(result, "smtp").startswith("! ") and "mail-desk" in line(result, "smtp")


def test_a_bad_token_fails_without_printing_it(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    telegram_env(monkeypatch, api, token="4242:revoked-token")
    result = site.cli("doctor")
    assert result.exit_code == 1
    failed = line(result, "telegram token")
    assert failed.startswith("✗ ") and "token" in failed and "Unauthorized" in failed and "@BotFather" in failed
    assert "revoked-token" not in result.output and "4242:" not in result.output
    assert api.counts.get("getChat", 0) == 0  # no chat is asked about with a refused token


def test_an_unreachable_chat_fails(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    telegram_env(monkeypatch, api)
    api.fail_next("getChat", 400, "Bad Request: chat not found")
    result = site.cli("doctor")
    assert result.exit_code == 1
    failed = line(result, "telegram alert chat")
    assert failed.startswith("✗ ") and "chat not found" in failed.lower() and "WATCHER_TELEGRAM_CHAT" in failed


@pytest.mark.parametrize(("chat", "status", "why"), [
    (CHANNEL, "member", "only a subscriber"),
    (CHANNEL, {"status": "administrator", "can_post_messages": False}, "without the right to post"),
    (GROUP, "left", "not in the chat"),
    (GROUP, "kicked", "banned"),
    (GROUP, {"status": "restricted", "can_send_messages": False}, "restricted"),
])
def test_a_bot_not_allowed_to_post_fails(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch,
                                         chat: str, status: Any, why: str) -> None:
    telegram_env(monkeypatch, api, WATCHER_TELEGRAM_CHAT=chat)
    api.member_status[int(chat)] = status
    result = site.cli("doctor")
    assert result.exit_code == 1
    failed = line(result, "telegram alert chat")
    assert failed.startswith("✗ ") and why in failed and "; fix: " in failed


def test_a_group_member_and_a_channel_creator_may_post(site: Workspace, api: FakeBotApi,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    telegram_env(monkeypatch, api, WATCHER_TELEGRAM_CHAT=GROUP, WATCHER_TELEGRAM_ADMIN_CHAT=CHANNEL)
    api.member_status.update({int(GROUP): "member", int(CHANNEL): "creator"})
    result = site.cli("doctor")
    assert result.exit_code == 0, result.output
    assert "(group)" in line(result, "telegram alert chat") and "(channel)" in line(result, "telegram admin chat")


def test_a_token_without_a_chat_fails(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    telegram_env(monkeypatch, api)
    monkeypatch.delenv("WATCHER_TELEGRAM_CHAT")
    result = site.cli("doctor")
    assert result.exit_code == 1 and "WATCHER_TELEGRAM_CHAT is not" in line(result, "telegram alert chat")


def test_the_bot_api_down_fails_and_the_clock_is_skipped(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHER_TELEGRAM_TOKEN", "4242:real-secret-token")
    monkeypatch.setenv("WATCHER_TELEGRAM_CHAT", CHANNEL)
    monkeypatch.setenv("WATCHER_TELEGRAM_API", f"http://127.0.0.1:{free_port()}")
    result = site.cli("doctor")
    assert result.exit_code == 1
    assert "not reachable" in line(result, "telegram token") and "WATCHER_TELEGRAM_API" in line(result, "telegram token")
    assert line(result, "clock").startswith("- ") and "real-secret" not in result.output


def test_quick_asks_nothing_of_telegram(site: Workspace, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    telegram_env(monkeypatch, api)
    result = site.cli("doctor", "--quick")
    assert result.exit_code == 0 and api.requests == [] and "telegram" not in result.output


def test_a_clock_ten_minutes_off_fails(site: Workspace, api: FakeBotApi) -> None:
    env = {"WATCHER_TELEGRAM_TOKEN": api.token, "WATCHER_TELEGRAM_CHAT": CHANNEL,
           "WATCHER_TELEGRAM_API": f"http://127.0.0.1:{api.port}"}
    ahead = deployment(site, env, now=lambda: datetime.now(UTC) + timedelta(minutes=10))
    [clock] = [c for c in run_checks(ahead) if c.name == "clock"]
    assert clock.status == "fail" and "10 min ahead of Telegram" in clock.message and "timedatectl" in clock.fix


def test_the_clock_reference_can_be_passed_in(site: Workspace) -> None:
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for offset, status in ((timedelta(minutes=4), "ok"), (timedelta(minutes=-6), "fail")):
        checked = deployment(site, now=lambda o=offset: noon + o, reference_time=lambda: noon)  # type: ignore[misc]
        [clock] = [c for c in run_checks(checked) if c.name == "clock"]
        assert clock.status == status, clock
    [clock] = [c for c in run_checks(deployment(site)) if c.name == "clock"]
    assert clock.status == "skip" and "Telegram" in clock.message


# -- SMTP ---------------------------------------------------------------------------------------


class Keeper:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@contextmanager
def smtp_server(**kwargs: Any) -> Iterator[tuple[int, Keeper]]:
    handler = Keeper()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not found")
    folder = tmp_path_factory.mktemp("doctor-tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(keyfile), "-out", str(certfile)],
                   check=True, capture_output=True)
    return certfile, keyfile


def smtp_env(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    values = {"WATCHER_SMTP_HOST": "127.0.0.1", "WATCHER_SMTP_PORT": str(port), "WATCHER_SMTP_SECURITY": "none",
              "WATCHER_DIGEST_FROM": "digest@example.org", "WATCHER_DIGEST_TO": "monitor@example.org", **extra}
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_smtp_without_auth_is_reachable_and_nothing_is_sent(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as (port, handler):
        smtp_env(monkeypatch, port)
        result = site.cli("doctor")
    assert result.exit_code == 0, result.output
    assert line(result, "smtp").startswith("✓ ") and "no login configured" in line(result, "smtp")
    assert handler.received == []


def test_smtp_login_over_starttls_accepted_and_refused(site: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                       cert: tuple[Path, Path]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    with smtp_server(tls_context=context, authenticator=authenticator, auth_required=True) as (port, handler):
        smtp_env(monkeypatch, port, WATCHER_SMTP_SECURITY="starttls", WATCHER_SMTP_CAFILE=str(cert[0]),
                 WATCHER_SMTP_USER=USER, WATCHER_SMTP_PASSWORD=PASSWORD)
        good = site.cli("doctor")
        monkeypatch.setenv("WATCHER_SMTP_PASSWORD", "wrong-" + PASSWORD)
        bad = site.cli("doctor")
    assert good.exit_code == 0, good.output
    assert "login accepted for 'digest'" in line(good, "smtp")
    assert bad.exit_code == 1
    assert line(bad, "smtp").startswith("✗ ") and "login refused" in line(bad, "smtp")
    assert "WATCHER_SMTP_PASSWORD" in line(bad, "smtp") and PASSWORD not in bad.output + good.output
    assert handler.received == []


def test_smtp_without_starttls_offered_fails(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as (port, _):
        smtp_env(monkeypatch, port, WATCHER_SMTP_SECURITY="starttls")
        result = site.cli("doctor")
    assert result.exit_code == 1 and "does not offer STARTTLS" in line(result, "smtp")


def test_smtp_down_fails_with_what_to_check(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_env(monkeypatch, free_port())
    result = site.cli("doctor")
    assert result.exit_code == 1
    assert "unreachable" in line(result, "smtp") and "WATCHER_SMTP_PORT" in line(result, "smtp")


def test_smtp_settings_refused_name_the_variable(site: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp_env(monkeypatch, 25)
    monkeypatch.delenv("WATCHER_DIGEST_FROM")
    result = site.cli("doctor")
    assert result.exit_code == 1 and line(result, "smtp").startswith("✗ ")
    assert "WATCHER_DIGEST_FROM is not set" in result.output


def test_a_terminal_without_unicode_gets_words(site: Workspace) -> None:
    from watcher.cli.doctor import ASCII, render

    rendered = render(run_checks(deployment(site), quick=True), ASCII)
    assert rendered[0].startswith("OK feeds:") and all(text.isascii() for text in rendered)


def test_the_backup_check_says_how_old_the_newest_backup_is(site: Workspace, tmp_path: Path) -> None:
    from watcher.store.backup import backup

    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    folder = tmp_path / "backups"
    env = {"WATCHER_BACKUP_DIR": str(folder)}

    def check(env: dict[str, str], at: datetime = now) -> Any:
        return next(c for c in run_checks(deployment(site, env, now=lambda: at), quick=True) if c.name == "backups")

    unset = check({})
    assert unset.status == "warn" and "WATCHER_BACKUP_DIR" in unset.message
    assert check(env).status == "warn" and "no backup" in check(env).message
    assert check({**env, "WATCHER_BACKUP_KEEP": "none"}).status == "fail"
    Store(site.state / "watcher.db").close()
    backup(site.state / "watcher.db", site.rules, folder, now - timedelta(hours=3))
    fresh = check(env)
    assert fresh.status == "ok" and "3 hour(s) old" in fresh.message and "keeping 14" in fresh.message
    stale = check(env, now + timedelta(days=3))
    assert stale.status == "warn" and "3 day(s) old" in stale.message and "has not run" in stale.message
