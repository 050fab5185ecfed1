"""The daily digest: gather a day's alerted incidents, render them, email each recipient once.

The digest for day D covers the alerts created after D-1 at the send time and up to D at the
send time, in the configured time zone (so the window is 23 or 25 hours around a change of
clocks, and a digest is never skipped or doubled by DST). Each (day, recipient) is a row of the
`digests` table, claimed ('sending') before the SMTP conversation and marked 'sent' after it;
a failure goes back to 'pending' with backoff and is never dropped. A day the process missed
(down at 07:00) is created and sent when it comes back, with its own window; on the very first
run only the latest due day is sent, not a week of history. An email interrupted by a crash is
sent again on restart: a duplicate email is less harmful than a lost one.

Environment: WATCHER_DIGEST_AT (07:00), WATCHER_TZ (Europe/London), WATCHER_DIGEST_EMPTY
(on: an empty day still sends "nothing matched; N sources healthy"; off: it does not), plus
the SMTP settings read by watcher.delivery.notifiers.email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watcher.digest.gather import gather_entries
from watcher.digest.model import Digest, SourceProblem
from watcher.errors import ConfigError, ConfigProblem, DeliveryError
from watcher.delivery.notifiers.base import Notifier
from watcher.rules import Rules
from watcher.store import Store, iso, parse_iso

log = logging.getLogger(__name__)

CATCH_UP_DAYS = 7
BAD_STATES = ("failing", "blocked", "zombie", "quiet")


@dataclass(frozen=True)
class DigestSchedule:
    at: time = time(7, 0)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    send_empty: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DigestSchedule:
        problems = []
        at_text = env.get("WATCHER_DIGEST_AT", "07:00").strip()
        try:
            hour, minute = (int(p) for p in at_text.split(":"))
            at = time(hour, minute)
        except ValueError:
            problems.append(ConfigProblem("environment", None, f"WATCHER_DIGEST_AT: {at_text!r} is not a time like 07:00"))
            at = time(7, 0)
        tz_name = env.get("WATCHER_TZ", "Europe/London").strip()
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(ConfigProblem("environment", None, f"WATCHER_TZ: {tz_name!r} is not a time zone like Europe/London"))
            tz = ZoneInfo("UTC")
        empty = env.get("WATCHER_DIGEST_EMPTY", "on").strip().lower()
        if empty not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
            problems.append(ConfigProblem("environment", None, f"WATCHER_DIGEST_EMPTY: {empty!r} is not on or off"))
        if problems:
            raise ConfigError(problems)
        return cls(at=at, tz=tz, send_empty=empty in ("on", "true", "1", "yes"))

    def send_time(self, day: date) -> datetime:
        """When the digest of `day` goes out, in UTC."""
        return datetime.combine(day, self.at, tzinfo=self.tz).astimezone(timezone.utc)

    def window(self, day: date) -> tuple[datetime, datetime]:
        return self.send_time(day - timedelta(days=1)), self.send_time(day)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    def latest_due(self, now: datetime) -> date:
        """The newest day whose send time has passed."""
        today = self.today(now)
        return today if self.send_time(today) <= now else today - timedelta(days=1)


def build_digest(store: Store, day: date, schedule: DigestSchedule, rules: Rules | None = None,
                 until: datetime | None = None, destination: str | None = None) -> Digest:
    """What happened in the window of `day`: the alerted incidents (watcher.digest.gather), and
    the sources that failed. With `until` before the window's end, a partial digest of the
    window so far."""
    start, end = schedule.window(day)
    partial = until is not None and until < end
    if partial:
        end = max(start, until)
    digest = Digest(day=day, timezone=str(schedule.tz), start=start, end=end, partial=partial)
    digest.entries = gather_entries(store, start, end, rules, destination)
    sources = store.sources()
    digest.sources_total = len(sources)
    digest.sources_healthy = sum(1 for s in sources if s["state"] == "ok")
    for source in sources:
        errored = source.get("last_error_at") and iso(start) < source["last_error_at"] <= iso(end)
        if source["state"] in BAD_STATES or errored:
            digest.problems.append(SourceProblem(source["id"], source["state"], source.get("state_since"),
                                                 source.get("last_error") or ""))
    return digest


ROUTED = "|"  # '<destination>|<address>': a route's email destination, in digests.recipient


def _recipient(key: str) -> tuple[str | None, str]:
    """(the route destination whose digest it is, or None for everything; the address)."""
    destination, sep, address = key.partition(ROUTED)
    return (destination, address) if sep else (None, key)


@dataclass
class DigestReport:
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    failed: int = 0
    already: int = 0
    early: int = 0  # partial digests sent on request before the day's send time
    errors: list[str] = field(default_factory=list)


class DigestService:
    """Creates the due (day, recipient) rows and sends them, exactly once each."""

    def __init__(
        self, store: Store, schedule: DigestSchedule, recipients: tuple[str, ...],
        notifier_for: Callable[[str], Notifier], rules: Callable[[], Rules | None], clock: Callable[[], datetime],
    ):
        self.store = store
        self.schedule = schedule
        self._recipients = recipients
        self.notifier_for = notifier_for
        self.rules = rules
        self.clock = clock

    @property
    def recipients(self) -> tuple[str, ...]:
        """WATCHER_DIGEST_TO's addresses (everything), then each email destination's of the
        routes in force as '<destination>|<address>' (what its routes sent or kept for it)."""
        rules = self.rules()
        routed = rules.routes.emails() if rules is not None else {}
        return (*self._recipients, *(f"{name}{ROUTED}{address}" for name, addresses in sorted(routed.items())
                                      for address in addresses))

    def recover(self) -> int:
        """Digests a crash left mid-send go out again (a duplicate email beats a lost one)."""
        with self.store.transaction():
            cursor = self.store.conn.execute(
                "UPDATE digests SET status = 'pending', last_error = 'interrupted; resending' WHERE status = 'sending'")
        return cursor.rowcount

    def ensure_rows(self, now: datetime, day: date | None = None) -> list[date]:
        """Create rows for every due day not yet created (or for `day`); returns the days added."""
        if day is not None:
            days = [day]
        else:
            latest = self.schedule.latest_due(now)
            last = self.store.conn.execute("SELECT max(day) FROM digests").fetchone()[0]
            if last is None:
                days = [latest]
            else:
                first = max(date.fromisoformat(last) + timedelta(days=1), latest - timedelta(days=CATCH_UP_DAYS - 1))
                days = [first + timedelta(days=n) for n in range((latest - first).days + 1)]
        added = []
        with self.store.transaction():
            for d in days:
                start, end = self.schedule.window(d)
                due = max(now, end)  # a day asked for early is still sent at its send time, not before
                for recipient in self.recipients:
                    cursor = self.store.conn.execute(
                        "INSERT INTO digests (day, recipient, window_start, window_end, next_attempt_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, recipient) DO NOTHING",
                        (d.isoformat(), recipient, iso(start), iso(end), iso(due)))
                    if cursor.rowcount:
                        added.append(d)
        return sorted(set(added))

    async def run(self, now: datetime | None = None) -> DigestReport:
        """The scheduled job: create what is due, send what is pending."""
        now = now or self.clock()
        self.ensure_rows(now)
        return await self.send(now)

    async def send(self, now: datetime, *, day: date | None = None, force: bool = False) -> DigestReport:
        """Send what is pending and due (or the rows of `day`). Asked for a day whose send time
        has not come, it sends a partial digest of the window so far and leaves the day's row
        alone: alerts raised before the send time still reach the day's own digest."""
        report = DigestReport()
        if day is not None and now < self.schedule.send_time(day):
            await self._send_early(day, now, report)
            return report
        sql = "SELECT * FROM digests WHERE "
        if day is not None:
            rows = self.store.conn.execute(sql + "day = ? ORDER BY id", (day.isoformat(),)).fetchall()
        else:
            rows = self.store.conn.execute(sql + "status = 'pending' AND next_attempt_at <= ? ORDER BY day, id",
                                           (iso(now),)).fetchall()
        for row in map(dict, rows):
            if row["status"] == "sent" and not force:
                report.already += 1
                continue
            with self.store.transaction():
                self.store.conn.execute("UPDATE digests SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
                                        (row["id"],))
            await self._send_one(row, now, report)
        return report

    async def _send_one(self, row: dict, now: datetime, report: DigestReport) -> None:
        from watcher.digest.render import render_digest

        destination, address = _recipient(row["recipient"])
        digest = build_digest(self.store, date.fromisoformat(row["day"]), self.schedule, self.rules(),
                              destination=destination)
        if digest.empty and not self.schedule.send_empty:
            self._finish(row["id"], "sent", now, None, "empty day: not sent (WATCHER_DIGEST_EMPTY=off)")
            report.skipped += 1
            return
        try:
            message_id = await self.notifier_for(address).send(render_digest(digest))
        except DeliveryError as exc:
            attempts = int(row["attempts"]) + 1
            if exc.permanent:
                self._finish(row["id"], "failed", now, None, str(exc))
                report.failed += 1
            else:
                delay = exc.retry_after or min(3600.0, 60.0 * 2 ** (attempts - 1))
                with self.store.transaction():
                    self.store.conn.execute(
                        "UPDATE digests SET status = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?",
                        (str(exc)[:500], iso(now + timedelta(seconds=delay)), row["id"]))
                report.deferred += 1
                log.warning("digest for %s to recipient #%d failed (attempt %d), retrying in %ds: %s",
                            row["day"], row["id"], attempts, delay, exc)
            report.errors.append(str(exc))
            return
        self._finish(row["id"], "sent", now, message_id, None)
        report.sent += 1

    async def _send_early(self, day: date, now: datetime, report: DigestReport) -> None:
        """Once per request and recipient, recorded nowhere: the day's row stays pending."""
        from watcher.digest.render import render_digest

        for recipient in self.recipients:
            destination, address = _recipient(recipient)
            message = render_digest(build_digest(self.store, day, self.schedule, self.rules(), until=now,
                                                 destination=destination))
            try:
                await self.notifier_for(address).send(message)
            except DeliveryError as exc:
                report.failed += 1
                report.errors.append(str(exc))
                continue
            report.early += 1
        log.info("partial digest for %s sent early to %d recipient(s); the day's digest still goes out at %s",
                 day, report.early, self.schedule.at.strftime("%H:%M"))

    def _finish(self, row_id: int, status: str, now: datetime, message_id: str | None, note: str | None) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE digests SET status = ?, sent_at = ?, message_id = ?, last_error = ? WHERE id = ?",
                (status, iso(now) if status == "sent" else None, message_id, note, row_id))

    def next_due(self) -> datetime | None:
        row = self.store.conn.execute("SELECT min(next_attempt_at) FROM digests WHERE status = 'pending'").fetchone()
        return parse_iso(row[0]) if row and row[0] else None
