"""Plain value types passed between fetching, parsing, matching, storage and delivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Response:
    """A downloaded document, read in full (under the size cap). Parsing needs nothing else."""

    url: str
    status: int
    headers: dict[str, str]
    content: bytes
    fetched_at: datetime

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(frozen=True)
class Item:
    """One entry of a source: a news article, a judgment, a notice."""

    source_id: str
    key: str  # stable per source: guid, else canonical link, else content hash
    title: str
    summary: str  # plain text
    url: str  # canonical
    published: datetime  # UTC
    language: str | None = None
    content_hash: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # structured extras (court, case number, ...)
    # what the parser noticed about the source while reading this item, e.g. "guid_reused",
    # "mojibake": never stored with the item; the pipeline turns them into the source's notice
    flags: tuple[str, ...] = ()

    def text(self) -> str:
        """Everything that is matched: title, summary and the structured fields."""
        parts = [self.title, self.summary, *self.fields.values()]
        return "\n".join(p for p in parts if p)


def story_key(key: str, digest: str) -> str:
    """The key of a story that arrived under a key (a guid) already used by another story."""
    return f"{key}#{digest[:16]}"


@dataclass(frozen=True)
class Match:
    """Why an item matched one rule."""

    rule: str  # "person:<canonical name>", "incident:<type id>"
    kind: str  # "person" | "incident"
    variant: str  # the name, alias or keyword of the rule that matched
    span: tuple[int, int]  # offsets into Item.text()
    text: str  # the text found at the span
    why: str  # a human explanation


@dataclass(frozen=True)
class Message:
    """A rendered alert, ready for any notifier."""

    text: str  # plain text
    html: str | None = None  # Telegram's HTML subset; every line closes its own tags
    subject: str = ""
    urgent: bool = False
    alert_ids: tuple[int, ...] = ()  # the outbox rows this message delivers (buttons refer to them)
    # an incident's later report: replace the text of this earlier message (an id `send` returned)
    edit: str | None = None
    # a reply threaded to this earlier message (a later report, or a new development of a case)
    reply_to: str | None = None
    silent: bool = False  # deliver without a notification sound (a later report of an incident)
