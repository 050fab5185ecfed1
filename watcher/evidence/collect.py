"""Fetching the pages of alerted incidents, with retries that never hold up an alert.

Runs as its own job after delivery. A failure (unreachable, slow, HTTP error, a block or
captcha page, a page over the size cap) is recorded with its reason and retried with backoff:
10 min, doubling, at most 12 h, given up after `MAX_ATTEMPTS` (the row says why).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from watcher.errors import WatcherError
from watcher.http import ALLOW_PRIVATE, Fetcher
from watcher.models import Response
from watcher.store import Store

log = logging.getLogger(__name__)

BASE_DELAY = timedelta(minutes=10)
MAX_DELAY = timedelta(hours=12)
MAX_ATTEMPTS = 8
CONCURRENCY = 4
ARCHIVE_API = "https://web.archive.org"
# what block, challenge and captcha pages say in their title or first kilobytes
_BLOCK_PAGE = re.compile(
    rb"<title>\s*(just a moment|attention required|access denied|are you a robot|security check|captcha"
    rb"|ddos-guard|403 forbidden)|cf-chl-|g-recaptcha|hcaptcha|/cdn-cgi/challenge-platform", re.I)


@dataclass(frozen=True)
class ArchiveSettings:
    """Asking the Internet Archive's Save Page Now to keep a copy: off unless WATCHER_ARCHIVE_SAVE=1;
    WATCHER_ARCHIVE_API points elsewhere (a test double)."""

    api: str = ARCHIVE_API

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArchiveSettings | None:
        if env.get("WATCHER_ARCHIVE_SAVE", "").strip().lower() not in ("1", "on", "yes", "true"):
            return None
        return cls(api=(env.get("WATCHER_ARCHIVE_API") or ARCHIVE_API).rstrip("/"))


@dataclass
class EvidenceReport:
    kept: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))


def main_text(response: Response) -> str | None:
    """The article's main text (trafilatura), or None when it finds none."""
    try:
        import trafilatura  # slow to import; only evidence needs it

        return trafilatura.extract(response.content, url=response.url, include_comments=False)
    except Exception as exc:  # an extractor bug (or a missing part of it) must not lose the page itself
        log.warning("main text of an evidence page could not be extracted: %s", type(exc).__name__)
        return None


def _check_page(response: Response) -> None:
    if _BLOCK_PAGE.search(response.content[:20000]):
        raise WatcherError("a block, challenge or captcha page instead of the article")
    if not response.content.strip():
        raise WatcherError("an empty page")


async def _fetch_one(store: Store, fetcher: Fetcher, row: dict[str, Any], settings: Any,
                     clock: Callable[[], datetime], archive: ArchiveSettings | None, report: EvidenceReport) -> None:
    proxy = getattr(settings, "proxy", None)
    private = ALLOW_PRIVATE.set(bool(getattr(settings, "allow_private", False)))
    try:
        if row["kind"] == "archive":
            if archive is None:
                raise WatcherError("the Internet Archive is not switched on (WATCHER_ARCHIVE_SAVE)")
            response = await fetcher.get(f"{archive.api}/save/{quote(row['url'], safe=':/?&=%#')}")
            copy = response.header("content-location")
            copy = f"{archive.api}{copy}" if copy.startswith("/") else copy or response.url
            with store.transaction():
                store.evidence_kept(row["id"], fetched_at=clock(), final_url=response.url, http_status=response.status,
                                    headers=response.headers, content=b"", text=None, archive_url=copy)
        else:
            response = await fetcher.get(row["url"], proxy=proxy)
            _check_page(response)
            text = await asyncio.to_thread(main_text, response)
            with store.transaction():
                store.evidence_kept(row["id"], fetched_at=response.fetched_at, final_url=response.url,
                                    http_status=response.status, headers=response.headers, content=response.content,
                                    text=text)
        report.kept += 1
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every failure is this page's, recorded and retried
        error = str(exc) if isinstance(exc, WatcherError) else f"{type(exc).__name__}: {exc}"
        attempts = int(row["attempts"]) + 1
        give_up = attempts >= MAX_ATTEMPTS
        with store.transaction():
            store.evidence_failed(row["id"], error, None if give_up else clock() + backoff(attempts))
        if give_up:
            report.failed += 1
            log.warning("evidence %s of item %s given up after %d attempts: %s", row["kind"], row["item_id"],
                        attempts, error)
        else:
            report.retried += 1
            log.info("evidence %s of item %s not fetched (attempt %d): %s", row["kind"], row["item_id"], attempts, error)
    finally:
        ALLOW_PRIVATE.reset(private)


async def collect_evidence(store: Store, fetcher: Fetcher, settings_for: Callable[[str], Any],
                           clock: Callable[[], datetime], *, archive: ArchiveSettings | None = None,
                           limit: int = 20) -> EvidenceReport:
    """Fetch the due evidence pages (a few at a time); never raises for a page's own fault."""
    report = EvidenceReport()
    rows = store.due_evidence(clock(), limit)
    with store.transaction():
        rows = [row for row in rows if store.claim_evidence(row["id"])]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: dict[str, Any]) -> None:
        async with gate:
            await _fetch_one(store, fetcher, row, settings_for(row["source_id"]), clock, archive, report)

    await asyncio.gather(*(one(row) for row in rows))
    return report
