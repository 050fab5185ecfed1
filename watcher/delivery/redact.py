"""Muted people are never named in an alert, whichever rule made the item alert.

An outbox row records (`muted`, JSON) the watched people muted for its source when it was
recorded. Before a message is sent, every way that person was written in the incident's
reports (each matched text, the canonical name and its words) is replaced by "[muted]", in
the plain text and the HTML alike: a detention of someone a monitor muted for a source may
still alert through its incident keyword, but says only that a muted person is concerned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from html import escape
from typing import Any

from watcher.models import Message
from watcher.store import Store

MASK = "[muted]"
_MIN_WORD = 3  # a name's words shorter than this (initials, "al") are left: they name nobody alone


def muted_rules(batch: Sequence[dict[str, Any]]) -> set[str]:
    """The person rules the rows of a batch must not name."""
    out: set[str] = set()
    for row in batch:
        raw = row.get("muted")
        if raw:
            try:
                out.update(str(rule) for rule in json.loads(raw))
            except (ValueError, TypeError):
                continue
    return out


def spellings(store: Store, rules: Iterable[str], item_ids: Iterable[int]) -> list[str]:
    """Every way these people were written in these items, and their names' words, longest first."""
    wanted = sorted(set(rules))
    ids = sorted({int(i) for i in item_ids})
    found: set[str] = set()
    for rule in wanted:
        name = rule.split(":", 1)[1] if ":" in rule else rule
        found.add(name)
        found.update(word for word in re.split(r"[\s\-]+", name) if len(word) >= _MIN_WORD)
    if wanted and ids:
        marks_r, marks_i = ",".join("?" * len(wanted)), ",".join("?" * len(ids))
        rows = store.conn.execute(f"SELECT DISTINCT text, variant FROM matches WHERE rule IN ({marks_r})"
                                  f" AND item_id IN ({marks_i})", (*wanted, *ids))
        for text, variant in rows:
            found.update(s for s in (text, variant) if s)
            found.update(w for s in (text, variant) if s for w in re.split(r"[\s\-]+", s) if len(w) >= _MIN_WORD)
    return sorted((s for s in found if s.strip()), key=len, reverse=True)


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})\w*", re.IGNORECASE)  # \w*: an inflected ending


def redact_message(message: Message, words: Sequence[str]) -> Message:
    """The message with every one of `words` (and an inflected ending) masked."""
    plain = _pattern(words)
    html = _pattern([escape(w, quote=False) for w in words])
    if plain is None or html is None:
        return message
    return replace(message, text=plain.sub(MASK, message.text),
                   html=html.sub(MASK, message.html) if message.html is not None else None,
                   subject=plain.sub(MASK, message.subject))


def redact_for(store: Store, batch: Sequence[dict[str, Any]], message: Message) -> Message:
    """A batch's message with the people its rows must not name masked (unchanged if none)."""
    rules = muted_rules(batch)
    if not rules:
        return message
    items = [int(r["item_id"]) for r in batch if r.get("item_id") is not None]
    incidents = {int(r["incident_id"]) for r in batch if r.get("incident_id") is not None}
    for incident_id in incidents:
        items += [int(r[0]) for r in store.conn.execute(
            "SELECT item_id FROM incident_items WHERE incident_id = ?", (incident_id,))]
    return redact_message(message, spellings(store, rules, items))
