"""`watcher evidence`: write the kept pages of an incident or item as a verifiable bundle."""

from __future__ import annotations

from pathlib import Path

import click

from watcher.cli.root import _paths, cli
from watcher.errors import WatcherError
from watcher.evidence import write_bundle
from watcher.store import Store


@cli.command()
@click.argument("target", metavar="INCIDENT_OR_ITEM")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The folder to write (created 0700).")
@click.pass_context
def evidence(ctx: click.Context, target: str, out: Path) -> None:
    """Write an incident's kept pages, their main text and a manifest with URLs, times and SHA-256.

    INCIDENT_OR_ITEM is an incident number (12, incident:12) or one item (item:34). Pages are
    kept when an incident alerts and for each later report (README, "Evidence archive"); a
    report whose page could not be fetched is listed in the manifest with the reason."""
    paths = _paths(ctx)
    if not paths.db.exists():
        raise click.ClickException("no database yet: nothing has been kept")
    try:
        manifest = write_bundle(Store(paths.db), target, out)
    except WatcherError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {manifest}")
