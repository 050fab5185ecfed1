"""Source types, found by scanning this package: adding a type is adding one module.

A module here defines one `Source` subclass with a `type` (the value of `type:` in
feeds.yaml) and a pydantic `Settings` model. Nothing is registered by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from watcher.sources.base import Source, SourceSettings

__all__ = ["Source", "SourceSettings", "source_types", "build_source"]


@cache
def source_types() -> dict[str, type[Source]]:
    """Every Source subclass defined in a module of this package, by its `type`."""
    found: dict[str, type[Source]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Source) and value is not Source and value.__module__ == module.__name__:
                if value.type in found:
                    raise RuntimeError(f"two source modules claim type {value.type!r}")
                found[value.type] = value
    return found


def build_source(settings: SourceSettings) -> Source:
    return source_types()[settings.type](settings)
