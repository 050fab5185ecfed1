"""The bot wing: the monitors' Telegram bot (commands by role, buttons, paced replies).

- commands.py: `MonitorsBot` (lifecycle, wiring, the role check on every command), `HELP`.
- reading.py (viewer), editing.py (editor), mutes.py (editor; /mutes viewer), admin.py (admin):
  the commands, as mixins sharing base.py's helpers and kept confirmations.
- buttons.py: the inline buttons (confirmations, feedback, the mute durations).
- access.py: roles from rules/monitors.yaml and the environment (watcher.rules.monitors).
- limits.py: replies paced per chat and retried after a flood wait; the error handler.

May import the core and every lower wing (rules, store, matching, history, delivery's button
layout); only `scheduler.py` and the CLI start it. Nothing below imports the bot.
"""

from watcher.bot.access import load_allowlist
from watcher.bot.commands import HELP, MonitorsBot, parse_watch

__all__ = ["HELP", "MonitorsBot", "load_allowlist", "parse_watch"]
