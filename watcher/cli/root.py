"""The root `watcher` command group: global options, logging, and helpers every command uses."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from watcher import __version__
from watcher.config import Paths
from watcher.cli.logs import setup_logging
from watcher.errors import ConfigError

log = logging.getLogger("watcher")


def _paths(ctx: click.Context) -> Paths:
    return ctx.find_object(Paths)  # type: ignore[return-value]


def _fail_config(exc: ConfigError) -> None:
    click.echo(str(exc), err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="watcher")
@click.option("--feeds", type=click.Path(path_type=Path), envvar="WATCHER_FEEDS", default="feeds.yaml",
              show_default=True, help="The sources file (env WATCHER_FEEDS).")
@click.option("--rules", type=click.Path(path_type=Path), envvar="WATCHER_RULES", default="rules",
              show_default=True, help="The folder of rules files (env WATCHER_RULES).")
@click.option("--state", type=click.Path(path_type=Path), envvar="WATCHER_STATE", default="state",
              show_default=True, help="The folder for watcher.db (env WATCHER_STATE).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              envvar="WATCHER_LOG_LEVEL", show_default=True, help="Log level on stderr (env WATCHER_LOG_LEVEL).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", envvar="WATCHER_LOG_FORMAT",
              show_default=True, help="Log lines as text or one JSON object each (env WATCHER_LOG_FORMAT); "
              "WATCHER_LOG_FILE adds a rotating file.")
@click.pass_context
def cli(ctx: click.Context, feeds: Path, rules: Path, state: Path, log_level: str, log_format: str) -> None:
    """watcher: polls news feeds and court databases, matches watched exiles and incidents,
    and alerts monitors. Alerts go to stdout unless Telegram is configured."""
    try:
        setup_logging(log_level, log_format)
    except ConfigError as exc:
        _fail_config(exc)
    ctx.obj = Paths(feeds=feeds, rules=rules, state=state)
