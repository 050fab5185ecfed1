"""Commands that try rules on stored history and read monitors' feedback: rematch, rules backtest, stats."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import click

from watcher.app import App, IncidentSettings
from watcher.cli.root import _fail_config, _paths, cli
from watcher.cli.rules import rules as rules_group
from watcher.delivery.outbox import DeliveryReport
from watcher.durations import parse_duration
from watcher.errors import ConfigError
from watcher.http import utcnow
from watcher.rules import Rules, load_rules
from watcher.store import Store


def _period(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.UsageError(f"--since: {exc}") from None


def _rules_or_exit(folder: Path) -> Rules:
    try:
        return load_rules(folder)
    except ConfigError as exc:
        _fail_config(exc)
        raise  # not reached: _fail_config exits


def _store_or_exit(db: Path) -> Store:
    if not db.exists():
        click.echo(f"nothing stored yet (no database at {db})", err=True)
        sys.exit(1)
    return Store(db)


class _Report(Protocol):
    """What backtest and stats return: one JSON object for scripts, or lines for a person."""

    def to_json(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]: ...


def _echo_result(result: _Report, as_json: bool) -> None:
    """Print a report the way --json asks, so every report command speaks the same two forms."""
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    for line in result.lines():
        click.echo(line)


@cli.command("rematch")
@click.option("--since", "since_text", default="30d", show_default=True, metavar="DURATION",
              help="Re-apply the rules to items first stored this long ago or later.")
@click.option("--list", "listing", is_flag=True, help="Print every item a rule newly matches.")
@click.option("--alert", is_flag=True,
              help="Raise incidents and alerts for what newly became alert-worthy, and deliver them "
                   "(once; never an item already alerted).")
@click.pass_context
def rematch_command(ctx: click.Context, since_text: str, listing: bool, alert: bool) -> None:
    """Re-apply today's rules to stored items of a period, storing the new matches.

    After /watch or a new keyword, what was stored before it stays unseen until this runs.
    Without --alert nothing is sent; a later `rematch --alert` still alerts what this found."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from watcher.history import RematchReport, rematch

    if listing and alert:
        raise click.UsageError("choose --list or --alert (--alert lists what it alerted as well)")
    since = _period(since_text)
    try:
        app = App.build(_paths(ctx))
    except ConfigError as exc:
        _fail_config(exc)
    people_only = {s.id for s in app.sources if s.alerts == "people"}
    columns = (TextColumn("rematching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())

    async def main() -> tuple[RematchReport, DeliveryReport | None]:
        try:
            with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
                task = bar.add_task("rematch", total=None)
                report = rematch(app.store, app.rules.rules, app.context.filing, app.clock(), since, alert=alert,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total),
                                 people_only=people_only)
            if not (alert and report.alerts):
                return report, None
            await app.recover()  # as `poll --once`: what a crash left mid-send first
            return report, await app.deliver_all()  # the alerts go out now, as a poll's would
        finally:
            await app.aclose()

    report, delivered = asyncio.run(main())
    if listing or alert:
        for found in report.newly:
            filed = (f" → {found.alerts} alert(s)" if found.alerts
                     else " → held for the digest" if found.held else "")
            click.echo(f"#{found.item_id} {found.published:%Y-%m-%d} [{found.source_id}] {found.title[:100]}"
                       f" ({', '.join(found.rules)}){filed}")
    click.echo(f"rematched {report.examined} item(s) first stored in the last {since_text}:"
               f" {report.matched} match, {len(report.newly)} newly matched,"
               f" {report.new_matches} new match(es) stored"
               + (f"; {report.alerts} alert(s) raised, {delivered.sent if delivered else 0} delivered"
                  + (f", {report.held} held for the digest" if report.held else "")
                  + (f"; {report.not_refiled} left alone (already alerted, filed or silenced when polled)"
                     if report.not_refiled else "") if alert else ""), err=True)


@rules_group.command("backtest")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--since", "since_text", default="90d", show_default=True, metavar="DURATION",
              help="Try the rules on items first stored this long ago or later.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def backtest_command(ctx: click.Context, folder: Path, since_text: str, as_json: bool) -> None:
    """Try the rules in FOLDER against stored items: incidents and alerts per week, before and after.

    Before: the rules in force (--rules); after: FOLDER's. Both are simulated in memory on the
    same stored items, so the difference is the rules' alone; watcher.db is not written. Lists
    the items that would newly alert or no longer alert, and the rules that made the difference."""
    from watcher.history import backtest

    since = _period(since_text)
    paths = _paths(ctx)
    current = _rules_or_exit(paths.rules)
    proposed = _rules_or_exit(folder)
    try:
        window = IncidentSettings.from_env(os.environ).window
    except ConfigError as exc:
        _fail_config(exc)
    store = _store_or_exit(paths.db)
    try:
        result = backtest(store, current, proposed, utcnow(), since, window=window)
    finally:
        store.close()
    _echo_result(result, as_json)


@cli.command("stats")
@click.option("--since", "since_text", default="30d", show_default=True, metavar="DURATION",
              help="Count alerts created this long ago or later.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def stats_command(ctx: click.Context, since_text: str, as_json: bool) -> None:
    """Monitors' feedback per person and incident type: alerts, relevant, not relevant, precision.

    For a person whose alerts were judged not relevant, the namesakes seen beside their surname
    in those items are listed: candidates for the person's `not:` list (the bot adds one with a tap)."""
    from watcher.history import feedback_stats

    since = _period(since_text)
    paths = _paths(ctx)
    loaded = _rules_or_exit(paths.rules)
    store = _store_or_exit(paths.db)
    now: datetime = utcnow()
    try:
        result = feedback_stats(store, now - since, now + timedelta(seconds=1), loaded)
    finally:
        store.close()
    _echo_result(result, as_json)
