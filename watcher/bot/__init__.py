"""The bot wing: the monitors' Telegram bot (commands, buttons, who may use it)."""

from watcher.bot.commands import HELP, MonitorsBot, load_allowlist, parse_watch

__all__ = ["HELP", "MonitorsBot", "load_allowlist", "parse_watch"]
