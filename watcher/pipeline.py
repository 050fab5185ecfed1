"""One poll of one source: fetch -> parse -> store -> match -> enqueue alerts, and its health.

Each source runs in isolation (as zavod's crawlers do): whatever goes wrong in one poll is
recorded as that source's health and never reaches the others. All database writes of a poll
happen in one transaction, so an interrupted poll leaves nothing half-written.

Health states: new (never polled), ok, failing (HTTP error, timeout, parse error), blocked
(403/429, captcha or HTML challenge page), zombie (200 with an empty or item-less body), quiet
(polls fine but nothing new for far longer than usual).

Polls share one event loop with their fetches, so `PollGate` paces them: a busy cycle's parsing,
matching and storing would otherwise run back to back in one turn of the loop, while the other
polls' connects and reads wait for it until they time out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watcher.errors import NotModified, SourceError
from watcher.http import ALLOW_PRIVATE, Fetcher, Validators
from watcher.incidents import DEFAULT_WINDOW, Filing, alert_worthy, file_item  # noqa: F401  (alert_worthy: re-exported)
from watcher.matching import matcher_for
from watcher.models import Item, Response
from watcher.rules import Rules
from watcher.sources import Source
from watcher.sources.base import FetchContext
from watcher.store import Store, iso, parse_iso
from watcher.workers import Parsed, ParsePool, PollGate, parse_here

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=12)


@dataclass
class Context:
    """What a poll needs from the outside world, passed in (never looked up) so tests control it."""

    store: Store
    fetcher: Fetcher
    rules: Callable[[], Rules]
    destinations: Sequence[str]  # the notifiers the routes' destination `default` stands for
    clock: Callable[[], datetime]
    window: timedelta = DEFAULT_WINDOW  # how close in time two reports of one incident are
    evidence: bool = True  # keep the pages of alerted incidents (watcher/evidence)
    archive: bool = False  # and ask the Internet Archive to save them
    parser: ParsePool | None = None  # parse and match busy cycles on the other cores (watcher/workers.py)
    gate: PollGate = field(init=False, repr=False)  # sized to the fetcher's concurrency

    def __post_init__(self) -> None:
        self.gate = PollGate(getattr(self.fetcher, "concurrency", 256))

    @property
    def filing(self) -> Filing:
        return Filing(self.window, tuple(self.destinations), self.evidence, self.archive)


@dataclass
class PollReport:
    source_id: str
    state: str
    items: int = 0
    new: int = 0
    alerts: int = 0
    silenced: int = 0  # matching items not alerted because this was a silent first poll
    not_modified: bool = False
    skipped: bool = False
    error: str | None = None


def quiet_threshold(source: Source, recent: list[datetime]) -> timedelta:
    """How long without a new item counts as 'far longer than usual' for this source."""
    if source.settings.quiet_after is not None:
        return source.settings.quiet_after
    floor = max(timedelta(days=1), 3 * source.settings.every)
    if len(recent) < 5:
        return max(floor, timedelta(days=7))
    gaps = [(a - b).total_seconds() for a, b in zip(recent, recent[1:])]
    return max(floor, timedelta(seconds=10 * statistics.median(gaps)))


async def poll_source(source: Source, ctx: Context, *, respect_backoff: bool = True) -> PollReport:
    """Poll one source; never raises for the source's own faults."""
    body, validators = ctx.gate.expects_body(source.id, ctx.store.source(source.id))
    async with ctx.gate.poll(body=body):
        if ctx.parser is None:
            report = await _poll_source(source, ctx, respect_backoff)
        else:
            with ctx.parser.polling():  # how many polls are in flight decides where parsing pays
                report = await _poll_source(source, ctx, respect_backoff)
    ctx.gate.learn(source.id, validators, unchanged=report.not_modified,
                   changed=report.error is None and not report.skipped and not report.not_modified)
    return report


async def _parse(source: Source, ctx: Context, responses: list[Response], first_run: bool) -> Parsed:
    """Here (in a turn), or in a worker process when the cycle is busy (the loop meanwhile free);
    a first poll's items are all new, so the worker matches them too (later polls match only
    what the store finds new, here)."""
    if ctx.parser is not None and ctx.parser.worth_it(responses):
        return await ctx.parser.parse(source, responses, ctx.rules(), match=first_run)
    async with ctx.gate.turn():
        return parse_here(source, responses)


async def _poll_source(source: Source, ctx: Context, respect_backoff: bool) -> PollReport:
    store, now = ctx.store, ctx.clock()
    state = store.source(source.id)
    if state is None or state.get("type") != source.type:  # a write only when the row is missing or stale
        store.ensure_source(source.id, source.type)
        state = store.source(source.id) or {}
    next_after = parse_iso(state.get("next_poll_after"))
    if respect_backoff and next_after is not None and now < next_after:
        return PollReport(source.id, state.get("state", "new"), skipped=True)
    fetch_ctx = FetchContext(
        validators=Validators(state.get("etag"), state.get("last_modified")),
        now=now,
        first_run=state.get("first_ok") is None,
        state=json.loads(state.get("state_json") or "{}"),
        known=lambda keys: store.known_keys(source.id, keys),
        sleep=ctx.fetcher.sleep,
        delay=source.delay.total_seconds(),
    )
    private = ALLOW_PRIVATE.set(source.settings.allow_private)
    try:
        responses = await source.fetch(ctx.fetcher, fetch_ctx)
        parsed = await _parse(source, ctx, responses, fetch_ctx.first_run)
    except Exception as exc:  # CancelledError is not one: a cancelled poll records nothing
        return _failed(source, ctx, state, now, exc)
    finally:
        ALLOW_PRIVATE.reset(private)
    async with ctx.gate.turn(first=True):
        try:
            items = _last_per_key(parsed.items)
            if source.snapshot:
                items += _vanished(source, store, fetch_ctx, items, now)
        except Exception as exc:
            return _failed(source, ctx, state, now, exc)
        return _record_items(source, ctx, state, now, responses, items, fetch_ctx.state, parsed)


def _failed(source: Source, ctx: Context, state: dict, now: datetime, exc: Exception) -> PollReport:
    """What a poll that raised records: unchanged (a 304), its source's fault, or a bug."""
    if isinstance(exc, NotModified):
        return _record_unchanged(source, ctx, state, now)
    if isinstance(exc, SourceError):
        return _record_failure(source, ctx, state, now, exc.health, str(exc), exc.retry_after)
    # a bug in one source module must not stop the others
    log.error("source %s: unexpected error", source.id, exc_info=exc)
    return _record_failure(source, ctx, state, now, "failing", f"internal error: {type(exc).__name__}: {exc}", None)


def _last_per_key(items: list[Item]) -> list[Item]:
    """One item per key; a later response (a notice's detail page) refines an earlier one."""
    by_key: dict[str, Item] = {}
    for item in items:
        by_key[item.key] = item
    return list(by_key.values())


def _vanished(source: Source, store: Store, fetch_ctx: FetchContext, items: list[Item], now: datetime) -> list[Item]:
    """For snapshot sources: items saying which members of the last complete set are gone.

    Only called after a fetch that completed, so a partial download never reads as removals."""
    current = sorted(item.key for item in items)
    previous = set(fetch_ctx.state.get("snapshot", []))
    fetch_ctx.state["snapshot"] = current
    gone = []
    for key in sorted(previous - set(current)):
        row = store.item_by_key(source.id, key)
        if row is not None:
            gone.append(source.removed_item(row, now))
    return gone


def _record_items(
    source: Source, ctx: Context, state: dict, now: datetime, responses: list[Response], items: list[Item],
    source_state: dict, parsed: Parsed,
) -> PollReport:
    store = ctx.store
    rules = ctx.rules()
    silent = state.get("first_ok") is None and source.settings.backfill == "silent"
    alerts = silenced = 0
    matcher = matcher_for(rules)
    with store.transaction():
        muted = store.active_mutes(source.id, now)
        new, sightings, reused = store.add_items(items, now)
        for stored in sorted(new, key=lambda n: n.item.published):  # oldest first: cases build in order
            text = stored.item.text()
            analysis = parsed.analysis(text, rules)
            if analysis is None:
                analysis = matcher.analyse(text)
            filed = file_item(store, stored.id, stored.item, analysis, rules, ctx.filing, now, muted=muted,
                              people_only=source.alerts == "people", silent=silent)
            alerts += filed.alerts
            silenced += filed.silenced
        last_new = iso(now) if sightings else state.get("last_new_item") or iso(now)
        health = "ok"
        recent = store.recent_published(source.id)
        if now - datetime.fromisoformat(last_new) > quiet_threshold(source, recent):
            health = "quiet"
        first = responses[0] if responses else None
        notice = source_notice(items, reused)
        store.update_source(
            source.id,
            notice=notice,
            etag=first.header("etag") or None if first else None,
            last_modified=first.header("last-modified") or None if first else None,
            last_new_item=last_new,
            state_json=json.dumps(source_state, ensure_ascii=False),
            **_ok_fields(state, now, health),
        )
    _log_transition(source.id, state, health, None)
    if notice and notice != state.get("notice"):
        log.warning("source %s: %s", source.id, notice)
    if silent and new:
        log.info("source %s: first poll, %d existing items recorded without alerting (backfill: silent)",
                 source.id, len(new))
    return PollReport(source.id, health, items=len(items), new=len(new), alerts=alerts, silenced=silenced)


NOTICES = {
    "guid_reused": "the feed gives one guid to different stories ({n} this poll); watcher tells them apart"
                   " by link and text",
    "link_shared": "different stories share one link ({n} this poll); watcher tells them apart by text",
    "mojibake": "text looks garbled, a wrong character encoding? ({n} item(s) this poll); names in it"
                " may not match",
}


def source_notice(items: list[Item], reused_in_store: int) -> str | None:
    """What this poll's content showed about the source that monitors should know, or None."""
    counts: dict[str, int] = {}
    for item in items:
        for flag in item.flags:
            counts[flag] = counts.get(flag, 0) + 1
    if reused_in_store:
        counts["guid_reused"] = counts.get("guid_reused", 0) + reused_in_store
    said = [NOTICES[flag].format(n=n) for flag, n in counts.items() if flag in NOTICES]
    return "; ".join(said) or None


def _ok_fields(state: dict, now: datetime, health: str) -> dict:
    return {
        "state": health,
        "state_since": iso(now) if state.get("state") != health else state.get("state_since"),
        "last_polled": iso(now),
        "last_ok": iso(now),
        "first_ok": state.get("first_ok") or iso(now),
        "consecutive_failures": 0,
        "next_poll_after": None,
    }


def _maybe_quiet(source: Source, silence: timedelta) -> bool:
    """False when `silence` is under every threshold quiet_threshold could give: an unchanged feed
    then needs no look at its recent items (most 304s of a cycle)."""
    if source.settings.quiet_after is not None:
        return silence > source.settings.quiet_after
    return silence > max(timedelta(days=1), 3 * source.settings.every)


def _record_unchanged(source: Source, ctx: Context, state: dict, now: datetime) -> PollReport:
    if not (state.get("etag") or state.get("last_modified")):
        # 304 is an answer to "has it changed since the copy I have?": asked without validators,
        # it means the server has never sent the content (a broken cache or a hostile server)
        return _record_failure(source, ctx, state, now, "failing",
                               "HTTP 304 Not Modified to a request that named no copy: the server has never sent"
                               " the feed", None)
    last_new = state.get("last_new_item")
    health = "ok"
    silence = now - datetime.fromisoformat(last_new) if last_new else None
    if silence is not None and _maybe_quiet(source, silence) and \
            silence > quiet_threshold(source, ctx.store.recent_published(source.id)):
        health = "quiet"
    with ctx.store.transaction():
        ctx.store.update_source(source.id, **_ok_fields(state, now, health))
    _log_transition(source.id, state, health, None)
    return PollReport(source.id, health, not_modified=True)


def _record_failure(
    source: Source, ctx: Context, state: dict, now: datetime, health: str, error: str, retry_after: float | None
) -> PollReport:
    failures = int(state.get("consecutive_failures") or 0) + 1
    delay = min(MAX_BACKOFF, source.settings.every * 2 ** (failures - 1))
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    with ctx.store.transaction():
        ctx.store.update_source(
            source.id,
            state=health,
            state_since=iso(now) if state.get("state") != health else state.get("state_since"),
            last_polled=iso(now),
            last_error=error[:1000],
            last_error_at=iso(now),
            consecutive_failures=failures,
            next_poll_after=iso(now + delay),
        )
    _log_transition(source.id, state, health, error)
    return PollReport(source.id, health, error=error)


def _log_transition(source_id: str, state: dict, health: str, error: str | None) -> None:
    before = state.get("state", "new")
    if before != health:
        level = logging.INFO if health == "ok" else logging.WARNING
        log.log(level, "source %s: %s -> %s%s", source_id, before, health, f": {error}" if error else "")
    elif error:
        log.info("source %s still %s: %s", source_id, health, error)


async def poll_sources(sources: Sequence[Source], ctx: Context, *, respect_backoff: bool = True) -> list[PollReport]:
    """Poll several sources concurrently; each one's failure stays its own."""
    return list(await asyncio.gather(*(poll_source(s, ctx, respect_backoff=respect_backoff) for s in sources)))
