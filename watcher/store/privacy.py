"""The watchlist at rest: the state folder 0700 and its files 0600, rules files not readable by others.

`secure_state` runs at every start (App.build): it tightens what it can (a `state/` that came
from git as 0755, a database copied in as 0644) and returns what it could not (a folder owned by
someone else, a read-only mount), for the log. `exposed` lists files group or others may read:
watcher warns about rules files like that at start; it does not change them (a deployment may
share the rules with a group on purpose), but every edit watcher makes writes them 0600.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path


def secure_state(folder: Path) -> list[str]:
    """Make `folder` 0700 and the files in it 0600; return what could not be made so."""
    problems: list[str] = []
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, private in [(folder, 0o700), *((p, 0o600) for p in sorted(folder.iterdir()) if p.is_file())]:
        mode = 0
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                os.chmod(path, private)
        except OSError as exc:
            problems.append(f"{path} is mode {mode:04o} and could not be made private ({exc.strerror}); "
                            f"run: chmod {'700' if path.is_dir() else '600'} {path}")
    return problems


def exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """The files of `paths` that group or others may read, with their modes."""
    out = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o044:
            out.append((path, mode))
    return out
