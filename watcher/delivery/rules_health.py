"""The admin chat hears about the rules in force: an empty watchlist, a refused reload.

A refused reload keeps the old rules, which is right, but a monitor who emptied people.yaml by
mistake, or whose edit broke a file, must learn it from the chat they read, not from a log
nobody opens. Each state is told once per change (topic 'rules' in admin_notices), and told
again if the message could not be sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from watcher.delivery.health import tell_admin
from watcher.delivery.notifiers.base import Notifier
from watcher.rules import RulesHolder
from watcher.store import Store

TOPIC = "rules"


def rules_state(holder: RulesHolder) -> tuple[str, str | None, str]:
    """(state, what distinguishes this occurrence, the text for the admin chat)."""
    if holder.last_error is not None:
        detail = str(holder.last_error)
        marker = hashlib.sha256(detail.encode()).hexdigest()[:16]
        return ("refused", marker, "⚠️ the rules were refused and the previous rules stay in force "
                f"({len(holder.rules.people)} people watched):\n{detail[:1500]}")
    if not holder.rules.people:
        return ("empty", None, "⚠️ the watchlist is empty: no person is watched, so no alert will name "
                "anyone. Add people to rules/people.yaml or with /watch.")
    return ("ok", None, f"✅ rules in force: {len(holder.rules.people)} people watched")


async def report_rules(store: Store, admin: Notifier, holder: RulesHolder, clock: Callable[[], datetime]) -> int:
    """Tell the admin chat if the rules' state changed since it was last told; 1 if sent."""
    state, marker, text = rules_state(holder)
    told = store.admin_notice(TOPIC)
    if told is not None and (told["state"], told["since"]) == (state, marker):
        return 0
    if state == "ok" and (told is None or told["state"] == "ok"):
        return 0  # nothing was wrong: nothing to say
    return await tell_admin(store, admin, TOPIC, state, marker, text, clock())
