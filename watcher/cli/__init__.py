"""The `watcher` command line. Every command has --help; paths come from options or env."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from watcher import __version__
from watcher.app import App
from watcher.config import Paths, load_feeds
from watcher.errors import ConfigError, ConfigProblem
from watcher.rules import load_rules
from watcher.store import Store, parse_iso

log = logging.getLogger("watcher")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _paths(ctx: click.Context) -> Paths:
    return ctx.find_object(Paths)  # type: ignore[return-value]


def _fail_config(exc: ConfigError) -> None:
    click.echo(str(exc), err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watcher")
@click.option("--feeds", type=click.Path(path_type=Path), envvar="WATCHER_FEEDS", default="feeds.yaml",
              show_default=True, help="The sources file (env WATCHER_FEEDS).")
@click.option("--rules", type=click.Path(path_type=Path), envvar="WATCHER_RULES", default="rules",
              show_default=True, help="The folder of rules files (env WATCHER_RULES).")
@click.option("--state", type=click.Path(path_type=Path), envvar="WATCHER_STATE", default="state",
              show_default=True, help="The folder for watcher.db (env WATCHER_STATE).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              envvar="WATCHER_LOG_LEVEL", show_default=True, help="Log level on stderr (env WATCHER_LOG_LEVEL).")
@click.pass_context
def cli(ctx: click.Context, feeds: Path, rules: Path, state: Path, log_level: str) -> None:
    """watcher: polls news feeds and court databases, matches watched exiles and incidents,
    and alerts monitors. Alerts go to stdout unless Telegram is configured."""
    _setup_logging(log_level)
    ctx.obj = Paths(feeds=feeds, rules=rules, state=state)


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Poll every enabled source on its schedule and deliver alerts, until SIGINT/SIGTERM."""
    from watcher.scheduler import Runner

    try:
        app = App.build(_paths(ctx))
    except ConfigError as exc:
        _fail_config(exc)

    async def main() -> None:
        try:
            await Runner(app).run()
        finally:
            await app.aclose()

    asyncio.run(main())


@cli.command()
@click.option("--once", is_flag=True, default=True, help="Run one cycle and exit (the only mode; `watcher run` polls forever).")
@click.option("--source", "only", multiple=True, metavar="ID", help="Poll only this source (repeatable).")
@click.pass_context
def poll(ctx: click.Context, once: bool, only: tuple[str, ...]) -> None:
    """Poll every enabled source (or --source ID) once, deliver the alerts, and exit."""
    try:
        app = App.build(_paths(ctx))
    except ConfigError as exc:
        _fail_config(exc)
    try:
        chosen = app.enabled(only)
    except KeyError as exc:
        raise click.UsageError(f"no source with id {exc.args[0]} in {_paths(ctx).feeds}") from None
    asyncio.run(_one_cycle(app, chosen))


async def _one_cycle(app: App, chosen: list[Any]) -> None:
    try:
        await app.recover()
        reports = await app.poll(chosen, respect_backoff=False)
        delivery = await app.deliver_all()
    finally:
        await app.aclose()
    new = sum(r.new for r in reports)
    silenced = sum(r.silenced for r in reports)
    bad = [r for r in reports if r.error]
    click.echo(
        f"polled {len(reports)} source(s): {new} new item(s), {delivery.sent} alert(s) delivered"
        + (f", {delivery.deferred} deferred" if delivery.deferred else "")
        + (f"; {silenced} matching item(s) not alerted: first poll of a new source stores what it"
           " already lists silently (set `backfill: alert` on the source to alert on them)" if silenced else "")
        + (f"; {len(bad)} source(s) unhealthy: " + ", ".join(f"{r.source_id} ({r.state})" for r in bad) if bad else ""),
        err=True,
    )


def _ago(stamp: str | None, now: datetime) -> str:
    when = parse_iso(stamp)
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


@cli.command()
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Show every source's health, last success, items seen and last error."""
    paths = _paths(ctx)
    try:
        configured = {s.id: s for s in load_feeds(paths.feeds)}
    except ConfigError as exc:
        _fail_config(exc)
    rows = {r["id"]: r for r in Store(paths.db).sources()} if paths.db.exists() else {}
    now = datetime.now(timezone.utc)
    table = [("SOURCE", "TYPE", "HEALTH", "LAST OK", "ITEMS", "FAILS", "LAST ERROR")]
    for source_id in sorted(set(configured) | set(rows)):
        row = rows.get(source_id, {})
        setting = configured.get(source_id)
        health = row.get("state", "new")
        if setting is None:
            health += " (not in feeds file)"
        elif not setting.enabled:
            health += " (disabled)"
        error = (row.get("last_error") or "") if health.split()[0] != "ok" else ""
        table.append((
            source_id, (setting.type if setting else row.get("type", "?")), health, _ago(row.get("last_ok"), now),
            str(row.get("items_seen", 0)), str(row.get("consecutive_failures", 0)), error[:70],
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


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
    click.echo(f"digest for {chosen}: {report.sent} sent"
               + (f", {report.already} already sent (use --force to send again)" if report.already else "")
               + (f", {report.skipped} empty and not sent" if report.skipped else "")
               + (f", {report.deferred} failed and will be retried by watcher run" if report.deferred else "")
               + (f", {report.failed} refused" if report.failed else ""), err=True)
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if report.deferred or report.failed:
        sys.exit(1)


@cli.command()
@click.option("--older-than", "older", default=None, metavar="DURATION",
              help="Forget unmatched items last seen longer ago than this (default WATCHER_RETENTION or 180d).")
@click.pass_context
def prune(ctx: click.Context, older: str | None) -> None:
    """Forget old items that never matched and never alerted (matched items and alerts are kept)."""
    import os

    from watcher.durations import parse_duration

    try:
        keep = parse_duration(older or os.environ.get("WATCHER_RETENTION", "180d"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    paths = _paths(ctx)
    if not paths.db.exists():
        click.echo("nothing to prune (no database)")
        return
    removed = Store(paths.db).prune(datetime.now(timezone.utc) - keep)
    click.echo(f"forgot {removed} unmatched item(s) last seen more than {older or 'the retention period'} ago")


@cli.command()
@click.option("--limit", default=30, show_default=True, help="How many of the newest alerts to show.")
@click.pass_context
def alerts(ctx: click.Context, limit: int) -> None:
    """List the newest alerts: status, destination, who matched, and monitors' feedback."""
    paths = _paths(ctx)
    if not paths.db.exists():
        click.echo("no alerts yet (no database)")
        return
    rows = Store(paths.db).recent_alerts(limit)
    for row in rows:
        verdict = f" feedback +{row['relevant'] or 0}/-{row['not_relevant'] or 0}" if row["relevant"] or row["not_relevant"] else ""
        error = f" ({row['last_error'][:60]})" if row["status"] != "sent" and row["last_error"] else ""
        click.echo(f"#{row['id']} {row['created_at']} {row['status']}{error} → {row['destination']} "
                   f"[{row['source_id']}] {row['people'] or '-'}: {row['title'][:80]}{verdict}")
    if not rows:
        click.echo("no alerts yet")


@cli.group()
def rules() -> None:
    """Inspect and validate the rules (watched people, incident keywords)."""


@rules.command("check")
@click.pass_context
def rules_check(ctx: click.Context) -> None:
    """Validate every rules file; print file:line errors and exit 1 if any is broken."""
    folder = _paths(ctx).rules
    try:
        loaded = load_rules(folder)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    keywords = sum(len(w) for t in loaded.incident_types.values() for w in t.keywords.values())
    click.echo(
        f"rules OK: {len(loaded.people)} people, {len(loaded.incident_types)} incident types, "
        f"{keywords} keywords ({folder})"
    )


def _load_rules_or_exit(folder: Path) -> Any:
    try:
        return load_rules(folder)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@rules.command("test")
@click.argument("text")
@click.pass_context
def rules_test(ctx: click.Context, text: str) -> None:
    """Show what the rules find in TEXT, and why: people, incident types, countries."""
    from watcher.matching import analyse

    result = analyse(text, _load_rules_or_exit(_paths(ctx).rules))
    click.echo(f"people:         {', '.join(result.people) or '-'}")
    click.echo(f"incident types: {', '.join(result.incident_types) or '-'}")
    click.echo(f"countries:      {', '.join(result.countries) or '-'}"
               + (f" (origin {', '.join(result.origin)}; host {', '.join(result.host) or '-'})" if result.origin else ""))
    for found in result.matches:
        click.echo(f"  {found.rule}: {found.text!r} at {found.span[0]}-{found.span[1]}, variant {found.variant!r}: {found.why}")


@rules.command("variants")
@click.argument("name")
@click.pass_context
def rules_variants(ctx: click.Context, name: str) -> None:
    """Print the spellings and inflected forms watcher recognises for NAME (given name + surname)."""
    from watcher.matching.variants import describe_variants

    for line in describe_variants(name):
        click.echo(line)


@cli.command("match")
@click.pass_context
def match_command(ctx: click.Context) -> None:
    """Match JSON lines {"id", "title", "summary", "lang"?} from stdin; one JSON result line each.

    Output: {"id", "people", "incident_types", "countries", "origin", "host",
    "matches": [{"rule", "kind", "variant", "span", "text", "why"}]}. Spans index into
    title + "\n" + summary. Use it to test rules against an archive."""
    import json

    from watcher.matching import analyse

    loaded = _load_rules_or_exit(_paths(ctx).rules)
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = "\n".join(p for p in (str(record.get("title") or ""), str(record.get("summary") or "")) if p)
        except (ValueError, AttributeError) as exc:
            click.echo(f"stdin:{number}: not a JSON object: {exc}", err=True)
            sys.exit(1)
        result = analyse(text, loaded)
        click.echo(json.dumps({
            "id": record.get("id"), "people": result.people, "incident_types": result.incident_types,
            "countries": result.countries, "origin": result.origin, "host": result.host,
            "matches": [{"rule": m.rule, "kind": m.kind, "variant": m.variant, "span": list(m.span),
                         "text": m.text, "why": m.why} for m in result.matches],
        }, ensure_ascii=False))


@cli.group()
def feeds() -> None:
    """Inspect and validate the sources file."""


@feeds.command("check")
@click.pass_context
def feeds_check(ctx: click.Context) -> None:
    """Validate the sources file; print file:line errors and exit 1 if it is broken."""
    path = _paths(ctx).feeds
    try:
        loaded = load_feeds(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    enabled = sum(1 for s in loaded if s.enabled)
    click.echo(f"feeds OK: {len(loaded)} sources, {enabled} enabled ({path})")


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), default=None,
              help="Keep the demo's state in this folder instead of a temporary one.")
def demo(keep: Path | None) -> None:
    """Replay bundled recorded feeds from a loopback server and print the alerts (no network)."""
    from watcher.demo import run_demo

    if keep is not None:
        run_demo(keep)
        return
    with tempfile.TemporaryDirectory(prefix="watcher-demo-") as tmp:
        run_demo(Path(tmp))


def main() -> None:
    cli(prog_name="watcher")


if __name__ == "__main__":
    main()
