"""Draining the alerts outbox: exactly-once delivery as far as the notifier allows.

Each alert is claimed ('sending', committed) before the send and marked 'sent' (committed)
after it, so a crash leaves evidence. On start, `recover_interrupted` resolves rows left in
'sending' by the notifier's `unknown_outcome` rule. Only a permanent error (the service refused
the message itself) marks an alert 'failed'. Nothing is dropped.

Failures back off per destination, not per alert. When a send to a destination fails
transiently (unreachable, throttled, 5xx) or its outcome is unknown, the destination's other
alerts of that delivery wave are not tried one by one only to fail the same way: they wait with
it. Every alert that was due in the wave counts the failed attempt, whether the failure came
before its send (the bot could not start) or during it, so `attempts` says how many waves in a
row could not deliver it and the admin chat's stuck-delivery warning (health.py) fires. The wait
doubles with the destination's longest streak (30 s, 1 min, 2 min ... at most 1 h; a 429's
retry_after when the service names one), and every pending alert of the destination waits
until then. An alert queued meanwhile is tried when it is due, like a probe: if it fails it
joins the wait and the failed probe counts for the waiting ones too (so the wait keeps doubling
while the destination stays down), and if it goes through the waiting ones are brought forward
to the next wave.
A failed wave is one log line per destination, never one per alert, and no log line above
DEBUG carries an alert's text (it names watched people).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from html import escape

from watcher.durations import format_duration
from watcher.errors import DeliveryError
from watcher.delivery.notifiers import Notifier
from watcher.models import Message
from watcher.delivery.compose import Composed, compose, reply_for
from watcher.delivery.redact import redact_for
from watcher.delivery.render import render_compact_html, render_group
from watcher.store import Store, iso

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
                if notifier.unknown_outcome == "assume_sent" and row.get("via") != "edit":
                    store.mark_sent(row["id"], now, row["message_id"])
                    store.conn.execute("UPDATE alerts SET uncertain = 1, last_error = ? WHERE id = ?",
                                       ("interrupted mid-send; assumed sent", row["id"]))
                    assumed.append(row)
                else:
                    store.defer_alert(row["id"], "interrupted during send; resending", now)
            rule = "resend (an edit is safe to repeat)" if row.get("via") == "edit" else notifier.unknown_outcome
            log.warning("alert %s to %s was interrupted mid-send: %s", row["id"], name, rule)
    return found, assumed


def uncertain_notice(store: Store, rows: list[dict]) -> Message:
    """The admin chat's note on alerts whose delivery a crash made uncertain."""
    lines = [f"⚠️ {len(rows)} alert(s) were being sent when watcher stopped or Telegram stopped answering "
             "(assumed sent, so never twice); check the channel for:"]
    for row in rows[:20]:
        item = (store.item(row["item_id"]) if row.get("item_id") is not None else None) or {
            "title": (row.get("body") or "?").splitlines()[0], "url": ""}
        lines.append(f"- {item['title'][:120]} {item['url']}")
    return Message(text="\n".join(lines))


GROUP_CHARS = 3800  # a grouped message stays under Telegram's 4,096 with room for the heading


async def deliver_pending(
    store: Store,
    notifiers: Mapping[str, Notifier],
    clock: Callable[[], datetime],
    *,
    limit: int = 500,
    tz: str = "UTC",
) -> DeliveryReport:
    """Send every due alert once; failures wait for a later call.

    A notifier with a `capacity()` (messages it may send in the next minute) gets a burst
    larger than that capacity as grouped messages, urgent alerts first, instead of a queue
    that takes hours; every row of a group is claimed and marked together. The first transient
    failure (or unknown outcome) to a destination ends its wave: the rest wait with it. The
    later reports of one incident's alert go as one batch (one edit of its message, see
    compose.py); they are never grouped with alerts. Times are shown in `tz`."""
    report = DeliveryReport()
    for name, notifier in notifiers.items():
        rows = _parents_first(store.due_alerts(name, clock(), limit))
        if not rows:
            continue
        capacity = getattr(notifier, "capacity", None)
        budget = capacity() if capacity is not None else None
        later = [row for row in rows if row["kind"] == "also"]
        batches = _batches(store, [row for row in rows if row["kind"] != "also"], budget)
        by_parent: dict[int, list[dict]] = {}
        for row in later:
            by_parent.setdefault(int(row["parent_id"] or 0), []).append(row)
        batches += list(by_parent.values())
        for index, batch in enumerate(batches):
            trouble = await _deliver(store, notifier, name, batch, clock, report, tz)
            if trouble is not None:
                untried = [row for later in batches[index + 1:] for row in later]
                _wait_together(store, name, trouble, batch, untried, clock(), report)
                break
    return report


def _parents_first(rows: list[dict]) -> list[dict]:
    """Urgent first, oldest first, except that a follow-up due with the alert it replies to
    goes right after it (a reply needs the message it threads under)."""
    due = {int(row["id"]) for row in rows}
    placed: set[int] = set()
    waiting: dict[int, list[dict]] = {}
    out: list[dict] = []

    def put(row: dict) -> None:
        out.append(row)
        placed.add(int(row["id"]))
        for child in waiting.pop(int(row["id"]), []):
            put(child)

    for row in rows:
        parent = row.get("parent_id")
        if row["kind"] == "followup" and parent in due and parent not in placed:
            waiting.setdefault(int(parent), []).append(row)
        else:
            put(row)
    for children in waiting.values():  # (a parent always comes; kept for safety)
        out.extend(children)
    return out


@dataclass
class _Trouble:
    """Why a destination's wave stops: a transient failure, or an outcome nobody knows."""

    error: DeliveryError
    claimed: bool  # the batch was claimed (its attempt is already counted)
    assumed_sent: bool = False  # the batch was marked sent by the unknown-outcome rule


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
    if row["kind"] == "checkin":
        return escape(row["body"] or "", quote=False)
    item = store.item(row["item_id"])
    if item is None:
        return ""
    return render_compact_html(item, store.matches_for(row["item_id"]), urgent=bool(row["urgent"]))


async def _deliver(
    store: Store, notifier: Notifier, name: str, batch: list[dict], clock: Callable[[], datetime],
    report: DeliveryReport, tz: str = "UTC",
) -> _Trouble | None:
    """Claim, send and mark one batch. Returns the trouble that should stop the wave, if any;
    a permanent refusal concerns this message only and does not."""
    prepare = getattr(notifier, "prepare", None)
    if prepare is not None:  # wait for the bot and the flood limit before claiming anything
        try:
            await prepare()
        except DeliveryError as exc:
            if exc.permanent:
                _fail(store, batch, str(exc), report, name)
                return None
            return _Trouble(exc, claimed=False)
    composed = _message(store, batch, tz)
    if composed is None:
        with store.transaction():
            batch[:] = [row for row in batch if store.claim_alert(row["id"])]
        _fail(store, batch, "item no longer stored", report, name)
        return None
    with store.transaction():  # the claim says what the send does, for recovery after a crash
        batch[:] = [row for row in batch if store.claim_alert(row["id"], composed.via)]
    if not batch:
        return None
    try:
        try:
            message_id = await notifier.send(composed.message)
        except DeliveryError as exc:
            if not (exc.permanent and composed.via == "edit"):
                raise
            # the alert's message cannot be edited (deleted, too old): reply to it instead
            log.info("delivery to %s: the incident's alert cannot be edited (%s); replying instead", name, exc)
            again = reply_for(store, batch, tz)
            composed = replace(again, message=redact_for(store, batch, again.message)) if again else composed
            with store.transaction():
                store.conn.executemany("UPDATE alerts SET via = 'reply' WHERE id = ?", [(r["id"],) for r in batch])
            message_id = await notifier.send(composed.message)
    except DeliveryError as exc:
        if exc.permanent:
            _fail(store, batch, str(exc), report, name)
            return None
        if (exc.uncertain and composed.via != "edit"
                and getattr(notifier, "unknown_outcome", "resend") == "assume_sent"):
            _assume_sent(store, batch, exc, clock(), report)
            return _Trouble(exc, claimed=True, assumed_sent=True)
        return _Trouble(exc, claimed=True)  # an edit with an unknown outcome is simply sent again
    except Exception as exc:  # a notifier bug must not lose the alert either
        log.exception("notifier %s raised unexpectedly", name)
        return _Trouble(DeliveryError(f"{type(exc).__name__}: {exc}"), claimed=True)
    now = clock()
    with store.transaction():
        for row in batch:
            store.mark_sent(row["id"], now, message_id)
        _mark_covered(store, name, batch, composed, now, message_id)
        forward = _bring_forward(store, name, now)
    report.sent += len(batch)
    report.messages += 1
    if forward:
        log.info("delivery to %s works again: %d waiting alert(s) go in the next wave", name, forward)
    return None


def _message(store: Store, batch: list[dict], tz: str) -> Composed | None:
    """The message of a batch, naming nobody a row says is muted (redact.py)."""
    if batch[0]["kind"] == "checkin" and len(batch) == 1:
        return Composed(Message(text=batch[0]["body"] or "", urgent=True), "message")  # no buttons: no item
    if len(batch) == 1 and "_compact" not in batch[0] or batch[0]["kind"] == "also":
        composed = compose(store, batch, tz)
    else:
        entries = [(row["id"], row["_compact"], bool(row["urgent"])) for row in batch if row.get("_compact")]
        composed = Composed(render_group(entries), "message") if entries else None
    if composed is not None:
        composed = replace(composed, message=redact_for(store, batch, composed.message))
    return composed


def _mark_covered(store: Store, name: str, batch: list[dict], composed: Composed, now: datetime,
                  message_id: str | None) -> None:
    """Later reports the message already showed are delivered with it (they wait for it)."""
    if not composed.covers:
        return
    parents = {int(row["id"]) if row["kind"] != "also" else int(row["parent_id"] or 0) for row in batch}
    marks = ",".join("?" * len(composed.covers))
    for parent in parents:
        store.conn.execute(
            f"UPDATE alerts SET status = 'sent', sent_at = ?, message_id = ?, via = 'covered', last_error = NULL"
            f" WHERE destination = ? AND kind = 'also' AND parent_id = ? AND status = 'pending'"
            f" AND item_id IN ({marks})", (iso(now), message_id, name, parent, *composed.covers))


def _fail(store: Store, batch: list[dict], error: str, report: DeliveryReport, name: str) -> None:
    """A refusal that a retry cannot help: mark the batch failed, with the reason."""
    with store.transaction():
        for row in batch:
            store.fail_alert(row["id"], error)
    report.failed += len(batch)
    report.errors.append(f"{name}: {error}")
    log.warning("delivery to %s refused %d alert(s) for good: %s", name, len(batch), error)


def _assume_sent(store: Store, batch: list[dict], exc: DeliveryError, now: datetime, report: DeliveryReport) -> None:
    """The README's exactly-once rule: an outcome nobody can know counts as sent, flagged so
    that `App.announce_uncertain` tells the admin chat which alerts to check."""
    with store.transaction():
        for row in batch:
            store.mark_sent(row["id"], now, None)
            store.conn.execute("UPDATE alerts SET last_error = ?, uncertain = 1 WHERE id = ?",
                               (f"outcome unknown, assumed sent: {exc}"[:500], row["id"]))
    report.uncertain.extend(batch)
    report.sent += len(batch)


def _wait_together(
    store: Store, name: str, trouble: _Trouble, batch: list[dict], untried: list[dict], now: datetime,
    report: DeliveryReport,
) -> None:
    """Count the failed attempt for every alert of the wave and make the whole destination
    wait, with one log line for all of them."""
    exc = trouble.error
    uncounted = untried if trouble.claimed else batch + untried  # claiming counted the others
    waiting = untried if trouble.assumed_sent else batch + untried
    wave = json.dumps([row["id"] for row in batch + untried])
    with store.transaction():
        store.conn.executemany("UPDATE alerts SET attempts = attempts + 1 WHERE id = ?",
                               [(row["id"],) for row in uncounted])
        # the alerts already waiting out the destination's failure count this failed wave too
        # (a new alert tried as a probe is a try of the destination), so the wait keeps doubling
        # while it stays down instead of being pushed back by every probe at the same length
        store.conn.execute("UPDATE alerts SET attempts = attempts + 1 WHERE destination = ? AND status = 'pending'"
                           " AND id NOT IN (SELECT value FROM json_each(?))", (name, wave))
        row = store.conn.execute("SELECT max(attempts) FROM alerts WHERE destination = ? AND status = 'pending'",
                                 (name,)).fetchone()
        streak = max([int(row[0] or 0), *(int(r["attempts"]) + 1 for r in batch + untried)])
        delay = exc.retry_after if exc.retry_after is not None else backoff(streak)
        until = now + timedelta(seconds=delay)
        for row in waiting:
            store.defer_alert(row["id"], str(exc), until)  # a claimed row goes back to 'pending'
        store.conn.execute("UPDATE alerts SET next_attempt_at = ? WHERE destination = ? AND status = 'pending'"
                           " AND next_attempt_at < ?", (iso(until), name, iso(until)))
        left = store.conn.execute("SELECT count(*) FROM alerts WHERE destination = ? AND status = 'pending'",
                                  (name,)).fetchone()[0]
    report.deferred += len(waiting)
    report.errors.append(f"{name}: {exc}")
    wait = f"{left} alert(s) wait, next try in {format_duration(timedelta(seconds=max(1, round(delay))))}"
    if trouble.assumed_sent:
        log.warning("delivery to %s of %d alert(s) has an unknown outcome; assumed sent, never resent, and "
                    "listed for the admin chat (%s)%s", name, len(batch), exc, f"; {wait}" if left else "")
    else:
        log.warning("delivery to %s failed (attempt %d): %s; %s", name, streak, exc, wait)


def _bring_forward(store: Store, name: str, now: datetime) -> int:
    """A message went through: the destination's alerts waiting out a failure go next wave."""
    cursor = store.conn.execute("UPDATE alerts SET next_attempt_at = ? WHERE destination = ? AND status = 'pending'"
                                " AND next_attempt_at > ?", (iso(now), name, iso(now)))
    return int(cursor.rowcount or 0)
