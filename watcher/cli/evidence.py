"""`watcher evidence`: write the kept pages of an incident or item as a verifiable bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from watcher.cli.root import _paths, cli
from watcher.errors import WatcherError
from watcher.evidence import write_bundle
from watcher.store import Store


@cli.command()
@click.argument("target", metavar="INCIDENT_OR_ITEM")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The folder to write: new or empty; made private (0700, files 0600).")
@click.pass_context
def evidence(ctx: click.Context, target: str, out: Path) -> None:
    """Write an incident's kept pages, their main text and a manifest of URLs, times and SHA-256.

    INCIDENT_OR_ITEM is an incident number (12 or incident:12, as `watcher incidents` lists
    them) or one item (item:34). Pages are kept when an incident alerts and for each later
    report; the folder gets, per report, the page as fetched and its main text, plus
    manifest.json (item and final URL, fetch time in UTC, HTTP status, headers, hashes, the
    Internet Archive's copy if any) and SHA256SUMS (check with `sha256sum -c SHA256SUMS`).
    A report whose page could not be fetched is listed with its status and last error.

    The bundle names watched people: keep it private."""
    paths = _paths(ctx)
    if not paths.db.exists():
        raise click.ClickException(f"no database at {paths.db} (set --state or WATCHER_STATE): nothing has been kept")
    store = Store(paths.db)
    try:
        manifest = write_bundle(store, target, out)
    except WatcherError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"could not write the bundle in {out}: {exc.strerror or exc}") from None
    finally:
        store.close()
    reports = json.loads(manifest.read_text(encoding="utf-8"))["reports"]
    kept = sum(1 for r in reports if r["files"])
    click.echo(f"wrote {manifest}: {kept} of {len(reports)} report(s) with a kept page")
    missing = [r for r in reports if not r["files"]]
    for report in missing:
        why = f": {report['last_error']}" if report.get("last_error") else ""
        click.echo(f"  item {report['item']}: {report['status']}{why}", err=True)
