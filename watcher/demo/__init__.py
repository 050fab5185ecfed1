"""`watcher demo`: a full poll-match-alert cycle against bundled recorded feeds on loopback.

The feeds in demo/feeds/ are real recordings (HUDOC RSS, UK Find Case Law Atom) and news
feeds built from sentences of published reporting; demo/rules/ watches a few people from
that reporting. The demo's sources use `backfill: alert`, so the first poll alerts.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from watcher.app import App
from watcher.config import Paths
from watcher.demo.replay import ReplayServer

HERE = Path(__file__).parent


def run_demo(state: Path) -> None:
    """The demo in `state` (0700, its files 0600, like any state folder): the bundled rules are
    copied there, so the demo runs on private files as a real deployment must."""
    old = os.umask(0o077)
    try:
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(state, 0o700)
        rules = state / "demo-rules"
        rules.mkdir(exist_ok=True, mode=0o700)
        for path in (HERE / "rules").glob("*.yaml"):
            (rules / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            os.chmod(rules / path.name, 0o600)
    finally:
        os.umask(old)
    with ReplayServer.from_folder(HERE / "feeds") as server:
        template = (HERE / "feeds.yaml").read_text(encoding="utf-8")
        feeds = state / "demo-feeds.yaml"
        feeds.write_text(template.replace("{port}", str(server.port)), encoding="utf-8")
        app = App.build(Paths(feeds=feeds, rules=rules, state=state))
        click.echo(f"watcher demo: replaying {len(server.routes)} recorded feeds from {server.url('/')}", err=True)

        async def cycle() -> None:
            try:
                reports = await app.poll(app.enabled(), respect_backoff=False)
                delivery = await app.deliver()
            finally:
                await app.aclose()
            for r in reports:
                click.echo(f"  {r.source_id}: {r.state}, {r.items} items, {r.new} new, {r.alerts} alert(s)", err=True)
            click.echo(f"watcher demo: {delivery.sent} alert(s) printed above", err=True)

        asyncio.run(cycle())
