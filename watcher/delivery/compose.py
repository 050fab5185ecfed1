"""Which message an outbox batch becomes: a new alert, an edit of an incident's alert, or a reply.

- 'alert' rows: the incident's alert, naming every report joined so far; the pending later
  reports it names are delivered with it (`covers`), so a burst of five outlets is one message.
- 'also' rows (later reports of an incident that alerted): all those of one alert go together
  as one edit of its message (idempotent: resent after an unknown outcome, and Telegram's "not
  modified" counts as done). When that message cannot be edited (it was a grouped message, its
  id is unknown, or it is gone) they become one silent reply. If the alert itself was refused
  for good, the later report is sent as the alert.
- 'followup' rows (a new development of a case): the new incident's alert as a notifying reply
  to the case's earlier alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from watcher.delivery.incident_text import also_reply, incident_alert
from watcher.delivery.render import render_alert
from watcher.models import Message
from watcher.store import Store


@dataclass
class Composed:
    message: Message
    via: str  # message | edit | reply: what the send does (an edit may safely be sent again)
    covers: list[int] = field(default_factory=list)  # item ids of later reports the message shows


def _grouped(store: Store, alert: dict[str, Any]) -> bool:
    """Whether the alert went out inside a grouped message (which cannot be edited for one)."""
    if not alert.get("message_id"):
        return False
    row = store.conn.execute(
        "SELECT count(*) FROM alerts WHERE destination = ? AND message_id = ? AND kind != 'also'",
        (alert["destination"], alert["message_id"])).fetchone()
    return int(row[0]) > 1


def _incident_message(store: Store, alert: dict[str, Any], tz: str) -> tuple[Message, list[int]] | None:
    """The full alert of the incident `alert` (an alert or follow-up row) raised."""
    item = store.item(alert["item_id"])
    if item is None:
        return None
    matches = store.matches_for(alert["item_id"])
    incident = store.incident(alert["incident_id"]) if alert.get("incident_id") else None
    if incident is None:  # an alert from before incidents existed
        return render_alert(item, matches, urgent=bool(alert["urgent"]), alert_id=alert["id"]), []
    reports = store.incident_reports(incident["id"])
    previous = store.incident(incident["previous_id"]) if alert["kind"] == "followup" and incident["previous_id"] else None
    message = incident_alert(incident, reports, item, matches, tz=tz, urgent=bool(alert["urgent"]),
                             alert_id=alert["id"], previous=previous)
    return message, [r["item_id"] for r in reports if r["item_id"] != item["id"]]


def compose(store: Store, batch: list[dict[str, Any]], tz: str) -> Composed | None:
    """The message for a batch of one alert or follow-up, or of the later reports of one alert."""
    row = batch[0]
    if row["kind"] == "also":
        return _compose_also(store, batch, tz)
    built = _incident_message(store, row, tz)
    if built is None:
        return None
    message, covers = built
    if row["kind"] == "followup" and row.get("parent_id"):
        parent = store.alert(row["parent_id"])
        if parent is not None and parent["status"] == "sent" and parent.get("message_id"):
            message = replace(message, reply_to=str(parent["message_id"]))
    return Composed(message, "reply" if message.reply_to else "message", covers)


def _compose_also(store: Store, batch: list[dict[str, Any]], tz: str) -> Composed | None:
    parent = store.alert(batch[0]["parent_id"]) if batch[0].get("parent_id") else None
    if parent is None or parent["status"] == "failed":
        # the incident's alert never reached anyone: this report is the alert
        as_alert = {**batch[0], "kind": "alert"}
        built = _incident_message(store, as_alert, tz)
        if built is None:
            return None
        return Composed(built[0], "message", built[1])
    if parent.get("message_id") and not _grouped(store, parent):
        built = _incident_message(store, parent, tz)
        if built is not None:
            message, covers = built
            return Composed(replace(message, edit=str(parent["message_id"]), alert_ids=(parent["id"],)), "edit", covers)
    return reply_for(store, batch, tz)


def reply_for(store: Store, batch: list[dict[str, Any]], tz: str) -> Composed | None:
    """Later reports as one silent reply to the incident's alert (or to nothing, if its message
    id is unknown): used when the alert cannot be edited."""
    parent = store.alert(batch[0]["parent_id"]) if batch[0].get("parent_id") else None
    incident = store.incident(batch[0]["incident_id"]) if batch[0].get("incident_id") else None
    if incident is None:
        return None
    wanted = {row["item_id"] for row in batch}
    reports = [r for r in store.incident_reports(incident["id"]) if r["item_id"] in wanted]
    if not reports:
        return None
    reply_to = str(parent["message_id"]) if parent and parent.get("message_id") else None
    message = also_reply(incident, reports, tz=tz, reply_to=reply_to, alert_ids=tuple(row["id"] for row in batch))
    return Composed(message, "reply", [])
