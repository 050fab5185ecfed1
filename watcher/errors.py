"""The exceptions watcher raises, so callers can tell a bad file from a bad source.

    WatcherError
    ├── ConfigError            a feeds.yaml or rules file was refused (carries file:line)
    ├── SourceError            one poll of one source went wrong; `health` names the state
    │   ├── FetchFailed        HTTP error, timeout, DNS/TLS/connection failure  -> failing
    │   ├── SourceBlocked      403/429, captcha or HTML challenge page          -> blocked
    │   │   └── FormatChanged  a database answered in a shape we do not know    -> blocked
    │   ├── EmptyFeed          200 with an empty or item-less body              -> zombie
    │   ├── ParseFailed        the body is not a feed we can read               -> failing
    │   └── TooLarge           the body is over the size cap                    -> failing
    ├── EditRefused            a monitor's rule edit was not made (the message says why)
    └── DeliveryError          a notifier could not deliver; the outbox retries it

`NotModified` is not an error: it is how a fetch says "304, nothing to parse".
"""

from __future__ import annotations

from dataclasses import dataclass


class WatcherError(Exception):
    """Base of every error watcher raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one configuration file, located by line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ConfigError(WatcherError):
    """A configuration or rules file was refused; holds every problem found, each with file:line."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SourceError(WatcherError):
    """One poll of one source failed. `health` is the state the source moves to."""

    health = "failing"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int = 0):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class FetchFailed(SourceError):
    health = "failing"


class SourceBlocked(SourceError):
    health = "blocked"


class EmptyFeed(SourceError):
    health = "zombie"


class ParseFailed(SourceError):
    health = "failing"


class FormatChanged(SourceBlocked):
    """The database answered, but not in the shape we know: treated as blocked, never as 'nothing new'."""


class TooLarge(SourceError):
    health = "failing"


class NotModified(Exception):
    """The server answered 304: the stored copy is current and nothing needs parsing."""


class EditRefused(WatcherError):
    """An edit was not made; the message says why, for the monitor who asked.

    `problems` holds the loader's findings when the edit would have made the rules invalid."""

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None):
        super().__init__(message)
        self.problems = problems or []


class DeliveryError(WatcherError):
    """A notifier failed to deliver. `permanent` errors are not retried (e.g. a refused message)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 uncertain: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.uncertain = uncertain  # the service may have delivered it (an answer that never came)
