"""`watcher export incidents`: one row per incident, the dataset's columns, safe in a spreadsheet."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from conftest import Workspace
from watcher.cli import cli
from watcher.cli.export import COLUMNS, defused
from watcher.models import Item
from watcher.store import Store

# --since is measured from the real clock: the incidents are placed relative to it
NOW = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
OLD = NOW - timedelta(days=200)
PAGE = b"<html><body>Karimov detained in Istanbul</body></html>"
ARCHIVE = "https://web.archive.org/web/2026/https://fergana.example.org/k1"
INJECTED = "=HYPERLINK(\"https://evil.example\",\"click\")"


def _item(store: Store, source: str, key: str, title: str, at: datetime) -> int:
    store.ensure_source(source, "rss")
    (new,), _, _ = store.add_items([Item(source, key, title, "summary of " + key, f"https://{source}.example.org/{key}",
                                         at, content_hash=key)], at)
    return new.id


def incident_store(path: Path) -> Store:
    """Three incidents: #1 (two reports from two sources, one with its page and archive copy
    kept, alerted urgently to two chats), #2 (a follow-up of #1's case, only held for the
    digest, with a formula for a title), #3 (200 days old, outside --since 90d)."""
    store = Store(path)
    with store.transaction():
        first = _item(store, "fergana", "k1", "Баходир Каримов задержан в Стамбуле", NOW - timedelta(hours=5))
        second = _item(store, "azattyk", "k2", "Karimov detained; faces extradition", NOW - timedelta(hours=3))
        one = store.create_incident(title="Баходир Каримов задержан в Стамбуле", people=["Bakhodir Karimov"],
                                    incident_types=["detention"], origin=["UZ"], host=["TR"], keys={},
                                    reported=NOW - timedelta(hours=5), now=NOW)
        store.add_report(one, first, source_id="fergana", reported=NOW - timedelta(hours=5), reason="first report",
                         score=None, now=NOW)
        store.add_report(one, second, source_id="azattyk", reported=NOW - timedelta(hours=3), reason="shared person",
                         score=None, now=NOW, incident_types=["extradition"])
        for destination in ("telegram:-100", "telegram:-200"):
            store.enqueue_alert(first, destination, urgent=True, now=NOW, kind="alert", incident_id=one)
        store.want_evidence(first, "https://fergana.example.org/k1", "fergana", NOW, archive=True)
        third = _item(store, "azattyk", "k3", INJECTED, NOW - timedelta(hours=1))
        two = store.create_incident(title=INJECTED, people=["Bakhodir Karimov"], incident_types=["threats_to_family"],
                                    origin=["UZ"], host=["DE"], keys={}, reported=NOW - timedelta(hours=1), now=NOW,
                                    previous=one)
        store.add_report(two, third, source_id="azattyk", reported=NOW - timedelta(hours=1), reason="first report",
                         score=None, now=NOW)
        store.enqueue_alert(third, "email:digest", urgent=False, now=NOW, kind="followup", incident_id=two,
                            status="held")
        old = _item(store, "fergana", "k0", "Old story", OLD)
        three = store.create_incident(title="Old story", people=["Dilnoza Yusupova"], incident_types=["deportation"],
                                      origin=["TJ"], host=["RU"], keys={}, reported=OLD, now=OLD)
        store.add_report(three, old, source_id="fergana", reported=OLD, reason="first report", score=None, now=OLD)
    for alert in store.due_alerts("telegram:-100", NOW):
        store.claim_alert(alert["id"])
        store.mark_sent(alert["id"], NOW, "m1")
    for row in store.evidence_of(first):
        store.evidence_kept(row["id"], fetched_at=NOW, final_url=row["url"], http_status=200, headers={},
                            content=PAGE if row["kind"] == "page" else None, text="Karimov detained",
                            archive_url=ARCHIVE if row["kind"] == "archive" else None)
    return store


def _export(ws: Workspace, *args: str) -> str:
    incident_store(ws.state / "watcher.db").close()
    result = ws.cli("export", "incidents", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_has_the_dataset_columns_one_row_per_incident(ws: Workspace) -> None:
    rows = list(csv.DictReader(io.StringIO(_export(ws, "--since", "90d"))))
    assert list(rows[0]) == [name for name, _ in COLUMNS]
    assert [r["incident_id"] for r in rows] == ["1", "2"]  # oldest first; #3 is older than 90 days
    one, two = rows
    assert one["date"] == (NOW - timedelta(hours=5)).date().isoformat()
    assert one["people"] == "Bakhodir Karimov"
    assert (one["origin"], one["origin_names"], one["host"], one["host_names"]) == ("UZ", "Uzbekistan", "TR", "Turkey")
    assert one["tactic"] == "detention; extradition"
    assert one["tactic_labels"] == "detention; extradition"
    assert (one["urgent"], one["alerted"], one["alerted_to"]) == ("yes", "yes", "telegram:-100")
    assert one["reports"] == "2"
    assert one["sources"] == "fergana; azattyk"
    # per-report columns: one line per report, aligned (a title may hold a ';')
    assert one["report_sources"].split("\n") == ["fergana", "azattyk"]
    assert one["urls"].split("\n") == ["https://fergana.example.org/k1", "https://azattyk.example.org/k2"]
    assert one["titles"].split("\n") == ["Баходир Каримов задержан в Стамбуле", "Karimov detained; faces extradition"]
    assert one["evidence_sha256"].split("\n") == [hashlib.sha256(PAGE).hexdigest(), ""]
    assert one["archive_urls"].split("\n") == [ARCHIVE, ""]
    assert (two["case_id"], two["previous_incident"], one["status"]) == ("1", "1", "followed")
    assert (two["urgent"], two["alerted"], two["alerted_to"]) == ("no", "no", "")  # held for the digest: not sent
    assert two["tactic_labels"] == "threats to family"


def test_csv_defuses_formulas_from_feed_titles(ws: Workspace) -> None:
    two = {r["incident_id"]: r for r in csv.DictReader(io.StringIO(_export(ws)))}["2"]
    assert two["title"] == "'" + INJECTED
    assert two["titles"] == "'" + INJECTED
    assert [defused(t) for t in ("+1", "-1", "@SUM(A1)", "\tx", "\rx")] == ["'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx"]
    assert defused("Karimov = detained") == "Karimov = detained"


def test_json_has_the_same_columns_with_lists_and_booleans(ws: Workspace) -> None:
    records = json.loads(_export(ws, "--format", "json"))
    assert [r["incident_id"] for r in records] == [3, 1, 2]  # no --since: all, oldest first
    one = records[1]
    assert list(one) == [name for name, _ in COLUMNS]
    assert one["people"] == ["Bakhodir Karimov"]
    assert one["tactic"] == ["detention", "extradition"] and one["urgent"] is True and one["alerted"] is True
    assert one["host_names"] == ["Turkey"] and one["archive_urls"] == [ARCHIVE, ""]
    assert records[2]["title"] == INJECTED  # JSON is for tools: titles as written
    assert records[2]["previous_incident"] == 1 and records[0]["previous_incident"] is None


def test_since_and_person_filter(ws: Workspace) -> None:
    assert [r["incident_id"] for r in json.loads(_export(ws, "--format", "json", "--since", "90d"))] == [1, 2]
    result = ws.cli("export", "incidents", "--format", "json", "--person", "dilnoza yusupova")
    assert [r["incident_id"] for r in json.loads(result.output)] == [3]
    bad = ws.cli("export", "incidents", "--since", "soon")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_out_writes_a_private_file_excel_can_read(ws: Workspace) -> None:
    incident_store(ws.state / "watcher.db").close()
    target = ws.root / "incidents.csv"
    target.write_text("older export")
    target.chmod(0o644)
    result = ws.cli("export", "incidents", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the Cyrillic as UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 3 and "Bakhodir Karimov" not in result.output  # names go to the file only
    missing = ws.cli("export", "incidents", "--out", str(ws.root / "nowhere" / "x.csv"))
    assert missing.exit_code == 1 and "is not a folder" in missing.output


def test_no_database_exports_only_the_header(ws: Workspace) -> None:
    result = CliRunner().invoke(cli, ["--state", str(ws.state), "export", "incidents"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(name for name, _ in COLUMNS)
    assert len(result.stdout.splitlines()) == 1


def test_help() -> None:
    for path in (["export"], ["export", "incidents"]):
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0
    assert "one row per incident" in result.output and "--since" in result.output and "--out" in result.output
