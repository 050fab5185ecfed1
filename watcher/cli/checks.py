"""The local checks of `watcher doctor`: files, folders, disk and database, no network.

Why a doctor: watcher runs for months unattended, set up once by someone who is not an engineer.
The mistakes that stop it quietly (a state folder left 0755 by git, a full disk, a damaged
database, a rules file with a typo; and, in doctor.py, a token revoked, a bot that is a
subscriber instead of an administrator, a relay refusing the login, a clock off) are found in one
go, each with the command that fixes it.

These are what `watcher doctor --quick` runs (a container HEALTHCHECK): they read files, put one
probe file in the state folder (removed at once) and open the database read-only (SQLite may
leave its -wal and -shm files, private like the database). Nothing else is touched. The rules are counted, never listed, and their errors name people by number, as
`load_rules` writes them: the report can go to a ticket or a container log.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from watcher.config import Paths, load_feeds
from watcher.errors import ConfigError
from watcher.rules import Rules, load_rules
from watcher.rules.monitors import load_monitors
from watcher.store.privacy import exposed

Status = Literal["ok", "warn", "fail", "skip"]
MB = 1024 * 1024
DISK_WARN = 1024 * MB  # below this free: a warning (a month of evidence pages and backups)
DISK_FAIL = 100 * MB  # below this: SQLite may fail mid-poll
MAX_DETAILS = 10


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: what was checked, how it went, what to do about it."""

    name: str
    status: Status
    message: str
    fix: str = ""  # the command or step that fixes it (empty when nothing is to be done)
    details: tuple[str, ...] = ()  # e.g. the file:line problems of a refused file

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix,
                "details": list(self.details)}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


@dataclass
class Deployment:
    """What the doctor examines, with its ways of looking passed in (tests move the clock, fake the
    disk and point the services at loopback; nothing in here knows it is being tested)."""

    paths: Paths
    env: Mapping[str, str]
    now: Callable[[], datetime] = _utcnow
    # The trusted time to compare the clock with; None: the Date header of Telegram's answer.
    reference_time: Callable[[], datetime] | None = None
    free_bytes: Callable[[Path], int] = _free_bytes
    timeout: float = 10.0  # seconds, per network step: a doctor that hangs is no doctor
    rules: Rules | None = field(default=None, init=False)  # once the rules check loaded them


def _problems(exc: ConfigError) -> tuple[str, ...]:
    lines = [str(p) for p in exc.problems]
    if len(lines) > MAX_DETAILS:
        lines = [*lines[:MAX_DETAILS], f"... and {len(lines) - MAX_DETAILS} more"]
    return tuple(lines)


# -- configuration files -------------------------------------------------------------------------

def check_feeds(d: Deployment) -> Check:
    path = d.paths.feeds
    try:
        sources = load_feeds(path)
    except ConfigError as exc:
        return Check("feeds", "fail", f"{path} is refused ({len(exc.problems)} problem(s))",
                     "fix them at the lines shown, then run `watcher feeds check`", _problems(exc))
    if not sources:
        return Check("feeds", "warn", f"{path} lists no sources: nothing will be polled",
                     "add sources (README, Sources) or `watcher sources add`")
    return Check("feeds", "ok", f"{path} valid, {len(sources)} source(s)")


def check_rules(d: Deployment) -> Check:
    """The whole rules folder as watcher loads it: people, incident types, routes.yaml, monitors.yaml."""
    folder = d.paths.rules
    try:
        rules = load_rules(folder)
        monitors = load_monitors(folder, d.env)
    except ConfigError as exc:
        return Check("rules", "fail", f"{folder} is refused ({len(exc.problems)} problem(s))",
                     "fix them at the lines shown, then run `watcher rules check`", _problems(exc))
    d.rules = rules
    counts = (f"{len(rules.people)} watched, {len(rules.incident_types)} incident types, "
              f"{len(rules.routes.routes)} route(s), {len(monitors)} monitor(s)")
    if not rules.people:
        return Check("rules", "warn", f"{folder}: the watchlist is empty ({counts}): no alert will name anyone",
                     f"add people to {folder}/people.yaml, or with /watch in the bot")
    return Check("rules", "ok", f"{folder} valid: {counts}")


def check_rules_private(d: Deployment) -> Check:
    """A warning, not a failure: a deployment may share the rules with a group on purpose; but the
    watchlist is what an adversary wants most, so it is said every time."""
    folder = d.paths.rules
    if not folder.is_dir():
        return Check("rules files private", "skip", f"{folder} not found")
    loose = exposed(sorted(folder.glob("*.yaml")))
    if not loose:
        return Check("rules files private", "ok", f"{folder}/*.yaml readable by the owner only")
    shown = ", ".join(f"{p.name} {mode:04o} ({'everyone' if mode & 0o004 else 'its group'})" for p, mode in loose)
    watchlist = " (people.yaml is the watchlist)" if any(p.name == "people.yaml" for p, _ in loose) else ""
    return Check("rules files private", "warn", f"readable by others: {shown}{watchlist}",
                 "chmod 600 " + " ".join(str(p) for p, _ in loose))


# -- the state folder, disk and database -----------------------------------------------------------

def _existing(path: Path) -> Path:
    """`path` or the nearest folder above it that exists (where it would be created)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_state_folder(d: Deployment) -> Check:
    folder = d.paths.state
    if not folder.exists():
        parent = _existing(folder)
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Check("state folder", "ok", f"{folder} does not exist yet; watcher creates it (0700) at start")
        return Check("state folder", "fail", f"{folder} does not exist and cannot be created ({parent} is not writable)",
                     f"mkdir -m 700 {folder} as the user watcher runs as (or set --state / WATCHER_STATE)")
    if not folder.is_dir():
        return Check("state folder", "fail", f"{folder} is not a folder", "set --state / WATCHER_STATE to a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".doctor-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return Check("state folder", "fail", f"{folder} is not writable ({exc.strerror or exc})",
                     f"chown -R <watcher's user> {folder}; under systemd list it in ReadWritePaths=, "
                     "in a container mount it read-write")
    return Check("state folder", "ok", f"{folder} is writable")


def _loose(folder: Path) -> Iterator[tuple[Path, int]]:
    """Folders not 0700 and files not 0600 (no bit for group or others) under `folder`."""
    for root, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            path = Path(root) / name if name != "." else Path(root)
            try:
                info = path.lstat()
            except OSError:
                continue
            if not stat.S_ISLNK(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                yield path, stat.S_IMODE(info.st_mode)


def check_state_private(d: Deployment) -> Check:
    folder = d.paths.state
    if not folder.is_dir():
        return Check("state private", "skip", f"{folder} does not exist yet (created 0700)")
    loose = list(_loose(folder))
    if not loose:
        return Check("state private", "ok", f"{folder} is 0700, its files 0600")
    shown = ", ".join(f"{p} {mode:04o}" for p, mode in loose[:5]) + (f" and {len(loose) - 5} more" if len(loose) > 5 else "")
    return Check("state private", "fail", f"open to others: {shown} (the database holds the watchlist's matches)",
                 f"chmod -R go-rwx {folder}")


def check_disk(d: Deployment) -> Check:
    where = _existing(d.paths.state)
    try:
        free = d.free_bytes(where)
    except OSError as exc:
        return Check("disk space", "warn", f"free space at {where} unknown ({exc.strerror or exc})")
    text = f"{free / 1024 ** 3:.1f} GB" if free >= 1024 * MB else f"{free // MB} MB"
    fix = f"free space on the disk of {where} (old backups, logs), or `watcher prune` old items"
    if free < DISK_FAIL:
        return Check("disk space", "fail", f"only {text} free at {where}: the database may fail to write", fix)
    if free < DISK_WARN:
        return Check("disk space", "warn", f"{text} free at {where} (under 1 GB)", fix)
    return Check("disk space", "ok", f"{text} free at {where}")


def _open_read_only(path: Path, key: str | None) -> Any:
    uri = path.absolute().as_uri() + "?mode=ro"
    if key is None:
        return sqlite3.connect(uri, uri=True, timeout=5)
    from sqlcipher3 import dbapi2 as sqlcipher  # ImportError: the caller says what to install

    conn = sqlcipher.connect(uri, uri=True, timeout=5)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute("PRAGMA key = '" + key.replace("'", "''") + "'")
    return conn


def check_database(d: Deployment) -> Check:
    """`PRAGMA quick_check` (the structure of every page, without the slower index cross-check of
    integrity_check), then the migrations applied against those this watcher knows."""
    from sqlite_utils import Database

    from watcher.store.migrations import migrations

    db = d.paths.db
    if not db.exists():
        return Check("database", "skip", f"no database yet at {db} (created at the first start)")
    key = d.env.get("WATCHER_DB_KEY") or None
    restore = "stop watcher and restore the latest backup (`watcher restore FILE`)"
    try:
        conn = _open_read_only(db, key)
    except ImportError:
        return Check("database", "fail", "WATCHER_DB_KEY is set but SQLCipher is not installed",
                     "pip install 'watcher[encrypted]' (or unset the key)")
    except Exception as exc:  # sqlite3 and sqlcipher3 errors alike
        return Check("database", "fail", f"{db} cannot be opened ({exc})", restore)
    try:
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(20)")]
            applied = [m.name for m in migrations.applied(Database(conn))]
        except Exception as exc:
            hint = ("" if "not a database" not in str(exc) else " (encrypted? set WATCHER_DB_KEY)" if key is None
                    else " (a wrong WATCHER_DB_KEY, or a database that is not encrypted)")
            return Check("database", "fail", f"{db} cannot be read ({exc}){hint}", restore)
    finally:
        conn.close()
    if rows != ["ok"]:
        found = [line for row in rows for line in row.splitlines() if not line.startswith("*** in database")]
        return Check("database", "fail", f"{db} fails PRAGMA quick_check: it is damaged", restore,
                     tuple(found[:MAX_DETAILS]))
    known = [m.name for m in migrations.pending(Database(memory=True))]
    unknown = [name for name in applied if name not in known]
    if unknown:
        return Check("database", "fail", f"{db} was migrated by a newer watcher (unknown: {', '.join(unknown)})",
                     "upgrade watcher to that version, or restore a backup made by this one")
    pending = [name for name in known if name not in applied]
    if pending:
        return Check("database", "warn", f"{db} passes quick_check; schema at {len(applied)} of {len(known)} "
                     f"migrations: the next start applies {', '.join(pending)}",
                     "make a backup first (`watcher backup DIR`), then restart watcher")
    return Check("database", "ok", f"{db} passes quick_check; schema up to date ({len(known)} migrations)")


def check_backups(d: Deployment) -> Check:
    """The daily backup job (WATCHER_BACKUP_DIR): its settings, and how old the newest backup is."""
    from watcher.store.backup import BackupSettings, newest_backup

    try:
        settings = BackupSettings.from_env(d.env)
    except ConfigError as exc:
        return Check("backups", "fail", str(exc), "fix WATCHER_BACKUP_DIR / WATCHER_BACKUP_KEEP", _problems(exc))
    if settings is None:
        return Check("backups", "warn", "no daily backup (WATCHER_BACKUP_DIR is not set)",
                     "set WATCHER_BACKUP_DIR to a folder on another disk, or run `watcher backup DIR` from cron")
    try:
        newest = newest_backup(settings.folder)
    except OSError as exc:
        return Check("backups", "fail", f"cannot read {settings.folder}: {exc.strerror or exc}",
                     f"make {settings.folder} readable and writable by watcher's user")
    if newest is None:
        return Check("backups", "warn", f"no backup in {settings.folder} yet (the daily job makes one "
                     "within an hour of the start)", f"`watcher backup {settings.folder}` makes one now")
    age = d.now().astimezone(UTC) - newest
    when = f"newest backup in {settings.folder} is {age.days} day(s) old" if age.days else \
        f"newest backup in {settings.folder} is {int(age.total_seconds() // 3600)} hour(s) old"
    if age > settings.every + timedelta(days=1):
        return Check("backups", "warn", f"{when}: the daily job has not run (is watcher running?)",
                     "look for 'backup' in watcher's log (journalctl -u watcher), or run `watcher backup DIR`")
    return Check("backups", "ok", f"{when}, keeping {settings.keep}")


def local_checks(d: Deployment) -> list[Check]:
    return [check_feeds(d), check_rules(d), check_rules_private(d), check_state_folder(d),
            check_state_private(d), check_disk(d), check_database(d), check_backups(d)]
