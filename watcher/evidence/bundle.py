"""`watcher evidence`: an incident's (or one item's) pages, texts and a manifest, in a folder.

For each report: the page as fetched (`<item>.html` or the extension of its content type), the
main text (`<item>.txt`), and in `manifest.json` the item and final URLs, the fetch time, the
HTTP status and headers, the SHA-256 of each file written (recompute to verify), the Internet
Archive's copy if one was made, and, for reports with no page, its status and last error. The
folder is 0700 and the files 0600: a bundle names watched people.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from watcher import __version__
from watcher.errors import WatcherError
from watcher.store import Store

_EXTENSIONS = {"text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
               "text/plain": "txt", "application/json": "json", "application/xml": "xml", "text/xml": "xml"}


def _write(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)
    return hashlib.sha256(data).hexdigest()


def _target(store: Store, target: str) -> tuple[dict[str, Any] | None, list[int]]:
    kind, _, number = target.partition(":") if ":" in target else ("incident", "", target)
    if not number.strip().isdigit() or kind not in ("incident", "item"):
        raise WatcherError(f"{target!r}: give an incident number (12 or incident:12) or an item (item:34)")
    wanted = int(number)
    if kind == "item":
        if store.item(wanted) is None:
            raise WatcherError(f"no item {wanted}")
        incident_id = store.incident_of_item(wanted)
        return (store.incident(incident_id) if incident_id else None), [wanted]
    incident = store.incident(wanted)
    if incident is None:
        raise WatcherError(f"no incident #{wanted}; `watcher incidents` lists them")
    return incident, [r["item_id"] for r in store.incident_reports(wanted)]


def write_bundle(store: Store, target: str, out: Path) -> Path:
    """Write the bundle of `target` into `out` (created 0700); returns the manifest's path."""
    incident, item_ids = _target(store, target)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    reports = []
    for item_id in item_ids:
        item = store.item(item_id) or {}
        entry: dict[str, Any] = {"item": item_id, "source": item.get("source_id"), "title": item.get("title"),
                                 "url": item.get("url"), "published": item.get("published"), "files": []}
        for row in store.evidence_of(item_id):
            if row["kind"] == "archive":
                entry["archive"] = {"status": row["status"], "url": row["archive_url"], "error": row["last_error"]}
                continue
            entry.update(status=row["status"], error=row["last_error"], final_url=row["final_url"],
                         fetched_at=row["fetched_at"], http_status=row["http_status"], headers=row["headers"],
                         sha256=row["sha256"])
            if row["status"] != "done" or row["content"] is None:
                continue
            kind = str(row["headers"].get("content-type", "")).split(";")[0].strip().lower()
            page = f"item-{item_id}.{_EXTENSIONS.get(kind, 'bin')}"
            entry["files"].append({"name": page, "role": "page as fetched", "sha256": _write(out / page, row["content"])})
            if row["text"]:
                text = f"item-{item_id}.txt"
                entry["files"].append({"name": text, "role": "main text (trafilatura)",
                                       "sha256": _write(out / text, row["text"].encode("utf-8"))})
        entry.setdefault("status", "not asked for")
        reports.append(entry)
    manifest = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "watcher": __version__,
        "incident": None if incident is None else {k: incident[k] for k in (
            "id", "title", "people", "incident_types", "origin", "host", "first_seen", "last_seen", "case_id")},
        "reports": reports,
    }
    path = out / "manifest.json"
    _write(path, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    return path
