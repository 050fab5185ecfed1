"""Durations as monitors write them in YAML and on the command line: 30s, 15m, 2h, 1d, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: object, *, allow_zero: bool = False) -> timedelta:
    """Parse '15m' or '1h30m'; raise ValueError with a message fit for a config error."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration like 15m, 2h")
    compact = text.strip().lower()
    if not compact or _PART.sub("", compact) != "":
        raise ValueError(f"{text!r} is not a duration like 15m, 2h")
    seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(compact))
    if seconds <= 0 and not allow_zero:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, shortest form first (5400s -> '1h30m')."""
    seconds = int(value.total_seconds())
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT[unit]
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"
