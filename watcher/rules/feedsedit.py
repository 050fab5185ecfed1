"""How a monitor's edit of feeds.yaml reaches disk: the same care as the rules (writer.py).

feeds.yaml is written by people too: its header explains every key, headings group the
sources, and a comment after an id says what the outlet is. The CLI (`watcher sources add |
remove | enable | disable | import`) and, later, the bot edit it through `FeedsEditor`:

- Comments kept: sources are added and removed as lines (yamledit.py's surgery, rendered by
  ruamel), `enabled:` is changed in place; the result is checked by `RulesWriter._checked_text`
  (it must hold exactly the intended data and lose no comment line but those inside a removed
  entry), else ruamel's re-emitted tree is used, else the edit is refused.
- Validated before replace: the new text goes through `validate(text)`, which the caller builds
  on watcher.config.parse_feeds (this wing must not import the assembly); a ConfigError becomes
  an EditRefused with the file:line problems and the file is not touched.
- Locked: an exclusive flock on `.<feeds file name>.lock` beside the file (0600) plus a thread
  lock, from reading the file to writing the audit row, so two editors never lose each other's
  change.
- Atomic: temporary file in the same folder, fsync, os.replace; the file's mode is kept (a new
  file is 0600).
- Audited: one `audit` row per edit (who, action, file, detail JSON with ids and URLs only); if
  the row cannot be written the old file is put back.

An import is one edit: every new source is written at once or none is.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from watcher.errors import ConfigError, EditRefused
from watcher.http import utcnow
from watcher.rules.writer import Edit, RulesWriter, _Change, _fsync_dir, _thread_lock, audit
from watcher.rules.yamledit import (
    Indent,
    append_lines,
    detect_indent,
    flow,
    indent_of,
    is_block_seq,
    item_span,
    parse,
    remove_item,
    render_item,
)
from watcher.store import Store
from watcher.yamlfile import _plain, refuse_aliases

__all__ = ["Edit", "FeedsEditor", "url_key"]

log = logging.getLogger(__name__)

ImportEntry = tuple[str, str, str] | tuple[str, str, str, Mapping[str, Any]]
_TOKEN = re.compile(r"[^\s,}\]#]+")
_TITLE_MAX = 80
_OFF = {"false", "f", "no", "n", "off", "0"}


def url_key(url: str) -> str:
    """The form two URLs are compared in: scheme and host lowercased, no fragment, no trailing '/'."""
    parts = urlsplit(str(url).strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}" + (f"?{parts.query}" if parts.query else "")


def _clean_title(title: str) -> str:
    """A title fit for a YAML comment: one line, printable, short."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in str(title))
    text = " ".join(text.split())
    return text[:_TITLE_MAX].rstrip()


def _check_url(url: str) -> str:
    url = str(url).strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise EditRefused(f"{url[:100]!r} is not an http(s) URL of a feed")
    return url


class FeedsEditor:
    """Edits of one feeds.yaml. From an event loop, run each with `off_loop` (writer.py): the audit row
    goes back to the loop's thread, which owns the Store."""

    def __init__(self, path: Path, store: Store, validate: Callable[[str], None],
                 clock: Callable[[], datetime] = utcnow):
        self.path = Path(path)
        self.store = store
        self.validate = validate
        self.clock = clock

    # -- edits ------------------------------------------------------------------------------

    def add_source(self, who: str, id: str, url: str, type: str = "rss", **settings: Any) -> Edit:
        """Add one source at the end of the sources list."""
        return self._add(who, [(id, url, "", {**settings, "type": type})], "source_add")

    def import_sources(self, who: str, entries: Sequence[ImportEntry]) -> Edit:
        """Add many rss sources (id, url, title[, settings]) in one write: all of them or none.
        The title is kept as a comment after the id."""
        if not entries:
            raise EditRefused("there is nothing to import")
        batch = [(e[0], e[1], e[2], {"type": "rss", **(dict(e[3]) if len(e) > 3 else {})}) for e in entries]
        return self._add(who, batch, "sources_import")

    def remove_source(self, who: str, id: str) -> Edit:
        """Remove the source with this id (its comment lines inside the entry go with it)."""
        with self._locked():
            text, tree, seq = self._load(create=False)
            index = self._index(seq, id)
            before = _plain(seq[index])
            line_text, removed = remove_item(text, seq, index, tree, "sources")
            detail = {"id": id, "url": before.get("url")}
            return self._commit(who, _Change(self.path.name, text, line_text, tree, detect_indent(text), removed,
                                             "source_remove", detail, f"Removed source {id} ({self.path.name})."))

    def set_enabled(self, who: str, id: str, enabled: bool) -> Edit:
        """Switch a source on or off (`enabled:` changed in place, or added to its entry)."""
        word = "enabled" if enabled else "disabled"
        with self._locked():
            text, tree, seq = self._load(create=False)
            index = self._index(seq, id)
            entry = seq[index]
            if not isinstance(entry, CommentedMap):
                raise EditRefused(f"source {id} in {self.path.name} is not a mapping; fix the file by hand first")
            now_on = entry.get("enabled", True)  # as pydantic reads it: `enabled: "no"` is off
            if (now_on if isinstance(now_on, bool) else str(now_on).strip().lower() not in _OFF) == enabled:
                raise EditRefused(f"source {id} is already {word}")
            line_text = _set_enabled_lines(text, seq, index, entry, enabled)
            entry["enabled"] = enabled
            detail = {"id": id, "url": entry.get("url"), "enabled": enabled}
            return self._commit(who, _Change(self.path.name, text, line_text, tree, detect_indent(text), Counter(),
                                             "source_enable" if enabled else "source_disable", detail,
                                             f"Source {id} {word} ({self.path.name})."))

    # -- internals --------------------------------------------------------------------------

    def _add(self, who: str, batch: list[tuple[str, str, str, dict[str, Any]]], action: str) -> Edit:
        with self._locked():
            text, tree, seq = self._load(create=True)
            ids = {str(e.get("id")): e for e in seq if isinstance(e, Mapping)}
            urls = {url_key(str(e["url"])): e for e in seq if isinstance(e, Mapping) and e.get("url")}
            items = []
            for source_id, url, title, settings in batch:
                source_id = str(source_id).strip()
                url = _check_url(url)
                if not source_id:
                    raise EditRefused(f"the source for {url[:100]!r} needs an id")
                if source_id in ids:
                    raise EditRefused(f"a source with id {source_id!r} already exists in {self.path.name}")
                if url_key(url) in urls:
                    other = urls[url_key(url)].get("id")
                    raise EditRefused(f"{url[:100]!r} is already in {self.path.name} as source {other!r}")
                entry = CommentedMap()
                entry["id"] = source_id
                entry["type"] = settings.get("type", "rss")
                entry["url"] = url
                for key, value in settings.items():
                    if key not in entry:
                        entry[key] = flow([str(v) for v in value]) if isinstance(value, (list, tuple)) else value
                if _clean_title(title):
                    entry.yaml_add_eol_comment(f"# {_clean_title(title)}", "id")
                ids[source_id] = entry
                urls[url_key(url)] = entry
                items.append(entry)
            indent = detect_indent(text)
            line_text = _append_all(text, seq, items, indent) if is_block_seq(seq) else None
            if not is_block_seq(seq):
                seq.fa.set_block_style()
            seq.extend(items)
            added = [{"id": e["id"], "url": e["url"]} for e in items]
            if action == "source_add":
                detail: dict[str, Any] = added[0]
                summary = f"Added source {added[0]['id']} ({self.path.name})."
            else:
                detail = {"count": len(added), "sources": added}
                summary = f"Imported {len(added)} source(s) into {self.path.name}."
            return self._commit(who, _Change(self.path.name, text or None, line_text, tree, indent, Counter(),
                                             action, detail, summary))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive: other threads of this process and other processes (flock beside the file)."""
        folder = self.path.parent
        if not folder.is_dir():
            raise EditRefused(f"the folder of {self.path.name} was not found")
        with _thread_lock(self.path):
            fd = os.open(folder / f".{self.path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _read(self) -> str:
        """The file's text now ('' if it does not exist yet), aliases refused before parsing."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except UnicodeDecodeError:
            raise EditRefused(f"{self.path.name} is not UTF-8 text; fix the file by hand first") from None
        try:
            refuse_aliases(text, self.path.name, kind="feeds")
        except ConfigError as exc:
            raise EditRefused(f"{exc}; fix the file by hand first", exc.problems) from None
        except MarkedYAMLError:
            pass  # a syntax error: the round-trip parse reports it with its line
        return text

    def _load(self, create: bool) -> tuple[str, CommentedMap, CommentedSeq]:
        """Text, tree and its sources list; a missing or empty file gets `sources: []` if `create`."""
        name = self.path.name
        text = self._read()
        tree = parse(text, name) if text.strip() else None
        if tree is not None and not isinstance(tree, CommentedMap):
            raise EditRefused(f"{name} is not a mapping with 'sources:'; fix the file by hand first")
        if tree is None or "sources" not in tree:
            if not create:
                raise EditRefused(f"{name} has no sources")
            grown = text + ("" if not text or text.endswith("\n") else "\n") + "sources: []\n"
            tree = parse(grown, name)
            if text.strip():
                text = grown  # the line edit starts from here; an empty file is created as a whole
        if tree["sources"] is None:
            tree["sources"] = CommentedSeq()
        seq = tree["sources"]
        if not isinstance(seq, CommentedSeq):
            raise EditRefused(f"'sources' in {name} is not a list; fix the file by hand first")
        return text, tree, seq

    def _index(self, seq: CommentedSeq, source_id: str) -> int:
        for index, entry in enumerate(seq):
            if isinstance(entry, Mapping) and str(entry.get("id")) == str(source_id).strip():
                return index
        raise EditRefused(f"no source with id {source_id!r} in {self.path.name}")

    def _commit(self, who: str, change: _Change) -> Edit:
        """Check, validate, replace atomically, audit; the old file back if the audit fails."""
        change.new_text = RulesWriter._checked_text(change)
        existed = self.path.exists()
        mode = (self.path.stat().st_mode & 0o7777) if existed else 0o600
        old_text = self.path.read_text(encoding="utf-8") if existed else None
        try:
            self.validate(change.new_text)
        except ConfigError as exc:
            log.info("feeds edit refused: the file would be invalid (%d problem(s))", len(exc.problems))
            raise EditRefused(f"refused, {self.path.name} would be invalid after this change (nothing was saved):\n"
                              f"{exc}", exc.problems) from None
        self._replace(change.new_text, mode)
        try:
            audit(self.store, self.clock, who, change)  # on the Store's thread, also inside off_loop
        except BaseException:
            try:
                if old_text is None:
                    self.path.unlink(missing_ok=True)
                else:
                    self._replace(old_text, mode)
            except OSError:
                log.exception("could not restore %s after a failed edit", self.path.name)
            raise
        log.info("feeds edit by %s: %s in %s", who, change.action, change.file)
        return Edit(change.action, change.file, change.summary)

    def _replace(self, text: str, mode: int) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)


def _append_all(text: str, seq: CommentedSeq, items: list[Any], indent: Indent) -> str | None:
    """All `items` as lines after the last item of a block list (append_lines, many at once)."""
    if len(items) == 1:
        return append_lines(text, seq, items[0], indent)
    lines = text.splitlines(keepends=True)
    span = item_span(lines, seq, len(seq) - 1)
    if span is None:
        return None
    first, last = span
    rendered: list[str] = []
    for item in items:
        block = render_item(item, indent, indent_of(lines[first]))
        if block is None:
            return None
        rendered.extend(block)
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    return "".join(lines[:last + 1] + rendered + lines[last + 1:])


def _set_enabled_lines(text: str, seq: CommentedSeq, index: int, entry: CommentedMap, enabled: bool) -> str | None:
    """`enabled: <value>` rewritten in place, or `enabled: false` added as the entry's last line.
    None when the entry is not laid out as this expects (the tree is re-emitted instead)."""
    lines = text.splitlines(keepends=True)
    value = "true" if enabled else "false"
    if "enabled" in entry:
        line, col = entry.lc.value("enabled")
        if line >= len(lines):
            return None
        token = _TOKEN.match(lines[line], col)
        if token is None:
            return None
        lines[line] = lines[line][:col] + value + lines[line][token.end():]
        return "".join(lines)
    span = item_span(lines, seq, index) if is_block_seq(seq) else None
    if span is None:
        return None
    key_col = seq.lc.item(index)[1]
    last = span[1]
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    return "".join(lines[:last + 1] + [" " * key_col + f"enabled: {value}\n"] + lines[last + 1:])
