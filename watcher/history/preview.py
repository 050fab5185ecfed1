"""What a new rule would have done to the last weeks: the preview `/watch` and `/keyword` show
before their confirm button.

A monitor about to watch a person or add a keyword needs to see, before saying yes, whether it
would have caught what they had in mind and how noisy it would be: how many stored items of the
period it matches, the five most recent of them, and the alerts per ISO week it would have
produced. Nothing is written.

It has to answer while the monitor waits in the chat (< 2 s for a month of a few thousand
items), so it never compiles the whole watchlist again:

- a person is looked for with a matcher of that person alone (compiling it is instant). Every
  item naming them would alert (a watched person always does); what a matcher of one person
  cannot see is another watched person sharing the surname, which makes the surname alone
  count less often: the preview may count a few more items than the rules will match.
- a keyword is looked for with the keyword index of its one incident type, as it is and as it
  would be with the word (an incident type is matched on its own, its `not:` phrases
  included), and an item counts when the type matches only with the word. Whether such an
  item would alert is asked of `alert_worthy` with what the rules in force find in it (the
  compiled matcher the running watcher already holds): a keyword alone alerts only for
  `alone` types.
- most items name neither the person nor the word: each distinct word of the period is asked
  once whether it can be a form of the person's names (by spelling key) or fill the keyword's
  first word (by lemma or stem), and only items holding such a word are tokenised and
  matched. Tokenising is most of a match's cost; skipping it is what keeps a month fast.

Still, a month of a thousand feeds is tens of thousands of items (0.3 s per 5,000 at 10,000
people), so the bot runs a preview in a worker thread (watcher.rules.writer.off_loop). The
items are read in pages through `on_store_thread`: each page a short query on the Store's own
thread (the loop's), the matching in the worker between them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from watcher.errors import EditRefused
from watcher.history.stored import _COLUMNS, StoredItem, _stored, week_of
from watcher.incidents.alerting import alert_worthy
from watcher.matching import Matcher, matcher_for
from watcher.matching.keywords import IncidentIndex
from watcher.matching.mentions import mention_match
from watcher.matching.normalize import APOSTROPHES, tokenize, visible, word_norm
from watcher.matching.translit import name_key, name_keys, split_suffix
from watcher.models import Match
from watcher.rules import IncidentType, Person, Rules
from watcher.rules.model import check_keyword
from watcher.rules.writer import on_store_thread
from watcher.store import Store, iso

RECENT = 5  # how many of the most recent matched items a preview lists
PAGE = 500  # stored items read at once (one short query on the Store's thread)
# the words of a text as the matcher's tokens are (letters, apostrophes inside): matching/normalize.py
_WORD = re.compile(rf"[^\W\d_]+(?:[{re.escape(APOSTROPHES)}][^\W\d_]+)*", re.UNICODE)


@dataclass(frozen=True)
class PreviewItem:
    """A stored item the new rule would have matched."""

    item_id: int
    title: str
    source_id: str
    published: datetime
    url: str


@dataclass
class Preview:
    """A new rule tried on the stored items of the last `days` days."""

    what: str  # the rule in words: a person's name, or "en keyword 'held' of detention"
    days: int
    matched: int = 0  # stored items of the period the new rule would match (that it does not now)
    recent: list[PreviewItem] = field(default_factory=list)  # the most recent of them, newest first
    per_week: list[tuple[date, int]] = field(default_factory=list)  # Monday of each ISO week, alerts

    @property
    def alerts(self) -> int:
        return sum(n for _, n in self.per_week)

    def text(self) -> str:
        """The lines the bot shows under the rule (titles are fine in the monitors' chat)."""
        lines = [f"{self.matched} stored item(s) of the last {self.days} days would have matched."]
        if not self.matched:
            return lines[0]
        weeks = ", ".join(f"{monday:%d %b}: {n}" for monday, n in self.per_week)
        lines.append(f"{self.alerts} alert(s) it would have produced; per week from Monday {weeks}"
                     if self.alerts else "None of them would have alerted.")
        lines.append("Most recent:")
        lines += [f"• {item.published:%d %b} {_short(item.title)} ({item.source_id})" for item in self.recent]
        return "\n".join(lines)


def _short(title: str, most: int = 90) -> str:
    title = " ".join(title.split())
    return title if len(title) <= most else title[:most - 1] + "…"


def with_rules(rules: Rules, **changes: object) -> Rules:
    """`rules` with some fields replaced and a compile cache of its own (the matcher compiled
    for the old rules must never be taken for the new ones)."""
    return dataclasses.replace(rules, _compiled={}, **changes)  # type: ignore[arg-type]


def preview_person(store: Store, rules: Rules, person: Person, now: datetime, days: int = 30) -> Preview:
    """What watching `person` would have matched and alerted in the last `days` days."""
    proposed = with_rules(rules, people=(*rules.people, person))
    matcher = Matcher(Rules((person,), {}))
    may_name = None if person.regex else _NameWords(matcher)
    hits: list[tuple[StoredItem, bool]] = []
    for stored in _items_since(store, now - timedelta(days=days)):
        text = stored.item.text()
        if may_name is None:  # a person's regex may match anything: the whole analysis
            matches = matcher.analyse(text).matches
        elif may_name(text):  # only their names, read as the matcher reads them
            shown = visible(text).text
            matches = [mention_match(matcher.names, m, shown) for m in matcher.names.find(shown, tokenize(shown))]
        else:
            continue
        if matches:
            hits.append((stored, alert_worthy(matches, proposed)[0]))
    return _preview(person.name, days, now, hits)


def preview_keyword(store: Store, rules: Rules, type_id: str, lang: str, word: str, now: datetime,
                    days: int = 30) -> Preview:
    """What adding `word` to the `lang` keywords of incident type `type_id` would have newly
    matched and alerted in the last `days` days. Refuses (EditRefused, a message for the
    monitor) an unknown type, a bad keyword or one the type already has."""
    proposed = with_keyword(rules, type_id, lang, word)
    type_id = type_id.strip()
    rule, incident = f"incident:{type_id}", rules.incident_types[type_id]
    before = IncidentIndex({type_id: incident})
    after = IncidentIndex({type_id: proposed.incident_types[type_id]})
    regex = incident.compiled_regex() if incident.regex else None  # the same before and after
    people = matcher_for(rules)  # compiled already for the rules in force
    may_match = _KeywordWords(type_id, lang, word)
    hits: list[tuple[StoredItem, bool]] = []
    for stored in _items_since(store, now - timedelta(days=days)):
        text = stored.item.text()
        if not may_match(text):
            continue
        shown = visible(text).text
        if regex is not None and regex.search(shown):
            continue  # the type's regex matches it already
        tokens = tokenize(shown)
        hit = next((h for h in after.find(shown, tokens)[0] if h.label == type_id), None)
        if hit is None or any(h.label == type_id for h in before.find(shown, tokens)[0]):
            continue
        span = (tokens[hit.first].start, tokens[hit.last].end)
        found = Match(rule, "incident", hit.keyword, span, shown[span[0]:span[1]], hit.why)
        hits.append((stored, alert_worthy([*people.analyse(text).matches, found], proposed)[0]))
    return _preview(f"{lang.strip().lower()} keyword {' '.join(word.split())!r} of {type_id}", days, now, hits)


def _items_since(store: Store, since: datetime) -> Iterator[StoredItem]:
    """Items first stored since `since`, oldest first (as history.stored.items_seen), read a page
    at a time on the Store's thread, so a worker thread's preview holds the loop only briefly."""
    sql = (f"SELECT {_COLUMNS} FROM items WHERE first_seen >= ? AND (first_seen > ? OR (first_seen = ? AND id > ?))"
           " ORDER BY first_seen, id LIMIT ?")
    after: tuple[str, int] = (iso(since), -1)
    while True:
        params = (iso(since), after[0], after[0], after[1], PAGE)
        rows = on_store_thread(lambda: store.conn.execute(sql, params).fetchall())
        for row in rows:
            yield _stored(row)
        if len(rows) < PAGE:
            return
        after = (rows[-1]["first_seen"], int(rows[-1]["id"]))


def with_keyword(rules: Rules, type_id: str, lang: str, word: str) -> Rules:
    """The rules with `word` added to the `lang` keywords of `type_id` (refused as the editor
    would refuse it)."""
    type_id, lang, word = type_id.strip(), lang.strip().lower(), " ".join(word.split())
    incident = rules.incident_types.get(type_id)
    if incident is None:
        known = ", ".join(sorted(rules.incident_types)) or "none defined"
        raise EditRefused(f"unknown incident type {type_id!r}; known types: {known}")
    try:
        check_keyword(lang, word)
    except ValueError as exc:
        raise EditRefused(str(exc)) from None
    words = incident.keywords.get(lang, ())
    if word.casefold() in {w.casefold() for w in words}:
        raise EditRefused(f"{word!r} is already a {lang} keyword of {type_id}")
    changed = incident.model_copy(update={"keywords": {**incident.keywords, lang: (*words, word)}})
    return with_rules(rules, incident_types={**rules.incident_types, type_id: changed})


class _NameWords:
    """Could this text name the matcher's people? Only if one of its words is, by spelling key,
    a form of a part of their names (how NameIndex.hits and its listed phrases look words up):
    every mention, full, fuzzy or surname alone, has one part found that way. Asked once per
    distinct word, so most items are passed over without tokenising them (a preview must not
    make the monitor wait)."""

    def __init__(self, matcher: Matcher):
        self.names = matcher.names
        self.seen: dict[str, bool] = {}

    def _word(self, word: str) -> bool:
        found = self.seen.get(word)
        if found is None:
            lookup = self.names.lookup
            found = (any(key in lookup for key in name_keys(split_suffix(word)[0]))
                     or name_key(word) in self.names.phrase_starts)
            self.seen[word] = found
        return found

    def __call__(self, text: str) -> bool:
        return any(self._word(w) for w in set(_WORD.findall(visible(text).text)))


class _KeywordWords:
    """Could this text hold the new keyword? Only if one of its words fills the keyword's first
    word (by lemma, stem or country, as IncidentIndex resolves it), asked once per word."""

    def __init__(self, type_id: str, lang: str, word: str):
        self.index = IncidentIndex({type_id: IncidentType(keywords={lang: (word,)})})
        self.seen: dict[str, bool] = {}

    def _word(self, word: str) -> bool:
        found = self.seen.get(word)
        if found is None:
            found = self.seen[word] = bool(self.index.resolve(word_norm(word))[1])
        return found

    def __call__(self, text: str) -> bool:
        return any(self._word(w) for w in set(_WORD.findall(visible(text).text)))


def _preview(what: str, days: int, now: datetime, hits: list[tuple[StoredItem, bool]]) -> Preview:
    """The preview of these matched items: alerts per week by when each was first stored (when
    its alert would have gone out), recency by publication."""
    start = week_of(now - timedelta(days=days))
    weeks = {start + timedelta(weeks=n): 0 for n in range((week_of(now) - start).days // 7 + 1)}
    for stored, worthy in hits:
        if worthy:
            monday = week_of(stored.first_seen)
            weeks[monday] = weeks.get(monday, 0) + 1
    newest = sorted(hits, key=lambda h: (h[0].item.published, h[0].id), reverse=True)[:RECENT]
    recent = [PreviewItem(s.id, s.item.title or s.item.summary[:120], s.item.source_id, s.item.published, s.item.url)
              for s, _ in newest]
    return Preview(what, days, len(hits), recent, sorted(weeks.items()))
