"""`watcher sources`: the health table, and edits of feeds.yaml (add, remove, enable, disable,
list, OPML import and export).

Edits go through `FeedsEditor` (watcher/rules/feedsedit.py): comments kept, validated by
watcher.config.parse_feeds before the file is replaced, locked, atomic, audited as `cli:<login>`.

OPML comes from other people's feed readers, so it is read as hostile: at most 5 MB, no
DOCTYPE or entities (defusedxml refuses them before any parser sees the bytes: XML bombs and
external entities live there), an <opml> root, at least one feed, at most 2,000, and only
http(s) URLs. Only then does listparser (given bytes, never a URL, which it would fetch) read
the outlines. Anything wrong refuses the whole file and nothing is written.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from anyascii import anyascii
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import fromstring as defused_fromstring

from watcher.cli.people import local_who, open_store, refused
from watcher.cli.root import _fail_config, _paths, cli
from watcher.config import Paths, feeds_validator, parse_feeds
from watcher.durations import format_duration
from watcher.errors import ConfigError, EditRefused
from watcher.rules.feedsedit import FeedsEditor, url_key
from watcher.store import Store, parse_iso
from watcher.yamlfile import load_yaml

MAX_OPML_BYTES = 5 * 1024 * 1024
MAX_OPML_FEEDS = 2000
ID_MAX = 63  # the longest id feeds.yaml accepts
DISABLED_CATEGORY = "/watcher/disabled"  # on exported outlines of disabled sources; read back on import


class OpmlRefused(Exception):
    """An OPML file that is not imported; the message says why."""


# -- planning an import ------------------------------------------------------------------


def _slugify(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", anyascii(text).lower()).strip("-")[:limit].strip("-")


def source_slug(title: str, url: str) -> str:
    """An id for a feed: from its title (transliterated), else its host, else 'feed'."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return _slugify(title) or _slugify(host) or "feed"


def unique_id(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is not taken."""
    if base not in taken:
        return base
    number = 2
    while f"{base[:ID_MAX - 6]}-{number}" in taken:
        number += 1
    return f"{base[:ID_MAX - 6]}-{number}"


@dataclass
class ImportPlan:
    """What an import would add (id, url, title, settings), and how many feeds were left out
    because their URL is already a source (or appears twice in the list)."""

    entries: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    skipped: int = 0


def plan_import(existing: Sequence[Mapping[str, Any]], feeds: Iterable[tuple[str, str, Mapping[str, Any]]]) -> ImportPlan:
    """New sources for `feeds` (url, title, settings): ids slugged and unique against the
    existing ids and each other; a URL already present (in any spelling url_key equates) skipped."""
    taken = {str(e.get("id")) for e in existing if e.get("id") is not None}
    seen = {url_key(str(e["url"])) for e in existing if e.get("url")}
    plan = ImportPlan()
    for url, title, settings in feeds:
        key = url_key(url)
        if key in seen:
            plan.skipped += 1
            continue
        seen.add(key)
        source_id = unique_id(source_slug(title, url), taken)
        taken.add(source_id)
        plan.entries.append((source_id, url, title, dict(settings)))
    return plan


# -- editing --------------------------------------------------------------------------------


def _entries(paths: Paths, missing_ok: bool = False) -> tuple[list[dict[str, Any]], list[Any]]:
    """feeds.yaml's entries as written (raw URLs) and as validated; exit 2 with file:line if broken."""
    if missing_ok and not paths.feeds.exists():
        return [], []
    try:
        doc = load_yaml(paths.feeds, display=paths.feeds.name, kind="feeds")
        settings = parse_feeds(doc)
    except ConfigError as exc:
        _fail_config(exc)
    return [e for e in (doc.data.get("sources") or []) if isinstance(e, dict)], settings


def _edit(ctx: click.Context, change: Callable[[FeedsEditor, str], Any]) -> None:
    """Run one edit of feeds.yaml and print what it did, or why nothing was written (exit 1)."""
    paths = _paths(ctx)
    with open_store(paths) as store:
        editor = FeedsEditor(paths.feeds, store, feeds_validator(paths.feeds.name))
        try:
            edit = change(editor, local_who())
        except EditRefused as exc:
            refused(exc)
    click.echo(f"{edit.summary} (a running `watcher run` polls on it within 15 s)")


# -- the health table ---------------------------------------------------------------------


def _ago(stamp: str | None, now: datetime) -> str:
    when = parse_iso(stamp)
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


@cli.group(invoke_without_command=True)
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Show every source's health, last success, items seen and last error; edit feeds.yaml.

    With no subcommand, prints the health table. The subcommands add, remove, enable, disable,
    list, import (OPML) and export (OPML) the sources in feeds.yaml."""
    if ctx.invoked_subcommand is not None:
        return
    paths = _paths(ctx)
    _, loaded = _entries(paths)
    configured = {s.id: s for s in loaded}
    rows = {r["id"]: r for r in Store(paths.db).sources()} if paths.db.exists() else {}
    now = datetime.now(timezone.utc)
    table = [("SOURCE", "TYPE", "HEALTH", "LAST OK", "ITEMS", "FAILS", "LAST ERROR")]
    for source_id in sorted(set(configured) | set(rows)):
        row = rows.get(source_id, {})
        setting = configured.get(source_id)
        health = row.get("state", "new")
        if setting is None:
            health += " (not in feeds file)"
        elif not setting.enabled:
            health += " (disabled)"
        error = (row.get("last_error") or "") if health.split()[0] != "ok" else ""
        if not error and row.get("notice"):
            error = "notice: " + row["notice"]
        table.append((
            source_id, (setting.type if setting else row.get("type", "?")), health, _ago(row.get("last_ok"), now),
            str(row.get("items_seen", 0)), str(row.get("consecutive_failures", 0)), error[:160],
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])


# -- edits --------------------------------------------------------------------------------


@sources.command("add")
@click.argument("url")
@click.option("--id", "source_id", metavar="ID", default=None,
              help="The source's id: lowercase letters, digits, '-' (default: a slug of the URL's host).")
@click.option("--type", "source_type", default="rss", show_default=True, help="The source type (rss reads RSS and Atom).")
@click.option("--every", default=None, metavar="DURATION", help="Polling interval like 15m or 2h (default 30m).")
@click.pass_context
def sources_add(ctx: click.Context, url: str, source_id: str | None, source_type: str, every: str | None) -> None:
    """Add a source to feeds.yaml (comments kept, validated, audited); refused if its id or URL exists."""
    extra = {"every": every} if every else {}
    if source_id is None:
        existing, _ = _entries(_paths(ctx), missing_ok=True)
        source_id = unique_id(source_slug("", url), {str(e.get("id")) for e in existing})
    _edit(ctx, lambda editor, who: editor.add_source(who, source_id, url, source_type, **extra))


@sources.command("remove")
@click.argument("source_id", metavar="ID")
@click.pass_context
def sources_remove(ctx: click.Context, source_id: str) -> None:
    """Remove the source ID from feeds.yaml (its stored items and alerts are kept)."""
    _edit(ctx, lambda editor, who: editor.remove_source(who, source_id))


@sources.command("enable")
@click.argument("source_id", metavar="ID")
@click.pass_context
def sources_enable(ctx: click.Context, source_id: str) -> None:
    """Switch the source ID back on (`enabled: true` in feeds.yaml)."""
    _edit(ctx, lambda editor, who: editor.set_enabled(who, source_id, True))


@sources.command("disable")
@click.argument("source_id", metavar="ID")
@click.pass_context
def sources_disable(ctx: click.Context, source_id: str) -> None:
    """Keep the source ID listed but idle (`enabled: false` in feeds.yaml)."""
    _edit(ctx, lambda editor, who: editor.set_enabled(who, source_id, False))


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of {id, type, enabled, every, url}.")
@click.pass_context
def sources_list(ctx: click.Context, as_json: bool) -> None:
    """List the sources configured in feeds.yaml: id, type, on or off, interval and URL."""
    raw, loaded = _entries(_paths(ctx))
    urls = {str(e.get("id")): e.get("url") or e.get("base_url") for e in raw}
    rows = [{"id": s.id, "type": s.type, "enabled": s.enabled, "every": format_duration(s.every),
             "url": str(urls.get(s.id) or "") or None} for s in loaded]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = [("ID", "TYPE", "ON", "EVERY", "URL")] + [
        (r["id"], r["type"], "yes" if r["enabled"] else "no", r["every"], r["url"] or "-") for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])


# -- OPML ---------------------------------------------------------------------------------


def read_opml(path: Path) -> tuple[list[tuple[str, str, dict[str, Any]]], int]:
    """The feeds of an OPML file as (url, title, settings), and how many linked lists were not
    followed; OpmlRefused if the file is too big, not XML, has a DOCTYPE or entities, is not
    OPML, lists no feed or too many, or has a URL that is not http(s)."""
    import listparser

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise OpmlRefused(f"it cannot be read ({exc.strerror})") from None
    if len(data) > MAX_OPML_BYTES:
        raise OpmlRefused(f"it is larger than {MAX_OPML_BYTES // 2**20} MB")
    if not data.strip():
        raise OpmlRefused("it is empty")
    try:
        root = defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden:
        raise OpmlRefused("it has a DOCTYPE declaration (OPML never needs one; it is how XML bombs "
                          "and external entities get in)") from None
    except EntitiesForbidden:
        raise OpmlRefused("it declares XML entities (OPML never needs them)") from None
    except DefusedXmlException as exc:
        raise OpmlRefused(f"it reaches outside itself ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise OpmlRefused(f"it is not well-formed XML ({exc})") from None
    if not isinstance(root.tag, str) or root.tag.lower() != "opml":
        raise OpmlRefused(f"it is not OPML (its root element is <{str(root.tag)[:40]}>, not <opml>)")
    outlines = sum(1 for o in root.iter("outline") if any(k.lower() == "xmlurl" for k in o.attrib))
    if outlines > MAX_OPML_FEEDS:
        raise OpmlRefused(f"it lists {outlines} feeds, more than the {MAX_OPML_FEEDS} one import takes")
    result = listparser.parse(bytes(data))  # bytes: a str starting with http:// would be fetched
    feeds = list(result.get("feeds") or [])
    if not feeds:
        raise OpmlRefused("it lists no feeds (no <outline> with an xmlUrl)")
    if len(feeds) > MAX_OPML_FEEDS:
        raise OpmlRefused(f"it lists {len(feeds)} feeds, more than the {MAX_OPML_FEEDS} one import takes")
    bad = [str(f.get("url", "")) for f in feeds if not _http_url(str(f.get("url", "")))]
    if bad:
        raise OpmlRefused(f"{len(bad)} feed URL(s) are not http(s) URLs, such as {bad[0][:100]!r}")
    out = []
    for feed in feeds:
        disabled = ["watcher", "disabled"] in (feed.get("categories") or [])
        out.append((str(feed["url"]).strip(), str(feed.get("title") or ""), {"enabled": False} if disabled else {}))
    return out, len(result.get("lists") or [])


def _http_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@sources.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True, help="Print what would be added; write nothing.")
@click.pass_context
def sources_import(ctx: click.Context, file: Path, dry_run: bool) -> None:
    """Add the feeds of an OPML file (from any feed reader) to feeds.yaml, all in one edit.

    Feeds whose URL is already a source are skipped; ids are slugs of the titles (or hosts),
    unique. A malformed or hostile file is refused whole and nothing is written."""
    try:
        feeds, lists = read_opml(file)
    except OpmlRefused as exc:
        click.echo(f"refused {file.name}: {exc}; nothing was written", err=True)
        sys.exit(1)
    paths = _paths(ctx)
    existing, _ = _entries(paths, missing_ok=True)
    plan = plan_import(existing, feeds)
    skipped = f"; {plan.skipped} skipped (already in {paths.feeds.name})" if plan.skipped else ""
    if lists:
        click.echo(f"{lists} linked subscription list(s) in {file.name} were not followed", err=True)
    if not plan.entries:
        click.echo(f"nothing to import: {len(feeds)} feed(s) in {file.name}{skipped}")
        return
    if not dry_run:  # one edit, all or nothing; the list below is printed once it is written
        _edit(ctx, lambda editor, who: editor.import_sources(who, plan.entries))
    for source_id, url, _title, settings in plan.entries:
        click.echo(f"{'would add' if dry_run else 'added'} {source_id}  {url}"
                   + ("  (disabled)" if settings.get("enabled") is False else ""))
    if dry_run:
        click.echo(f"dry run: {len(plan.entries)} source(s) would be added{skipped}; nothing was written")
    elif skipped:
        click.echo(skipped.removeprefix("; "))


@sources.command("export")
@click.pass_context
def sources_export(ctx: click.Context) -> None:
    """Print the rss sources of feeds.yaml as OPML 2.0 on stdout (disabled ones marked), for
    any feed reader or `watcher sources import`."""
    raw, _ = _entries(_paths(ctx))
    click.echo(opml_document(raw, datetime.now(timezone.utc)), nl=False)
    others = sum(1 for e in raw if e.get("type") != "rss")
    if others:
        click.echo(f"{others} source(s) that are not rss feeds were left out", err=True)


def opml_document(entries: list[dict[str, Any]], now: datetime) -> str:
    """OPML 2.0 with one outline per rss source (text = title = id, xmlUrl as written)."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "watcher sources"
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(opml, "body")
    for entry in entries:
        if entry.get("type") != "rss" or not entry.get("url"):
            continue
        attrs = {"type": "rss", "text": str(entry["id"]), "title": str(entry["id"]), "xmlUrl": str(entry["url"])}
        if entry.get("enabled") is False:
            attrs["category"] = DISABLED_CATEGORY
        ET.SubElement(body, "outline", attrs)
    ET.indent(opml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"
