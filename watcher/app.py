"""Wiring: build the sources, rules, store, fetcher and notifiers from paths and environment.

Both `watcher poll --once` and `watcher run` use `App`; they differ only in who calls
`poll` and `deliver` (the command once, or the scheduler forever).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from watcher.config import Paths, load_feeds
from watcher.http import Fetcher, utcnow
from watcher.durations import parse_duration
from watcher.errors import ConfigError, ConfigProblem, DeliveryError
from watcher.evidence import ArchiveSettings, EvidenceReport, collect_evidence
from watcher.incidents import DEFAULT_WINDOW
from watcher.incidents.checkins import check_ins
from watcher.delivery.heartbeat import Heartbeat
from watcher.delivery.notifiers import Notifier, add_route_chats, configured_notifiers, default_destinations
from watcher.delivery.outbox import DeliveryReport, deliver_pending, recover_interrupted, uncertain_notice
from watcher.matching import matcher_for
from watcher.pipeline import Context, PollReport, poll_source, poll_sources
from watcher.rules import RulesHolder
from watcher.sources import Source, build_source
from watcher.store import Store
from watcher.store.privacy import exposed, secure_state
from watcher.workers import ParsePool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentSettings:
    """How reports become incidents and how alerts show them, from the environment:
    WATCHER_INCIDENT_WINDOW (72h: how close in time two reports of one incident are),
    WATCHER_TZ (Europe/London: the zone alert times are shown in), WATCHER_EVIDENCE (on: keep
    the pages of alerted incidents; 0 turns it off). WATCHER_ARCHIVE_SAVE is read by
    evidence.ArchiveSettings."""

    window: timedelta = DEFAULT_WINDOW
    tz: str = "Europe/London"
    evidence: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IncidentSettings:
        problems = []
        window = DEFAULT_WINDOW
        raw = env.get("WATCHER_INCIDENT_WINDOW", "").strip()
        if raw:
            try:
                window = parse_duration(raw)
            except ValueError as exc:
                problems.append(ConfigProblem("environment", None, f"WATCHER_INCIDENT_WINDOW: {exc}"))
        tz = env.get("WATCHER_TZ", "").strip() or "Europe/London"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(ConfigProblem("environment", None, f"WATCHER_TZ: {tz!r} is not a time zone like Europe/London"))
        if problems:
            raise ConfigError(problems)
        evidence = env.get("WATCHER_EVIDENCE", "1").strip().lower() not in ("0", "off", "no", "false")
        return cls(window=window, tz=tz, evidence=evidence)


@dataclass
class App:
    paths: Paths
    sources: list[Source]
    rules: RulesHolder
    store: Store
    fetcher: Fetcher
    notifiers: dict[str, Notifier]
    admin: Notifier | None = None
    clock: Callable[[], datetime] = utcnow
    incidents: IncidentSettings = field(default_factory=lambda: IncidentSettings())
    archive: ArchiveSettings | None = None  # the Internet Archive's Save Page Now, when switched on
    _context: Context | None = field(default=None, repr=False)
    _defaults: list[str] | None = field(default=None, repr=False)  # what the destination `default` means
    _feeds_seen: tuple[int, int] | None = field(default=None, repr=False)  # feeds.yaml (mtime, size) in force
    heartbeat: Heartbeat | None = None  # WATCHER_HEARTBEAT_URL (delivery/heartbeat.py)
    _all_failing: bool = field(default=False, repr=False)  # "every source fails" was said
    # parse and match of busy cycles on the other cores: off (0 workers) until it pays on 2 cores
    # (measured in #16: the loop's own store and incident work is the bound); ParsePool() sizes it
    parse_pool: ParsePool = field(default_factory=lambda: ParsePool(0))

    @classmethod
    def build(
        cls,
        paths: Paths,
        *,
        env: Mapping[str, str] | None = None,
        notifiers: dict[str, Notifier] | None = None,
        admin: Notifier | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> App:
        """Load and validate everything first (raising ConfigError), then open the state."""
        settings = load_feeds(paths.feeds)
        rules = RulesHolder(paths.rules, prepare=matcher_for)
        if not rules.rules.people:
            log.warning("THE WATCHLIST IS EMPTY: no person is watched, so no alert will name anyone "
                        "(add people to %s/people.yaml or with /watch)", paths.rules)
        environ = env if env is not None else os.environ
        if notifiers is None:
            notifiers, admin = configured_notifiers(environ, rules.rules.routes.chats())
        incidents = IncidentSettings.from_env(environ)
        os.umask(0o077)  # every file watcher creates is private
        for problem in secure_state(paths.state):
            log.warning("the state folder is not private: %s", problem)
        for path, mode in exposed(sorted(paths.rules.glob("*.yaml"))):
            log.warning("%s is readable by %s (mode %04o): the watchlist and the monitors' ids are sensitive;"
                        " run: chmod 600 %s (watcher's own edits write 0600)", path,
                        "everyone" if mode & 0o004 else "its group", mode, path)
        store = Store(paths.db)
        for s in settings:
            store.ensure_source(s.id, s.type)
        return cls(
            paths=paths,
            sources=[build_source(s) for s in settings],
            rules=rules,
            store=store,
            fetcher=Fetcher(transport=transport, clock=clock),
            notifiers=notifiers,
            admin=admin,
            clock=clock,
            incidents=incidents,
            archive=ArchiveSettings.from_env(environ),
            heartbeat=Heartbeat.from_env(environ),
        )

    @property
    def context(self) -> Context:
        if self._context is None:
            settings = self.incidents
            if self._defaults is None:
                self._defaults = default_destinations(self.notifiers, self.rules.rules.routes.chats())
            self._context = Context(self.store, self.fetcher, lambda: self.rules.rules, self._defaults, self.clock,
                                    window=settings.window, evidence=settings.evidence,
                                    archive=self.archive is not None, parser=self.parse_pool)
        return self._context

    def enabled(self, only: tuple[str, ...] = ()) -> list[Source]:
        chosen = [s for s in self.sources if s.settings.enabled]
        if only:
            known = {s.id: s for s in self.sources}
            missing = [i for i in only if i not in known]
            if missing:
                raise KeyError(", ".join(missing))
            chosen = [known[i] for i in only]
        return chosen

    async def refresh_rules(self, *, wait: bool = False) -> bool:
        """Reload the rules if a file changed, in a worker thread: loading and compiling a long
        watchlist must not stall the event loop's polls and deliveries; the old rules serve
        until the new ones are swapped in on the loop. A poll that finds a reload running goes
        on with the rules in force; `wait` (a monitor's edit) waits until it is in force."""
        changed = await self.rules.refresh_async(wait=wait)
        if changed:
            self.sync_destinations()
        return changed

    def _feeds_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.paths.feeds.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh_sources(self) -> tuple[list[Source], list[str]] | None:
        """Reload feeds.yaml if it changed (`watcher sources add`, the bot's /source): returns
        (the sources whose settings are new or changed, the ids gone or disabled), or None when
        nothing changed. A broken file is refused with file:line in the log and the sources in
        force stay, like a broken rules file."""
        stamp = self._feeds_stamp()
        if self._feeds_seen is None:
            self._feeds_seen = stamp
            return None
        if stamp == self._feeds_seen:
            return None
        self._feeds_seen = stamp
        try:
            settings = load_feeds(self.paths.feeds)
        except ConfigError as exc:
            log.warning("feeds.yaml refused, the sources in force stay:\n%s", exc)
            return None
        before = {s.id: s for s in self.sources}
        fresh = [build_source(s) for s in settings]
        after = {s.id: s for s in fresh}
        for source in fresh:
            self.store.ensure_source(source.id, source.type)
        changed = [s for s in fresh if s.settings.enabled and (s.id not in before or before[s.id].settings != s.settings
                                                               or not before[s.id].settings.enabled)]
        gone = [i for i, s in before.items() if i not in after or not after[i].settings.enabled
                or after[i].settings != s.settings]
        self.sources = fresh
        log.info("feeds.yaml reloaded: %d source(s), %d new or changed, %d gone or disabled", len(fresh),
                 len(changed), len([i for i in gone if i not in {s.id for s in changed}]))
        return changed, gone

    def sync_destinations(self) -> None:
        """Give every Telegram destination of the routes in force a notifier (routes.yaml may
        have changed while watcher runs)."""
        if self._defaults is None:
            self._defaults = default_destinations(self.notifiers, self.rules.rules.routes.chats())
        added = add_route_chats(self.notifiers, self.rules.rules.routes.chats())
        if added:
            log.info("routes: %d new destination(s): %s", len(added), ", ".join(added))

    async def poll(self, sources: list[Source], *, respect_backoff: bool = True) -> list[PollReport]:
        await self.refresh_rules()
        reports = await poll_sources(sources, self.context, respect_backoff=respect_backoff)
        self.say_if_all_failing()
        return reports

    def say_if_all_failing(self) -> None:
        """One line when every enabled source fails (a network down, DNS broken, a proxy gone)
        instead of only one warning per source; one line again when a source works."""
        enabled = {s.id for s in self.enabled()}
        rows = [r for r in self.store.sources() if r["id"] in enabled]
        if len(rows) < 2 or any(r["state"] == "new" for r in rows):
            return
        failing = [r for r in rows if r["state"] in ("failing", "blocked")]
        if len(failing) == len(rows) and not self._all_failing:
            self._all_failing = True
            errors = Counter((r.get("last_error") or "?").split(" for ")[0][:80] for r in failing)
            common, count = errors.most_common(1)[0]
            log.warning("ALL %d sources are failing (%d of them: %s): is the network up? (DNS, proxy, firewall; "
                        "`watcher doctor` checks the setup)", len(rows), count, common)
        elif len(failing) < len(rows) and self._all_failing:
            self._all_failing = False
            log.info("sources work again: %d of %d ok", len(rows) - len(failing), len(rows))

    async def beat(self, *, force: bool = False) -> None:
        """The heartbeat ping, if configured: ok while delivery works, the fail URL when stuck."""
        if self.heartbeat is not None:
            await self.heartbeat.beat(Heartbeat.delivery_ok(self.store, list(self.notifiers)), force=force)

    async def poll_and_deliver(self, sources: list[Source], *, respect_backoff: bool = True,
                               max_wait: float = 120.0) -> tuple[list[PollReport], DeliveryReport]:
        """One cycle for `poll --once`: every source polled concurrently, and each source's
        alerts delivered as soon as its poll is done, so a slow or hostile source (a server
        that answers a byte a second) never holds back the alerts of the others."""
        await self.refresh_rules()
        total = DeliveryReport()
        lock = asyncio.Lock()

        async def deliver_now() -> None:
            async with lock:  # one delivery at a time; a later one picks up what waits
                _merge(total, await self.deliver())

        async def one(source: Source) -> PollReport:
            report = await poll_source(source, self.context, respect_backoff=respect_backoff)
            if report.alerts:
                await deliver_now()
            return report

        reports = list(await asyncio.gather(*(one(s) for s in sources)))
        self.say_if_all_failing()
        with self.store.transaction():
            check_ins(self.store, self.rules.rules, self.context.filing, self.clock())
        async with lock:
            _merge(total, await self.deliver_all(max_wait))
        return reports, total

    async def deliver(self) -> DeliveryReport:
        report = await deliver_pending(self.store, self.notifiers, self.clock, tz=self.incidents.tz)
        await self.announce_uncertain()
        return report

    async def announce_uncertain(self) -> None:
        """Tell the admin chat which alerts were assumed sent; retried on every delivery until
        it worked, so a crash or an admin-chat outage cannot swallow the notice."""
        rows = self.store.unannounced_uncertain()
        if not rows or self.admin is None:
            return
        for start in range(0, len(rows), 20):
            batch = rows[start:start + 20]
            try:
                await self.admin.send(uncertain_notice(self.store, batch))
            except DeliveryError as exc:
                log.warning("could not tell the admin chat about uncertain alerts: %s", exc)
                return
            with self.store.transaction():
                self.store.mark_announced([row["id"] for row in batch])

    async def deliver_all(self, max_wait: float = 120.0) -> DeliveryReport:
        """Deliver, and keep at it while alerts wait for a retry due within `max_wait` seconds
        overall (a one-shot run should not leave a flood-limit pause undelivered)."""
        total = await self.deliver()
        waited = 0.0
        while True:
            due = self.store.next_retry(list(self.notifiers))
            if due is None:
                return total
            wait = max(0.0, (due - self.clock()).total_seconds())
            if waited + wait > max_wait:
                return total
            await self.fetcher.sleep(wait)
            waited += wait
            _merge(total, await self.deliver())

    async def check_ins(self) -> int:
        """Record the due check-in alerts ("no news of X for 14 days") and deliver them."""
        with self.store.transaction():
            report = check_ins(self.store, self.rules.rules, self.context.filing, self.clock())
        if report.alerts:
            log.info("check-ins: %d alert(s) of people with no news for their check-in period", report.alerts)
            await self.deliver()
        return report.alerts

    async def collect_evidence(self, max_time: float | None = None) -> EvidenceReport:
        """Fetch the due pages of alerted incidents (after delivery: never before an alert).
        With `max_time`, stop waiting after that many seconds; what was in flight is fetched
        again next time."""
        settings = {s.id: s.settings for s in self.sources}
        job = collect_evidence(self.store, self.fetcher, settings.get, self.clock, archive=self.archive)
        if max_time is None:
            return await job
        try:
            return await asyncio.wait_for(job, max_time)
        except TimeoutError:
            with self.store.transaction():
                self.store.recover_evidence()
            log.info("evidence pages still being fetched after %gs are left for the next run", max_time)
            return EvidenceReport()

    async def recover(self) -> int:
        """Resolve alerts a crash left mid-send; tell the admin chat about uncertain ones."""
        with self.store.transaction():
            self.store.recover_evidence()
        found, _ = recover_interrupted(self.store, self.notifiers, self.clock())
        await self.announce_uncertain()
        self._orphaned_destinations()
        return found

    def _orphaned_destinations(self) -> None:
        """Alerts waiting for a destination no route or setting names any more are kept (it may
        come back) but never silently: each such destination is one warning at start."""
        for destination, waiting in self.store.conn.execute(
                "SELECT destination, count(*) FROM alerts WHERE status IN ('pending', 'sending') GROUP BY destination"):
            if destination not in self.notifiers:
                log.warning("%d alert(s) wait for destination %r, which is no longer configured (not in"
                            " rules/routes.yaml nor the environment); they are kept and go out if it comes back",
                            waiting, destination)

    async def aclose(self) -> None:
        await self.parse_pool.close()
        await self.fetcher.aclose()
        for notifier in {id(n): n for n in [*self.notifiers.values(), self.admin] if n is not None}.values():
            close = getattr(notifier, "aclose", None)
            if close is not None:
                await close()
        self.store.close()


def _merge(total: DeliveryReport, report: DeliveryReport) -> None:
    """Add one delivery's figures to a cycle's; what still waits is the latest figure."""
    total.sent += report.sent
    total.messages += report.messages
    total.failed += report.failed
    total.deferred = report.deferred
    total.uncertain += report.uncertain
    total.errors += report.errors
