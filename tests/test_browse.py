"""`watcher browse`: canned queries that run on watcher's real schema, full-text search from a
sidecar index, the metadata in step with the tables, and Datasette serving it read-only."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import Workspace
from test_export import NOW, incident_store
from watcher.cli import browse as browse_module
from watcher.cli import cli
from watcher.cli.browse_data import (SEARCH_QUERY, SEARCH_TABLE, TABLES, build_search_db, canned_queries,
                                     country_codes, metadata)
from watcher.models import Item


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "watcher.db"
    incident_store(path).close()
    return path


def _run(path: Path, sql: str, **params: str) -> list[dict[str, Any]]:
    """A query as Datasette runs it: on a read-only connection, named parameters."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def _query(db: Path, name: str, **params: str) -> list[dict[str, Any]]:
    return _run(db, canned_queries(country_codes(db))[name]["sql"], **params)


def test_incidents_by_person_any_part_of_the_name_any_case(db: Path) -> None:
    rows = _query(db, "incidents_by_person", person="karimov")
    assert [r["incident"] for r in rows] == [2, 1]  # newest first
    one = rows[1]
    assert one["people"] == "Bakhodir Karimov"
    assert (one["origin"], one["host"], one["tactic"]) == ("Uzbekistan", "Turkey", "detention; extradition")
    assert one["reports"] == 2 and one["case"] == 1 and one["date"] == (NOW - timedelta(hours=5)).date().isoformat()
    assert [r["incident"] for r in _query(db, "incidents_by_person", person="YUSUPOVA")] == [3]
    assert _query(db, "incidents_by_person", person="nobody") == []


def test_incidents_by_country_as_origin_or_host_by_code_or_name(db: Path) -> None:
    assert [(r["incident"], r["role"]) for r in _query(db, "incidents_by_country", country="tr")] == [(1, "host")]
    by_name = _query(db, "incidents_by_country", country="Uzbekistan")
    assert [(r["incident"], r["role"]) for r in by_name] == [(2, "origin"), (1, "origin")]
    assert [r["incident"] for r in _query(db, "incidents_by_country", country="RU")] == [3]


def test_incidents_by_type_and_counts(db: Path) -> None:
    assert [r["incident"] for r in _query(db, "incidents_by_type", type="extradition")] == [1]
    assert [r["incident"] for r in _query(db, "incidents_by_type", type="Threats to family")] == [2]  # its label
    assert len(_query(db, "incidents_by_type", type="")) == 3
    counts = {r["type"]: (r["tactic"], r["incidents"]) for r in _query(db, "incident_type_counts")}
    assert counts == {"detention": ("detention", 1), "extradition": ("extradition", 1),
                      "threats_to_family": ("threats to family", 1), "deportation": ("deportation", 1)}


def test_incidents_by_month(db: Path) -> None:
    rows = _query(db, "incidents_by_month")
    assert sum(r["incidents"] for r in rows) == 3
    assert rows == sorted(rows, key=lambda r: r["month"], reverse=True)
    recent = next(r for r in rows if r["month"] == (NOW.isoformat()[:7]))
    assert recent["people"] >= 1 and recent["cases"] >= 1


def test_a_country_name_with_a_quote_cannot_break_the_sql(db: Path) -> None:
    sql = canned_queries(["UZ", "X'); DROP TABLE incidents; --"])["incidents_by_country"]["sql"]
    assert [r["incident"] for r in _run(db, sql, country="UZ")] == [2, 1]


def test_metadata_describes_tables_and_columns_that_exist(db: Path) -> None:
    conn = sqlite3.connect(db)
    schema = {t: {c[1] for c in conn.execute(f"PRAGMA table_info({t})")}
              for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    for table, (description, columns) in TABLES.items():
        assert table in schema and description
        assert set(columns) <= schema[table], (table, set(columns) - schema[table])
    meta = metadata("watcher", "search", ["UZ"])
    assert set(meta["databases"]["watcher"]["queries"]) == {
        "incidents_by_person", "incidents_by_country", "incidents_by_month", "incidents_by_type",
        "incident_type_counts"}
    assert {"array": "people"} in meta["databases"]["watcher"]["tables"]["incidents"]["facets"]
    assert "search_items" in meta["databases"]["search"]["queries"]


def test_full_text_search_finds_words_in_titles_and_summaries(db: Path) -> None:
    index = db.parent / "search.db"
    assert build_search_db(db, index) == 4
    assert oct(index.stat().st_mode & 0o777) == "0o600"
    found = _run(index, SEARCH_QUERY["sql"], q="СТАМБУЛЕ")  # any case, Cyrillic too
    assert [(r["item_id"], r["incident_id"]) for r in found] == [(1, 1)]
    assert [r["item_id"] for r in _run(index, SEARCH_QUERY["sql"], q="faces extradition")] == [2]
    assert [r["item_id"] for r in _run(index, SEARCH_QUERY["sql"], q="summary of k0")] == [4]
    assert _run(index, SEARCH_QUERY["sql"], q='al-"Khalil" OR -x') == []  # typed text, never FTS syntax
    assert _run(index, SEARCH_QUERY["sql"], q="") == []  # the form before anything is typed
    assert _run(index, f"SELECT item_id FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH 'karimov' ORDER BY item_id")


def test_the_index_is_rebuilt_from_the_items_at_each_start(db: Path) -> None:
    from watcher.store import Store

    index = db.parent / "search.db"
    build_search_db(db, index)
    store = Store(db)
    store.add_items([Item("fergana", "k9", "Yusupova released", "", "https://f.example.org/k9", NOW,
                          content_hash="k9")], NOW)
    store.close()
    assert build_search_db(db, index) == 5
    assert [r["title"] for r in _run(index, SEARCH_QUERY["sql"], q="released")] == ["Yusupova released"]
    assert not list(index.parent.glob(".search.db.partial"))


def test_without_datasette_it_says_how_to_install_it(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasette", None)  # import datasette -> ImportError
    monkeypatch.setitem(sys.modules, "datasette.app", None)
    result = ws.cli("browse")
    assert result.exit_code == 2
    assert "pip install 'watcher[browse]'" in result.stderr


class _Served:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, int]] = []

    def __call__(self, ds: Any, host: str, port: int) -> None:
        self.calls.append((ds, host, port))


def _stub_datasette(monkeypatch: pytest.MonkeyPatch) -> _Served:
    """No Datasette needed: what the command does around it (checks, index, warnings)."""
    served = _Served()
    monkeypatch.setattr(browse_module, "_datasette", lambda: None)
    monkeypatch.setattr(browse_module, "make_datasette", lambda db, search: ("datasette for", db, search))
    monkeypatch.setattr(browse_module, "_third_party_plugins", lambda: [])
    monkeypatch.setattr(browse_module, "_serve", served)
    return served


def test_loopback_by_default_and_a_loud_warning_for_any_other_host(ws: Workspace,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    served = _stub_datasette(monkeypatch)
    incident_store(ws.state / "watcher.db").close()
    quiet = ws.cli("browse")
    assert quiet.exit_code == 0, quiet.output
    assert served.calls[-1][1:] == ("127.0.0.1", 8001) and "WARNING" not in quiet.stderr
    assert "http://127.0.0.1:8001/" in quiet.stdout and (ws.state / "search.db").exists()
    loud = ws.cli("browse", "--host", "0.0.0.0", "--port", "9000")
    assert served.calls[-1][1:] == ("0.0.0.0", 9000)
    assert "WARNING" in loud.stderr and "no login" in loud.stderr
    assert browse_module.is_loopback("::1") and browse_module.is_loopback("localhost")
    assert not browse_module.is_loopback("192.168.1.5")


def test_refuses_a_missing_or_encrypted_database(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    served = _stub_datasette(monkeypatch)
    missing = ws.cli("browse")
    assert missing.exit_code == 1 and "no database" in missing.stderr
    incident_store(ws.state / "watcher.db").close()
    monkeypatch.setenv("WATCHER_DB_KEY", "secret")
    encrypted = ws.cli("browse")
    assert encrypted.exit_code == 2 and "encrypted" in encrypted.stderr and "secret" not in encrypted.output
    assert served.calls == []


def test_help() -> None:
    result = CliRunner().invoke(cli, ["browse", "--help"])
    assert result.exit_code == 0
    assert "read-only" in result.output and "--host" in result.output and "watcher[browse]" in result.output


def test_datasette_serves_the_canned_queries_and_search_read_only(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("datasette")
    served = _Served()
    monkeypatch.setattr(browse_module, "_serve", served)
    incident_store(ws.state / "watcher.db").close()
    result = ws.cli("browse")
    assert result.exit_code == 0, result.output
    ds = served.calls[-1][0]

    async def get(path: str) -> Any:
        response = await ds.client.get(path)
        return response.status_code, response.json()

    async def fetch_all() -> dict[str, Any]:
        return {
            "person": await get("/watcher/incidents_by_person.json?person=karimov&_shape=array"),
            "search": await get("/search/search_items.json?q=%D1%81%D1%82%D0%B0%D0%BC%D0%B1%D1%83%D0%BB%D0%B5"
                                "&_shape=array"),
            "box": await get("/search/items_fts.json?_search=extradition&_shape=array"),
            "table": await get("/watcher/incidents.json?_shape=array"),
            "write": await get("/watcher.json?sql=DELETE+FROM+incidents"),
            "broken": await get("/watcher.json?sql=SELECT+*+FROM+incidents+WHERE+people+%3D+Karimov"),
        }

    with browse_module.redacted_stderr():  # as _serve runs the server
        got = asyncio.run(fetch_all())
    status, rows = got["person"]
    assert status == 200 and [r["incident"] for r in rows] == [2, 1] and rows[1]["host"] == "Turkey"
    assert [r["item_id"] for r in got["search"][1]] == [1]
    assert [r["item_id"] for r in got["box"][1]] == [2]
    assert len(got["table"][1]) == 3
    assert got["write"][0] >= 400 and got["broken"][0] >= 400
    printed = capsys.readouterr()
    assert "Karimov" not in printed.out + printed.err  # neither the failed SQL nor a traceback's locals
    assert "a query failed" in printed.err
    conn = sqlite3.connect(ws.state / "watcher.db")
    assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 3
    conn.close()
    assert ds.databases["watcher"].is_mutable and not ds.databases["search"].is_mutable
    assert ds.setting("allow_download") is False
