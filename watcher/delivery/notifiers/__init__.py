"""Notifiers: where alerts go. `configured_notifiers` picks them from the environment.

Environment: WATCHER_TELEGRAM_TOKEN and WATCHER_TELEGRAM_CHAT (the monitors' channel or group)
switch alerts from the console to Telegram; WATCHER_TELEGRAM_ADMIN_CHAT receives health
warnings; WATCHER_TELEGRAM_API points at another Bot API server (a local one, or a test
double), e.g. http://127.0.0.1:8081 (the /bot path is added when missing).
"""

from __future__ import annotations

from collections.abc import Mapping

from watcher.errors import ConfigError, ConfigProblem
from watcher.delivery.notifiers.base import Notifier
from watcher.delivery.notifiers.console import ConsoleNotifier

__all__ = ["Notifier", "ConsoleNotifier", "configured_notifiers", "api_base"]


def api_base(env: Mapping[str, str]) -> str:
    """The Bot API base URL PTB wants: ".../bot", the token appended by PTB."""
    return _api_base(env)


def _api_base(env: Mapping[str, str]) -> str:
    base = (env.get("WATCHER_TELEGRAM_API") or "https://api.telegram.org").rstrip("/")
    return base if base.endswith("/bot") else base + "/bot"


def _bot(token: str, api: str) -> tuple[object, object]:
    """A Bot and its FloodGate; the alert and admin notifiers of one process share them, so
    limits and a 429 pause apply to the whole bot."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from watcher.delivery.notifiers.telegram import FloodGate

    request = HTTPXRequest(connect_timeout=10.0, read_timeout=20.0, write_timeout=20.0, pool_timeout=5.0)
    return Bot(token, base_url=api, request=request), FloodGate()


def configured_notifiers(env: Mapping[str, str]) -> tuple[dict[str, Notifier], Notifier | None]:
    """The alert destinations this environment configures (the console when there is none),
    and the admin chat's notifier for health warnings, if one is configured."""
    token = env.get("WATCHER_TELEGRAM_TOKEN", "").strip()
    if not token:
        return {"console": ConsoleNotifier()}, None
    chat = env.get("WATCHER_TELEGRAM_CHAT", "").strip()
    if not chat:
        raise ConfigError([ConfigProblem("environment", None,
                                         "WATCHER_TELEGRAM_TOKEN is set but WATCHER_TELEGRAM_CHAT is not")])
    from watcher.delivery.notifiers.telegram import TelegramNotifier

    bot, gate = _bot(token, _api_base(env))
    alerts: dict[str, Notifier] = {"telegram": TelegramNotifier(bot, chat, gate)}  # type: ignore[arg-type]
    admin_chat = env.get("WATCHER_TELEGRAM_ADMIN_CHAT", "").strip()
    admin = TelegramNotifier(bot, admin_chat, gate, name="telegram-admin", buttons=False) if admin_chat else None  # type: ignore[arg-type]
    return alerts, admin
