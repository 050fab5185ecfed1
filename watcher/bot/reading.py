"""The viewers' commands: /help, /people, /incidents, /test, /stats, /sources, /digest.

They read and change nothing, except the one-tap `not:` buttons /stats offers, which need the
editor role when pressed (buttons.py). Replies name watched people: they go only to the monitor
who asked, in their chat.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from watcher.bot.access import COMMAND_ROLES
from watcher.bot.base import HELP, BotParts
from watcher.durations import parse_duration
from watcher.history.stats import feedback_stats
from watcher.matching import analyse
from watcher.rules import incident_label
from watcher.rules.monitors import rank
from watcher.store import iso

INCIDENTS_SHOWN = 10
STATS_PERIOD = timedelta(days=30)
SUGGESTION_BUTTONS = 8  # one-tap `not:` buttons under /stats at most


class ReadingMixin(BotParts):
    """Commands every monitor (viewer and up) may use."""

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The commands this monitor's role allows (strangers: only how to get access)."""
        role = self._role(update)
        lines = ["watcher: alerts on transnational repression."]
        if role is None:
            lines.append("You are not on the monitors' list, so commands will be refused. Ask a watcher "
                         "administrator to add your Telegram user id.")
        else:
            lines.append(f"Your role: {role}. Your commands:")
            lines += [text for name, text in HELP.items() if rank(role) >= rank(COMMAND_ROLES[name])]
        await self._reply(update, "\n".join(lines))

    async def cmd_people(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        people = self.app.rules.rules.people
        lines = [f"{p.name}" + (f" ({p.country})" if p.country else "") for p in people]
        await self._reply(update, f"{len(people)} people watched:\n" + "\n".join(lines) if people
                          else "Nobody is watched yet.")

    async def cmd_incidents(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incidents = self.app.store.list_incidents(limit=INCIDENTS_SHOWN)
        if not incidents:
            await self._reply(update, "No incidents yet.")
            return
        lines = [f"The latest {len(incidents)} incident(s):"]
        for incident in incidents:
            types = ", ".join(incident_label(t) for t in incident["incident_types"]) or "no incident type"
            people = ", ".join(incident["people"]) or "nobody watched"
            lines.append(f"#{incident['id']} {types} — {people} — last seen {_when(incident['last_seen'])}")
        await self._reply(update, "\n".join(lines))

    async def cmd_test(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = self._args(update)
        if not text:
            await self._reply(update, "usage: " + HELP["test"])
            return
        result = analyse(text, self.app.rules.rules)
        lines = [f"people: {', '.join(result.people) or '-'}",
                 f"incident types: {', '.join(result.incident_types) or '-'}",
                 f"countries: {', '.join(result.countries) or '-'}"]
        lines += [f"• {m.rule}: “{m.text}” — {m.why}" for m in result.matches[:15]]
        await self._reply(update, "\n".join(lines))

    async def cmd_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Feedback per person and incident type; namesakes behind "not relevant" as buttons."""
        arg = self._args(update).strip()
        try:
            period = parse_duration(arg) if arg else STATS_PERIOD
        except ValueError as exc:
            await self._reply(update, f"{exc}\nusage: " + HELP["stats"])
            return
        now = self.app.clock()
        # up to the end of this second: stored times are whole seconds, and the period is [since, until)
        until = now.replace(microsecond=0) + timedelta(seconds=1)
        stats = feedback_stats(self.app.store, until - period, until, self.app.rules.rules)
        rows = []
        for person in stats.people:
            for namesake in person.suggestions:
                if len(rows) < SUGGESTION_BUTTONS:
                    token = self._remember("not", update, person.name, namesake)
                    rows.append([InlineKeyboardButton(_short(f"not: {namesake} (≠ {person.name})"),
                                                      callback_data=f"ok:{token}:y")])
        lines = stats.lines()
        if rows:
            lines.append("Tap a namesake to add it to that person's `not:` list (editors).")
        await self._reply(update, "\n".join(lines), **({"reply_markup": InlineKeyboardMarkup(rows)} if rows else {}))

    async def cmd_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        rows = self.app.store.sources()
        lines = [f"{r['id']}: {r['state']}, {r['items_seen']} items, last ok {r['last_ok'] or 'never'}"
                 + (f" — {r['last_error'][:80]}" if r["state"] != "ok" and r.get("last_error") else "")
                 + (f" — notice: {r['notice'][:120]}" if r["state"] == "ok" and r.get("notice") else "") for r in rows]
        await self._reply(update, "\n".join(lines) or "No sources polled yet.")

    async def cmd_digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        day = iso(self.app.clock() - timedelta(days=1))
        alerts = [a for a in self.app.store.recent_alerts(200) if a["created_at"] >= day]
        lines = [f"{len(alerts)} alert(s) in the last 24 hours:"]
        lines += [f"• {a['people'] or 'incident'}: {a['title'][:100]} ({a['source_id']})" for a in alerts[:30]]
        await self._reply(update, "\n".join(lines))


def _when(stamp: object) -> str:
    """A stored timestamp as monitors read it: '2026-03-01 14:05 UTC'."""
    return str(stamp)[:16].replace("T", " ") + " UTC" if stamp else "never"


def _short(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"
