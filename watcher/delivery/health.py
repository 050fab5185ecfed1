"""Health warnings for the admin chat: one message per change of state, never a stream.

A source that has been failing, blocked, zombie or quiet for longer than that state's
threshold is reported once; its recovery is reported once. Delivery that keeps failing (alerts
waiting after three attempts) is reported the same way. What was last said is kept in the
`admin_notices` table, so a restart does not repeat it; a warning that could not be sent is
tried again on the next check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from watcher.errors import DeliveryError
from watcher.models import Message
from watcher.delivery.notifiers import Notifier
from watcher.store import Store, iso, parse_iso

log = logging.getLogger(__name__)

THRESHOLDS: Mapping[str, timedelta] = {
    "blocked": timedelta(0),
    "failing": timedelta(hours=1),
    "zombie": timedelta(hours=6),
    "quiet": timedelta(0),
}
STUCK_ATTEMPTS = 3


async def report_health(
    store: Store, admin: Notifier, clock: Callable[[], datetime], thresholds: Mapping[str, timedelta] = THRESHOLDS,
) -> int:
    """Send what changed since the admin chat was last told. Returns the number of messages sent."""
    now = clock()
    sent = 0
    for source in store.sources():
        state, since = source["state"], source.get("state_since")
        told = store.admin_notice(f"source:{source['id']}")
        if state in thresholds:
            started = parse_iso(since) or now
            if now - started < thresholds[state] or (told and (told["state"], told["since"]) == (state, since)):
                continue
            text = f"⚠️ source {source['id']} is {state} since {since or 'now'}: {source.get('last_error') or ''}".strip()
        elif state == "ok" and told and told["state"] != "ok":
            text = f"✅ source {source['id']} is ok again"
        else:
            continue
        sent += await tell_admin(store, admin, f"source:{source['id']}", state, since, text, now)
    for destination, waiting, error in store.stuck_deliveries(STUCK_ATTEMPTS):
        told = store.admin_notice(f"delivery:{destination}")
        if waiting and (told is None or told["state"] != "failing"):
            text = f"⚠️ delivery to {destination} is failing: {waiting} alert(s) waiting; last error: {error}"
            sent += await tell_admin(store, admin, f"delivery:{destination}", "failing", None, text, now)
        elif not waiting and told is not None and told["state"] == "failing":
            sent += await tell_admin(store, admin, f"delivery:{destination}", "ok", None,
                                f"✅ delivery to {destination} works again", now)
    return sent


async def tell_admin(store: Store, admin: Notifier, topic: str, state: str, since: str | None, text: str,
                     now: datetime) -> int:
    """Send one admin-chat notice and record it under `topic` (state, since), so each change is told once."""
    try:
        await admin.send(Message(text=text))
    except DeliveryError as exc:
        log.warning("could not send a health warning to the admin chat: %s", exc)
        return 0
    with store.transaction():
        store.set_admin_notice(topic, state, since, iso(now))
    return 1
