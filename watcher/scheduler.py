"""`watcher run`: one asyncio loop, an APScheduler job per source, a job draining the outbox.

Poll jobs run at each source's interval with jitter (so 30 feeds on one host do not fire in
the same second), `max_instances=1` and `coalesce=True` (a slow poll is never doubled, missed
runs collapse into one). SIGINT/SIGTERM stop new jobs, let running ones finish for a grace
period, then cancel what is left. A poll writes its results in one transaction after its
last await, and an alert is marked 'sending' before it is sent, so a cancelled job leaves
nothing half-written: at worst an alert is resolved on the next start (see outbox).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watcher.app import App
from watcher.sources import Source
from watcher.store.wal import CHECKPOINT_EVERY

log = logging.getLogger(__name__)

DELIVERY_EVERY = timedelta(seconds=5)
CHECKIN_EVERY = 3600  # seconds between looks for people with no news for their check-in period
EVIDENCE_EVERY = 120.0  # seconds between runs of the evidence job (pages of alerted incidents)
RULES_EVERY = timedelta(seconds=15)
HEALTH_EVERY = timedelta(seconds=60)
GRACE_SECONDS = 20.0


class SkippedRunFilter(logging.Filter):
    """APScheduler warns each time a job's run is skipped because its last run is still going
    (the delivery job during an outage, a slow feed). With `max_instances=1` and `coalesce=True`
    that is by design and loses nothing: the running instance or the next run does the work.
    Those lines are demoted to DEBUG, so an outage does not fill the log with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "skipped: maximum number of running instances" in record.msg:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_skipped_runs() -> None:
    """Install SkippedRunFilter on APScheduler's logger, once."""
    logger = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, SkippedRunFilter) for f in logger.filters):
        logger.addFilter(SkippedRunFilter())


class Runner:
    """Owns the scheduler and the set of jobs in flight, so shutdown can wait for them."""

    def __init__(self, app: App, *, delivery_every: timedelta = DELIVERY_EVERY, grace: float = GRACE_SECONDS,
                 env: Mapping[str, str] | None = None, bot_retry: tuple[float, float] | None = None,
                 rules_every: timedelta = RULES_EVERY):
        self.app = app
        self.rules_every = rules_every  # how often the rules folder and feeds.yaml are looked at
        self.env = env if env is not None else os.environ
        self.delivery_every = delivery_every
        self.grace = grace
        self.bot_retry = bot_retry  # (first wait, longest wait) between the bot's starts; None: 5 s to 5 min
        self.stop = asyncio.Event()
        self._inflight: set[asyncio.Task[object]] = set()
        self._scheduler: AsyncIOScheduler | None = None

    def _tracked(self, make: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if self.stop.is_set():
                return
            task = asyncio.ensure_future(make())
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            try:
                # APScheduler cancels running jobs on shutdown; the shield keeps that from
                # cancelling the work itself, which `_drain` lets finish within the grace period.
                await asyncio.shield(task)
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("job failed")

        return job

    def _poll_one(self, source: Source) -> Callable[[], Awaitable[None]]:
        return self._tracked(lambda: self.app.poll([source]))

    def _schedule_poll(self, scheduler: AsyncIOScheduler, source: Source, first: datetime) -> None:
        every = source.settings.every.total_seconds()
        scheduler.add_job(
            self._poll_one(source),
            IntervalTrigger(seconds=every, jitter=min(60.0, every * 0.1)),
            id=f"poll:{source.id}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(every / 2)),
            next_run_time=first,
            replace_existing=True,
        )

    async def run(self) -> None:
        app = self.app
        recovered = await app.recover()
        if recovered:
            log.warning("%d alert(s) were interrupted mid-send by the last stop", recovered)
        quiet_skipped_runs()
        app.rules.keep_heap_frozen()  # a full collection would stall the loop (rules/holder.py)
        scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler = scheduler
        now = app.clock()
        sources = app.enabled()
        app.refresh_sources()  # remember the feeds.yaml in force
        for index, source in enumerate(sources):
            self._schedule_poll(scheduler, source, now + timedelta(seconds=random.uniform(0, min(30.0, 0.5 * index))))
        async def deliver() -> None:
            await app.deliver()
            await app.beat()

        scheduler.add_job(
            self._tracked(deliver), IntervalTrigger(seconds=self.delivery_every.total_seconds()),
            id="deliver", max_instances=1, coalesce=True, next_run_time=now,
        )
        scheduler.add_job(
            self._tracked(self._refresh_rules), IntervalTrigger(seconds=self.rules_every.total_seconds()),
            id="rules", max_instances=1, coalesce=True,
        )
        app.store.wal.take_over()  # no checkpoints inside the polls' commits: the job below does them
        scheduler.add_job(self._tracked(self._checkpoint), IntervalTrigger(seconds=CHECKPOINT_EVERY),
                          id="checkpoint", max_instances=1, coalesce=True)
        scheduler.add_job(self._tracked(app.check_ins), IntervalTrigger(seconds=CHECKIN_EVERY), id="check-ins",
                          max_instances=1, coalesce=True, next_run_time=now + timedelta(seconds=30))
        scheduler.add_job(self._tracked(app.collect_evidence), IntervalTrigger(seconds=EVIDENCE_EVERY),
                          id="evidence", max_instances=1, coalesce=True)
        if app.admin is not None:
            from watcher.delivery.health import report_health
            from watcher.delivery.rules_health import report_rules

            admin = app.admin

            async def health() -> None:
                await report_health(app.store, admin, app.clock)
                await report_rules(app.store, admin, app.rules, app.clock)

            scheduler.add_job(
                self._tracked(health),
                IntervalTrigger(seconds=HEALTH_EVERY.total_seconds()), id="health", max_instances=1, coalesce=True,
                next_run_time=now,  # at start too: an empty watchlist is said at once, without delaying polls
            )
        self._add_digest(scheduler)
        self._add_retention(scheduler)
        self._add_backups(scheduler)
        bot = self._start_bot()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        scheduler.start()
        log.info("watcher running: %d sources, delivering to %s", len(sources), ", ".join(app.notifiers))
        try:
            await self.stop.wait()
        finally:
            log.info("stopping: waiting up to %gs for %d job(s) in flight", self.grace, len(self._inflight))
            scheduler.shutdown(wait=False)
            if bot is not None:
                await self._stop_bot(bot)
            await self._drain()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass

    def _add_digest(self, scheduler: AsyncIOScheduler) -> None:
        """The daily digest: a cron job at the local send time (DST-safe through the time zone),
        and a sweep every five minutes (and at start) that retries failures and sends missed days."""
        from watcher.digest import DigestSchedule, DigestService
        from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings

        smtp = SmtpSettings.from_env(self.env)
        if smtp is None:
            if self.app.rules.rules.routes.emails():
                log.warning("rules/routes.yaml names email destinations but WATCHER_SMTP_HOST is not set: their "
                            "digests are not sent (what is routed to them stays in the store and in `watcher incidents`)")
            return
        app = self.app
        schedule = DigestSchedule.from_env(self.env)
        service = DigestService(app.store, schedule, smtp.recipients, lambda r: EmailNotifier(smtp, r),
                                lambda: app.rules.rules, app.clock)
        service.recover()
        scheduler.add_job(self._tracked(service.run),
                          CronTrigger(hour=schedule.at.hour, minute=schedule.at.minute, timezone=schedule.tz),
                          id="digest", max_instances=1, coalesce=True, misfire_grace_time=3600)
        scheduler.add_job(self._tracked(service.run), IntervalTrigger(minutes=5), id="digest-sweep",
                          max_instances=1, coalesce=True, next_run_time=app.clock())
        log.info("daily digest at %s %s to %d recipient(s)", schedule.at.strftime("%H:%M"), schedule.tz,
                 len(smtp.recipients))

    def _add_backups(self, scheduler: AsyncIOScheduler) -> None:
        """A backup a day into WATCHER_BACKUP_DIR, keeping WATCHER_BACKUP_KEEP (14). Looked at
        hourly: a backup is made when the newest is a day old, so restarts neither skip nor repeat it."""
        from watcher.store.backup import BackupSettings, scheduled_backup

        settings = BackupSettings.from_env(self.env)
        if settings is None:
            return
        app = self.app

        async def backup() -> None:
            try:
                made = await asyncio.to_thread(scheduled_backup, settings, app.paths.db, app.paths.rules, app.clock())
            except Exception as exc:  # BackupError, OSError: said every hour until fixed
                log.error("daily backup into %s failed: %s", settings.folder, exc)
                return
            if made is not None:
                log.info("backup written: %s", made)

        scheduler.add_job(self._tracked(backup), IntervalTrigger(hours=1), id="backup", max_instances=1,
                          coalesce=True, next_run_time=app.clock() + timedelta(minutes=5))
        log.info("daily backups into %s, keeping %d", settings.folder, settings.keep)

    def _add_retention(self, scheduler: AsyncIOScheduler) -> None:
        """Once a day, forget old items that never matched (WATCHER_RETENTION, default 180d),
        drop the page content of old evidence (WATCHER_EVIDENCE_RETENTION, default 365d; hashes
        and addresses stay), then give the freed pages back so watcher.db shrinks."""
        from watcher.store.maintenance import Retention

        retention = Retention.from_env(self.env)
        if retention.items is None and retention.evidence is None:
            return
        app = self.app

        async def prune() -> None:
            now = app.clock()
            removed = app.store.prune(now - retention.items) if retention.items is not None else 0
            if removed:
                log.info("retention: forgot %d old unmatched item(s)", removed)
            if retention.evidence is not None:
                with app.store.transaction():
                    dropped = app.store.prune_evidence(now - retention.evidence)
                if dropped:
                    log.info("retention: dropped the page content of %d old evidence row(s)", dropped)
            freed = app.store.vacuum()
            if freed:
                log.info("retention: watcher.db shrank by %d bytes", freed)

        scheduler.add_job(self._tracked(prune), IntervalTrigger(hours=24), id="retention", max_instances=1,
                          coalesce=True, next_run_time=app.clock() + timedelta(minutes=10))

    def _start_bot(self) -> asyncio.Task[None] | None:
        """The monitors' bot, when Telegram is configured, in a task of this loop that starts it
        and restarts it with backoff (MonitorsBot.keep_running): Telegram unreachable at start,
        or polling that dies later, never stops or delays polls and delivery."""
        token = self.env.get("WATCHER_TELEGRAM_TOKEN", "").strip()
        if not token:
            return None
        from watcher.bot import MonitorsBot, load_allowlist
        from watcher.rules.editing import RulesEditor
        from watcher.delivery.notifiers import api_base

        allowlist = load_allowlist(self.app.paths.rules, self.env)
        if not allowlist:
            log.warning("no monitors allowlisted: the bot will refuse every command (see README)")
        try:
            bot = MonitorsBot(self.app, token, api_base(self.env), allowlist,
                              RulesEditor(self.app.paths.rules, self.app.store, self.app.clock), env=self.env)
        except Exception as exc:  # a malformed setting must not stop polling either
            log.error("the monitors' bot was not set up (alerts go on): %s",
                      f"{type(exc).__name__}: {exc}".replace(token, "<token>"))
            return None
        retry = {"first": self.bot_retry[0], "most": self.bot_retry[1]} if self.bot_retry else {}
        return asyncio.create_task(bot.keep_running(self.stop, **retry), name="monitors-bot")

    async def _stop_bot(self, task: asyncio.Task[None]) -> None:
        """Let the bot stop itself (it watches `self.stop`) within the grace period, else cancel it."""
        self.stop.set()
        done, _ = await asyncio.wait({task}, timeout=self.grace)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=5)
        elif not task.cancelled() and task.exception() is not None:
            log.error("the monitors' bot ended with an error: %s", type(task.exception()).__name__)

    async def _checkpoint(self) -> None:
        """The WAL copied into watcher.db when due, in a worker thread from a connection of its
        own (store/wal.py): never inside a poll's transaction, never on the loop's thread."""
        await asyncio.to_thread(self.app.store.wal.tick)

    async def _refresh_rules(self) -> None:
        """The rules, and feeds.yaml: a source added, changed or disabled (by `watcher sources`
        or the bot) is polled on its new settings without a restart."""
        await self.app.refresh_rules()
        change = self.app.refresh_sources()
        if change is None or self._scheduler is None:
            return
        fresh, gone = change
        for source_id in gone:
            if self._scheduler.get_job(f"poll:{source_id}") is not None:
                self._scheduler.remove_job(f"poll:{source_id}")
        for source in fresh:
            self._schedule_poll(self._scheduler, source, self.app.clock())

    async def _drain(self) -> None:
        pending = set(self._inflight)
        if pending:
            done, pending = await asyncio.wait(pending, timeout=self.grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
            log.warning("%d job(s) cancelled at shutdown; their work is left pending", len(pending))
