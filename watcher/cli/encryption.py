"""`watcher encrypt-db`: turn a plain watcher.db into a SQLCipher-encrypted one (WATCHER_DB_KEY).

The database holds every item that named a watched person and the incidents about them; on a
laptop that can be lost or seized, encryption at rest is worth its cost (a key to keep, slower
start, no plain `sqlite3` access). The conversion uses SQLCipher's own `sqlcipher_export`; the
result is checked (it opens with the key, passes `PRAGMA integrity_check`, holds the same rows)
before it replaces the plain file, which is kept beside it for the monitor to delete once
satisfied. Stop watcher first: the conversion refuses a database in use.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import click

from watcher.cli.root import _fail_config, _paths, cli
from watcher.errors import ConfigError, ConfigProblem
from watcher.store import Store


def _tables(conn: object) -> dict[str, int]:
    names = [r[0] for r in conn.execute(  # type: ignore[attr-defined]
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # type: ignore[attr-defined]


@cli.command("encrypt-db")
@click.pass_context
def encrypt_db(ctx: click.Context) -> None:
    """Encrypt state/watcher.db with the key in WATCHER_DB_KEY (SQLCipher), keeping the plain copy aside."""
    key = os.environ.get("WATCHER_DB_KEY", "")
    db = _paths(ctx).db
    if not key:
        _fail_config(ConfigError([ConfigProblem("environment", None, "set WATCHER_DB_KEY to the key to encrypt with")]))
    if not db.exists():
        _fail_config(ConfigError([ConfigProblem(str(db), None, "no database to encrypt (a new one is created"
                                                " encrypted when watcher starts with WATCHER_DB_KEY set)")]))
    try:
        from sqlcipher3 import dbapi2 as sqlcipher
    except ImportError:
        _fail_config(ConfigError([ConfigProblem("environment", None, "SQLCipher is not installed: "
                                                "pip install 'watcher[encrypted]'")]))
    try:
        plain = Store(db, key=None)  # refuses an encrypted or damaged file
    except ConfigError as exc:
        _fail_config(exc)
    try:
        plain.conn.execute("BEGIN EXCLUSIVE")  # fails at once if watcher is running
        plain.conn.execute("ROLLBACK")
    except Exception:
        click.echo("watcher.db is in use: stop watcher first", err=True)
        sys.exit(1)
    plain.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _tables(plain.conn)
    plain.close()
    target = db.with_name(db.name + ".encrypting")
    target.unlink(missing_ok=True)
    conn = sqlcipher.connect(str(db), isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(target), key))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    os.chmod(target, 0o600)
    check = sqlcipher.connect(str(target))
    try:
        check.execute("PRAGMA key = '" + key.replace("'", "''") + "'")
        ok = check.execute("PRAGMA integrity_check").fetchone()[0] == "ok" and _tables(check) == before
    finally:
        check.close()
    if not ok:
        target.unlink(missing_ok=True)
        click.echo("the encrypted copy did not check out; nothing was changed", err=True)
        sys.exit(1)
    kept = db.with_name(f"{db.name}.plain-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}")
    os.replace(db, kept)
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    os.replace(target, db)
    click.echo(f"{db} is encrypted ({sum(before.values())} rows in {len(before)} tables checked). The plain copy is"
               f" {kept}: delete it (shred -u) once watcher runs with WATCHER_DB_KEY. Keep the key safe:"
               " without it the database cannot be read.")
