"""The `watcher` command line: one module per command group, all registered on `root.cli`.

Every command has --help; paths come from options or the environment. Nothing imports this
package but the console script and `python -m watcher`.
"""

from watcher.cli import backup, browse, digest, doctor, encryption, evidence, export, history, incidents, people, polling, rules, sources  # noqa: F401  (each registers its commands on cli)
from watcher.cli.root import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="watcher")
