"""`watcher browse`: the database in a web browser (Datasette), read-only, on this computer.

For the people who write the reports: tables with descriptions, facets by person, country and
incident type, canned queries (incidents by person, country, month, type) and full-text
search over items, without SQL. Datasette is an optional extra (`pip install 'watcher[browse]'`).

Why it cannot change watcher.db: Datasette opens a database it may see change with SQLite's
`?mode=ro` (the file may be written by a running `watcher run` meanwhile, so `immutable` would
be wrong: SQLite would trust stale pages); it writes only through write canned queries or
plugins, and watcher defines no write query and names every third-party plugin installed. The search index is a sidecar file (see browse_data.py), served as immutable since
nothing changes it while browse runs; downloading database files is switched off.

Why 127.0.0.1: Datasette has no login, and the database holds the watchlist. Another host
is allowed (a trusted office network) but said out loud. What could put watched names in a
log is off: the server's access log (query strings), Datasette's tracebacks with locals and
its failed-query lines (SQL and parameters).
"""

from __future__ import annotations

import ipaddress
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from watcher.cli.browse_data import build_search_db, country_codes, metadata
from watcher.cli.root import _paths, cli

SEARCH_FILE = "search.db"  # served as the `search` database
INSTALL_HINT = "watcher browse needs Datasette: pip install 'watcher[browse]'"
SETTINGS = {
    "allow_download": False,  # the search sidecar would otherwise be downloadable whole
    "default_cache_ttl": 0,  # watcher.db changes under the browser: never serve a cached page
    "suggest_facets": True,
}


def _datasette() -> Any:
    """The Datasette package, or exit 2 saying how to install it."""
    try:
        import datasette.app
    except ImportError:
        click.echo(INSTALL_HINT, err=True)
        sys.exit(2)
    return datasette.app


def is_loopback(host: str) -> bool:
    """Whether only this computer can reach `host` (a name other than localhost may resolve
    anywhere, so it counts as exposed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_exposed(host: str, port: int) -> None:
    click.secho("\n".join([
        "!" * 72,
        f"WARNING: serving watcher.db on {host}:{port}, beyond this computer.",
        "Datasette has no login: anyone who can reach this address can read every watched",
        "name, every alert and every monitor's verdict. Use it only on a network you trust,",
        "or keep the default (127.0.0.1) and reach it through an SSH tunnel:",
        f"  ssh -L {port}:127.0.0.1:{port} <this server>",
        "!" * 72]), err=True, fg="red", bold=True)


def _third_party_plugins() -> list[str]:
    from datasette.plugins import DEFAULT_PLUGINS, get_plugins

    return sorted(p["name"] for p in get_plugins() if p["name"] not in DEFAULT_PLUGINS)


def _quiet_tracebacks() -> None:
    """Datasette prints every failed request's traceback with its local variables (the URL,
    hence a searched name, and the metadata) to the terminal or journal when `rich` is
    installed, which watcher depends on. The browser still shows the error."""
    import datasette.handle_exception as handler

    if getattr(handler, "rich", None) is not None:
        handler.rich = None


def make_datasette(db: Path, search_db: Path) -> Any:
    """A Datasette serving `db` read-only and the search sidecar, each named by its file's stem
    (`watcher`, `search`): the URLs and metadata use these names."""
    app = _datasette()
    _quiet_tracebacks()
    return app.Datasette(files=[str(db)], immutables=[str(search_db)],
                         metadata=metadata(db.stem, search_db.stem, country_codes(db)), settings=SETTINGS)


class _RedactedStderr:
    """stderr without Datasette's failed-query lines ("ERROR: conn=..., sql = ..., params =
    ...": the SQL and parameters may name watched people); every other write passes."""

    NOTE = "a query failed; the browser shows why (its SQL is not logged: it may name watched people)\n"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        return int(self.inner.write(self.NOTE if text.startswith("ERROR: conn=") else text) or 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def redacted_stderr() -> Iterator[None]:
    saved = sys.stderr
    sys.stderr = _RedactedStderr(saved)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stderr = saved


def _serve(ds: Any, host: str, port: int) -> None:
    """Run the server until Ctrl-C (uvicorn comes with Datasette; the app runs Datasette's
    startup on its first request)."""
    import uvicorn

    with redacted_stderr():
        uvicorn.run(ds.app(), host=host, port=port, access_log=False, log_level="warning")


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True,
              help="The port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on. Anything but loopback exposes the watchlist: a loud warning.")
@click.pass_context
def browse(ctx: click.Context, port: int, host: str) -> None:
    """Browse the database read-only in a web browser (Datasette).

    Tables with descriptions, facets by person, country and incident type, canned queries
    (incidents by person, by country, by month, by type) and full-text search over items
    (the `search` database: an index in state/search.db rebuilt at each start; restart to
    refresh it). Nothing here can change watcher.db, and `watcher run` may keep running.
    Needs `pip install 'watcher[browse]'`. An encrypted database (WATCHER_DB_KEY) cannot be
    browsed: use `watcher export incidents`."""
    _datasette()
    paths = _paths(ctx)
    if not paths.db.exists():
        raise click.ClickException(f"no database at {paths.db} yet: run `watcher poll --once` first")
    if os.environ.get("WATCHER_DB_KEY"):
        click.echo("watcher.db is encrypted (WATCHER_DB_KEY) and Datasette cannot open SQLCipher files; "
                   "`watcher export incidents` reads it", err=True)
        sys.exit(2)
    search_db = paths.state / SEARCH_FILE
    try:
        count = build_search_db(paths.db, search_db)
        ds = make_datasette(paths.db, search_db)
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(f"{paths.db} cannot be read ({exc}): encrypted or damaged?") from None
    plugins = _third_party_plugins()
    if plugins:
        click.echo(f"note: Datasette plugins installed: {', '.join(plugins)}; a plugin can write to the database "
                   "or publish it, check each one", err=True)
    if not is_loopback(host):
        _warn_exposed(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"browsing {paths.db} read-only ({count} items searchable) at http://{shown}:{port}/ (Ctrl-C stops)")
    _serve(ds, host, port)
