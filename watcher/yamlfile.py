"""YAML loading that remembers where every value came from, so errors can name file and line.

ruamel.yaml's round-trip loader keeps line numbers (and comments, which the rule editor in a
later issue needs to preserve). Validation happens on plain Python data; `Located.line_of`
maps a pydantic error location back to a line of the file.

Anchors and aliases (`&name`, `*name`) are refused, in rules and feeds files alike: monitors
never need them, and nine aliases per level over seven levels (the YAML "billion laughs", 400
bytes) are 4.8 million strings once copied into plain data. They are found in the parser's
event stream, which never expands an alias, before anything is built.

Plain data is built straight from the C parser's event stream (`_fast_load`) for the YAML that
rules and feeds files are made of: mappings, lists, and untagged scalars that are strings,
numbers, booleans or null, resolved by ruamel's own YAML 1.2 patterns. Anything else (a tag, a
`%YAML` directive, a merge key, a date, a duplicate or complex key, a second document, a syntax
error, an anchor) goes to ruamel's safe loader, which words the error or builds the rare value.
At 10,000 people that is 0.3 s instead of 1.5 s. The plainest YAML, what the rules editor and
most monitors write, is read line by line before that (`_line_load`: block mappings and lists
of `key: value`, one-line flow lists of plain scalars, comment lines; 0.1 s); anything else (a
quote, a tab, a trailing comment, a multi-line scalar...) is left to the events.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.anchor import Anchor
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (AliasEvent, DocumentEndEvent, DocumentStartEvent, MappingEndEvent, MappingStartEvent,
                                ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent, StreamStartEvent)
from ruamel.yaml.resolver import VersionedResolver

from watcher.errors import ConfigError, ConfigProblem, EditRefused

NO_ALIASES = "anchors and aliases (&name / *name) are not allowed in {kind} files"
# where an anchor or alias could start: at a line start, after a space or a flow indicator.
# Only a text with such a spot is scanned (`extradit*` and `R&D` have none).
_ALIAS_HINT = re.compile(r"(?:^|[\s\[\{,:])[&*][^\s\[\]\{\},]", re.M)


class AliasesRefused(EditRefused):
    """A loaded YAML tree holds an anchor or an alias: refused rather than copied, since copying
    expands every alias. Raised to the rules editor, which reads files with ruamel's round trip."""


class Located:
    """Plain data loaded from a YAML file; line numbers on demand.

    The data comes from the fast safe loader (ruamel's C extension when installed): a watchlist
    of 10,000 people loads in 2 s and 45 MB instead of 17 s and 83 MB. The round-trip tree,
    which knows every line, is built only when an error has to be located."""

    def __init__(self, path: Path, text: str, display: str, data: Any, *, plain: bool = False):
        self.path = path
        self.text = text
        self.display = display  # the file name as shown in errors
        self.data = data if plain else _plain(data)  # plain: built by _fast_load, already copied
        self._tree: Any = None

    @property
    def tree(self) -> Any:
        if self._tree is None:
            self._tree = YAML(typ="rt").load(self.text)
        return self._tree

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """1-based line of the value at `loc`, or of its nearest existing parent."""
        node = self.tree
        line = _own_line(node)
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def problem(self, loc: tuple[Any, ...], message: str) -> ConfigProblem:
        return ConfigProblem(self.display, self.line_of(loc), message)


def _own_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _plain(node: Any) -> Any:
    """Plain dicts and lists of a loaded tree, refusing (AliasesRefused) one with an anchor or alias.

    An alias is the same object reached twice, or (round-trip trees) a node that carries its
    anchor; either is refused when first met, before its copies could add up."""
    return _copy(node, set(), None)


def _copy(node: Any, seen: set[int], line: int | None) -> Any:
    if isinstance(node, (dict, list)):
        line = _own_line(node) or line
        if id(node) in seen or _anchored(node):
            raise AliasesRefused(NO_ALIASES.format(kind="rules") + (f" (line {line})" if line else "")
                                 + "; fix the file by hand first")
        seen.add(id(node))
        if isinstance(node, dict):
            return {str(k) if not isinstance(k, (int, float, bool)) else k: _copy(v, seen, line)
                    for k, v in node.items()}
        return [_copy(v, seen, line) for v in node]
    if _anchored(node):
        raise AliasesRefused(NO_ALIASES.format(kind="rules") + (f" (near line {line})" if line else "")
                             + "; fix the file by hand first")
    return node


def _anchored(node: Any) -> bool:
    anchor = getattr(node, Anchor.attrib, None)
    return anchor is not None and anchor.value is not None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "es" if word.endswith("s") else "s")


def refuse_aliases(text: str, display: str, kind: str = "rules") -> None:
    """Raise ConfigError (file:line of the first one, with counts) if `text` has anchors or aliases.

    Reads the parser's events only: an alias is one event however much it would expand to, so a
    400-byte bomb is refused in about a millisecond. Texts without a place where an anchor or an
    alias could start are not parsed at all. A syntax error raises MarkedYAMLError."""
    if ("&" not in text and "*" not in text) or _ALIAS_HINT.search(text) is None:
        return
    anchors = aliases = 0
    first: int | None = None
    for event in YAML(typ="safe").parse(text):
        if isinstance(event, AliasEvent):
            aliases += 1
        elif getattr(event, "anchor", None):
            anchors += 1
        else:
            continue
        if first is None:
            first = event.start_mark.line + 1
    if anchors or aliases:
        counts = f"{_plural(anchors, 'anchor')}, {_plural(aliases, 'alias')}"
        raise ConfigError([ConfigProblem(display, first, f"{NO_ALIASES.format(kind=kind)} ({counts}); "
                                                         "quote a value that starts with & or *")])


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NULL = "tag:yaml.org,2002:null"
# ruamel's YAML 1.2 implicit resolvers by first character, as its safe loader applies them
_RESOLVERS: dict[Any, list[tuple[str, Any]]] = VersionedResolver(version=(1, 2)).versioned_resolver
_BY_FIRST: dict[str, tuple[tuple[str, Any], ...]] = {}
_UNUSUAL = object()  # _fast_load's "let ruamel's own loader do this text"
_NO_KEY = object()
_RESOLVED_FIRST = frozenset(k for k in _RESOLVERS if k is not None)  # a plain scalar starting otherwise is a str
_ANY_FIRST = bool(_RESOLVERS.get(None))
_QUIET = (StreamStartEvent, StreamEndEvent, DocumentEndEvent)


class _Unusual(Exception):
    """Something the fast path leaves to ruamel's loader."""


def _resolved(value: str) -> Any:
    """An untagged plain scalar as ruamel's safe loader (YAML 1.2) builds it, or _Unusual."""
    first = value[:1]
    resolvers = _BY_FIRST.get(first)
    if resolvers is None:  # each pattern's own match (ruamel wraps them in a lazy proxy, slow to call)
        resolvers = _BY_FIRST[first] = tuple((tag, regexp.match) for tag, regexp in
                                             (*_RESOLVERS.get(first, ()), *_RESOLVERS.get(None, ())))
    for tag, match in resolvers:
        if match(value):
            break
    else:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _INT:  # SafeConstructor.construct_yaml_int, YAML 1.2 branches
        digits = value.replace("_", "")
        sign = -1 if digits[0] == "-" else 1
        digits = digits[1:] if digits[0] in "+-" else digits
        base = {"0b": 2, "0x": 16, "0o": 8}.get(digits[:2])
        return sign * (int(digits[2:], base) if base else int(digits))
    if tag == _FLOAT:  # SafeConstructor.construct_yaml_float, YAML 1.2 branches
        digits = value.replace("_", "").lower()
        sign = -1 if digits[0] == "-" else 1
        digits = digits[1:] if digits[0] in "+-" else digits
        if digits == ".nan":
            return float("nan")
        return sign * (float("inf") if digits == ".inf" else float(digits))
    raise _Unusual(tag)  # a date, a merge key `<<`, `=`, ...


_LINE_ODD = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_BLOCK_ODD, _FLOW_ODD = re.compile(r"[#\[\]{}]|: |:$"), re.compile(r"[\[\]{}#:?]")
_FIRST_ODD = frozenset("-?:,[]{}#&*!|>'\"%@`")  # a plain scalar starting so is the parser's to read


def _line_load(text: str) -> Any:
    """Plain data of a text in the block-style subset above, or _UNUSUAL."""
    if _LINE_ODD.search(text) is not None:
        return _UNUSUAL
    lines = [(len(body) - len(content), content) for body in (line.rstrip(" ") for line in text.split("\n"))
             for content in (body.lstrip(" "),) if content and content[0] != "#"]
    if not lines or lines[0][0] or lines[0][1][0] == "-":  # the top is a mapping at column 0
        return _UNUSUAL if lines else None
    try:
        data, at = _lines_node(lines, 0, 0, None)
    except (_Unusual, RecursionError):
        return _UNUSUAL
    return data if at == len(lines) else _UNUSUAL


def _key_of(body: str) -> tuple[str, str] | None:
    """(key, rest) of a line `key: rest` whose key is a plain ASCII word, else None."""
    colon = body.find(":")
    key = body[:colon]
    if colon > 0 and key.isidentifier() and key.isascii() and body[colon + 1:colon + 2] in ("", " "):
        return key, body[colon + 1:].lstrip(" ")
    return None


def _lines_node(lines: list[tuple[int, str]], at: int, indent: int, body: str | None) -> tuple[Any, int]:
    """The mapping or list at `indent` from line `at` (`body`: a list item's mapping), and the next line."""
    seq = body is None and lines[at][1].startswith("- ")
    out: Any = [] if seq else {}
    n = len(lines)
    while True:
        if body is None:
            if at >= n or lines[at][0] != indent:
                break
            body = lines[at][1]
        if seq:
            if body[:2] != "- ":
                break
            item = body[2:].lstrip(" ")
            if _key_of(item) is not None:
                value, at = _lines_node(lines, at, indent + len(body) - len(item), item)
            else:
                value, at = _line_value(item), at + 1
            out.append(value)
        else:
            found = _key_of(body)
            if found is None:
                break
            key, rest = found
            if key in out or key[0] in _RESOLVED_FIRST and _resolved(key) is not key:
                raise _Unusual(key)
            at += 1
            if rest and rest[0] != "#":
                out[key] = _line_value(rest)
            elif at < n and (lines[at][0] > indent or lines[at][0] == indent and lines[at][1][:2] == "- "):
                out[key], at = _lines_node(lines, at, lines[at][0], None)
            else:
                out[key] = None
        body = None
    if at < n and lines[at][0] > indent:
        raise _Unusual(at)
    return out, at


def _line_value(rest: str) -> Any:
    """A plain scalar, or a one-line flow list of them, after `key: ` or `- `."""
    if rest[0] == "[" and rest[-1] == "]" and _FLOW_ODD.search(rest, 1, len(rest) - 1) is None:
        inner = rest[1:-1].strip(" ")
        items = [item.strip(" ") for item in inner.split(",")] if inner else []
        if all(item and item[0] not in _FIRST_ODD for item in items):
            return [_resolved(item) if _ANY_FIRST or item[0] in _RESOLVED_FIRST else item for item in items]
    elif rest[0] not in _FIRST_ODD and _BLOCK_ODD.search(rest) is None:
        return _resolved(rest) if _ANY_FIRST or rest[0] in _RESOLVED_FIRST else rest
    raise _Unusual(rest)


def _fast_load(text: str) -> Any:
    """Plain data of a single-document YAML text from the parser's events, or _UNUSUAL.

    Builds exactly what `YAML(typ="safe").load` then `_plain` would for the subset it accepts
    (tests/test_rules_reload.py compares both on YAML files of the repository and odd texts).
    One loop with the open container and its pending key in locals: this is the hot path of
    loading a long watchlist."""
    stack: list[tuple[Any, Any]] = []  # the enclosing (container, pending key) of the open one
    container: Any = None  # the open mapping or list (None: at the top)
    key: Any = _NO_KEY  # the open mapping's key waiting for its value
    root: Any = _NO_KEY
    scalar, mapping_start, sequence_start, quiet = ScalarEvent, MappingStartEvent, SequenceStartEvent, _QUIET
    lined = _line_load(text)
    if lined is not _UNUSUAL:
        return lined
    try:
        for event in YAML(typ="safe").parse(text):
            kind = type(event)
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    return _UNUSUAL
                value = event.value
                if event.implicit[0] and (_ANY_FIRST or value[:1] in _RESOLVED_FIRST):
                    value = _resolved(value)
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None or (key is _NO_KEY and type(container) is dict):
                    return _UNUSUAL  # an anchor, a tag, or a complex key
                value = {} if kind is mapping_start else []
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                container, key = stack.pop()
                continue
            elif kind in quiet:
                continue
            elif kind is DocumentStartEvent and root is _NO_KEY and event.version is None and not event.tags:
                root = None  # the one document (an empty stream loads as None)
                continue
            else:  # an alias, a second document, a %YAML or %TAG directive
                return _UNUSUAL
            if type(container) is list:
                container.append(value)
            elif container is None:
                root = value
            elif key is _NO_KEY:
                key = value
                continue
            else:
                if key in container or (key is None and "None" in container):
                    return _UNUSUAL  # a duplicate key: ruamel words the error
                container["None" if key is None else key] = value
                key = _NO_KEY
            if kind is not scalar:
                stack.append((container, key))
                container, key = value, _NO_KEY
    except (YAMLError, _Unusual):
        return _UNUSUAL
    return None if root is _NO_KEY else root


def load_yaml(path: Path, display: str | None = None, kind: str = "rules") -> Located:
    """Read a YAML file; a syntax error, an anchor or an alias becomes a ConfigError with its line.

    `kind` names the file in the anchors-and-aliases refusal ("rules", "feeds")."""
    shown = display or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(shown, None, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(shown, None, f"not UTF-8 text ({exc.reason})")]) from None
    try:
        refuse_aliases(text, shown, kind)
        data = _fast_load(text)
        if data is not _UNUSUAL:
            return Located(path, text, shown, data, plain=True)
        data = YAML(typ="safe").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError([ConfigProblem(shown, line, f"YAML syntax error: {what}")]) from None
    except YAMLError as exc:
        raise ConfigError([ConfigProblem(shown, None, f"YAML error: {exc}")]) from None
    return Located(path, text, shown, data)


def describe_validation_error(
    doc: Located, exc: ValidationError, prefix: tuple[Any, ...] = (), label: str = ""
) -> list[ConfigProblem]:
    """Turn pydantic's errors into one readable ConfigProblem each, located in the file."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc if not isinstance(p, int)) or "(top level)"
        kind = err["type"]
        given = err.get("input")
        if kind == "extra_forbidden":
            text = f"unknown key '{loc[-1]}'"
            field = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        elif kind == "missing":
            text = f"missing required key '{loc[-1]}'"
            field = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        elif kind in ("value_error", "assertion_error"):
            text = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        elif kind.startswith("url_"):
            text = f"{given!r} is not a valid http(s) URL"
        else:
            text = f"{err['msg']} (got {given!r})" if not isinstance(given, (dict, list)) else err["msg"]
        head = f"{label}: " if label else ""
        where = f"{field}: " if field else ""
        problems.append(doc.problem(prefix + loc, f"{head}{where}{text}"))
    return problems
