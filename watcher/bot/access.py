"""Who may use the monitors' bot: the allowlist of Telegram user ids.

Ids come from `monitors:` in rules/monitors.yaml and from WATCHER_TELEGRAM_MONITORS (comma-
separated). A malformed id is a ConfigError with the file named, like any other rules error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML

from watcher.errors import ConfigError, ConfigProblem


def load_allowlist(rules_dir: Path, env: Mapping[str, str]) -> set[int]:
    """User ids allowed to edit: rules/monitors.yaml `monitors:` plus WATCHER_TELEGRAM_MONITORS."""
    ids: set[int] = set()
    path = rules_dir / "monitors.yaml"
    if path.exists():
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("monitors") or []:
            value = entry.get("id") if isinstance(entry, dict) else entry
            if not isinstance(value, int):
                raise ConfigError([ConfigProblem("monitors.yaml", None, f"{value!r} is not a Telegram user id")])
            ids.add(value)
    for part in env.get("WATCHER_TELEGRAM_MONITORS", "").replace(";", ",").split(","):
        if part.strip():
            if not part.strip().lstrip("-").isdigit():
                raise ConfigError([ConfigProblem("WATCHER_TELEGRAM_MONITORS", None, f"{part!r} is not a user id")])
            ids.add(int(part))
    return ids
