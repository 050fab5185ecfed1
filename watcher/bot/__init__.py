"""The bot wing: the monitors' Telegram bot (commands, buttons, who may use it).

- commands.py: `MonitorsBot` and its slash commands (/watch with preview, /keyword, /test, ...).
- buttons.py: the inline buttons (confirm /watch, feedback, mute).
- access.py: the allowlist of monitors' Telegram user ids.

May import the core and every lower wing (rules, store, matching); only `scheduler.py` and the
CLI start it. Nothing below imports the bot.
"""

from watcher.bot.access import load_allowlist
from watcher.bot.commands import HELP, MonitorsBot, parse_watch

__all__ = ["HELP", "MonitorsBot", "load_allowlist", "parse_watch"]
