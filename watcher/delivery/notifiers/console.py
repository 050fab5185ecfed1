"""Alerts printed as readable text: the default destination when no Telegram token is set."""

from __future__ import annotations

import sys
from typing import Literal, TextIO

from watcher.errors import DeliveryError
from watcher.models import Message

RULE = "─" * 72


class ConsoleNotifier:
    name = "console"
    # Printing twice is better than never: an interrupted print is printed again on restart.
    unknown_outcome: Literal["resend", "assume_sent"] = "resend"

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream

    async def send(self, message: Message) -> str | None:
        stream = self._stream or sys.stdout
        try:
            stream.write(f"{RULE}\n{message.text}\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"could not write to the console: {exc}") from exc
        return None
