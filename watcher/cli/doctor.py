"""`watcher doctor`: check a deployment and say what to fix, one line per check, exit 1 on a failure.

The local checks (files, folders, disk, database) are in checks.py; here are the command and the
checks that talk to the services as watcher would, without sending anything: Telegram (getMe for
the token, getChat and the bot's own getChatMember for every chat watcher posts to), the clock
(against the Date header of Telegram's answer: a clock that is off skews polls, digest windows,
mutes and check-ins), and SMTP (connect, EHLO, STARTTLS or SSL, AUTH; never MAIL FROM).

The bot token is never printed: the API is named by `api_base` with the token left out, and any
error text is scrubbed of it. The SMTP password is scrubbed by EmailNotifier's own error texts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import click

from watcher.cli.checks import Check, Deployment, local_checks
from watcher.cli.root import _paths, cli
from watcher.delivery.notifiers import api_base
from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings
from watcher.errors import ConfigError, DeliveryError

CLOCK_LIMIT = 300.0  # seconds: beyond this, "every 15m", digest windows and mutes' ends drift visibly
SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
ASCII = {"ok": "OK", "warn": "!", "fail": "FAIL", "skip": "-"}


# -- Telegram ---------------------------------------------------------------------------------

def _chats(d: Deployment) -> list[tuple[str, str, str]]:
    """(check name, chat id, where it is set) of every chat watcher posts to."""
    chats = [("telegram alert chat", d.env.get("WATCHER_TELEGRAM_CHAT", "").strip(), "WATCHER_TELEGRAM_CHAT")]
    if d.rules is not None:
        chats += [(f"telegram destination {name}", chat, f"{d.paths.rules}/routes.yaml")
                  for name, chat in sorted(d.rules.routes.chats().items())]
    admin = d.env.get("WATCHER_TELEGRAM_ADMIN_CHAT", "").strip()
    if admin:
        chats.append(("telegram admin chat", admin, "WATCHER_TELEGRAM_ADMIN_CHAT"))
    return chats


def _cannot_post(kind: str, member: Any) -> tuple[str, str] | None:
    """Why the bot may not post in a chat of type `kind`, and the fix; None when it may."""
    status = member.status
    if status == "creator" or (status == "member" and kind != "channel"):
        return None
    if status == "administrator":
        if kind == "channel" and not getattr(member, "can_post_messages", False):
            return ("the bot is an administrator without the right to post messages",
                    "in the channel: Administrators > the bot > allow 'Post messages'")
        return None
    if status == "member":
        return ("the bot is only a subscriber of the channel", "make the bot an administrator with 'Post messages'")
    if status == "restricted":
        if getattr(member, "is_member", False) and getattr(member, "can_send_messages", False):
            return None
        return "the bot is restricted from sending messages", "lift the bot's restrictions in the group's settings"
    if status == "kicked":
        return "the bot was removed and banned from the chat", "unban the bot and add it again"
    return ("the bot is not in the chat", "add the bot to the chat"
            + (" as an administrator with 'Post messages'" if kind == "channel" else ""))


async def _check_chat(bot: Any, bot_id: int, name: str, chat_id: str, where: str, scrub: Callable[[str], str]) -> Check:
    from telegram.error import TelegramError

    if not chat_id:
        return Check(name, "fail", "WATCHER_TELEGRAM_TOKEN is set but WATCHER_TELEGRAM_CHAT is not",
                     "set WATCHER_TELEGRAM_CHAT to the monitors' channel or group id")
    if "," in chat_id or ";" in chat_id or len(chat_id.split()) > 1:
        return Check(name, "fail", f"{where} takes one chat id, not {chat_id!r}",
                     "name the other chats as destinations in rules/routes.yaml (README, Routes)")
    try:
        chat = await bot.get_chat(chat_id)
        if chat.type == "private":
            return Check(name, "ok", f"chat {chat_id} (private) is reachable; the bot may write while not blocked")
        member = await bot.get_chat_member(chat_id, bot_id)
    except TelegramError as exc:
        return Check(name, "fail", f"chat {chat_id} is not reachable ({scrub(str(exc))})",
                     f"check the id in {where} and that the bot is in the chat")
    problem = _cannot_post(chat.type, member)
    if problem is not None:
        return Check(name, "fail", f"chat {chat_id} ({chat.type}): {problem[0]}", problem[1])
    return Check(name, "ok", f"chat {chat_id} ({chat.type}) is reachable and the bot may post")


async def _telegram(d: Deployment, token: str) -> tuple[list[Check], tuple[datetime, datetime] | None]:
    """The Telegram checks, and (Telegram's Date, our clock then) from the last answer, if any."""
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    where = api_base(d.env).removesuffix("/bot")
    seen: list[tuple[datetime, datetime]] = []

    def scrub(text: str) -> str:
        return text.replace(token, "<token>")

    async def keep_date(response: Any) -> None:
        try:
            seen.append((parsedate_to_datetime(response.headers["date"]), d.now()))
        except (KeyError, TypeError, ValueError):
            pass

    t = d.timeout
    requests = [HTTPXRequest(connect_timeout=t, read_timeout=t, write_timeout=t, pool_timeout=t,
                             httpx_kwargs={"event_hooks": {"response": [keep_date]}}) for _ in range(2)]
    bot = Bot(token, base_url=api_base(d.env), request=requests[0], get_updates_request=requests[1])
    checks: list[Check] = []
    try:
        try:
            me = await bot.get_me()
        except InvalidToken as exc:
            checks.append(Check("telegram token", "fail", f"the token is refused by {where} ({scrub(str(exc))})",
                                "set WATCHER_TELEGRAM_TOKEN to the token @BotFather gave (/token there shows it)"))
            return checks, seen[-1] if seen else None
        except TelegramError as exc:
            checks.append(Check("telegram token", "fail", f"the Bot API at {where} is not reachable ({scrub(str(exc))})",
                                "check the network, DNS and proxy, or WATCHER_TELEGRAM_API"))
            return checks, seen[-1] if seen else None
        checks.append(Check("telegram token", "ok", f"valid: the bot is @{me.username} ({where})"))
        for name, chat_id, chat_where in _chats(d):
            checks.append(await _check_chat(bot, me.id, name, chat_id, chat_where, scrub))
    finally:
        for request in requests:
            await request.shutdown()
    return checks, seen[-1] if seen else None


def _offset(seconds: float) -> str:
    size = abs(seconds)
    text = f"{size:.0f} s" if size < 120 else f"{size / 60:.0f} min" if size < 7200 else f"{size / 3600:.1f} h"
    return f"{text} {'ahead of' if seconds > 0 else 'behind'}"


def check_clock(d: Deployment, telegram: tuple[datetime, datetime] | None) -> Check:
    if d.reference_time is not None:
        reference, local, source = d.reference_time(), d.now(), "the reference clock"
    elif telegram is not None:
        (reference, local), source = telegram, "Telegram's (the Date of its answer)"
    else:
        return Check("clock", "skip", "nothing to compare with: the clock is checked against Telegram's answers "
                     "(Telegram not configured or not reached)")
    seconds = (local - reference).total_seconds()
    if abs(seconds) > CLOCK_LIMIT:
        return Check("clock", "fail", f"this clock is {_offset(seconds)} {source}",
                     "turn on time synchronisation: timedatectl set-ntp true (or chrony / ntpd)")
    return Check("clock", "ok", f"within {abs(seconds):.0f} s of {source}")


def telegram_checks(d: Deployment) -> tuple[list[Check], tuple[datetime, datetime] | None]:
    """The Telegram checks, and what the clock check compares with (see `_telegram`)."""
    token = d.env.get("WATCHER_TELEGRAM_TOKEN", "").strip()
    if not token:
        chats = sorted(d.rules.routes.chats()) if d.rules is not None else []
        if chats:
            return [Check("telegram", "warn", f"routes.yaml names Telegram chats ({', '.join(chats)}) but "
                          "WATCHER_TELEGRAM_TOKEN is not set: their alerts print on the console",
                          "set WATCHER_TELEGRAM_TOKEN and WATCHER_TELEGRAM_CHAT")], None
        return [Check("telegram", "skip", "WATCHER_TELEGRAM_TOKEN not set: alerts go to the console")], None
    return asyncio.run(_telegram(d, token))


# -- SMTP ---------------------------------------------------------------------------------------

def check_smtp(d: Deployment) -> Check:
    """The digest's mail server as EmailNotifier reaches it (same TLS, same CA, same login)."""
    try:
        settings = SmtpSettings.from_env(d.env)
    except ConfigError as exc:
        return Check("smtp", "fail", "the SMTP settings are refused", "fix these variables (README, Digest by email)",
                     tuple(str(p) for p in exc.problems))
    if settings is None:
        emails = sorted(d.rules.routes.emails()) if d.rules is not None else []
        if emails:
            return Check("smtp", "warn", f"routes.yaml sends digests to {', '.join(emails)} but WATCHER_SMTP_HOST is "
                         "not set: they cannot go out", "set WATCHER_SMTP_HOST and the other WATCHER_SMTP_* variables")
        return Check("smtp", "skip", "WATCHER_SMTP_HOST not set: no digest by email")
    settings = replace(settings, timeout=min(settings.timeout, d.timeout))
    error = smtp_login(settings)
    if error is not None:
        fix = ("check WATCHER_SMTP_HOST and WATCHER_SMTP_PORT, that the server is up and that a firewall lets "
               "this host reach it" if "unreachable" in error else "")
        return Check("smtp", "fail", error, fix)
    login = f"login accepted for {settings.user!r}" if settings.user else "no login configured"
    return Check("smtp", "ok", f"{settings.host}:{settings.port} ({settings.security}) reachable, {login}; nothing sent")


def smtp_login(s: SmtpSettings) -> str | None:
    """None when the SMTP session up to the login worked (nothing is sent), else the error as
    the digest's sender words it (password scrubbed): the same code path as a digest."""
    notifier = EmailNotifier(s, s.recipients[0] if s.recipients else "doctor@localhost")
    try:
        notifier.check_login()
    except DeliveryError as exc:
        return str(exc)
    return None


# -- the command --------------------------------------------------------------------------------

def run_checks(d: Deployment, quick: bool = False) -> list[Check]:
    """Every check in report order; `quick`: the local ones only (no network)."""
    checks = local_checks(d)
    if quick:
        return checks
    telegram, date = telegram_checks(d)
    return [*checks, *telegram, check_clock(d, date), check_smtp(d)]


def _symbols() -> dict[str, str]:
    """✓ ✗ where the terminal can show them; words on a terminal that cannot (LANG=C, old consoles)."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "".join(SYMBOLS.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return SYMBOLS


def render(checks: list[Check], symbols: dict[str, str]) -> list[str]:
    lines = []
    for check in checks:
        lines.append(f"{symbols[check.status]} {check.name}: {check.message}" + (f"; fix: {check.fix}" if check.fix else ""))
        lines.extend(f"    {detail}" for detail in check.details)
    counts = {status: sum(1 for c in checks if c.status == status) for status in SYMBOLS}
    lines.append(f"{counts['fail']} failed, {counts['warn']} warning(s), {counts['ok']} passed, {counts['skip']} skipped")
    return lines


@cli.command()
@click.option("--quick", is_flag=True, help="Only the local checks (files, folders, disk, database), no network: "
              "for a container HEALTHCHECK.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: ok, and each check's name, status "
              "(ok, warn, fail, skip), message, fix and details.")
@click.pass_context
def doctor(ctx: click.Context, quick: bool, as_json: bool) -> None:
    """Check this deployment and say what to fix: one line per check, exit 1 if any failed.

    ✓ passed, ! warning (watcher runs, but look at it), ✗ failed (fix it), - skipped. Checked:
    feeds.yaml and the rules folder (routes.yaml, monitors.yaml) valid; the rules files and the
    state folder private; the state folder writable; disk space; the database (PRAGMA
    quick_check, migrations); with Telegram configured, the token (getMe), every chat watcher
    posts to (reachable, and the bot allowed to post) and the clock against Telegram's; with
    WATCHER_SMTP_HOST set, the mail server and its login. Nothing is changed or sent."""
    checks = run_checks(Deployment(_paths(ctx), os.environ), quick=quick)
    failed = any(c.status == "fail" for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "quick": quick, "checks": [c.as_dict() for c in checks]},
                              ensure_ascii=False, indent=2))
    else:
        for line in render(checks, _symbols()):
            click.echo(line)
    ctx.exit(1 if failed else 0)
