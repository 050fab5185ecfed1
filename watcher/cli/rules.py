"""Commands that check and try the rules and the sources file: rules check/test/variants, match, feeds check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from watcher.cli.root import _paths, cli
from watcher.config import load_feeds
from watcher.errors import ConfigError
from watcher.rules import load_rules


@cli.group()
def rules() -> None:
    """Inspect and validate the rules (watched people, incident keywords)."""


@rules.command("check")
@click.pass_context
def rules_check(ctx: click.Context) -> None:
    """Validate every rules file; print file:line errors and exit 1 if any is broken."""
    folder = _paths(ctx).rules
    try:
        loaded = load_rules(folder)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    keywords = sum(len(w) for t in loaded.incident_types.values() for w in t.keywords.values())
    click.echo(
        f"rules OK: {len(loaded.people)} people, {len(loaded.incident_types)} incident types, "
        f"{keywords} keywords ({folder})"
    )


def _load_rules_or_exit(folder: Path) -> Any:
    try:
        return load_rules(folder)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


@rules.command("test")
@click.argument("text")
@click.option("--source", default="", metavar="ID", help="Route as if the text came from this source.")
@click.pass_context
def rules_test(ctx: click.Context, text: str, source: str) -> None:
    """Show what the rules find in TEXT and why, and whether it WOULD ALERT (to whom, or why not)."""
    from watcher.matching import analyse
    from watcher.pipeline import alert_worthy

    loaded = _load_rules_or_exit(_paths(ctx).rules)
    result = analyse(text, loaded)
    click.echo(f"people:         {', '.join(result.people) or '-'}")
    click.echo(f"incident types: {', '.join(result.incident_types) or '-'}")
    click.echo(f"countries:      {', '.join(result.countries) or '-'}"
               + (f" (origin {', '.join(result.origin)}; host {', '.join(result.host) or '-'})" if result.origin else ""))
    worthy, urgent = alert_worthy(result.matches, loaded)
    click.echo(_verdict(result, loaded, worthy, urgent, source))
    seen: set[tuple[str, tuple[int, int]]] = set()
    for found in result.matches:
        if (found.rule, found.span) not in seen:  # one line per match, however many rules found it
            seen.add((found.rule, found.span))
            click.echo(f"  {found.rule}: {found.text!r} at {found.span[0]}-{found.span[1]}, "
                       f"variant {found.variant!r}: {found.why}")
    for found in result.ignored:
        click.echo(f"  ({found.rule}: {found.text!r} at {found.span[0]}-{found.span[1]}: {found.why})")


def _verdict(result: Any, loaded: Any, worthy: bool, urgent: bool, source: str = "") -> str:
    """'WOULD ALERT ...' with the reason and the destinations, or 'would not alert: <why>'."""
    if worthy:
        because = [f"names {', '.join(result.people)}"] if result.people else []
        alone = [t for t in result.incident_types if loaded.incident_types[t].alone]
        if alone:
            what = "is an alone type" if len(alone) == 1 else "are alone types"
            because.append(f"{', '.join(alone)} {what}")
        return (f"WOULD ALERT{' (urgent)' if urgent else ''} to {_destinations(result, loaded, urgent, source)}:"
                f" {'; '.join(because)} "
                "(unless its source is muted, polled for the first time, or set to `alerts: people`)")
    if result.incident_types:
        types = ", ".join(result.incident_types)
        what = "is not an alone type" if len(result.incident_types) == 1 else "are not alone types"
        return f"would not alert: {types} {what} and no watched person is named"
    if result.ignored:
        return "would not alert: nothing that counts matched (the matches below in brackets did not count)"
    return "would not alert: no watched person and no incident keyword matched"


def _destinations(result: Any, loaded: Any, urgent: bool, source: str) -> str:
    """Where `watcher run` would send it: the routes' choice (rules/routes.yaml) from this
    environment, each with what its route says (at once, or held for the digest)."""
    import os

    from watcher.delivery.notifiers import configured_notifiers, default_destinations
    from watcher.incidents.alerting import facts_of

    chats = loaded.routes.chats()
    try:
        notifiers, _ = configured_notifiers(os.environ, chats)
    except ConfigError as exc:
        return f"nowhere yet ({exc})"
    defaults = default_destinations(notifiers, chats)
    routed = bool(loaded.routes.routes or loaded.routes.destinations)
    names = {"console": "the console (no WATCHER_TELEGRAM_TOKEN set)", "telegram": "the monitors' Telegram chat"}
    targets = loaded.routes.targets(facts_of(result, loaded, source, urgent, set()), defaults)
    out = []
    for target in targets:
        held = not target.sends(urgent) or loaded.routes.held_only(target.destination)
        out.append(f"{names.get(target.destination, target.destination)}"
                   f"{' (digest only)' if held else ''}" + (f" [route {target.route}]" if routed else ""))
    return ", ".join(out) or "nowhere"


@rules.command("routes")
@click.pass_context
def rules_routes(ctx: click.Context) -> None:
    """Print the destinations and routes of rules/routes.yaml as watcher reads them."""
    loaded = _load_rules_or_exit(_paths(ctx).rules)
    for line in loaded.routes.describe():
        click.echo(line)


@rules.command("variants")
@click.argument("name")
@click.pass_context
def rules_variants(ctx: click.Context, name: str) -> None:
    """Print the spellings and inflected forms watcher recognises for NAME (given name + surname)."""
    from watcher.matching.variants import describe_variants

    try:  # the watchlist decides whether the surname alone counts (other bearers, surname_alone)
        loaded = load_rules(_paths(ctx).rules)
    except ConfigError:
        loaded = None
    for line in describe_variants(name, loaded):
        click.echo(line)


@cli.command("match")
@click.pass_context
def match_command(ctx: click.Context) -> None:
    """Match JSON lines {"id", "title", "summary", "lang"?} from stdin; one JSON result line each.

    Output: {"id", "people", "incident_types", "countries", "origin", "host",
    "matches": [{"rule", "kind", "variant", "span", "text", "why"}]}. Spans index into
    title + "\n" + summary. Use it to test rules against an archive."""
    import json

    from watcher.matching import analyse

    loaded = _load_rules_or_exit(_paths(ctx).rules)
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = "\n".join(p for p in (str(record.get("title") or ""), str(record.get("summary") or "")) if p)
        except (ValueError, AttributeError) as exc:
            click.echo(f"stdin:{number}: not a JSON object: {exc}", err=True)
            sys.exit(1)
        result = analyse(text, loaded)
        click.echo(json.dumps({
            "id": record.get("id"), "people": result.people, "incident_types": result.incident_types,
            "countries": result.countries, "origin": result.origin, "host": result.host,
            "matches": [{"rule": m.rule, "kind": m.kind, "variant": m.variant, "span": list(m.span),
                         "text": m.text, "why": m.why} for m in result.matches],
        }, ensure_ascii=False))


@cli.group()
def feeds() -> None:
    """Inspect and validate the sources file."""


@feeds.command("check")
@click.pass_context
def feeds_check(ctx: click.Context) -> None:
    """Validate the sources file; print file:line errors and exit 1 if it is broken."""
    path = _paths(ctx).feeds
    try:
        loaded = load_feeds(path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    enabled = sum(1 for s in loaded if s.enabled)
    click.echo(f"feeds OK: {len(loaded)} sources, {enabled} enabled ({path})")
