"""`watcher evidence`: an incident's (or one item's) pages, texts and a manifest, in a folder.

What the Berkeley Protocol asks a digital investigator to be able to show: the page, where
it came from, when it was fetched, and a hash that proves it has not changed since. For
each report the folder holds:

- `item-<id>.page.<ext>`: the page as fetched (the body after undoing gzip/deflate transfer
  coding, as every browser shows it; the extension from its Content-Type);
- `item-<id>.text.txt`: its main text as trafilatura extracted it (UTF-8);
- in `manifest.json`: the item and final URLs, the fetch time (UTC), the HTTP status and
  response headers, the SHA-256 recorded at fetch time and of each file written, the
  Internet Archive's copy if one was made, the incident's facts, and, for a report with no
  page, its status and last error;
- `SHA256SUMS`: every file's hash, manifest included, for `sha256sum -c SHA256SUMS`.

The folder is 0700 and its files 0600: a bundle names watched people. It must be new or
empty, so files of two bundles never mix.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watcher import __version__
from watcher.errors import WatcherError
from watcher.store import Store

_EXTENSIONS = {"text/html": "html", "application/xhtml+xml": "xhtml", "application/pdf": "pdf",
               "text/plain": "txt", "application/json": "json", "application/xml": "xml", "text/xml": "xml",
               "application/rss+xml": "xml", "application/atom+xml": "xml"}
_TARGET = re.compile(r"^\s*(?:(incident|item):|#)?\s*(\d+)\s*$", re.IGNORECASE)
_INCIDENT_FACTS = ("id", "title", "people", "incident_types", "origin", "host", "first_seen", "last_seen",
                   "case_id", "status")
NOTES = ("Page files are the response bodies as received, after undoing any gzip or deflate Content-Encoding "
         "(the headers are the server's, so they may still name that encoding). 'sha256' of a report was "
         "recorded when the page was fetched; each file's 'sha256' is of the file as written here. Text files "
         "are the main text extracted by trafilatura, in UTF-8. Times are UTC.")


class BundleError(WatcherError):
    """The bundle could not be written: an unknown incident or item, or an unusable folder."""


def _extension(content_type: str) -> str:
    kind = content_type.split(";")[0].strip().lower()
    if kind in _EXTENSIONS:
        return _EXTENSIONS[kind]
    guessed = mimetypes.guess_extension(kind) if kind else None
    return guessed.lstrip(".") if guessed else "bin"


def _write(path: Path, data: bytes) -> str:
    """Write a new private file (never through a link, never over a file); its SHA-256."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)
    return hashlib.sha256(data).hexdigest()


def _prepare(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise BundleError(f"{out} is not a folder; give a new folder for the bundle")
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} is not empty; give a new folder, so two bundles never mix")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)


def resolve_target(store: Store, target: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The incident (None for an item in none) and its reports, from '12', 'incident:12' or 'item:34'."""
    found = _TARGET.match(target)
    if found is None:
        raise BundleError(f"{target!r} is neither an incident (12 or incident:12) nor an item (item:34)")
    kind, number = (found.group(1) or "incident").lower(), int(found.group(2))
    if kind == "item":
        item = store.item(number)
        if item is None:
            raise BundleError(f"there is no item {number}; `watcher incidents show ID` lists an incident's items")
        incident_id = store.incident_of_item(number)
        incident = store.incident(incident_id) if incident_id is not None else None
        reports = [r for r in store.incident_reports(incident_id) if r["item_id"] == number] if incident else []
        return incident, reports or [{"item_id": number, **item}]
    incident = store.incident(number)
    if incident is None:
        raise BundleError(f"there is no incident {number}; `watcher incidents` lists them")
    return incident, store.incident_reports(number)


def _report(store: Store, report: dict[str, Any], out: Path, files: list[tuple[str, str]]) -> dict[str, Any]:
    """One report's manifest entry, writing its page and text into `out`."""
    item_id = int(report["item_id"])
    entry: dict[str, Any] = {
        "item": item_id, "source": report.get("source_id"), "title": report.get("title"), "url": report.get("url"),
        "published": report.get("published"), "language": report.get("language"),
        "joined_because": report.get("reason"), "status": "not asked for", "files": [],
    }
    for row in store.evidence_of(item_id):
        if row["kind"] == "archive":
            entry["archive"] = {"status": row["status"], "archive_url": row["archive_url"],
                                "requested_at": row["fetched_at"], "attempts": row["attempts"],
                                "last_error": row["last_error"]}
            continue
        entry.update(status=row["status"], attempts=row["attempts"], last_error=row["last_error"])
        if row["status"] != "done":
            continue
        content_type = str(row["headers"].get("content-type", ""))
        entry.update(final_url=row["final_url"], fetched_at=row["fetched_at"], http_status=row["http_status"],
                     content_type=content_type, headers=row["headers"], size=row["size"], sha256=row["sha256"])
        if row["content"] is None:
            # the page's bytes went with the evidence retention (WATCHER_EVIDENCE_RETENTION);
            # what was recorded when it was fetched (address, time, size, hash) stays citable
            entry["pruned"] = "page and text pruned by the evidence retention; its SHA-256 and size are as fetched"
            continue
        page = f"item-{item_id}.page.{_extension(content_type)}"
        digest = _write(out / page, row["content"])
        files.append((page, digest))
        entry["files"].append({"name": page, "role": "page as fetched", "bytes": len(row["content"]), "sha256": digest})
        if digest != row["sha256"]:
            entry["integrity_problem"] = "the stored page does not match the SHA-256 recorded when it was fetched"
        if row["text"]:
            text_name = f"item-{item_id}.text.txt"
            data = row["text"].encode("utf-8")
            text_digest = _write(out / text_name, data)
            files.append((text_name, text_digest))
            entry["files"].append({"name": text_name, "role": "main text (trafilatura)", "bytes": len(data),
                                   "sha256": text_digest})
    return entry


def write_bundle(store: Store, target: str, out: Path, *, now: datetime | None = None) -> Path:
    """Write the bundle of `target` (an incident: '12', 'incident:12'; an item: 'item:34')
    into `out`, a new or empty folder (made 0700). Returns the manifest's path.

    Raises:
        BundleError: the target is unknown or malformed, or `out` is a file or not empty.
    """
    incident, reports = resolve_target(store, target)
    _prepare(out)
    files: list[tuple[str, str]] = []
    entries = [_report(store, report, out, files) for report in reports]
    created = (now or datetime.now(UTC)).astimezone(UTC)
    manifest = {
        "created": created.isoformat(timespec="seconds"),
        "tool": f"watcher {__version__}",
        "watcher_version": __version__,
        "target": target.strip(),
        "incident": None if incident is None else {k: incident.get(k) for k in _INCIDENT_FACTS},
        "notes": NOTES,
        "reports": entries,
    }
    path = out / "manifest.json"
    files.append((path.name, _write(path, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))))
    _write(out / "SHA256SUMS", "".join(f"{digest}  {name}\n" for name, digest in files).encode("ascii"))
    return path
