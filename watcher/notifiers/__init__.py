"""Notifiers: where alerts go. `configured_notifiers` picks them from the environment.

Environment: WATCHER_TELEGRAM_TOKEN and WATCHER_TELEGRAM_CHAT (the monitors' channel or group)
switch alerts from the console to Telegram; WATCHER_TELEGRAM_ADMIN_CHAT receives health
warnings; WATCHER_TELEGRAM_API points at another Bot API server (a local one, or a test
double), e.g. http://127.0.0.1:8081 (the /bot path is added when missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from watcher.errors import ConfigError, ConfigProblem
from watcher.notifiers.base import Notifier
from watcher.notifiers.console import ConsoleNotifier

__all__ = ["Notifier", "ConsoleNotifier", "configured_notifiers", "admin_notifier", "telegram_bot"]


def api_base(env: Mapping[str, str]) -> str:
    """The Bot API base URL PTB wants: ".../bot", the token appended by PTB."""
    return _api_base(env)


def _api_base(env: Mapping[str, str]) -> str:
    base = (env.get("WATCHER_TELEGRAM_API") or "https://api.telegram.org").rstrip("/")
    return base if base.endswith("/bot") else base + "/bot"


@cache
def _shared(token: str, api: str) -> tuple[object, object]:
    """One Bot and one FloodGate per token: limits and a 429 pause apply to the whole bot."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from watcher.notifiers.telegram import FloodGate

    request = HTTPXRequest(connect_timeout=10.0, read_timeout=20.0, write_timeout=20.0, pool_timeout=5.0)
    return Bot(token, base_url=api, request=request), FloodGate()


def telegram_bot(env: Mapping[str, str]) -> tuple[object, object] | None:
    token = env.get("WATCHER_TELEGRAM_TOKEN", "").strip()
    return _shared(token, _api_base(env)) if token else None


def configured_notifiers(env: Mapping[str, str]) -> dict[str, Notifier]:
    """The alert destinations this environment configures; the console when there is none."""
    shared = telegram_bot(env)
    if shared is None:
        return {"console": ConsoleNotifier()}
    chat = env.get("WATCHER_TELEGRAM_CHAT", "").strip()
    if not chat:
        raise ConfigError([ConfigProblem("environment", None,
                                         "WATCHER_TELEGRAM_TOKEN is set but WATCHER_TELEGRAM_CHAT is not")])
    from watcher.notifiers.telegram import TelegramNotifier

    bot, gate = shared
    return {"telegram": TelegramNotifier(bot, chat, gate)}  # type: ignore[arg-type]


def admin_notifier(env: Mapping[str, str]) -> Notifier | None:
    """Where health warnings go: the admin chat, if one is configured."""
    shared = telegram_bot(env)
    chat = env.get("WATCHER_TELEGRAM_ADMIN_CHAT", "").strip()
    if shared is None or not chat:
        return None
    from watcher.notifiers.telegram import TelegramNotifier

    bot, gate = shared
    return TelegramNotifier(bot, chat, gate, name="telegram-admin", buttons=False)  # type: ignore[arg-type]
