"""Where watcher's log goes and how it reads: stderr always, optionally a rotating file; text or JSON.

`--log-format json` (WATCHER_LOG_FORMAT) writes one JSON object per line (time, level, logger,
message, and the traceback when there is one), for journald, Loki or any collector.
`WATCHER_LOG_FILE` adds a size-rotated file (WATCHER_LOG_MAX, default 10 MB; WATCHER_LOG_KEEP
old files, default 5), created 0600 in a 0700 folder: the log never names watched people above
DEBUG, but it is the monitors' business all the same.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from watcher.errors import ConfigError, ConfigProblem

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("httpx", "httpcore", "apscheduler")
_SIZES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message[, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _size(text: str) -> int:
    """'10M' -> bytes; a plain number is bytes."""
    raw = text.strip().lower().rstrip("b")
    unit = _SIZES.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in _SIZES else raw
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a size like 10M")
    return int(number) * unit


class PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are 0600 (rotation creates new ones)."""

    def _open(self):  # type: ignore[no-untyped-def]
        old = os.umask(0o077)
        try:
            stream = super()._open()
        finally:
            os.umask(old)
        os.chmod(self.baseFilename, 0o600)
        return stream


def log_handlers(fmt: str, env: Mapping[str, str]) -> list[logging.Handler]:
    """The handlers this environment asks for: stderr, and WATCHER_LOG_FILE if set."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    target = env.get("WATCHER_LOG_FILE", "").strip()
    if target:
        problems = []
        try:
            most = _size(env.get("WATCHER_LOG_MAX", "10M"))
        except ValueError as exc:
            problems.append(ConfigProblem("environment", None, f"WATCHER_LOG_MAX: {exc}"))
            most = 10 << 20
        keep_text = env.get("WATCHER_LOG_KEEP", "5").strip()
        if not keep_text.isdigit():
            problems.append(ConfigProblem("environment", None, f"WATCHER_LOG_KEEP: {keep_text!r} is not a number"))
        if problems:
            raise ConfigError(problems)
        path = Path(target)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handlers.append(PrivateRotatingFile(path, maxBytes=most, backupCount=int(keep_text), encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    return handlers


def setup_logging(level: str, fmt: str = "text", env: Mapping[str, str] | None = None) -> None:
    """Configure the root logger once per command."""
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=log_handlers(fmt, env or os.environ),
                        force=True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
