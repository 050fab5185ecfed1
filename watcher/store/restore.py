"""Restoring a backup made by store/backup.py: check everything first, then replace, never delete.

`restore` trusts nothing in the archive before it has checked it all: only the member names a
backup has (manifest.json, watcher.db, rules/<name>.yaml), regular files only (no links, no
`../`), every hash as the manifest says, the database passing `PRAGMA integrity_check`, made by
this watcher or an older one. Only then is anything touched: the current database (with its
-wal/-shm) and rules files are renamed aside to `<name>.before-restore-<stamp>` in their own
folders (never deleted: the same folders, so a read-only system around them is no obstacle),
the backup's put in place, and the restored database migrated by opening a `Store`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from watcher.errors import ConfigError
from watcher.store.backup import (DB_MEMBER, FORMAT, MANIFEST, RULES_MEMBER, BackupError, applied_migrations, fsync_dir,
                                  db_key, private_dir, utc_stamp)
from watcher.store.connect import FROM_ENV, connect

RULES_MAX_BYTES = 64 * 1024 * 1024  # a rules file bigger than this in an archive is not ours
_CHUNK = 1024 * 1024

@dataclass(frozen=True)
class Restored:
    """What `restore` did."""

    created_at: str  # when the backup was made (its manifest)
    watcher_version: str  # which watcher made it
    db: Path
    rules: list[Path]
    set_aside: list[Path]  # the files it replaced, renamed <name>.before-restore-<stamp>


def _refuse(archive: Path, why: str) -> BackupError:
    return BackupError(f"{archive}: refused: {why}; nothing was restored")


def _copy_member(source: IO[bytes], target: IO[bytes], limit: int | None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise ValueError("too large")
        digest.update(chunk)
        target.write(chunk)
    return digest.hexdigest(), size


def _unpack(archive: Path, staging: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, bytes]]:
    """Read the archive's members into `staging` (the database) and memory (manifest, rules),
    refusing any member that is not exactly one of a backup's. Returns (manifest, sha256 of
    each member, rules file name -> bytes)."""
    hashes: dict[str, str] = {}
    rules: dict[str, bytes] = {}
    manifest_bytes = b""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name
                if name != MANIFEST and name != DB_MEMBER and not RULES_MEMBER.match(name):
                    raise _refuse(archive, f"it holds {name!r}, which is not part of a watcher backup "
                                           f"(only {MANIFEST}, {DB_MEMBER} and rules/*.yaml)")
                if not member.isreg():
                    raise _refuse(archive, f"{name!r} is not a regular file (a link or a folder)")
                if name in hashes:
                    raise _refuse(archive, f"it holds {name!r} twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has data
                if name == DB_MEMBER:
                    fd = os.open(staging / DB_MEMBER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as target:
                        hashes[name], _ = _copy_member(source, target, None)
                    continue
                buffer = io.BytesIO()
                try:
                    hashes[name], _ = _copy_member(source, buffer, RULES_MAX_BYTES)
                except ValueError:
                    raise _refuse(archive, f"{name!r} is far larger than a rules file") from None
                if name == MANIFEST:
                    manifest_bytes = buffer.getvalue()
                else:
                    rules[name.split("/", 1)[1]] = buffer.getvalue()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _refuse(archive, f"it is not a readable backup archive ({type(exc).__name__}: {exc})") from None
    if MANIFEST not in hashes:
        raise _refuse(archive, f"it has no {MANIFEST}: not a watcher backup")
    try:
        manifest = json.loads(manifest_bytes)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), dict):
            raise ValueError("no members")
    except ValueError:
        raise _refuse(archive, f"its {MANIFEST} is not a watcher backup's") from None
    del hashes[MANIFEST]
    return manifest, hashes, rules


def _verify(archive: Path, manifest: dict[str, Any], hashes: dict[str, str]) -> None:
    """Every member is listed in the manifest with its hash, and every listed one is there."""
    if manifest.get("format") != FORMAT:
        raise _refuse(archive, f"it is backup format {manifest.get('format')!r}; this watcher reads {FORMAT}")
    listed = manifest["members"]
    if DB_MEMBER not in hashes:
        raise _refuse(archive, f"it holds no {DB_MEMBER}")
    missing = sorted(set(listed) - set(hashes))
    extra = sorted(set(hashes) - set(listed))
    if missing or extra:
        raise _refuse(archive, f"its members do not match its manifest (missing {missing}, not listed {extra})")
    for name, digest in sorted(hashes.items()):
        entry = listed[name]
        if not isinstance(entry, dict) or entry.get("sha256") != digest:
            raise _refuse(archive, f"the SHA-256 of {name} does not match its manifest: the archive was changed"
                                   " or damaged")


def _check_db(archive: Path, path: Path, key: str | None, manifest: dict[str, Any]) -> None:
    """The backup's database opens (with the key, if encrypted), is intact, and was made by
    this watcher or an older one (its migrations are all known here)."""
    from sqlite_utils import Database

    from watcher.store.migrations import migrations

    if manifest.get("encrypted") and key is None:
        raise _refuse(archive, "its database is encrypted: set WATCHER_DB_KEY to the key it was made with")
    try:
        conn = connect(path, key)
    except ConfigError:
        raise _refuse(archive, "its database does not open (damaged, or WATCHER_DB_KEY is not its key)") from None
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise _refuse(archive, f"its database fails PRAGMA integrity_check ({'; '.join(problems[:3])})")
        known = {m.name for m in migrations.pending(Database(memory=True))}  # every migration this watcher has
        newer = [name for name in applied_migrations(conn) if name not in known]
        if newer:
            raise _refuse(archive, f"it was made by a newer watcher (migrations {', '.join(newer)}): upgrade first")
    except sqlite3.DatabaseError as exc:
        raise _refuse(archive, f"its database cannot be read ({exc})") from None
    finally:
        conn.close()


def _in_use(db_path: Path, key: str | None) -> bool:
    """Does another process have the database open? Leaving WAL mode needs it alone; a file
    that cannot be read at all (damaged, another key) cannot tell, and is replaced anyway."""
    try:
        if key is None:
            conn = sqlite3.connect(str(db_path), timeout=0.5, isolation_level=None)
        else:
            from sqlcipher3 import dbapi2 as sqlcipher

            conn = sqlcipher.connect(str(db_path), timeout=0.5, isolation_level=None)
            conn.execute("PRAGMA key = '" + key.replace("'", "''") + "'")
    except Exception:
        return False
    try:
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()  # also folds the WAL into the file set aside
    except Exception as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    finally:
        conn.close()
    return False


def _aside(path: Path, stamp: str) -> Path:
    target = path.with_name(f"{path.name}.before-restore-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.before-restore-{stamp}-{n}")
    os.replace(path, target)
    return target


def restore(archive: Path, db_path: Path, rules_dir: Path, *, force: bool = False, now: datetime | None = None,
            key: Any = FROM_ENV) -> Restored:
    """Put a backup's database and rules files in place (see the module docstring), then
    migrate the database. Refuses while watcher has the database open, and when a database
    exists unless `force` (the current files are then renamed aside, never deleted).

    Raises:
        BackupError: the archive was refused, or the current database is there or in use.
    """
    from watcher.store.store import Store

    key = db_key(key)
    stamp = utc_stamp(now or datetime.now(timezone.utc))
    private_dir(db_path.parent)
    staging = Path(tempfile.mkdtemp(prefix=".watcher-restore-", dir=db_path.parent))
    try:
        manifest, hashes, rules = _unpack(archive, staging)
        _verify(archive, manifest, hashes)
        _check_db(archive, staging / DB_MEMBER, key, manifest)
        if db_path.exists() and not force:
            raise BackupError(f"{db_path} exists: pass --force to replace it (it and the rules files are kept"
                              f" aside as <name>.before-restore-<stamp>); the backup checks out; nothing was restored")
        if db_path.exists() and _in_use(db_path, key):
            raise BackupError(f"{db_path} is in use: stop watcher first; nothing was restored")
        set_aside = [_aside(p, stamp) for p in (db_path.with_name(db_path.name + s) for s in ("", "-wal", "-shm",
                     "-journal")) if p.exists()]
        rules_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        set_aside += [_aside(p, stamp) for p in sorted(rules_dir.glob("*.yaml")) if p.is_file() or p.is_symlink()]
        os.replace(staging / DB_MEMBER, db_path)
        written = []
        for name, data in sorted(rules.items()):
            partial = rules_dir / f".{name}.restoring"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, rules_dir / name)
            written.append(rules_dir / name)
        fsync_dir(db_path.parent)
        fsync_dir(rules_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    Store(db_path, key=key).close()  # migrate it to this watcher's schema now, not at the next start
    return Restored(str(manifest.get("created_at", "?")), str(manifest.get("watcher_version", "?")), db_path,
                    written, set_aside)
