"""YAML loading that remembers where every value came from, so errors can name file and line.

ruamel.yaml's round-trip loader keeps line numbers (and comments, which the rule editor in a
later issue needs to preserve). Validation happens on plain Python data; `Located.line_of`
maps a pydantic error location back to a line of the file.

Anchors and aliases (`&name`, `*name`) are refused, in rules and feeds files alike: monitors
never need them, and nine aliases per level over seven levels (the YAML "billion laughs", 400
bytes) are 4.8 million strings once copied into plain data. They are found in the parser's
event stream, which never expands an alias, before anything is built.
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
from ruamel.yaml.events import AliasEvent

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

    def __init__(self, path: Path, text: str, display: str, data: Any):
        self.path = path
        self.text = text
        self.display = display  # the file name as shown in errors
        self.data = _plain(data)
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
    if _ALIAS_HINT.search(text) is None:
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
    yaml = YAML(typ="safe")
    try:
        refuse_aliases(text, shown, kind)
        data = yaml.load(text)
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
