"""`watcher backup DIR` and `watcher restore FILE`: the database and the rules, kept and brought back.

The work is in watcher/store/backup.py and restore.py; these commands only say what happened.
A backup is safe while watcher runs; a restore refuses while it runs (stop it first).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from watcher.cli.root import _fail_config, _paths, cli
from watcher.errors import ConfigError
from watcher.store.backup import KEEP_DEFAULT, BackupError, backup, backups_in
from watcher.store.restore import restore


def human_size(n: int) -> str:
    """Bytes as a person reads them: 532 bytes, 4.2 MB."""
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit}"


@cli.command("backup")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option("--keep", type=click.IntRange(min=1), default=KEEP_DEFAULT, show_default=True,
              help="How many backups to keep in DIR; older watcher-backup-*.tar.gz files there are deleted.")
@click.pass_context
def backup_command(ctx: click.Context, directory: Path, keep: int) -> None:
    """Write a backup of watcher.db and the rules folder into DIR (safe while watcher runs).

    One file, watcher-backup-YYYYmmdd-HHMMSS.tar.gz (UTC), private to its owner: a consistent
    copy of the database (SQLite's online backup API), the rules' *.yaml files and a manifest
    with their SHA-256. Keep DIR off the machine, or copy it off: it holds the watchlist."""
    paths = _paths(ctx)
    try:
        written = backup(paths.db, paths.rules, directory, datetime.now(timezone.utc), keep=keep)
    except ConfigError as exc:
        _fail_config(exc)
    except (BackupError, OSError) as exc:
        click.echo(f"backup failed: {exc}", err=True)
        sys.exit(1)
    kept = backups_in(directory)
    click.echo(f"backup written: {written} ({human_size(written.stat().st_size)}); {len(kept)} backup(s) kept in {directory}")


@cli.command("restore")
@click.argument("archive", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--force", is_flag=True, help="Replace the current watcher.db and rules files (they are renamed "
              "<name>.before-restore-<stamp>, not deleted).")
@click.pass_context
def restore_command(ctx: click.Context, archive: Path, force: bool) -> None:
    """Restore watcher.db and the rules files from a backup made by `watcher backup`.

    Everything is checked before anything is touched (the manifest's hashes, the member names,
    the database's integrity); stop watcher first. The restored database is migrated to this
    version's schema."""
    paths = _paths(ctx)
    try:
        done = restore(archive, paths.db, paths.rules, force=force)
    except ConfigError as exc:
        _fail_config(exc)
    except (BackupError, OSError) as exc:
        click.echo(f"restore failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"restored {done.db} and {len(done.rules)} rules file(s) from the backup made {done.created_at}"
               f" by watcher {done.watcher_version}")
    for path in done.set_aside:
        click.echo(f"kept aside: {path}")
