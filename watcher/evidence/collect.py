"""Fetching the pages of alerted incidents, with retries that never hold up an alert.

`collect_evidence` runs as its own job after delivery (the scheduler's "evidence" job, and
`poll --once` after its alerts are out), so an article server that is down, slow, huge or
behind a captcha costs the alert nothing. Each page is fetched through the sources' Fetcher
with the source's own proxy and `allow_private` (the SSRF guard, size cap and deadlines
apply as for the feed itself). A failure (unreachable, too slow, an HTTP error, a block or
captcha page, a page over the size cap, or a bug) is recorded on the row with its reason and
retried with backoff: 10 min, doubling, at most 12 h, given up as 'failed' after
`MAX_ATTEMPTS` attempts (about a day), the last error kept for the bundle and health.

Logs name items by id only: a page's URL and text can name a watched person, and the
watchlist never reaches a log above DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from watcher.errors import SourceError, TooLarge, WatcherError
from watcher.evidence.archive import ArchiveSettings, save_page
from watcher.evidence.page import block_reason, main_text
from watcher.http import ALLOW_PRIVATE, Fetcher
from watcher.store import Store

log = logging.getLogger(__name__)

BASE_DELAY = timedelta(minutes=10)
MAX_DELAY = timedelta(hours=12)
MAX_ATTEMPTS = 8
CONCURRENCY = 4  # pages fetched at once: polls share the Fetcher, and its per-host limit, with us
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class FetchSettings(Protocol):
    """What collecting needs of a source's settings (watcher.sources.base.SourceSettings has
    both; the evidence wing does not import sources/, app.py passes them in)."""

    @property
    def proxy(self) -> str | None: ...

    @property
    def allow_private(self) -> bool: ...


class NotEvidence(WatcherError):
    """The server answered 200, but not with the article (a block or captcha page, an empty body)."""


@dataclass
class EvidenceReport:
    """What one run did: pages (and archive copies) kept, failures to retry, ones given up."""

    done: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 10 min, 20, 40, ... at most 12 h."""
    return min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))


def describe(exc: BaseException) -> str:
    """The reason stored on the row (and shown in the bundle): what went wrong, in words."""
    if isinstance(exc, TooLarge):
        return f"the page is larger than the fetcher's size cap ({exc})"
    if isinstance(exc, WatcherError):
        return str(exc) or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc}"


def _loggable(error: str) -> str:
    """The reason without the piece of the page the Fetcher quotes after an HTTP error (the
    body of an error page can carry the article's title, and so a name)."""
    return error.split("; received:", 1)[0]


async def _keep_page(store: Store, fetcher: Fetcher, row: dict[str, Any], settings: FetchSettings | None) -> None:
    token = ALLOW_PRIVATE.set(bool(settings.allow_private) if settings is not None else False)
    try:
        response = await fetcher.get(row["url"], proxy=settings.proxy if settings is not None else None,
                                     headers={"Accept": ACCEPT})
    finally:
        ALLOW_PRIVATE.reset(token)
    text = await asyncio.to_thread(main_text, response)  # trafilatura is CPU work: off the event loop
    reason = block_reason(response, text)
    if reason is not None:
        raise NotEvidence(reason)
    with store.transaction():
        store.evidence_kept(row["id"], fetched_at=response.fetched_at, final_url=response.url,
                            http_status=response.status, headers=response.headers, content=response.content,
                            text=text)
    log.info("evidence: kept the page of item %s (%d bytes)", row["item_id"], len(response.content))


async def _keep_archive(store: Store, fetcher: Fetcher, row: dict[str, Any], archive: ArchiveSettings,
                        clock: Callable[[], datetime]) -> None:
    copy = await save_page(fetcher, archive, row["url"])
    with store.transaction():
        store.evidence_kept(row["id"], fetched_at=clock(), final_url=copy.final_url, http_status=copy.http_status,
                            headers=copy.headers, content=None, text=None, archive_url=copy.archive_url)
    log.info("evidence: the Internet Archive saved the page of item %s", row["item_id"])


def _record_failure(store: Store, row: dict[str, Any], exc: BaseException, clock: Callable[[], datetime],
                    report: EvidenceReport) -> None:
    error = describe(exc)
    attempts = int(row["attempts"]) + 1  # the claim counted this attempt; `row` was read before it
    what = "page" if row["kind"] == "page" else "Internet Archive copy"
    if attempts >= MAX_ATTEMPTS:
        with store.transaction():
            store.evidence_failed(row["id"], error, None)
        report.failed += 1
        log.warning("evidence: gave up on the %s of item %s after %d attempts: %s", what, row["item_id"], attempts,
                    _loggable(error))
        return
    wait = backoff(attempts)
    retry_after = exc.retry_after if isinstance(exc, SourceError) else None
    if retry_after is not None:  # the server asked for a longer pause (429, 503)
        wait = min(MAX_DELAY, max(wait, timedelta(seconds=retry_after)))
    with store.transaction():
        store.evidence_failed(row["id"], error, clock() + wait)
    report.retried += 1
    log.info("evidence: the %s of item %s was not kept (attempt %d of %d, next in %s): %s", what, row["item_id"],
             attempts, MAX_ATTEMPTS, wait, _loggable(error))
    log.debug("evidence: item %s, %s: %s", row["item_id"], row["url"], error)


async def _collect_one(store: Store, fetcher: Fetcher, row: dict[str, Any],
                       settings_for: Callable[[str], FetchSettings | None], clock: Callable[[], datetime],
                       archive: ArchiveSettings | None, report: EvidenceReport) -> None:
    try:
        if row["kind"] == "archive":
            if archive is None:  # not claimed when off; a row claimed just before switching off waits
                raise WatcherError("the Internet Archive is not switched on (WATCHER_ARCHIVE_SAVE=1)")
            await _keep_archive(store, fetcher, row, archive, clock)
        else:
            await _keep_page(store, fetcher, row, settings_for(row["source_id"]))
    except asyncio.CancelledError:
        raise  # the run was stopped (poll --once's time limit): the claim is recovered, not a failure
    except Exception as exc:  # every fault is this row's: recorded and retried, never raised
        if not isinstance(exc, WatcherError):
            log.warning("evidence: internal error on item %s: %s (traceback at debug level)", row["item_id"],
                        type(exc).__name__)
            log.debug("evidence: internal error", exc_info=True)
        _record_failure(store, row, exc, clock, report)
        return
    report.done += 1


async def collect_evidence(store: Store, fetcher: Fetcher, settings_for: Callable[[str], FetchSettings | None],
                           clock: Callable[[], datetime], *, archive: ArchiveSettings | None = None,
                           limit: int = 20) -> EvidenceReport:
    """Fetch up to `limit` due evidence rows, `CONCURRENCY` at a time.

    Args:
        settings_for: a source id -> its settings (proxy, allow_private); None for a source
            no longer configured, which then gets the defaults (no proxy, no private addresses).
        clock: now, for what is due and when to retry.
        archive: where Save Page Now is, or None (off): archive rows are then left alone.

    Never raises for a fetch's fault; a row whose failure could not even be recorded (the
    database) is logged and due again when its claim's lease runs out.
    """
    report = EvidenceReport()
    now = clock()
    kinds = ("page", "archive") if archive is not None else ("page",)
    with store.transaction():
        rows = [row for row in store.due_evidence(now, limit, kinds) if store.claim_evidence(row["id"], now)]
    if not rows:
        return report
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(row: dict[str, Any]) -> None:
        async with gate:
            try:
                await _collect_one(store, fetcher, row, settings_for, clock, archive, report)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # recording the outcome failed (the database): retried after the lease
                log.error("evidence: could not record the outcome for item %s: %s", row["item_id"], type(exc).__name__)
                log.debug("evidence: recording failed", exc_info=True)

    await asyncio.gather(*(one(row) for row in rows))
    log.info("evidence: %d kept, %d to retry, %d given up", report.done, report.retried, report.failed)
    return report
