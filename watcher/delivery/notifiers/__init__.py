"""Notifiers: where alerts go. `configured_notifiers` picks them from the environment.

Environment: WATCHER_TELEGRAM_TOKEN and WATCHER_TELEGRAM_CHAT (the monitors' channel or group:
the default route; one chat only, more chats are routes in rules/routes.yaml) switch alerts
from the console to Telegram; each Telegram destination of the routes gets a notifier of its
own name (printed to the console, labelled, while no token is set); WATCHER_TELEGRAM_ADMIN_CHAT receives health
warnings; WATCHER_TELEGRAM_API points at another Bot API server (a local one, or a test
double), e.g. http://127.0.0.1:8081 (the /bot path is added when missing).
"""

from __future__ import annotations

from collections.abc import Mapping

from watcher.errors import ConfigError, ConfigProblem
from watcher.delivery.notifiers.base import Notifier
from watcher.delivery.notifiers.console import ConsoleNotifier

__all__ = ["Notifier", "ConsoleNotifier", "add_route_chats", "configured_notifiers", "default_destinations", "api_base"]


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


def configured_notifiers(env: Mapping[str, str], chats: Mapping[str, str] | None = None,
                         ) -> tuple[dict[str, Notifier], Notifier | None]:
    """The alert destinations this environment configures (the console when there is none)
    plus one per Telegram destination of the routes (`chats`: name -> chat id), and the admin
    chat's notifier for health warnings, if one is configured."""
    token = env.get("WATCHER_TELEGRAM_TOKEN", "").strip()
    chat = env.get("WATCHER_TELEGRAM_CHAT", "").strip()
    if "," in chat or ";" in chat or len(chat.split()) > 1:
        raise ConfigError([ConfigProblem("environment", None,
                                         "WATCHER_TELEGRAM_CHAT takes one chat id; to send to several chats,"
                                         " name them as destinations in rules/routes.yaml (see README, Routes)")])
    chats = dict(chats or {})
    if not token:
        consoles: dict[str, Notifier] = {"console": ConsoleNotifier()}
        consoles.update({name: ConsoleNotifier(name=name) for name in chats})
        return consoles, None
    if not chat:
        raise ConfigError([ConfigProblem("environment", None,
                                         "WATCHER_TELEGRAM_TOKEN is set but WATCHER_TELEGRAM_CHAT is not")])
    from watcher.delivery.notifiers.telegram import TelegramNotifier

    bot, gate = _bot(token, _api_base(env))
    alerts: dict[str, Notifier] = {"telegram": TelegramNotifier(bot, chat, gate)}  # type: ignore[arg-type]
    for name, chat_id in chats.items():
        alerts[name] = TelegramNotifier(bot, chat_id, gate, name=name)  # type: ignore[arg-type]
    admin_chat = env.get("WATCHER_TELEGRAM_ADMIN_CHAT", "").strip()
    admin = TelegramNotifier(bot, admin_chat, gate, name="telegram-admin", buttons=False) if admin_chat else None  # type: ignore[arg-type]
    return alerts, admin


def add_route_chats(notifiers: dict[str, Notifier], chats: Mapping[str, str]) -> list[str]:
    """After the routes changed: a notifier for each new Telegram destination (sharing the bot
    and flood gate of the default chat's, or a labelled console without a token); a changed
    chat id takes effect for the next send. Destinations dropped from the routes keep their
    notifier, so what waits for them is still delivered. Returns the names added."""
    from watcher.delivery.notifiers.telegram import TelegramNotifier

    base = notifiers.get("telegram")
    added = []
    for name, chat_id in chats.items():
        current = notifiers.get(name)
        if isinstance(current, TelegramNotifier):
            current.chat_id = str(chat_id)
            continue
        if current is not None:
            continue
        if isinstance(base, TelegramNotifier):
            notifiers[name] = TelegramNotifier(base.bot, chat_id, base.gate, name=name)
        else:
            notifiers[name] = ConsoleNotifier(name=name)
        added.append(name)
    return added


def default_destinations(notifiers: Mapping[str, Notifier], chats: Mapping[str, str]) -> list[str]:
    """What the routes' destination `default` stands for: every notifier that is not a route's
    Telegram destination (the WATCHER_TELEGRAM_CHAT chat, or the console)."""
    return [name for name in notifiers if name not in chats]
