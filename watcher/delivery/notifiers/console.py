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

    def __init__(self, stream: TextIO | None = None, name: str = "console"):
        self._stream = stream
        self.name = name  # a route's destination printed here when no Telegram token is set

    async def send(self, message: Message) -> str | None:
        stream = self._stream or sys.stdout
        try:
            head = ""
            if message.edit is not None:
                head = f"[update of the alert above (message {message.edit}): now reads]\n"
            elif message.reply_to is not None or message.silent:
                head = "[reply to an earlier alert]\n" if not message.silent else ""
            label = f"[to {self.name}]\n" if self.name != "console" else ""
            stream.write(f"{RULE}\n{label}{head}{message.text}\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"could not write to the console: {exc}") from exc
        return None
