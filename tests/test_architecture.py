"""The house's layout holds: imports run one way, modules stay small, the top level stays short.

ARCHITECTURE.md describes the rules these tests enforce. Every import is read from the source
(top-level and function-local alike); imports under `if TYPE_CHECKING:` are for annotations
only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "watcher"

MAX_LINES = 400
MAX_TOP_LEVEL_MODULES = 14

# the core primitives: every wing may import them, they import no wing and no assembly module
PRIMITIVES = {"models", "errors", "text", "durations", "yamlfile", "http", "ssrf"}
# the assembly: modules that wire the wings together into a running watcher
ASSEMBLY = {"config", "pipeline", "app", "scheduler"}
UPPER = {"delivery", "bot", "digest", "cli", "demo"}

# what each part of the house must not import (by first component below `watcher.`)
FORBIDDEN: dict[str, set[str]] = {
    **{name: UPPER | ASSEMBLY | {"sources", "matching", "rules", "store", "incidents", "evidence"}
       for name in PRIMITIVES},
    "sources": UPPER | ASSEMBLY | {"incidents", "evidence"},
    "matching": UPPER | ASSEMBLY | {"incidents", "evidence"},
    "store": UPPER | ASSEMBLY | {"rules", "matching", "sources", "incidents", "evidence"},
    "rules": UPPER | ASSEMBLY | {"incidents", "evidence"},
    "incidents": UPPER | ASSEMBLY | {"evidence", "sources"},
    "evidence": UPPER | ASSEMBLY | {"incidents", "matching", "rules"},
    "delivery": {"bot", "digest", "cli", "demo"} | ASSEMBLY,
    "digest": {"bot", "cli", "demo"} | ASSEMBLY,
    "bot": {"cli", "demo"},
    "history": UPPER | ASSEMBLY | {"evidence"},
    "demo": {"cli"},
}


def _part(module: str) -> str:
    """'watcher.delivery.outbox' -> 'delivery'; 'watcher.app' -> 'app'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(package: Path, path: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def imports_of(package: Path, path: Path) -> set[str]:
    """The watcher modules `path` imports at run time (absolute names)."""
    name = _module_name(package, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from watcher import cli`
    root = package.name
    return {m for m in found if m == root or m.startswith(root + ".")}


def violations(package: Path) -> list[str]:
    """Every import that breaks the house rules, as 'module imports target (rule)'."""
    out = []
    root = package.name
    for path in sorted(package.rglob("*.py")):
        name = _module_name(package, path)
        here = _part(name)
        for target in sorted(imports_of(package, path)):
            there = _part(target)
            if not there or there == here:
                continue
            if there in FORBIDDEN.get(here, set()):
                out.append(f"{name} imports {target} ({here} must not import {there})")
            if there == "cli" and name != f"{root}.__main__":
                out.append(f"{name} imports {target} (nothing imports cli)")
    return out


def test_imports_run_one_way() -> None:
    assert violations(PACKAGE) == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    """The rule test above could pass by checking nothing: show it catches each kind of breach."""
    pkg = tmp_path / "watcher"
    for folder in ("sources", "matching", "delivery", "cli", "store"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "sources" / "rss.py").write_text("from watcher.delivery.outbox import deliver_pending\n")
    (pkg / "matching" / "names.py").write_text("def f():\n    import watcher.cli\n")
    (pkg / "store" / "store.py").write_text("from ..delivery import render\n")
    (pkg / "models.py").write_text("from watcher import app\n")
    (pkg / "delivery" / "ok.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from watcher.bot import MonitorsBot\n")
    found = violations(pkg)
    assert any(v.startswith("watcher.sources.rss imports watcher.delivery") for v in found)
    assert any(v.startswith("watcher.matching.names imports watcher.cli") for v in found)
    assert any(v.startswith("watcher.store.store imports watcher.delivery") for v in found)
    assert any(v.startswith("watcher.models imports watcher.app") for v in found)
    assert not any("delivery.ok" in v for v in found)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by responsibility"


def test_top_level_stays_short() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_every_wing_is_named_in_architecture_md() -> None:
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    wings = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert wings, "no wings found"
    missing = [w for w in wings if f"`{w}/`" not in text]
    assert missing == [], f"ARCHITECTURE.md does not describe {missing}"
    assert "ARCHITECTURE.md" in (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
