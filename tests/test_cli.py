"""The command line: every command documented, paths from options or environment."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from conftest import rss

from watcher.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append(prefix + (name,))
        if isinstance(command, click.Group):
            out.extend(_commands(command, prefix + (name,)))
    return out


@pytest.mark.parametrize("path", _commands(cli), ids=lambda p: " ".join(p))
def test_every_command_has_help_text(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.strip()) > 20
    assert command.help.split("\n")[0].strip() in " ".join(result.output.split())


def test_paths_come_from_environment_variables(ws) -> None:
    ws.write_feeds({"id": "envsource", "url": ws.serve("/f.xml", rss(("a", "Title", "Text")))})
    env = {"WATCHER_FEEDS": str(ws.feeds), "WATCHER_RULES": str(ws.rules), "WATCHER_STATE": str(ws.state)}
    result = CliRunner(env=env).invoke(cli, ["poll", "--once"])
    assert result.exit_code == 0, result.output
    assert (ws.state / "watcher.db").exists()
    listing = CliRunner(env=env).invoke(cli, ["sources"])
    assert "envsource" in listing.stdout and " ok " in listing.stdout


def test_poll_unknown_source_is_a_usage_error(ws) -> None:
    ws.write_feeds({"id": "a", "url": ws.serve("/f.xml", rss(("a", "T", "S")))})
    result = ws.cli("poll", "--once", "--source", "nope")
    assert result.exit_code == 2 and "no source with id nope" in result.stderr


def test_poll_one_source_only(ws) -> None:
    ws.write_feeds({"id": "a", "url": ws.serve("/a.xml", rss(("a", "T", "S")))},
                   {"id": "b", "url": ws.serve("/b.xml", rss(("b", "T2", "S2")))})
    result = ws.cli("poll", "--once", "--source", "b")
    assert "polled 1 source(s): 1 new item(s)" in result.stderr
    assert ws.server.routes["/a.xml"].hits == 0 and ws.server.routes["/b.xml"].hits == 1


def test_sources_lists_configured_sources_never_polled(ws) -> None:
    ws.write_feeds({"id": "fresh", "url": "https://example.org/feed", "enabled": "false"})
    result = ws.cli("sources")
    assert result.exit_code == 0
    assert "fresh" in result.stdout and "new (disabled)" in result.stdout and "never" in result.stdout


def test_feeds_check(ws) -> None:
    ws.write_feeds({"id": "a", "url": "https://example.org/feed"})
    ok = ws.cli("feeds", "check")
    assert ok.exit_code == 0 and "feeds OK: 1 sources, 1 enabled" in ok.stdout
    ws.write_feeds({"id": "a", "url": "https://example.org/feed", "every": "often"})
    bad = ws.cli("feeds", "check")
    assert bad.exit_code == 1 and "feeds.yaml:3: source 'a': every: 'often'" in bad.stderr


def test_demo_prints_alerts_without_network() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    alerts = result.stdout.count("[watcher]")
    assert alerts >= 5
    assert "Person: Bakhodir Karimov" in result.stdout
    assert "Islam Karimov" not in result.stdout  # the president's namesake items never alert
    assert f"{alerts} alert(s) printed above" in result.stderr
