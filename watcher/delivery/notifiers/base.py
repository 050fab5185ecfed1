"""The one interface every notifier implements (as apprise's, but raising instead of returning False).

`send` delivers one rendered message and returns an id for it if the service gives one, or
raises DeliveryError so the outbox keeps the alert and retries it later.

`unknown_outcome` says what to do with an alert whose send was interrupted by a crash (we
recorded 'sending' but never learnt the result): "resend" (the reader may see a duplicate) or
"assume_sent" (the reader may miss it). Each notifier picks what is least harmful for it.
"""

from __future__ import annotations

from typing import Literal, Protocol

from watcher.models import Message


class Notifier(Protocol):
    name: str
    unknown_outcome: Literal["resend", "assume_sent"]

    async def send(self, message: Message) -> str | None:
        """Deliver one message or raise DeliveryError."""
        ...
