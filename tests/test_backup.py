"""Backups and restores of watcher.db and the rules, and keeping the database small (prune, vacuum, evidence).

A backup must be consistent while watcher writes, private, rotated; a restore must check the
whole archive before it touches anything, refuse what is not a backup's, and keep what it
replaces. Pruning must make the file itself smaller, and evidence retention must keep the
record of what was fetched (hash, address, time) while dropping the pages.
"""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import tarfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watcher.cli import cli
from watcher.errors import ConfigError
from watcher.models import Item
from watcher.store import Store
from watcher.store.backup import BackupError, BackupSettings, backup, backup_due, backups_in, scheduled_backup
from watcher.store.maintenance import Retention
from watcher.store.restore import restore

NOW = datetime(2026, 10, 6, 9, 0, tzinfo=timezone.utc)
PEOPLE_V1 = "people:\n  - name: Aigerim Testova\n"
PEOPLE_V2 = "people:\n  - name: Aigerim Testova\n  - name: Ruslan Bekov\n"


def item(key: str, title: str = "Weather in Almaty", summary: str = "Sunny.", when: datetime = NOW) -> Item:
    return Item("news", key, title, summary, f"https://news.example.org/{key}", when, content_hash=f"h-{key}")


def make_state(root: Path, keys: list[str]) -> tuple[Path, Path]:
    db, rules = root / "state" / "watcher.db", root / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / "people.yaml").write_text(PEOPLE_V1, encoding="utf-8")
    store = Store(db)
    store.ensure_source("news", "rss")
    with store.transaction():
        store.add_items([item(k) for k in keys], NOW)
    store.close()
    return db, rules


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def copy_in(archive: Path, where: Path) -> sqlite3.Connection:
    where.write_bytes(members(archive)["watcher.db"])
    return sqlite3.connect(where)


def keys_in(db: sqlite3.Connection | Path) -> list[str]:
    """The items' keys (a path is opened and closed again: an open connection is "watcher running")."""
    conn = sqlite3.connect(db) if isinstance(db, Path) else db
    try:
        return [r[0] for r in conn.execute("SELECT key FROM items ORDER BY key")]
    finally:
        if isinstance(db, Path):
            conn.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_archive(target: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return target


# -- making backups ------------------------------------------------------------------------------


def test_a_backup_holds_the_database_the_rules_and_a_manifest_privately(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path, ["a", "b"])
    (rules / ".people.yaml.lock").write_text("")  # not a rules file: not backed up
    out = tmp_path / "backups"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    path = backup(db, rules, out, NOW)
    assert path.name == "watcher-backup-20261006-090000.tar.gz"
    assert mode(path) == 0o600 and mode(out) == 0o700
    assert [p.name for p in out.iterdir()] == [path.name]  # no temporary file left
    found = members(path)
    assert sorted(found) == ["manifest.json", "rules/people.yaml", "watcher.db"]
    manifest = json.loads(found["manifest.json"])
    assert manifest["migrations"][-1] == "m011_incident_blocks" and manifest["created_at"] == "2026-10-06T09:00:00+00:00"
    assert set(manifest["members"]) == {"watcher.db", "rules/people.yaml"}
    assert keys_in(copy_in(path, tmp_path / "copy.db")) == ["a", "b"]


def test_a_backup_made_while_watcher_writes_is_consistent(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path, ["base"])
    writer = Store(db)
    writer.conn.execute("BEGIN IMMEDIATE")  # a poll's transaction, not yet committed
    writer.add_items([item("uncommitted")], NOW)
    during = backup(db, rules, tmp_path / "out", NOW)
    writer.conn.execute("COMMIT")
    copy = copy_in(during, tmp_path / "during.db")
    assert keys_in(copy) == ["base"] and copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    writer.close()

    batch, stop, started = 25, threading.Event(), threading.Event()

    def keep_writing() -> None:  # another connection committing polls of `batch` items, one transaction each
        store, n = Store(db), 0
        while not stop.is_set():
            with store.transaction():
                store.add_items([item(f"w{n}-{i}") for i in range(batch)], NOW)
            n += 1
            started.set()
        store.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        assert started.wait(30)
        made = [backup(db, rules, tmp_path / "out", NOW + timedelta(seconds=s), keep=10) for s in range(1, 4)]
    finally:
        stop.set()
        thread.join()
    for n, path in enumerate(made):
        copy = copy_in(path, tmp_path / f"copy{n}.db")
        items = copy.execute("SELECT count(*) FROM items").fetchone()[0]
        sightings = copy.execute("SELECT count(*) FROM sightings").fetchone()[0]
        assert (items - 2) % batch == 0 and sightings == items  # whole polls only
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_rotation_keeps_the_newest_n_and_nothing_else_is_touched(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path, ["a"])
    out = tmp_path / "backups"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "watcher-backup-manual.tar.gz").write_text("not one of the rotated names")
    for day in range(5):
        backup(db, rules, out, NOW + timedelta(days=day), keep=3)
    assert [p.name for p in backups_in(out)] == [f"watcher-backup-202610{d:02d}-090000.tar.gz" for d in (8, 9, 10)]
    assert (out / "notes.txt").exists() and (out / "watcher-backup-manual.tar.gz").exists()


def test_no_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup(tmp_path / "state" / "watcher.db", tmp_path / "rules", tmp_path / "out", NOW)


def test_the_daily_job_makes_one_backup_a_day_across_restarts(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path, ["a"])
    assert BackupSettings.from_env({}) is None
    settings = BackupSettings.from_env({"WATCHER_BACKUP_DIR": str(tmp_path / "out"), "WATCHER_BACKUP_KEEP": "2"})
    assert settings is not None and settings.keep == 2
    assert scheduled_backup(settings, db, rules, NOW) is not None
    assert scheduled_backup(settings, db, rules, NOW + timedelta(hours=3)) is None  # a restart hours later
    assert not backup_due(settings.folder, NOW + timedelta(hours=23), settings.every)
    assert scheduled_backup(settings, db, rules, NOW + timedelta(days=1)) is not None
    assert len(backups_in(settings.folder)) == 2
    with pytest.raises(ConfigError, match="WATCHER_BACKUP_KEEP"):
        BackupSettings.from_env({"WATCHER_BACKUP_DIR": "x", "WATCHER_BACKUP_KEEP": "zero"})


# -- restoring -----------------------------------------------------------------------------------


def test_restoring_yesterdays_backup_brings_the_old_content_back_and_keeps_todays(ws, tmp_path: Path) -> None:
    db, rules = make_state(ws.root, ["yesterday"])
    archive = backup(db, rules, tmp_path / "backups", NOW - timedelta(days=1))
    store = Store(db)  # today: a new item, a new person
    with store.transaction():
        store.add_items([item("today")], NOW)
    store.close()
    (rules / "people.yaml").write_text(PEOPLE_V2, encoding="utf-8")
    (rules / "routes.yaml").write_text("routes: []\n", encoding="utf-8")  # added today, not in the backup

    refused = ws.cli("restore", str(archive))
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert (rules / "people.yaml").read_text() == PEOPLE_V2 and keys_in(db) == ["today", "yesterday"]

    result = ws.cli("restore", str(archive), "--force")
    assert result.exit_code == 0, result.output
    assert keys_in(db) == ["yesterday"]
    assert (rules / "people.yaml").read_text() == PEOPLE_V1 and not (rules / "routes.yaml").exists()
    [old_db] = ws.state.glob("watcher.db.before-restore-*")
    [old_people] = rules.glob("people.yaml.before-restore-*")
    [old_routes] = rules.glob("routes.yaml.before-restore-*")
    assert keys_in(old_db) == ["today", "yesterday"]
    assert old_people.read_text() == PEOPLE_V2 and old_routes.exists()
    assert f"kept aside: {old_db}" in result.stdout
    assert mode(db) == 0o600 and mode(rules / "people.yaml") == 0o600 and mode(ws.state) == 0o700
    assert not list(ws.state.glob(".watcher-restore-*"))  # the staging folder is gone
    restored = Store(db)  # migrated, usable
    assert restored.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    restored.close()


def test_restore_into_an_empty_deployment(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path / "old", ["a"])
    archive = backup(db, rules, tmp_path / "backups", NOW)
    fresh_db, fresh_rules = tmp_path / "new" / "state" / "watcher.db", tmp_path / "new" / "rules"
    done = restore(archive, fresh_db, fresh_rules)
    assert done.set_aside == [] and [p.name for p in done.rules] == ["people.yaml"]
    assert keys_in(fresh_db) == ["a"] and mode(fresh_rules) == 0o700


def test_restore_refuses_while_watcher_has_the_database_open(tmp_path: Path) -> None:
    db, rules = make_state(tmp_path, ["a"])
    archive = backup(db, rules, tmp_path / "backups", NOW)
    running = Store(db)
    try:
        with pytest.raises(BackupError, match="in use: stop watcher first"):
            restore(archive, db, rules, force=True)
    finally:
        running.close()
    assert not list(db.parent.glob("*.before-restore-*")) and not list(rules.glob("*.before-restore-*"))


def _tampered(tmp_path: Path, name: str, change: dict[str, bytes | None], extra: list[tarfile.TarInfo] = ()) -> Path:
    db, rules = make_state(tmp_path / "src", ["a"])
    files = members(backup(db, rules, tmp_path / "src" / "backups", NOW))
    for key, value in change.items():
        if value is None:
            files.pop(key)
        else:
            files[key] = value
    return write_archive(tmp_path / name, files, list(extra))


def _link(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


@pytest.mark.parametrize("case, why", [
    ("hash", "SHA-256 of watcher.db does not match"),
    ("traversal", "'../x', which is not part of a watcher backup"),
    ("absolute", "'/tmp/evil.yaml', which is not part of a watcher backup"),
    ("link", "'rules/evil.yaml' is not a regular file"),
    ("unlisted", "do not match its manifest"),
    ("no-manifest", "no manifest.json"),
    ("not-a-tar", "not a readable backup archive"),
])
def test_a_tampered_archive_is_refused_before_anything_is_touched(tmp_path: Path, case: str, why: str) -> None:
    if case == "hash":
        db, rules = make_state(tmp_path / "src", ["a"])
        files = members(backup(db, rules, tmp_path / "src" / "backups", NOW))
        archive = write_archive(tmp_path / "t.tar.gz", {**files, "watcher.db": files["watcher.db"][:-1] + b"!"})
    elif case == "traversal":
        archive = _tampered(tmp_path, "t.tar.gz", {}, [_file("../x")])
    elif case == "absolute":
        archive = _tampered(tmp_path, "t.tar.gz", {}, [_file("/tmp/evil.yaml")])
    elif case == "link":
        archive = _tampered(tmp_path, "t.tar.gz", {}, [_link("rules/evil.yaml")])
    elif case == "unlisted":
        archive = _tampered(tmp_path, "t.tar.gz", {"rules/extra.yaml": b"people: []\n"})
    elif case == "no-manifest":
        archive = _tampered(tmp_path, "t.tar.gz", {"manifest.json": None})
    else:
        archive = tmp_path / "t.tar.gz"
        archive.write_bytes(b"\x1f\x8b not really gzip")
    db, rules = make_state(tmp_path / "live", ["live"])
    before = (db.read_bytes(), (rules / "people.yaml").read_text())
    result = CliRunner().invoke(cli, ["--rules", str(rules), "--state", str(db.parent), "restore", str(archive),
                                      "--force"])
    assert result.exit_code == 1 and why in result.stderr and "nothing was restored" in result.stderr
    assert (db.read_bytes(), (rules / "people.yaml").read_text()) == before
    assert not (tmp_path / "live" / "x").exists() and not (tmp_path / "x").exists()
    assert not list(db.parent.glob("*.before-restore-*")) and not list(db.parent.glob(".watcher-restore-*"))


def test_a_damaged_database_in_a_well_formed_archive_is_refused(tmp_path: Path) -> None:
    import hashlib

    db, rules = make_state(tmp_path / "src", ["a", "b", "c"])
    files = members(backup(db, rules, tmp_path / "backups", NOW))
    data = bytearray(files["watcher.db"])
    data[4096 + 100:4096 * 3] = b"\xff" * (4096 * 2 - 100)  # wreck the pages after the schema
    manifest = json.loads(files["manifest.json"])
    manifest["members"]["watcher.db"]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    archive = write_archive(tmp_path / "t.tar.gz", {**files, "watcher.db": bytes(data),
                                                    "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(BackupError, match="nothing was restored"):
        restore(archive, tmp_path / "live" / "watcher.db", tmp_path / "live" / "rules")
    assert not (tmp_path / "live" / "watcher.db").exists()


def test_an_encrypted_database_is_backed_up_encrypted(tmp_path: Path) -> None:
    pytest.importorskip("sqlcipher3")
    db, rules = tmp_path / "state" / "watcher.db", tmp_path / "rules"
    rules.mkdir()
    store = Store(db, key="correct horse")
    store.ensure_source("news", "rss")
    store.close()
    archive = backup(db, rules, tmp_path / "backups", NOW, key="correct horse")
    assert not members(archive)["watcher.db"].startswith(b"SQLite format 3")
    with pytest.raises(BackupError, match="encrypted: set WATCHER_DB_KEY"):
        restore(archive, tmp_path / "new" / "watcher.db", tmp_path / "new-rules", key=None)
    restore(archive, tmp_path / "new" / "watcher.db", tmp_path / "new-rules", key="correct horse")
    assert Store(tmp_path / "new" / "watcher.db", key="correct horse").source("news") is not None


def test_backup_and_restore_commands(ws, tmp_path: Path) -> None:
    for command in ("backup", "restore"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "--keep" in CliRunner().invoke(cli, ["backup", "--help"]).output
    assert "--force" in CliRunner().invoke(cli, ["restore", "--help"]).output
    missing = ws.cli("backup", str(tmp_path / "out"))
    assert missing.exit_code == 1 and "no database" in missing.stderr
    make_state(ws.root, ["a"])
    made = ws.cli("backup", str(tmp_path / "out"), "--keep", "1")
    assert made.exit_code == 0 and "backup written:" in made.stdout and "1 backup(s) kept" in made.stdout
    assert ws.cli("backup", str(tmp_path / "out"), "--keep", "0").exit_code == 2


# -- keeping the database small ------------------------------------------------------------------


def test_prune_then_vacuum_shrinks_the_file(ws) -> None:
    db = ws.state / "watcher.db"
    store = Store(db)
    store.ensure_source("news", "rss")
    old = datetime.now(timezone.utc) - timedelta(days=400)
    with store.transaction():
        store.add_items([item(f"k{i}", summary="weather " * 400, when=old) for i in range(400)], old)
    store.close()
    raw = sqlite3.connect(db)
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.close()
    size = db.stat().st_size

    result = ws.cli("prune", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert "forgot 400 unmatched item(s)" in result.stdout and "freed " in result.stdout
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA page_count").fetchone()[0] < pages / 4
    raw.close()
    assert db.stat().st_size < size / 4


def test_evidence_retention_drops_content_but_keeps_hashes(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    store.ensure_source("news", "rss")
    long_ago, recent = NOW - timedelta(days=500), NOW - timedelta(days=3)
    with store.transaction():
        added = store.add_items([item("old", when=long_ago), item("case-old", when=long_ago),
                                 item("case-new", when=recent)], long_ago)
        ids = {n.item.key: n.id for n in added.new}
        incidents = {}
        for key, when, previous in (("old", long_ago, None), ("case-old", long_ago, None), ("case-new", recent, "case-old")):
            incidents[key] = store.create_incident(
                title=key, people=["Aigerim Testova"], incident_types=[], origin=[], host=[], keys={}, reported=when,
                now=when, previous=incidents.get(previous) if previous else None)
            store.add_report(incidents[key], ids[key], source_id="news", reported=when, reason="first report",
                             score=None, now=when)
            store.want_evidence(ids[key], f"https://news.example.org/{key}", "news", when)
            row = store.conn.execute("SELECT id FROM evidence WHERE item_id = ?", (ids[key],)).fetchone()
            store.evidence_kept(row[0], fetched_at=when, final_url=f"https://news.example.org/{key}?amp", http_status=200,
                                headers={"content-type": "text/html"}, content=b"<p>page</p>" * 500, text="page")
    before = {r["item_id"]: dict(r) for r in store.conn.execute("SELECT * FROM evidence")}

    with store.transaction():
        assert store.prune_evidence(NOW - timedelta(days=365)) == 1  # the case with a recent report keeps its pages
    after = {r["item_id"]: dict(r) for r in store.conn.execute("SELECT * FROM evidence")}
    pruned = after[ids["old"]]
    assert pruned["content"] is None and pruned["text"] is None and pruned["status"] == "done"
    for column in ("sha256", "final_url", "fetched_at", "size", "http_status", "headers", "url"):
        assert pruned[column] == before[ids["old"]][column]
    assert after[ids["case-old"]] == before[ids["case-old"]] and after[ids["case-new"]] == before[ids["case-new"]]
    with store.transaction():
        assert store.prune_evidence(NOW - timedelta(days=365)) == 0  # nothing left to drop
    assert store.vacuum() >= 0 and store.vacuum(pages=0) == 0
    store.close()


def test_retention_settings() -> None:
    assert Retention.from_env({}) == Retention(timedelta(days=180), timedelta(days=365))
    assert Retention.from_env({"WATCHER_EVIDENCE_RETENTION": "off", "WATCHER_RETENTION": "30d"}) == Retention(
        timedelta(days=30), None)
    with pytest.raises(ValueError, match="WATCHER_EVIDENCE_RETENTION"):
        Retention.from_env({"WATCHER_EVIDENCE_RETENTION": "a year"})


def test_prune_evidence_option(ws) -> None:
    store = Store(ws.state / "watcher.db")
    store.close()
    result = ws.cli("prune", "--evidence-older-than", "30d", "--older-than", "off")
    assert result.exit_code == 0, result.output
    assert "forgot" not in result.stdout and "dropped the page content of 0 evidence row(s)" in result.stdout
    assert ws.cli("prune", "--evidence-older-than", "soon").exit_code == 2


def test_the_daily_retention_job_prunes_and_shrinks_the_file(ws) -> None:
    import asyncio

    from watcher.app import App
    from watcher.config import Paths
    from watcher.scheduler import Runner

    ws.write_feeds({"id": "news", "url": "https://example.org/feed", "enabled": "false"})
    store = Store(ws.state / "watcher.db")
    old = datetime.now(timezone.utc) - timedelta(days=400)
    with store.transaction():
        store.add_items([item(f"k{i}", summary="weather " * 400, when=old) for i in range(400)], old)
    store.close()
    app = App.build(Paths(feeds=ws.feeds, rules=ws.rules, state=ws.state), env={})
    jobs = {}

    class Recorder:
        def add_job(self, func, trigger, **options) -> None:  # type: ignore[no-untyped-def]
            jobs[options["id"]] = func

    Runner(app, env={"WATCHER_RETENTION": "off", "WATCHER_EVIDENCE_RETENTION": "off"})._add_retention(Recorder())
    assert jobs == {}  # both off: no job
    Runner(app, env={"WATCHER_EVIDENCE_RETENTION": "30d"})._add_retention(Recorder())
    before = app.store.database_bytes()
    asyncio.run(jobs["retention"]())
    assert app.store.count("items") == 0 and app.store.database_bytes() < before / 4
    asyncio.run(app.aclose())
