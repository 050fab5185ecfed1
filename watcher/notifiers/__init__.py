"""Notifiers: where alerts go. `configured_notifiers` picks them from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from watcher.notifiers.base import Notifier
from watcher.notifiers.console import ConsoleNotifier

__all__ = ["Notifier", "ConsoleNotifier", "configured_notifiers"]


def configured_notifiers(env: Mapping[str, str]) -> dict[str, Notifier]:
    """The alert destinations this environment configures; the console when there is none."""
    notifiers: dict[str, Notifier] = {}
    if not notifiers:
        notifiers["console"] = ConsoleNotifier()
    return notifiers
