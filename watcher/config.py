"""feeds.yaml: the declarative list of sources, validated strictly with file:line errors.

Each entry is validated by the Settings model of its `type` (found in watcher.sources), so a
new source type brings its own keys. Every problem in the file is reported at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from watcher.errors import ConfigError, ConfigProblem
from watcher.sources import SourceSettings, source_types
from watcher.yamlfile import Located, describe_validation_error, load_yaml


@dataclass(frozen=True)
class Paths:
    """Where watcher reads its configuration and keeps its state."""

    feeds: Path
    rules: Path
    state: Path

    @property
    def db(self) -> Path:
        return self.state / "watcher.db"


def load_feeds(path: Path) -> list[SourceSettings]:
    """Load and validate feeds.yaml; raise ConfigError listing every problem with its line."""
    doc = load_yaml(path, kind="feeds")
    return parse_feeds(doc)


def feeds_validator(display: str) -> Callable[[str], None]:
    """validate(text) for an edit of feeds.yaml (rules/feedsedit.py FeedsEditor, used by the
    CLI and the bot): the text as watcher would load it, file:line errors named `display`,
    checked from a private temporary copy."""
    def validate(text: str) -> None:
        with tempfile.TemporaryDirectory(prefix="watcher-feeds-") as tmp:
            copy = Path(tmp) / display
            copy.write_text(text, encoding="utf-8")
            parse_feeds(load_yaml(copy, display=display, kind="feeds"))
    return validate


def parse_feeds(doc: Located) -> list[SourceSettings]:
    data = doc.data
    if not isinstance(data, dict) or "sources" not in data:
        raise ConfigError([doc.problem((), "expected a top-level 'sources:' list")])
    problems: list[ConfigProblem] = [
        doc.problem((key,), f"unknown top-level key '{key}'") for key in data if key != "sources"
    ]
    entries = data["sources"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ConfigError([doc.problem(("sources",), "'sources' must be a list of sources")])
    types = source_types()
    settings: list[SourceSettings] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        loc = ("sources", index)
        if not isinstance(entry, dict):
            problems.append(doc.problem(loc, "each source must be a mapping with id, type, ..."))
            continue
        label = f"source {entry.get('id')!r}" if entry.get("id") else f"source #{index + 1}"
        kind = entry.get("type")
        if kind not in types:
            known = ", ".join(sorted(types))
            problems.append(doc.problem(loc + ("type",), f"{label}: type: {kind!r} is not one of {known}"))
            continue
        try:
            parsed = types[kind].Settings.model_validate(_strip_none(entry))
        except ValidationError as exc:
            problems.extend(describe_validation_error(doc, exc, loc, label))
            continue
        if parsed.id in seen:
            first = doc.line_of(("sources", seen[parsed.id], "id"))
            problems.append(doc.problem(loc + ("id",), f"{label}: id is already used at line {first}"))
            continue
        seen[parsed.id] = index
        settings.append(parsed)
    if problems:
        raise ConfigError(problems)
    return settings


def _strip_none(entry: dict[str, Any]) -> dict[str, Any]:
    """`language:` left empty in YAML means 'not set', not the string 'None'."""
    return {k: v for k, v in entry.items() if v is not None}
