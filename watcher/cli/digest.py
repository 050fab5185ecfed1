"""`watcher digest`: preview or send the daily digest email by hand."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from watcher.cli.root import _fail_config, _paths, cli
from watcher.config import Paths
from watcher.errors import ConfigError, ConfigProblem
from watcher.rules import load_rules
from watcher.store import Store


def _digest_service(paths: Paths, env: Any, store: Store) -> Any:
    from watcher.digest import DigestSchedule, DigestService
    from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings

    smtp = SmtpSettings.from_env(env)
    if smtp is None:
        raise ConfigError([ConfigProblem("environment", None, "WATCHER_SMTP_HOST is not set: no digest can be sent")])
    try:
        rules_now = load_rules(paths.rules)
    except ConfigError:
        rules_now = None
    clock = lambda: datetime.now(timezone.utc)  # noqa: E731
    return DigestService(store, DigestSchedule.from_env(env), smtp.recipients,
                         lambda recipient: EmailNotifier(smtp, recipient), lambda: rules_now, clock)


@cli.command()
@click.option("--preview", is_flag=True, help="Write the digest's HTML to a file and print its text.")
@click.option("--send", is_flag=True, help="Send the digest now, once per recipient and day.")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="The digest's day (default: today in WATCHER_TZ).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where --preview writes the HTML.")
@click.option("--force", is_flag=True, help="With --send: send again even if this day was sent.")
@click.pass_context
def digest(ctx: click.Context, preview: bool, send: bool, day: str | None, out: Path | None, force: bool) -> None:
    """The daily digest email: --preview writes it to a file, --send sends it now.

    The digest of a day covers the alerts from the previous day's send time (WATCHER_DIGEST_AT,
    in WATCHER_TZ) to that day's. SMTP settings come from WATCHER_SMTP_* and WATCHER_DIGEST_*."""
    import os
    from datetime import date

    from watcher.digest import DigestSchedule, build_digest
    from watcher.digest.render import render_digest

    if preview == send:
        raise click.UsageError("say --preview or --send")
    paths = _paths(ctx)
    try:
        schedule = DigestSchedule.from_env(os.environ)
    except ConfigError as exc:
        _fail_config(exc)
    now = datetime.now(timezone.utc)
    try:
        chosen = date.fromisoformat(day) if day else schedule.today(now)
    except ValueError:
        raise click.UsageError(f"--date {day!r} is not a date like 2026-11-23") from None
    os.umask(0o077)
    store = Store(paths.db)
    if preview:
        try:
            rules_now = load_rules(paths.rules)
        except ConfigError:
            rules_now = None
        message = render_digest(build_digest(store, chosen, schedule, rules_now))
        target = out or Path(f"digest-{chosen.isoformat()}.html")
        target.write_text(message.html or "", encoding="utf-8")
        click.echo(message.text)
        click.echo(f"HTML written to {target}", err=True)
        return
    try:
        service = _digest_service(paths, os.environ, store)
    except ConfigError as exc:
        _fail_config(exc)

    async def go() -> Any:
        service.recover()
        service.ensure_rows(now, day=chosen)
        return await service.send(now, day=chosen, force=force)

    report = asyncio.run(go())
    if now < service.schedule.send_time(chosen):
        click.echo(f"digest for {chosen} so far: {report.early} sent early"
                   + (f", {report.failed} failed" if report.failed else "")
                   + f"; the day is not over, so its full digest still goes out at "
                   f"{service.schedule.at.strftime('%H:%M')} {service.schedule.tz}", err=True)
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if report.failed:
            sys.exit(1)
        return
    click.echo(f"digest for {chosen}: {report.sent} sent"
               + (f", {report.already} already sent (use --force to send again)" if report.already else "")
               + (f", {report.skipped} empty and not sent" if report.skipped else "")
               + (f", {report.deferred} failed and will be retried by watcher run" if report.deferred else "")
               + (f", {report.failed} refused" if report.failed else ""), err=True)
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if report.deferred or report.failed:
        sys.exit(1)
