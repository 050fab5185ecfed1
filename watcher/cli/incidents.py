"""`watcher incidents`: the incidents watcher has seen, and why each report belongs to its incident.

An incident is one story however many outlets and languages reported it (watcher/incidents/).
The table is for reading; `--json` is for other tools (a monitor's spreadsheet, a case
database). `watcher incidents show ID` explains each report's membership: the first report,
a shared watched person, or the names and numbers it shares with the others and their score.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from watcher.cli.root import _paths, cli
from watcher.durations import parse_duration
from watcher.rules import incident_label
from watcher.store import Store


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc} (e.g. 7d, 24h)", param_hint="--since") from None


def _record(store: Store, incident: dict[str, Any]) -> dict[str, Any]:
    """One incident as the documented JSON object."""
    reports = store.incident_reports(incident["id"])
    return {
        "id": incident["id"],
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "title": incident["title"],
        "people": incident["people"],
        "incident_types": incident["incident_types"],
        "origin": incident["origin"],
        "host": incident["host"],
        "status": incident["status"],
        "case": incident["case_id"],
        "follows": incident["previous_id"],
        "items": [{
            "id": r["item_id"], "source": r["source_id"], "title": r["title"], "url": r["url"],
            "published": r["published"], "language": r["language"], "evidence": r["evidence"],
            "evidence_sha256": r["evidence_sha256"], "reason": r["reason"], "score": r["score"],
        } for r in reports],
    }


def _open(ctx: click.Context) -> Store | None:
    paths = _paths(ctx)
    if not paths.db.exists():
        return None
    return Store(paths.db)


@cli.group(invoke_without_command=True)
@click.option("--since", default=None, metavar="DURATION",
              help="Only incidents reported within this long (7d, 24h); default: all.")
@click.option("--person", default=None, metavar="NAME", help="Only incidents concerning this watched person "
              "(the name as in people.yaml, any case).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--limit", default=200, show_default=True, help="At most this many incidents, newest first.")
@click.pass_context
def incidents(ctx: click.Context, since: str | None, person: str | None, as_json: bool, limit: int) -> None:
    """List incidents: one line per story, however many outlets and languages reported it.

    Each line: id, when it was first and last reported, who, what, where (origin -> host),
    how many reports and from which sources, and the case it continues. `watcher incidents
    show ID` explains why each report belongs to it."""
    if ctx.invoked_subcommand is not None:
        return
    store = _open(ctx)
    rows = [] if store is None else store.list_incidents(_since(since), person, limit)
    records = [_record(store, row) for row in rows] if store is not None else []
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        click.echo("no incidents" + (" matching these filters" if since or person else " yet"))
        return
    for r in records:
        what = ", ".join(incident_label(t) for t in r["incident_types"]) or "watched name"
        where = "→".join(filter(None, [",".join(r["origin"]), ",".join(c for c in r["host"] if c not in r["origin"])]))
        sources = ", ".join(dict.fromkeys(i["source"] for i in r["items"]))
        case = f" case #{r['case']}" if r["case"] != r["id"] else ""
        click.echo(f"#{r['id']} {r['first_seen'][:16]}…{r['last_seen'][:16]} {', '.join(r['people']) or '-'}: "
                   f"{what}{f' [{where}]' if where else ''} · {len(r['items'])} report(s): {sources}{case}")
        click.echo(f"    {r['title'][:100]}")


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the incident as a JSON object.")
@click.pass_context
def show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """Show one incident: its facts, its case, and each report with why it joined."""
    store = _open(ctx)
    incident = store.incident(incident_id) if store is not None else None
    if incident is None:
        raise click.ClickException(f"no incident #{incident_id}; `watcher incidents` lists them")
    record = _record(store, incident)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    click.echo(f"Incident #{record['id']}: {record['title']}")
    click.echo(f"  people: {', '.join(record['people']) or '-'}")
    click.echo(f"  what: {', '.join(incident_label(t) for t in record['incident_types']) or '-'}")
    click.echo(f"  origin: {', '.join(record['origin']) or '-'}; host: {', '.join(record['host']) or '-'}")
    click.echo(f"  reported: {record['first_seen']} … {record['last_seen']}")
    case = store.case_incidents(record["case"])  # type: ignore[union-attr]
    if len(case) > 1:
        click.echo(f"  case #{record['case']}: incidents {', '.join('#' + str(i) for i in case)}"
                   + (f"; follows #{record['follows']}" if record["follows"] else ""))
    for number, item in enumerate(record["items"], 1):
        click.echo(f"  {number}. [{item['source']}{', ' + item['language'] if item['language'] else ''}] "
                   f"{item['published']} {item['title'][:90]}")
        if item["url"]:
            click.echo(f"     {item['url']}")
        click.echo(f"     why: {item['reason']}")
        if item["evidence"]:
            click.echo(f"     evidence: {item['evidence']}"
                       + (f" sha256 {item['evidence_sha256']}" if item["evidence_sha256"] else ""))
