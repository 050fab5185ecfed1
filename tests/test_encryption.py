"""The database encrypted at rest (SQLCipher, WATCHER_DB_KEY): created encrypted, refused with
a clear message under a wrong key or without one, a plain database converted by
`watcher encrypt-db` without losing a row, and watcher polling on an encrypted database."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import rss

from watcher.cli import cli
from watcher.errors import ConfigError
from watcher.store import Store

KEY = "correct horse battery staple"


def _env(ws, **extra: str) -> dict[str, str]:
    return {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state), **extra}


def test_an_encrypted_database_opens_only_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "watcher.db"
    store = Store(path, key=KEY)
    store.ensure_source("news", "rss")
    store.close()
    assert not path.read_bytes().startswith(b"SQLite format 3")
    assert Store(path, key=KEY).source("news") is not None
    with pytest.raises(ConfigError, match="does not open it"):
        Store(path, key="wrong")
    with pytest.raises(ConfigError, match="encrypted \\(set WATCHER_DB_KEY\\)"):
        Store(path, key=None)


def test_without_sqlcipher_the_key_is_refused_with_the_install_line(tmp_path: Path, monkeypatch) -> None:
    real = builtins.__import__

    def no_sqlcipher(name, *args, **kwargs):
        if name.startswith("sqlcipher3"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sqlcipher)
    with pytest.raises(ConfigError, match=r"pip install 'watcher\[encrypted\]'"):
        Store(tmp_path / "watcher.db", key=KEY)


def test_encrypt_db_converts_a_plain_database_and_watcher_polls_on_it(ws) -> None:
    ws.write_rules("people:\n  - name: Rakhmetdin Kamolov\n")
    ws.write_feeds({"id": "news", "url": ws.serve("/f.xml", rss(("a", "Rakhmetdin Kamolov detained", "Held."))),
                    "backfill": "alert"})
    assert CliRunner(env=_env(ws)).invoke(cli, ["poll", "--once"]).exit_code == 0
    plain = Store(ws.state / "watcher.db", key=None)
    counts = {t: plain.count(t) for t in ("items", "matches", "alerts", "sightings")}
    plain.close()
    assert counts["alerts"] == 1
    done = CliRunner(env=_env(ws, WATCHER_DB_KEY=KEY)).invoke(cli, ["encrypt-db"])
    assert done.exit_code == 0, done.output
    kept = [p for p in ws.state.iterdir() if ".plain-" in p.name]
    assert len(kept) == 1 and "delete it" in done.output
    assert (ws.state / "watcher.db").stat().st_mode & 0o777 == 0o600
    encrypted = Store(ws.state / "watcher.db", key=KEY)
    assert {t: encrypted.count(t) for t in counts} == counts
    encrypted.close()
    refused = CliRunner(env=_env(ws)).invoke(cli, ["poll", "--once"])
    assert refused.exit_code == 2 and "WATCHER_DB_KEY" in refused.output
    ws.serve("/f.xml", rss(("a", "Rakhmetdin Kamolov detained", "Held."), ("b", "Rakhmetdin Kamolov freed", "Out.")))
    again = CliRunner(env=_env(ws, WATCHER_DB_KEY=KEY)).invoke(cli, ["poll", "--once"])
    assert again.exit_code == 0, again.output
    assert "Rakhmetdin Kamolov freed" in again.output
    twice = CliRunner(env=_env(ws, WATCHER_DB_KEY=KEY)).invoke(cli, ["encrypt-db"])
    assert twice.exit_code == 2 and "encrypted" in twice.output
