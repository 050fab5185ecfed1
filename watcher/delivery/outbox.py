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
from watcher.delivery.notifiers import Notifier
from watcher.models import Message
from watcher.delivery.render import render_alert, render_compact_html, render_group
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
    messages: int = 0
    deferred: int = 0
    uncertain: list[dict] = field(default_factory=list)  # assumed sent after an answer that never came
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def recover_interrupted(store: Store, notifiers: Mapping[str, Notifier], now: datetime) -> tuple[int, list[dict]]:
    """Resolve alerts a crash left in 'sending' by each notifier's `unknown_outcome` rule.

    Returns how many were found, and the rows assumed sent (their delivery is uncertain), so
    someone can be told."""
    found = 0
    assumed = []
    for name, notifier in notifiers.items():
        for row in store.interrupted_alerts(name):
            found += 1
            with store.transaction():
                if notifier.unknown_outcome == "assume_sent":
                    store.mark_sent(row["id"], now, row["message_id"])
                    store.conn.execute("UPDATE alerts SET uncertain = 1, last_error = ? WHERE id = ?",
                                       ("interrupted mid-send; assumed sent", row["id"]))
                    assumed.append(row)
                else:
                    store.defer_alert(row["id"], "interrupted during send; resending", now)
            log.warning("alert %s to %s was interrupted mid-send: %s", row["id"], name, notifier.unknown_outcome)
    return found, assumed


def uncertain_notice(store: Store, rows: list[dict]) -> Message:
    """The admin chat's note on alerts whose delivery a crash made uncertain."""
    lines = [f"⚠️ {len(rows)} alert(s) were being sent when watcher stopped or Telegram stopped answering "
             "(assumed sent, so never twice); check the channel for:"]
    for row in rows[:20]:
        item = store.item(row["item_id"]) or {"title": "?", "url": ""}
        lines.append(f"- {item['title'][:120]} {item['url']}")
    return Message(text="\n".join(lines))


GROUP_CHARS = 3800  # a grouped message stays under Telegram's 4,096 with room for the heading


async def deliver_pending(
    store: Store,
    notifiers: Mapping[str, Notifier],
    clock: Callable[[], datetime],
    *,
    limit: int = 500,
) -> DeliveryReport:
    """Send every due alert once; failures wait for a later call.

    A notifier with a `capacity()` (messages it may send in the next minute) gets a burst
    larger than that capacity as grouped messages, urgent alerts first, instead of a queue
    that takes hours; every row of a group is claimed and marked together."""
    report = DeliveryReport()
    for name, notifier in notifiers.items():
        rows = store.due_alerts(name, clock(), limit)
        if not rows:
            continue
        capacity = getattr(notifier, "capacity", None)
        budget = capacity() if capacity is not None else None
        for batch in _batches(store, rows, budget):
            await _deliver(store, notifier, name, batch, clock, report)
    return report


def _batches(store: Store, rows: list[dict], budget: int | None) -> list[list[dict]]:
    if budget is None or len(rows) <= max(budget, 1):
        return [[row] for row in rows]
    per_message = -(-len(rows) // max(budget, 1))
    batches: list[list[dict]] = []
    current: list[dict] = []
    size = 0
    for row in rows:
        line = _compact(store, row)
        if current and (len(current) >= per_message or size + len(line) > GROUP_CHARS):
            batches.append(current)
            current, size = [], 0
        row["_compact"] = line
        current.append(row)
        size += len(line) + 1
    if current:
        batches.append(current)
    return batches


def _compact(store: Store, row: dict) -> str:
    item = store.item(row["item_id"])
    if item is None:
        return ""
    return render_compact_html(item, store.matches_for(row["item_id"]), urgent=bool(row["urgent"]))


async def _deliver(
    store: Store, notifier: Notifier, name: str, batch: list[dict], clock: Callable[[], datetime],
    report: DeliveryReport,
) -> None:
    prepare = getattr(notifier, "prepare", None)
    if prepare is not None:  # wait for the bot and the flood limit before claiming anything
        try:
            await prepare()
        except DeliveryError as exc:
            _record_failure(store, batch, exc, clock(), report, name, None)
            return
    with store.transaction():
        batch = [row for row in batch if store.claim_alert(row["id"])]
    if not batch:
        return
    message = _message(store, batch)
    if message is None:
        with store.transaction():
            for row in batch:
                store.fail_alert(row["id"], "item no longer stored")
        report.failed += len(batch)
        return
    try:
        message_id = await notifier.send(message)
    except DeliveryError as exc:
        _record_failure(store, batch, exc, clock(), report, name, notifier)
        return
    except Exception as exc:  # a notifier bug must not lose the alert either
        log.exception("notifier %s raised unexpectedly", name)
        _record_failure(store, batch, DeliveryError(f"{type(exc).__name__}: {exc}"), clock(), report, name)
        return
    with store.transaction():
        for row in batch:
            store.mark_sent(row["id"], clock(), message_id)
    report.sent += len(batch)
    report.messages += 1


def _message(store: Store, batch: list[dict]) -> Message | None:
    if len(batch) == 1 and "_compact" not in batch[0]:
        row = batch[0]
        item = store.item(row["item_id"])
        if item is None:
            return None
        return render_alert(item, store.matches_for(row["item_id"]), urgent=bool(row["urgent"]), alert_id=row["id"])
    entries = [(row["id"], row["_compact"], bool(row["urgent"])) for row in batch if row.get("_compact")]
    return render_group(entries) if entries else None


def _record_failure(
    store: Store, batch: list[dict], exc: DeliveryError, now: datetime, report: DeliveryReport, name: str,
    notifier_rule: object = None,
) -> None:
    attempts = max(int(row["attempts"]) for row in batch) + 1
    if exc.uncertain and getattr(notifier_rule, "unknown_outcome", "resend") == "assume_sent":
        with store.transaction():
            for row in batch:
                store.mark_sent(row["id"], now, None)
                store.conn.execute("UPDATE alerts SET last_error = ?, uncertain = 1 WHERE id = ?",
                                   (f"outcome unknown, assumed sent: {exc}"[:500], row["id"]))
        report.uncertain.extend(batch)
        report.sent += len(batch)
        log.warning("delivery to %s of %d alert(s) has an unknown outcome; assumed sent: %s", name, len(batch), exc)
        return
    with store.transaction():
        for row in batch:
            if exc.permanent:
                store.fail_alert(row["id"], str(exc))
            else:
                # the service said when (429 retry_after): believe it; otherwise back off
                delay = exc.retry_after if exc.retry_after is not None else backoff(attempts)
                store.defer_alert(row["id"], str(exc), now + timedelta(seconds=delay))
    if exc.permanent:
        report.failed += len(batch)
    else:
        report.deferred += len(batch)
    report.errors.append(f"{name}: {exc}")
    log.warning("delivery to %s failed (attempt %d, %d alert(s)): %s", name, attempts, len(batch), exc)
