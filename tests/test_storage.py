"""Storage kept flat as the database grows (issue #16): no unread item indexes (m010), and WAL
checkpoints out of the polls' commits, in a worker thread, with the WAL kept bounded."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from watcher.models import Item
from watcher.scheduler import Runner
from watcher.store import Store
from watcher.store.wal import WalKeeper

NOW = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
KEY = "correct horse battery staple"


def item(source: str, n: int, *, url: str | None = None, text: str | None = None, size: int = 200) -> Item:
    body = text if text is not None else f"story {n} " + "lorem ipsum dolor sit amet " * (size // 27)
    return Item(source, f"{source}-{n}", f"Title {n}", body, url or f"https://{source}.example.org/{n}", NOW,
                content_hash=hashlib.sha256(body.encode()).hexdigest())


def write_polls(store: Store, polls: int, per_poll: int = 20, *, start: int = 0) -> None:
    """`polls` transactions of `per_poll` large items each, as polls write them."""
    for p in range(polls):
        with store.transaction():
            store.add_items([item(f"feed{p % 5}", start + p * per_poll + i, size=3000) for i in range(per_poll)], NOW)


def item_indexes(conn: Any) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")}


# -- m010: the indexes no query reads --------------------------------------------------------


def test_items_keep_only_the_indexes_a_query_reads(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    assert item_indexes(store.conn) == {"sqlite_autoindex_items_1", "items_first_seen"}
    # what still needs an index gets one: the dedupe lookups (sightings) and rematch (first_seen)
    plans = {sql: " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql, args)) for sql, args in [
        ("SELECT item_id FROM sightings WHERE url = ? LIMIT 1", ("u",)),
        ("SELECT item_id FROM sightings WHERE content_hash = ? LIMIT 1", ("h",)),
        ("SELECT id FROM items WHERE first_seen >= ? ORDER BY first_seen, id", ("t",)),
    ]}
    assert all("USING INDEX" in plan or "USING COVERING INDEX" in plan for plan in plans.values()), plans
    store.close()


def test_the_same_story_from_another_feed_is_still_one_item(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    with store.transaction():
        assert len(store.add_items([item("a", 1), item("a", 2, text="Same words, new link")], NOW).new) == 2
    later = NOW + timedelta(hours=1)
    with store.transaction():  # same link from feed b; same text under another link from feed c
        b = store.add_items([item("b", 7, url="https://a.example.org/1")], later)
        c = store.add_items([item("c", 9, url="https://c.example.org/x", text="Same words, new link")], later)
    assert b.new == [] and b.sightings == 1 and c.new == [] and c.sightings == 1
    assert store.count("items") == 2 and store.count("sightings") == 4
    assert {r[0] for r in store.conn.execute("SELECT seen_count FROM items")} == {2}
    store.close()


def test_m010_runs_on_a_database_that_still_has_the_indexes(tmp_path: Path) -> None:
    path = tmp_path / "watcher.db"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM _sqlite_migrations WHERE name = 'm010_unread_item_indexes'")
    raw.execute("CREATE INDEX items_url ON items (url)")
    raw.execute("CREATE INDEX items_content_hash ON items (content_hash)")
    raw.commit()
    raw.close()
    store = Store(path)
    assert item_indexes(store.conn) == {"sqlite_autoindex_items_1", "items_first_seen"}
    store.close()


# -- checkpoints --------------------------------------------------------------------------------


def test_after_take_over_the_polls_commits_leave_checkpointing_to_the_job(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    store.conn.execute("PRAGMA wal_autocheckpoint=100")  # would checkpoint every 100 pages
    store.wal.take_over()
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    write_polls(store, 12)  # ~20 pages a poll
    done = store.wal.checkpoint()
    assert not done.busy and done.frames > 200 and done.copied == done.frames  # the WAL held every poll
    store.close()


def test_without_the_scheduler_sqlite_still_checkpoints_in_the_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0
    store.conn.execute("PRAGMA wal_autocheckpoint=100")
    write_polls(store, 12)
    assert store.wal.checkpoint().frames < 200  # restarted along the way: bounded without a job
    store.close()


def test_the_checkpoint_job_runs_in_a_worker_thread(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    store.wal.take_over()
    write_polls(store, 3)
    store.wal.every = 0.0  # due now
    threads: list[int] = []
    results: list[Any] = []
    real = store.wal.tick

    def tick() -> Any:
        threads.append(threading.get_ident())
        results.append(real())
        return results[-1]

    store.wal.tick = tick  # type: ignore[method-assign]
    runner = Runner(SimpleNamespace(store=store))  # type: ignore[arg-type]
    loop_thread: list[int] = []

    async def job() -> None:
        loop_thread.append(threading.get_ident())
        await runner._checkpoint()

    asyncio.run(job())
    assert threads and threads[0] != loop_thread[0]
    assert results[0] is not None and not results[0].busy and results[0].copied == results[0].frames > 0
    store.close()


def test_tick_waits_while_the_wal_is_small_and_acts_at_once_when_it_is_large(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db")
    store.wal.take_over()
    now = [0.0]
    keeper = WalKeeper(tmp_path / "watcher.db", None, store.conn, every=60.0, soon_bytes=10**9,
                       limit_bytes=10**10, clock=lambda: now[0])
    write_polls(store, 2)
    assert keeper.tick() is None  # small, and not a minute yet
    now[0] = 61.0
    first = keeper.tick()
    assert first is not None and first.copied == first.frames > 0 and not first.truncated
    now[0] = 62.0
    write_polls(store, 2, start=1000)
    keeper.soon_bytes = 1  # "large": checkpointed before the minute is up
    assert keeper.tick() is not None
    assert keeper.tick() is None  # nothing new since that complete checkpoint
    keeper.limit_bytes = 1  # past the limit: the file is emptied once copied
    now[0] = 200.0
    assert keeper.tick().truncated and keeper.wal_bytes() == 0  # type: ignore[union-attr]
    keeper.close()
    assert keeper.tick() is None and keeper.checkpoint().busy  # closed for good, no new connection
    store.close()


def test_a_reader_makes_truncate_give_up_without_losing_anything(tmp_path: Path) -> None:
    path = tmp_path / "watcher.db"
    store = Store(path)
    store.wal.take_over()
    write_polls(store, 3)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM items").fetchone()[0] == 60  # a backup reading, say
    done = store.wal.checkpoint(truncate=True)  # everything copied, but the reader is in the WAL
    assert done.busy and not done.truncated and store.wal.wal_bytes() > 0
    write_polls(store, 1, start=500)  # polls are not held up by it
    late = store.wal.checkpoint(truncate=True)  # the reader's snapshot still needs the older frames
    assert late.busy and late.copied < late.frames and not late.truncated
    reader.execute("COMMIT")
    assert store.wal.checkpoint(truncate=True).truncated
    assert reader.execute("SELECT count(*) FROM items").fetchone()[0] == 80
    reader.close()
    store.close()


def test_an_encrypted_database_is_checkpointed_from_a_connection_opened_with_its_key(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.db", key=KEY)
    store.wal.take_over()
    write_polls(store, 3)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(store.wal.checkpoint(truncate=True)))
    worker.start()
    worker.join()
    assert results[0].truncated and store.wal.wal_bytes() == 0
    store.close()
    again = Store(tmp_path / "watcher.db", key=KEY)
    assert again.count("items") == 60
    again.close()


def test_close_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "watcher.db"
    store = Store(path)
    store.wal.take_over()
    write_polls(store, 5)
    other = sqlite3.connect(path)  # another process still has it open: SQLite's close-time checkpoint would not run
    other.execute("SELECT 1").fetchone()
    store.close()
    alone = tmp_path / "copy.db"
    shutil.copyfile(path, alone)  # the database file without its WAL
    assert sqlite3.connect(alone).execute("SELECT count(*) FROM items").fetchone()[0] == 100
    other.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    store.close()  # twice is harmless
