"""Shared test fixtures: a real HTTP server on loopback, a workspace with feeds/rules/state."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from watcher.cli import cli
from watcher.demo.replay import ReplayServer, Route

FIXTURES = Path(__file__).parent / "fixtures"
FEEDS = FIXTURES / "feeds"

INCIDENTS = """\
incident_types:
  extradition:
    urgent: true
    alone: true
    keywords:
      en: [extradition, extradite*]
      ru: [экстрадиц*]
  detention:
    urgent: false
    alone: false
    keywords:
      en: [detained, detention]
"""


def free_port() -> int:
    """A loopback port nobody listens on (for servers that need it before they start, and 'down' tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def feed_bytes(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def rss(*items: tuple[str, str, str], guid: bool = True, days_apart: int = 4) -> bytes:
    """A small RSS 2.0 document; items are (key, title, description). The first is published
    on 2 Nov 2026 10:00 UTC, each next one `days_apart` days earlier: by default farther apart
    than the incident window, so items naming one person are separate incidents (one alert
    each, the later ones as follow-ups of the case); 0 makes them reports of one incident."""
    start = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
    body = "".join(
        f"<item><title>{t}</title><link>https://news.example.org/{k}?utm_source=rss</link>"
        + (f"<guid>https://news.example.org/{k}</guid>" if guid else "")
        + f"<description>{d}</description><pubDate>{format_datetime(start - timedelta(days=days_apart * i), usegmt=True)}"
        + "</pubDate></item>"
        for i, (k, t, d) in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test feed</title>'
        f"<link>https://news.example.org/</link><description>t</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture(autouse=True)
def _no_evidence_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test items link to news.example.org: keeping their pages would reach for the internet.
    Tests of the evidence archive switch it back on and serve the pages from loopback."""
    monkeypatch.setenv("WATCHER_EVIDENCE", "0")


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


@dataclass
class Workspace:
    root: Path
    server: ReplayServer

    @property
    def feeds(self) -> Path:
        return self.root / "feeds.yaml"

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def serve(self, path: str, body: bytes, **kwargs: object) -> str:
        self.server.routes[path] = Route(body=body, **kwargs)  # type: ignore[arg-type]
        return self.server.url(path)

    def write_feeds(self, *sources: dict[str, object]) -> None:
        lines = ["sources:"]
        for source in sources:
            entry = {"type": "rss", "every": "15m", "allow_private": "true", **source}  # the server is on loopback
            first = True
            for key, value in entry.items():
                lines.append(f"  {'- ' if first else '  '}{key}: {value}")
                first = False
        self.feeds.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def write_rules(self, people: str = "people: []\n", incidents: str = INCIDENTS) -> None:
        self.rules.mkdir(exist_ok=True)
        (self.rules / "people.yaml").write_text(textwrap.dedent(people), encoding="utf-8")
        (self.rules / "incidents.yaml").write_text(textwrap.dedent(incidents), encoding="utf-8")

    def cli(self, *args: str) -> Result:
        base = ["--feeds", str(self.feeds), "--rules", str(self.rules), "--state", str(self.state)]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


@pytest.fixture
def ws(tmp_path: Path, server: ReplayServer) -> Workspace:
    workspace = Workspace(tmp_path, server)
    workspace.write_rules()
    return workspace
