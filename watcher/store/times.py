"""The one timestamp format stored in watcher.db: UTC, seconds, sortable as text."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(when: datetime) -> str:
    """The one timestamp format stored: UTC, seconds, sortable as text."""
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
