"""Editing YAML text without losing monitors' comments: the line-level surgery behind watcher.rules.editing.

ruamel.yaml's round trip keeps comments on load and dump, but attaches each comment to a
neighbouring node: deleting a list item can delete the heading above it, and appending puts the
new item after trailing comments. So items of block lists are added and removed as text lines,
located by ruamel's line numbers and rendered by ruamel; whole-file dumps are kept for flow lists
and new keys. Indentation is read from the file itself. Every result is re-parsed and checked
by the editor before it is written.
"""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from watcher.errors import EditRefused
from watcher.yamlfile import _UNUSUAL, _fast_load, _plain

_WIDTH = 4096  # never re-wrap a long flow list such as `en: [deport*, expel*, ...]`
_DASH = re.compile(r"^( *)-(?:[ \t]|$)")
_BLOCK_SCALAR = re.compile(r"(?:^|[:-])[ \t]*[|>][-+0-9]*[ \t]*(?:#.*)?$")
_KEY_LINE = re.compile(r"^(?P<head>.*:)(?P<tail>[ \t]*(?:#.*)?)$")
_BLOCK_KEY = re.compile(r"""^( *)(?:"[^"]*"|'[^']*'|[^\s#'"\-][^#]*?)[ \t]*:[ \t]*(?:#.*)?$""")


@dataclass(frozen=True)
class Indent:
    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def detect_indent(text: str) -> Indent:
    """The file's own indentation: the first nested mapping and the first block list under a key."""
    lines = text.splitlines()
    mapping = sequence = offset = None
    for index, line in enumerate(lines):
        match = _BLOCK_KEY.match(line)
        if not match:
            continue
        key_col = len(match.group(1))
        following = next((s for s in lines[index + 1:] if s.strip() and not s.lstrip().startswith("#")), None)
        if following is None:
            break
        col = len(following) - len(following.lstrip(" "))
        dash = _DASH.match(following)
        if dash and offset is None and col >= key_col:
            offset = col - key_col
            rest = following[col + 1:]
            sequence = offset + 1 + (len(rest) - len(rest.lstrip(" ")) if rest.strip() else 1)
        elif not dash and mapping is None and col > key_col:
            mapping = col - key_col
        if mapping is not None and offset is not None:
            break
    default = Indent()
    return Indent(mapping or default.mapping, sequence or default.sequence,
                   offset if offset is not None else default.offset)


def yaml(indent: Indent) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    yaml.indent(mapping=indent.mapping, sequence=max(indent.sequence, indent.offset + 2), offset=indent.offset)
    return yaml


def parse(text: str, name: str) -> Any:
    try:
        return yaml(Indent()).load(text)
    except YAMLError as exc:
        raise EditRefused(f"{name} cannot be read ({type(exc).__name__}); fix the file by hand first:\n{exc}") from None


_plain_cache: dict[str, Any] = {}
_plain_cache_guard = threading.Lock()


def remember_plain(text: str, data: Any) -> None:
    with _plain_cache_guard:
        if len(_plain_cache) >= 32:
            _plain_cache.pop(next(iter(_plain_cache)))
        _plain_cache[text] = data


UNREADABLE = object()  # fast_plain's "the fast loader leaves this text to ruamel": equal to nothing


def fast_plain(text: str) -> Any:
    """Plain data of a text as `load_rules` reads it (watcher.yamlfile's event loader: 0.3 s at
    10,000 people where the round trip takes 10 s), or UNREADABLE for what it leaves to ruamel
    (a syntax error, an anchor, a tag, a date): the caller then asks the round trip."""
    data = _fast_load(text)
    return UNREADABLE if data is _UNUSUAL else data


def plain_of(text: str) -> Any:
    """Plain data of a file's text, cached (parsing is most of an edit's time, and most files do
    not change between edits; an edit remembers the text it wrote). Do not mutate the result.
    None when the text cannot be read."""
    with _plain_cache_guard:
        if text in _plain_cache:
            return _plain_cache[text]
    data = fast_plain(text)
    if data is UNREADABLE:
        try:
            data = _plain(yaml(Indent()).load(text))
        except YAMLError:
            data = None
    remember_plain(text, data)
    return data


def dump(tree: Any, indent: Indent) -> str:
    out = io.StringIO()
    yaml(indent).dump(tree, out)
    return out.getvalue()


def is_block_seq(node: Any) -> bool:
    return isinstance(node, CommentedSeq) and len(node) > 0 and node.fa.flow_style() is False


def is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def dash_line(lines: list[str], seq: CommentedSeq, index: int) -> int | None:
    """0-based line of the '-' that starts item `index` of a block list."""
    line, col = seq.lc.item(index)
    for candidate in range(line, max(line - 3, -1), -1):
        if candidate >= len(lines):
            return None
        match = _DASH.match(lines[candidate])
        if match and len(match.group(1)) < max(col, 1):
            return candidate
        if candidate != line and is_content(lines[candidate]):
            return None
    return None


def item_span(lines: list[str], seq: CommentedSeq, index: int) -> tuple[int, int] | None:
    """(first, last) 0-based lines of an item of a block list: from its '-' to its last line of
    content. Comments and blank lines before or after it are not part of it."""
    first = dash_line(lines, seq, index)
    if first is None:
        return None
    dash_col = indent_of(lines[first])
    if index + 1 < len(seq):
        end = dash_line(lines, seq, index + 1)
        if end is None or end <= first:
            return None
    else:
        end = len(lines)
        for j in range(first + 1, len(lines)):
            if not is_content(lines[j]):
                continue
            col = indent_of(lines[j])
            if col < dash_col or (col == dash_col and not _DASH.match(lines[j])):
                end = j
                break
    return first, last_content(lines, first, end)


def last_content(lines: list[str], first: int, end: int) -> int:
    """The last line of content in lines[first:end]: not blank, not a comment, unless it is a
    line of a block scalar (`notes: |`), where '#' is text."""
    last, scalar_col = first, None
    for j in range(first, end):
        line = lines[j]
        if scalar_col is not None:
            if not line.strip():
                continue
            if indent_of(line) > scalar_col:
                last = j
                continue
            scalar_col = None
        if is_content(line):
            last = j
            if _BLOCK_SCALAR.search(line.rstrip("\r\n")):
                scalar_col = indent_of(line)
    return last


def render_item(item: Any, indent: Indent, dash_col: int) -> list[str] | None:
    """One list item as block-list lines with its '-' at `dash_col`, in the file's indentation."""
    seq = CommentedSeq([item])
    seq.fa.set_block_style()
    text = dump(seq, indent)
    out = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.startswith(" " * indent.offset):
            return None
        out.append(" " * dash_col + line[indent.offset:] if line.strip() else line)
    return out


def append_lines(text: str, seq: CommentedSeq, item: Any, indent: Indent) -> str | None:
    """Insert `item` as lines right after the last item of a block list (before any comments that
    follow it). None when the list is not one this can edit as lines."""
    lines = text.splitlines(keepends=True)
    span = item_span(lines, seq, len(seq) - 1)
    if span is None:
        return None
    first, last = span
    rendered = render_item(item, indent, indent_of(lines[first]))
    if rendered is None:
        return None
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    return "".join(lines[:last + 1] + rendered + lines[last + 1:])


def append_to(text: str, seq: Any, item: Any, indent: Indent) -> tuple[bool, str | None]:
    """Append `item` to `seq` when it is a list: (True, the text edited as lines, or None when
    only the tree can be dumped). (False, None) when `seq` is not a list, for the caller to create it."""
    if not isinstance(seq, CommentedSeq):
        return False, None
    line_text = append_lines(text, seq, item, indent) if is_block_seq(seq) else append_flow(text, seq, item, indent)
    seq.append(item)
    return True, line_text


def flow_text(value: Any, indent: Indent) -> str | None:
    """`value` as ruamel writes it after `key: ` on one line (a flow list, a quoted scalar)."""
    lines = dump(CommentedMap([("k", value)]), indent).splitlines()
    return lines[0][3:] if len(lines) == 1 and lines[0].startswith("k: ") else None


def append_flow(text: str, seq: CommentedSeq, item: Any, indent: Indent) -> str | None:
    """Insert `item` before the `]` of a flow list written on one line (`not: [a, b]`), so a long
    file is not re-emitted whole for it. None when the list is not that simple (the caller's
    check then falls back to ruamel's dump)."""
    rendered = flow_text(flow([item]), indent)
    lines = text.splitlines(keepends=True)
    line, col = seq.lc.line, seq.lc.col
    if rendered is None or line is None or line >= len(lines) or lines[line][col:col + 1] != "[":
        return None
    end = lines[line].find("]", col)
    inside = lines[line][col + 1:end]
    if end < 0 or any(c in inside for c in "[]{}#'\"\n"):
        return None  # quotes or nesting: leave it to ruamel
    joined = f"{inside.rstrip()}, {rendered[1:-1]}" if inside.strip() else rendered[1:-1]
    lines[line] = lines[line][:col + 1] + joined + lines[line][end:]
    return "".join(lines)


def add_key_lines(text: str, seq: CommentedSeq, index: int, key: str, value: Any, indent: Indent) -> str | None:
    """Add `key: value` (on one line) as the last key of mapping item `index` of a block list,
    right after its last line of content. None when that is not simple."""
    entry = seq[index] if is_block_seq(seq) and 0 <= index < len(seq) else None
    rendered = flow_text(value, indent)
    if not isinstance(entry, CommentedMap) or not entry or rendered is None:
        return None
    lines = text.splitlines(keepends=True)
    span = item_span(lines, seq, index)
    first_key_line, col = entry.lc.key(next(iter(entry)))
    if span is None or first_key_line != span[0]:
        return None  # the entry's first key is not on its '-' line
    last = span[1]
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    return "".join(lines[:last + 1] + [f"{' ' * col}{key}: {rendered}\n"] + lines[last + 1:])


def delete_lines(text: str, seq: CommentedSeq, index: int, parent: Any, key: Any) -> str | None:
    """Remove item `index` of a block list as lines, keeping every comment around it. None when
    the list is not one this can edit as lines."""
    lines = text.splitlines(keepends=True)
    span = item_span(lines, seq, index)
    if span is None:
        return None
    first, last = span
    after = last + 1
    # do not leave two blank lines where the entry was
    if 0 < first and after < len(lines) and not lines[first - 1].strip() and not lines[after].strip():
        after += 1
    rest = lines[:first] + lines[after:]
    if len(seq) == 1:
        # the list is now empty: `key:` becomes `key: []`
        if not isinstance(parent, CommentedMap):
            return None
        key_line = parent.lc.key(key)[0]
        if key_line >= first:
            return None
        match = _KEY_LINE.match(rest[key_line].rstrip("\n"))
        if not match:
            return None
        newline = "\n" if rest[key_line].endswith("\n") else ""
        rest[key_line] = f"{match.group('head')} []{match.group('tail')}{newline}"
    return "".join(rest)


def comment_lines(text: str | list[str]) -> Counter[str]:
    lines = text.splitlines() if isinstance(text, str) else text
    return Counter(line.strip() for line in lines if line.strip().startswith("#"))


def flow(values: list[str]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def remove_item(text: str, seq: CommentedSeq, index: int, parent: Any, key: Any) -> tuple[str | None, Counter[str]]:
    """Delete item `index` of `seq` from the tree, and from the text as lines if it is a block list.

    Returns the line-edited text (None if not possible) and the comment lines inside the item."""
    line_text, removed = None, Counter[str]()
    if is_block_seq(seq):
        lines = text.splitlines(keepends=True)
        span = item_span(lines, seq, index)
        if span is not None:
            removed = comment_lines(lines[span[0]:span[1] + 1])
        line_text = delete_lines(text, seq, index, parent, key)
    del seq[index]
    if not seq:
        seq.fa.set_flow_style()
    return line_text, removed
