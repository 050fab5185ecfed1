"""Backups of watcher.db and the rules folder, made while watcher runs, restored in one command.

A backup is one file, `watcher-backup-YYYYmmdd-HHMMSS.tar.gz` (UTC), 0600 in a 0700 folder:
- `watcher.db`: a consistent copy made with SQLite's online backup API in one step (a read
  transaction: polls and delivery go on meanwhile), checked with `PRAGMA integrity_check`
  before it is archived; an encrypted database (WATCHER_DB_KEY) is copied encrypted, same key;
- `rules/<name>.yaml`: the rules folder's YAML files (the watchlist, routes, monitors);
- `manifest.json`: watcher's version, the migrations applied, when, and each member's SHA-256.
It is written under a temporary name and renamed, so a crash never leaves half an archive under
a backup's name; then only the newest `keep` backups are kept (only files with that name).

Restoring one is store/restore.py. The daily job (`scheduled_backup`, settings from
WATCHER_BACKUP_DIR and WATCHER_BACKUP_KEEP) is looked at hourly and makes a backup when the
newest one is a day old, so restarts neither skip it nor make one per start.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from watcher import __version__
from watcher.errors import ConfigError, ConfigProblem, WatcherError
from watcher.store.connect import FROM_ENV, connect
from watcher.store.times import iso

NAME = re.compile(r"^watcher-backup-(\d{8}-\d{6})\.tar\.gz$")
DB_MEMBER = "watcher.db"
MANIFEST = "manifest.json"
RULES_MEMBER = re.compile(r"^rules/([A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.yaml)$")
FORMAT = 1
KEEP_DEFAULT = 14
_CHUNK = 1024 * 1024


class BackupError(WatcherError):
    """A backup could not be made, or an archive was refused; the message says why and what to do."""


def db_key(key: Any) -> str | None:
    return (os.environ.get("WATCHER_DB_KEY") or None) if key is FROM_ENV else key


def utc_stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")


def private_dir(folder: Path) -> None:
    """`folder` exists and only its owner may enter it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if folder.stat().st_mode & 0o077:
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise BackupError(f"{folder} could not be made private ({exc.strerror}): backups hold the watchlist") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- making one ------------------------------------------------------------------------------


def _snapshot(db_path: Path, target: Path, key: str | None) -> list[str]:
    """Copy the live database into `target` (one backup step: a consistent snapshot), as a
    self-contained file (rollback journal), and check it. Returns the migrations it has."""
    source = connect(db_path, key)
    try:
        copy = connect(target, key)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
            problems = [r[0] for r in copy.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                raise BackupError(f"the copy of {db_path} fails PRAGMA integrity_check ({'; '.join(problems[:3])}):"
                                  " the database itself is damaged; no backup was written and older ones are kept")
            return applied_migrations(copy)
        finally:
            copy.close()
    finally:
        source.close()


def applied_migrations(conn: Any) -> list[str]:
    """The watcher migrations a database has, in the order they ran ([] if none)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone():
        return []
    return [r[0] for r in conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = 'watcher' ORDER BY rowid")]


def _add(tar: tarfile.TarFile, name: str, data: bytes | Path, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uname, info.gname = 0o600, mtime, "", ""
    if isinstance(data, Path):
        info.size = data.stat().st_size
        with data.open("rb") as handle:
            tar.addfile(info, handle)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def backups_in(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (by the time in their names)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if NAME.match(p.name) and p.is_file()), key=lambda p: p.name)


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `folder` (other files are never touched)."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    old = backups_in(folder)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def backup(db_path: Path, rules_dir: Path, out_dir: Path, now: datetime, keep: int = KEEP_DEFAULT, *,
           key: Any = FROM_ENV) -> Path:
    """Write one backup of `db_path` and `rules_dir`'s *.yaml into `out_dir` (made 0700), then
    keep only the newest `keep`. Safe while watcher runs. Returns the archive's path.

    Raises:
        BackupError: no database, a damaged one, or an output folder that cannot be private.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    key = db_key(key)
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}: nothing to back up")
    private_dir(out_dir)
    final = out_dir / f"watcher-backup-{utc_stamp(now)}.tar.gz"
    work = Path(tempfile.mkdtemp(prefix=".watcher-backup-", dir=out_dir))
    try:
        copy = work / DB_MEMBER
        applied = _snapshot(db_path, copy, key)
        rules = {f"rules/{p.name}": p.read_bytes() for p in sorted(rules_dir.glob("*.yaml")) if p.is_file()
                 and RULES_MEMBER.match(f"rules/{p.name}")} if rules_dir.is_dir() else {}
        members = {DB_MEMBER: {"sha256": _sha256(copy), "size": copy.stat().st_size},
                   **{n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in rules.items()}}
        manifest = {"format": FORMAT, "made_by": "watcher", "watcher_version": __version__, "created_at": iso(now),
                    "encrypted": key is not None, "migrations": applied, "members": members}
        partial = work / (final.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                mtime = now.timestamp()
                _add(tar, MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode(), mtime)
                _add(tar, DB_MEMBER, copy, mtime)
                for name, data in rules.items():
                    _add(tar, name, data, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
        fsync_dir(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rotate(out_dir, keep)
    return final


@dataclass(frozen=True)
class BackupSettings:
    """The daily backup job, from WATCHER_BACKUP_DIR (unset: no job) and WATCHER_BACKUP_KEEP (14)."""

    folder: Path
    keep: int = KEEP_DEFAULT
    every: timedelta = timedelta(hours=24)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BackupSettings | None:
        folder = env.get("WATCHER_BACKUP_DIR", "").strip()
        if not folder:
            return None
        raw = env.get("WATCHER_BACKUP_KEEP", "").strip() or str(KEEP_DEFAULT)
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError([ConfigProblem("environment", None,
                                             f"WATCHER_BACKUP_KEEP: {raw!r} is not a number of backups (1 or more)")])
        return cls(Path(folder), int(raw))


def backup_due(folder: Path, now: datetime, every: timedelta) -> bool:
    """Is the newest backup in `folder` at least `every` old (or is there none)? Looked at by the
    job every hour, so restarts neither skip the day's backup nor make one per start."""
    newest = newest_backup(folder)
    if newest is None:
        return True
    return now.astimezone(timezone.utc) - newest >= every - timedelta(minutes=5)


def newest_backup(folder: Path) -> datetime | None:
    """When the newest backup in `folder` was made (UTC, from its name), or None if none is."""
    found = backups_in(folder)
    if not found:
        return None
    made = datetime.strptime(NAME.match(found[-1].name).group(1), "%Y%m%d-%H%M%S")  # type: ignore[union-attr]
    return made.replace(tzinfo=timezone.utc)


def scheduled_backup(settings: BackupSettings, db_path: Path, rules_dir: Path, now: datetime, *,
                     key: Any = FROM_ENV) -> Path | None:
    """The daily job's body (run it in a thread): a backup when one is due, else None."""
    if not backup_due(settings.folder, now, settings.every):
        return None
    return backup(db_path, rules_dir, settings.folder, now, keep=settings.keep, key=key)
