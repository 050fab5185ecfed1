"""`watcher people add | remove | list`: the watchlist edited from the monitor's own terminal.

Edits go through `RulesEditor`, exactly as the bot's /watch and /unwatch do: comments in the
rules files kept, the whole folder validated before the file is replaced, locked against the
bot editing at the same time, atomic, and audited as `cli:<login>`. A refusal prints why (it
may name the person: this is the monitor's own terminal) and exits 1, with nothing written.
"""

from __future__ import annotations

import contextlib
import getpass
import inspect
import json
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from watcher.cli.root import _paths, cli
from watcher.config import Paths
from watcher.errors import ConfigError, EditRefused
from watcher.rules import RulesEditor, load_rules
from watcher.store import Store

# RulesEditor.add_person takes `team` once the rules wing supports it; until then --team is
# refused before anything is written rather than half-applied by a second edit.
_ADD_TAKES_TEAM = "team" in inspect.signature(RulesEditor.add_person).parameters


def local_who() -> str:
    """Who the audit table records for an edit from this terminal: 'cli:<login>'."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment or the password database
        return f"cli:uid{os.getuid()}"


def refused(exc: EditRefused) -> NoReturn:
    """Print why an edit was not made and exit 1 (nothing was written)."""
    click.echo(f"not changed: {exc}", err=True)
    sys.exit(1)


@contextlib.contextmanager
def open_store(paths: Paths) -> Iterator[Store]:
    """The state database (created 0600 in a 0700 folder if new), closed afterwards."""
    store = Store(paths.db)
    try:
        yield store
    finally:
        store.close()


@cli.group()
def people() -> None:
    """Add, remove and list the watched people (the rules folder's people lists)."""


@people.command("add")
@click.argument("name")
@click.option("--alias", "aliases", multiple=True, metavar="SPELLING",
              help="Another spelling of the name (repeatable), e.g. the Cyrillic one.")
@click.option("--country", metavar="CC", default=None, help="ISO 3166 country code of origin, like UZ or TJ.")
@click.option("--team", metavar="TEAM", default=None, help="The team whose route this person's incidents take.")
@click.pass_context
def people_add(ctx: click.Context, name: str, aliases: tuple[str, ...], country: str | None, team: str | None) -> None:
    """Watch a new person: appended to people.yaml, comments kept, validated, audited."""
    extra = {}
    if team is not None and team.strip():
        if not _ADD_TAKES_TEAM:
            click.echo("not changed: --team cannot be set from the command line by this version; "
                       "add the person without it and put `team: <name>` in their entry by hand", err=True)
            sys.exit(2)
        extra["team"] = team.strip()
    paths = _paths(ctx)
    with open_store(paths) as store:
        editor = RulesEditor(paths.rules, store)
        try:
            edit = editor.add_person(local_who(), name, aliases=list(aliases), country=country, **extra)
        except EditRefused as exc:
            refused(exc)
    click.echo(edit.summary)


@people.command("remove")
@click.argument("name")
@click.pass_context
def people_remove(ctx: click.Context, name: str) -> None:
    """Stop watching a person, given by canonical name or alias (case-insensitive)."""
    paths = _paths(ctx)
    with open_store(paths) as store:
        try:
            edit = RulesEditor(paths.rules, store).remove_person(local_who(), name)
        except EditRefused as exc:
            refused(exc)
    click.echo(edit.summary)


@people.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of {name, aliases, country, team}.")
@click.pass_context
def people_list(ctx: click.Context, as_json: bool) -> None:
    """List the watched people with their country and team, as the rules in force read them."""
    try:
        loaded = load_rules(_paths(ctx).rules)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    rows = [{"name": p.name, "aliases": list(p.aliases), "country": p.country, "team": p.team}
            for p in loaded.people]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("nobody is watched yet (add someone with `watcher people add NAME`)")
        return
    table = [("NAME", "COUNTRY", "TEAM", "ALIASES")] + [
        (r["name"], r["country"] or "-", r["team"] or "-", ", ".join(r["aliases"]) or "-") for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    click.echo(f"{len(rows)} watched")
