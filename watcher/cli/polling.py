"""Commands that run watcher or read its state: run, poll, alerts, prune, demo (`sources` is in sources.py)."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from watcher.app import App
from watcher.cli.root import _fail_config, _paths, cli
from watcher.errors import ConfigError
from watcher.store import Store


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
            logging.getLogger("watcher").info("watcher stopped")

    asyncio.run(main())


EVIDENCE_WAIT = 60.0  # seconds `poll --once` gives the evidence pages after delivering


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
        reports, delivery = await app.poll_and_deliver(chosen, respect_backoff=False)
        await app.beat(force=True)
        await app.collect_evidence(max_time=EVIDENCE_WAIT)  # after the alerts, bounded
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


@cli.command()
@click.option("--older-than", "older", default=None, metavar="DURATION",
              help="Forget unmatched items last seen longer ago than this (default WATCHER_RETENTION or 180d; off keeps).")
@click.option("--evidence-older-than", "evidence_older", default=None, metavar="DURATION",
              help="Drop the page content (keeping hashes and addresses) of evidence fetched longer ago than this,"
              " of incidents with no report since (default WATCHER_EVIDENCE_RETENTION or 365d; off keeps).")
@click.pass_context
def prune(ctx: click.Context, older: str | None, evidence_older: str | None) -> None:
    """Forget old items that never matched and old evidence pages, then shrink watcher.db.

    Matched items and alerts are kept; evidence keeps its SHA-256, addresses and times."""
    import os

    from watcher.cli.backup import human_size
    from watcher.store.maintenance import EVIDENCE_RETENTION_DEFAULT, RETENTION_DEFAULT, retention_period

    try:
        keep = retention_period(older or os.environ.get("WATCHER_RETENTION"), RETENTION_DEFAULT)
        keep_evidence = retention_period(evidence_older or os.environ.get("WATCHER_EVIDENCE_RETENTION"),
                                         EVIDENCE_RETENTION_DEFAULT)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (or off)") from None
    paths = _paths(ctx)
    if not paths.db.exists():
        click.echo("nothing to prune (no database)")
        return
    now = datetime.now(timezone.utc)
    store = Store(paths.db)
    try:
        if keep is not None:
            removed = store.prune(now - keep)
            click.echo(f"forgot {removed} unmatched item(s) last seen more than {older or 'the retention period'} ago")
        if keep_evidence is not None:
            with store.transaction():
                dropped = store.prune_evidence(now - keep_evidence)
            click.echo(f"dropped the page content of {dropped} evidence row(s) fetched more than "
                       f"{evidence_older or 'the evidence retention period'} ago (hashes and addresses kept)")
        click.echo(f"freed {human_size(store.vacuum())}; watcher.db holds {human_size(store.database_bytes())}")
    finally:
        store.close()


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
