"""Draining the alerts outbox: exactly-once delivery as far as the notifier allows.

Each alert is claimed ('sending', committed) before the send and marked 'sent' (committed)
after it, so a crash leaves evidence. On start, `recover_interrupted` resolves rows left in
'sending' by the notifier's `unknown_outcome` rule. A failed send puts the row back to
'pending' with exponential backoff; only a permanent error (the service refused the message
itself) marks it 'failed'. Nothing is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watcher.errors import DeliveryError
from watcher.notifiers import Notifier
from watcher.render import render_alert
from watcher.store import Store

log = logging.getLogger(__name__)

BASE_DELAY = 30.0
MAX_DELAY = 3600.0


def backoff(attempts: int) -> float:
    """Seconds to wait after the n-th failed attempt: 30 s, 1 min, 2 min, ... at most 1 h."""
    return min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def recover_interrupted(store: Store, notifiers: Mapping[str, Notifier], now: datetime) -> int:
    """Resolve alerts a crash left in 'sending'. Returns how many were found."""
    found = 0
    for name, notifier in notifiers.items():
        for row in store.interrupted_alerts(name):
            found += 1
            with store.transaction():
                if notifier.unknown_outcome == "assume_sent":
                    store.mark_sent(row["id"], now, row["message_id"])
                else:
                    store.defer_alert(row["id"], "interrupted during send; resending", now)
            log.warning("alert %s to %s was interrupted mid-send: %s", row["id"], name, notifier.unknown_outcome)
    return found


async def deliver_pending(
    store: Store,
    notifiers: Mapping[str, Notifier],
    clock: Callable[[], datetime],
    *,
    limit: int = 100,
) -> DeliveryReport:
    """Send every due alert once; failures wait for a later call."""
    report = DeliveryReport()
    for name, notifier in notifiers.items():
        for row in store.due_alerts(name, clock(), limit):
            with store.transaction():
                if not store.claim_alert(row["id"]):
                    continue
            item = store.item(row["item_id"])
            if item is None:
                with store.transaction():
                    store.fail_alert(row["id"], "item no longer stored")
                report.failed += 1
                continue
            message = render_alert(item, store.matches_for(row["item_id"]), urgent=bool(row["urgent"]))
            try:
                message_id = await notifier.send(message)
            except DeliveryError as exc:
                _record_failure(store, row, exc, clock(), report, name)
                continue
            except Exception as exc:  # a notifier bug must not lose the alert either
                log.exception("notifier %s raised unexpectedly", name)
                _record_failure(store, row, DeliveryError(f"{type(exc).__name__}: {exc}"), clock(), report, name)
                continue
            with store.transaction():
                store.mark_sent(row["id"], clock(), message_id)
            report.sent += 1
    return report


def _record_failure(
    store: Store, row: dict, exc: DeliveryError, now: datetime, report: DeliveryReport, name: str
) -> None:
    attempts = int(row["attempts"]) + 1
    with store.transaction():
        if exc.permanent:
            store.fail_alert(row["id"], str(exc))
            report.failed += 1
        else:
            delay = max(backoff(attempts), exc.retry_after or 0.0)
            store.defer_alert(row["id"], str(exc), now + timedelta(seconds=delay))
            report.deferred += 1
    report.errors.append(f"{name}: {exc}")
    log.warning("delivery to %s failed (attempt %d): %s", name, attempts, exc)
