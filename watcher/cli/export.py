"""`watcher export incidents`: the incidents as a dataset, one row per incident, for reports.

The columns follow the event datasets kept on transnational repression (Freedom House's among
them): when, whom, the origin state, the host country, the tactic (watcher's incident type),
and the sources with their evidence, so each row can be checked and cited. CSV for
spreadsheets, JSON for other tools; both have the same columns, in the same order. An incident
is serialised by `watcher incidents`' `_record`; this module only adds what a dataset needs
(names for codes, alerts, archive links) and flattens it.

Feed titles are written by strangers: a CSV cell that starts with = + - @ (or a tab or a
carriage return) is run as a formula by spreadsheets (CSV injection), so such a cell gets a
leading '. The output holds watched names: --out writes the file 0600.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from watcher.cli.incidents import _open, _record, _since
from watcher.cli.root import cli
from watcher.matching.countries import country_name
from watcher.rules import incident_label
from watcher.store import Store

# (column, what it holds): the order of the CSV header and of each JSON object's keys
COLUMNS: tuple[tuple[str, str], ...] = (
    ("incident_id", "watcher's incident number (as in alerts and `watcher incidents`)"),
    ("date", "the date of the earliest report (ISO, UTC)"),
    ("first_seen", "the earliest report's time (ISO, UTC)"),
    ("last_seen", "the latest report's time"),
    ("title", "the first report's title"),
    ("people", "the watched people it concerns"),
    ("origin", "origin state(s): ISO codes"),
    ("origin_names", "origin state(s): names"),
    ("host", "host country(ies): ISO codes"),
    ("host_names", "host country(ies): names"),
    ("tactic", "incident type ids"),
    ("tactic_labels", "incident types as monitors read them"),
    ("urgent", "whether it was alerted as urgent"),
    ("status", "open, or followed by a later incident of the case"),
    ("case_id", "the case (the first incident of it)"),
    ("previous_incident", "the incident of the case it follows"),
    ("reports", "how many reports"),
    ("sources", "the sources that reported it"),
    ("report_sources", "per report: its source"),
    ("urls", "per report: its link"),
    ("titles", "per report: its title"),
    ("published", "per report: when it was published"),
    ("evidence_sha256", "per report: SHA-256 of the page watcher kept"),
    ("archive_urls", "per report: the Internet Archive's copy"),
    ("alerted", "whether an alert was sent"),
    ("alerted_to", "where alerts were sent"),
)
# in CSV, per-report lists are one line per report (aligned across these columns; a title
# may hold a ';'), every other list is joined with "; "
PER_REPORT = {"report_sources", "urls", "titles", "published", "evidence_sha256", "archive_urls"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _alerts(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """The incident's outbox rows (read-only; see the report's note on a Store method)."""
    rows = store.conn.execute("SELECT destination, status, urgent FROM alerts WHERE incident_id = ? ORDER BY id",
                              (incident_id,))
    return [dict(r) for r in rows]


def _archives(store: Store, incident_id: int) -> dict[int, str]:
    """item id -> the Internet Archive's copy, for the incident's reports that have one."""
    rows = store.conn.execute(
        "SELECT e.item_id, e.archive_url FROM evidence e JOIN incident_items r ON r.item_id = e.item_id"
        " WHERE r.incident_id = ? AND e.kind = 'archive' AND e.archive_url IS NOT NULL", (incident_id,))
    return {int(r[0]): str(r[1]) for r in rows}


def dataset_row(record: dict[str, Any], alerts: list[dict[str, Any]], archives: dict[int, str]) -> dict[str, Any]:
    """One incident (`_record`'s object) as a dataset row: lists stay lists, None stays None."""
    items = record["items"]
    sent = [a for a in alerts if a["status"] == "sent"]
    return {
        "incident_id": record["id"],
        "date": record["first_seen"][:10],
        "first_seen": record["first_seen"],
        "last_seen": record["last_seen"],
        "title": record["title"],
        "people": record["people"],
        "origin": record["origin"],
        "origin_names": [country_name(c) for c in record["origin"]],
        "host": record["host"],
        "host_names": [country_name(c) for c in record["host"]],
        "tactic": record["incident_types"],
        "tactic_labels": [incident_label(t) for t in record["incident_types"]],
        "urgent": any(a["urgent"] for a in alerts),
        "status": record["status"],
        "case_id": record["case"],
        "previous_incident": record["follows"],
        "reports": len(items),
        "sources": list(dict.fromkeys(i["source"] for i in items)),
        "report_sources": [i["source"] for i in items],
        "urls": [i["url"] or "" for i in items],
        "titles": [i["title"] for i in items],
        "published": [i["published"] for i in items],
        "evidence_sha256": [i["evidence_sha256"] or "" for i in items],
        "archive_urls": [archives.get(i["id"], "") for i in items],
        "alerted": bool(sent),
        "alerted_to": list(dict.fromkeys(a["destination"] for a in sent)),
    }


def defused(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cell(column: str, value: Any) -> str:
    if isinstance(value, list):
        value = ("\n" if column in PER_REPORT else "; ").join(str(v) for v in value)
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    elif value is None:
        value = ""
    return defused(str(value))


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([name for name, _ in COLUMNS])
    for row in rows:
        writer.writerow([_cell(name, row[name]) for name, _ in COLUMNS])
    return out.getvalue()


def write_private(path: Path, data: bytes) -> None:
    """Write `path` 0600 (made whole beside it, then swapped in): the export names watched people."""
    if not path.parent.is_dir():
        raise click.ClickException(f"{path.parent} is not a folder")
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older partial file keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


@cli.group()
def export() -> None:
    """Export watcher's data for reports and other tools (`watcher export incidents`)."""


@export.command("incidents")
@click.option("--since", default=None, metavar="DURATION",
              help="Only incidents reported within this long (90d, 24h); default: all.")
@click.option("--person", default=None, metavar="NAME", help="Only incidents concerning this watched person "
              "(the name as in people.yaml, any case).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="CSV for spreadsheets (formula-safe), or a JSON array of objects.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Write to FILE (created 0600: it names watched people) instead of stdout.")
@click.pass_context
def export_incidents(ctx: click.Context, since: str | None, person: str | None, fmt: str, out: Path | None) -> None:
    """Export incidents as a dataset: one row per incident, oldest first.

    Columns: incident_id, date, first_seen, last_seen, title, people, origin and host (ISO
    codes and names), tactic (incident type ids and labels), urgent, status, case_id,
    previous_incident, reports, sources, and per report its source, URL, title, publication
    time, evidence SHA-256 and archive URL, then alerted (yes/no) and alerted_to. In CSV a
    per-report column has one line per report; other lists are joined with "; "."""
    start = _since(since)
    store = _open(ctx)
    rows: list[dict[str, Any]] = []
    if store is None:
        click.echo("no database yet: nothing to export", err=True)
    else:
        try:
            incidents = store.list_incidents(start, person, limit=sys.maxsize)
            for incident in sorted(incidents, key=lambda i: (i["first_seen"], i["id"])):
                rows.append(dataset_row(_record(store, incident), _alerts(store, incident["id"]),
                                        _archives(store, incident["id"])))
        finally:
            store.close()
    text = json.dumps(rows, ensure_ascii=False, indent=2) + "\n" if fmt == "json" else to_csv(rows)
    if out is None:
        click.echo(text, nl=False)
        return
    # Excel reads a UTF-8 CSV as UTF-8 (Cyrillic names, Turkish places) only after a BOM
    write_private(out, text.encode("utf-8-sig" if fmt == "csv" else "utf-8"))
    click.echo(f"{len(rows)} incident(s) written to {out}", err=True)
