"""Reloading the rules off the event loop, and the fast YAML path that loading rests on.

The reload tests hold the worker thread on an Event inside the compile step (`prepare`), so
what happens *during* a reload is observed, not timed: the old rules serve, the swap comes when
the worker is done, a change made meanwhile is reloaded before the reload ends, a broken change
keeps the rules in force.
"""

from __future__ import annotations

import asyncio
import gc
import math
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from watcher.errors import ConfigError
from watcher.matching import matcher_for
from watcher.rules import RulesHolder
from watcher.rules.model import Rules
from watcher.yamlfile import _UNUSUAL, _fast_load, _line_load, _plain, load_yaml

ROOT = Path(__file__).resolve().parents[1]
INCIDENTS = """incident_types:
  extradition:
    keywords:
      en: [extradited, extradition]
"""


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, key order included (NaN equal to NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _safe(text: str) -> Any:
    try:
        return _plain(YAML(typ="safe").load(text))
    except Exception as exc:  # noqa: BLE001 - whatever ruamel raises, the fast path must not accept it
        return exc


def _repo_yaml() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True).stdout
    return [ROOT / n for n in names.split()] or sorted(ROOT.glob("**/*.yaml"))


def test_fast_path_builds_what_ruamel_builds_for_every_yaml_file_of_the_repository() -> None:
    files = _repo_yaml()
    assert len(files) > 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        got = _fast_load(text)
        assert got is not _UNUSUAL, path  # rules, feeds and fixtures all take the fast path
        assert _same(got, _safe(text)), path


ODD = [
    "", "# only a comment\n", "---\n", "--- \n...\n", "~\n", "plain\n", "[]\n", "{}\n",
    "a: 1\nb: -2\nc: +3\nd: 0x1F\ne: 0o17\nf: 0b101\ng: 1_000\nh: 012\n",
    "a: 1.5\nb: -.5\nc: .inf\nd: -.Inf\ne: .NaN\nf: 1e3\ng: 6.02E+23\n",
    "a: true\nb: False\nc: TRUE\nd: yes\ne: no\nf: on\ng: off\nh: y\n",
    "a: null\nb: ~\nc:\nd: Null\ne: NULL\nf: nul\n",
    "~: 1\n", "null: 1\n1: a\n2.5: b\ntrue: c\n", "'1': a\n1: b\n",
    "a: '1'\nb: \"true\"\nc: 'null'\nd: '~'\n",
    "country: NO\nname: Ali\n", "check_in: 14d\n", "at: 2024-01-01\n", "at: 2024-01-01T10:00:00Z\n",
    "a: 12:30:00\n", "a: 1:2\n", "<<: {a: 1}\nb: 2\n", "a: =\n", "? [a]\n: 1\n", "? {a: 1}\n: 1\n",
    "a: 1\na: 2\n", "a: {b: 1, b: 2}\n", "~: 1\nnull: 2\n", "1: a\ntrue: b\n", "None: 1\n~: 2\n",
    "- 1\n---\n- 2\n", "%YAML 1.1\n---\na: yes\n", "%YAML 1.2\n---\na: yes\n", "%TAG !e! tag:example.com,2000:\n---\na: 1\n",
    "a: !!str 3\n", "a: !!int '3'\n", "a: !custom x\n", "a: ! x\n", "a: &x 1\nb: *x\n", "a: [&x 1]\n",
    "people:\n  - name: Ali\n    aliases: [Али, 'Aliy']\n  - {name: Vali, not: [Vali Big]}\n",
    "a: |\n  line\n  two\nb: >\n  folded\n  text\n", "a: \"\\u00e9\\t\"\n", "a: 'it''s'\n",
    "a: [1, [2, [3, {b: [4]}]]]\n", "- - - x\n", "a:\n- b\n- c\n",
    "a: b: c\n", "a: [1, 2\n", "\tx: 1\n", "a: 'unterminated\n", "- a\nb: c\n",
    "a: -\nb: --\nc: .\nd: +\ne: 0\nf: -0\ng: 00\nh: 0.\n", "a: 1__0\nb: _1\nc: 1_\n",
]


@pytest.mark.parametrize("text", ODD)
def test_fast_path_agrees_with_ruamel_or_leaves_the_text_to_it(text: str) -> None:
    got = _fast_load(text)
    want = _safe(text)
    if got is _UNUSUAL:
        return  # ruamel's own loader builds it (or words its error): agrees by construction
    assert not isinstance(want, Exception), f"fast path accepted what ruamel refuses: {want}"
    assert _same(got, want)


def test_unusual_texts_still_load_and_still_fail_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("at: 2024-01-01\nmerged:\n  <<: {a: 1}\n", encoding="utf-8")
    assert load_yaml(path).data == {"at": _safe("d: 2024-01-01\n")["d"], "merged": {"a": 1}}
    path.write_text("people:\n  - name: A\n  - name: B\npeople: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert caught.value.problems[0].line == 4 and "duplicate key" in str(caught.value)
    path.write_text("people:\n  - name: [A\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert caught.value.problems[0].line is not None and "syntax error" in str(caught.value)


_WORDS = ["Ali", "Karimov", "Каримова", "Jo'rayev", "Gʻafur", "O'Brien", "x-y", "a.b", "12", "1e3", "true",
          "null", "NO", "~", "0x1F", "1_0", ".inf", "-.5", "+1", "C#", "a:b", "50%", "q?", "R&D", "*", "&x", "!t",
          "@h", "`b", "|", ">", "-", "[x]", "{y}", "#", "' ", '"', "'", "a, b", "2024-01-01", "12:30", "=", "<<",
          "Null", "FALSE", "\xa0", "😀", "\t", " # c", ": ", "?", ","]
_SCALAR = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3).map(" ".join)


@st.composite
def _watchlist_text(draw: Any) -> str:
    """A people.yaml as monitors and the editor write it, with scalars that YAML reads oddly."""
    lines = ["# people"] if draw(st.booleans()) else []
    lines.append("people:")
    indent = " " * draw(st.sampled_from([0, 2, 4]))
    for _ in range(draw(st.integers(1, 3))):
        dash = draw(st.sampled_from(["- ", "-   "]))
        col = indent + " " * len(dash)
        lines.append(f"{indent}{dash}name: {draw(_SCALAR)}")
        aliases = draw(st.lists(_SCALAR, max_size=3))
        if draw(st.booleans()):
            lines.append(f"{col}aliases: [{draw(st.sampled_from([', ', ',']))}]".replace(", ]", "]").replace(",]", "]")
                         if not aliases else f"{col}aliases: [{', '.join(aliases)}]")
        elif aliases:
            lines += [f"{col}aliases:"] + [f"{col}{draw(st.sampled_from(['', '  ']))}- {a}" for a in aliases]
        if draw(st.booleans()):
            lines.append(f"{col}country: {draw(st.sampled_from(['UZ', 'NO', 'TJ # tj', 'null', '', '~', '12']))}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "#", "   # a comment", col, f"{col}notes: {draw(_SCALAR)}"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(_watchlist_text())
def test_the_line_reader_builds_what_ruamel_builds_or_leaves_the_text_to_it(text: str) -> None:
    got = _line_load(text)
    if got is not _UNUSUAL:
        want = _safe(text)
        assert not isinstance(want, Exception), f"the line reader accepted what ruamel refuses: {want}"
        assert _same(got, want)


def test_the_line_reader_takes_a_long_plain_watchlist() -> None:
    entries = "".join(f"  - name: Bakhodir Karimov{i}\n    aliases: [Bahodir Karimov, Баходир Каримов]\n    country: UZ\n"
                      for i in range(50))
    text = f"# watchlist\npeople:\n{entries}incident_types:\n  x:\n    keywords:\n      en: [extradit*, deport]\n"
    got = _line_load(text)
    assert got is not _UNUSUAL and _same(got, _safe(text))


# -- reloading ---------------------------------------------------------------------------


def _people(*names: str) -> str:
    return "people:\n" + "".join(f"  - name: {n}\n" for n in names)


class HeldCompile:
    """The matcher's compile step, held on an Event while `hold` is set (the first compile, at
    start, is never held). Counts the compiles of reloads."""

    def __init__(self) -> None:
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.reloads = 0
        self._started = False

    def __call__(self, rules: Rules) -> Any:
        if self._started:
            self.reloads += 1
            if self.hold:
                self.entered.set()
                assert self.release.wait(30), "the test never released the worker"
        self._started = True
        return matcher_for(rules)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30), "the reload never reached the compile"
        self.entered.clear()


def _folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "incidents.yaml").write_text(INCIDENTS, encoding="utf-8")
    (folder / "people.yaml").write_text(_people(*names), encoding="utf-8")
    return folder


def _write(folder: Path, text: str) -> None:
    path = folder / "people.yaml"
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # a coarse clock: the size alone may not differ
        import os
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def _named(rules: Rules, text: str) -> set[str]:
    return {m.rule for m in matcher_for(rules).analyse(text).matches if m.kind == "person"}


def test_the_old_rules_serve_during_a_reload_and_the_swap_comes_when_it_is_done(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov")
    compile_ = HeldCompile()
    holder = RulesHolder(folder, prepare=compile_)
    old = holder.rules

    async def scenario() -> None:
        compile_.hold = True
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov"))
        reload = asyncio.create_task(holder.refresh_async())
        await compile_.wait_entered()
        # mid-reload: a poll looks (does not wait, does not start another), and reads the old rules
        assert await holder.refresh_async() is False
        assert holder.rules is old
        assert _named(holder.rules, "Dilshod Rakhimov was detained") == set()
        assert not reload.done()
        compile_.release.set()
        assert await reload is True
        assert holder.rules is not old and len(holder.rules.people) == 2
        assert _named(holder.rules, "Dilshod Rakhimov was detained") == {"person:Dilshod Rakhimov"}
        assert compile_.reloads == 1

    asyncio.run(scenario())
    assert old._compiled == {}  # the replaced matcher is dropped at the swap, not left for the collector


def test_a_change_made_during_a_reload_is_put_in_force_before_it_ends(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov")
    compile_ = HeldCompile()
    holder = RulesHolder(folder, prepare=compile_)

    async def scenario() -> None:
        compile_.hold = True
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov"))
        reload = asyncio.create_task(holder.refresh_async())
        await compile_.wait_entered()
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov", "Gulnara Yusupova"))  # a /watch meanwhile
        editor = asyncio.create_task(holder.refresh_async(wait=True))  # the bot waits for its edit
        await asyncio.sleep(0)
        assert not editor.done()
        compile_.hold = False
        compile_.release.set()
        assert await reload is True
        assert await editor is True
        assert [p.name for p in holder.rules.people][-1] == "Gulnara Yusupova"
        assert compile_.reloads == 2  # one after the other, never two at once
        assert not holder.changed()

    asyncio.run(scenario())


def test_a_broken_change_during_a_reload_keeps_the_rules_of_the_last_good_one(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov")
    compile_ = HeldCompile()
    holder = RulesHolder(folder, prepare=compile_)

    async def scenario() -> None:
        compile_.hold = True
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov"))
        reload = asyncio.create_task(holder.refresh_async())
        await compile_.wait_entered()
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov") + "  - name: Ali\n    country: Uzbekistan\n")
        compile_.hold = False
        compile_.release.set()
        assert await reload is True  # the good change went in; the broken one after it was refused
        assert [p.name for p in holder.rules.people] == ["Bakhodir Karimov", "Dilshod Rakhimov"]
        assert holder.last_error is not None
        problem = holder.last_error.problems[0]
        assert (problem.file, problem.line) == ("people.yaml", 5)
        assert await holder.refresh_async() is False  # refused once, not again on every look
        assert compile_.reloads == 1

    asyncio.run(scenario())


def test_a_broken_folder_keeps_the_old_rules_and_a_fix_is_taken(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov", "Dilshod Rakhimov")
    holder = RulesHolder(folder, prepare=matcher_for)
    old = holder.rules

    async def scenario() -> None:
        _write(folder, "people:\n  - name: [Bakhodir\n")
        assert await holder.refresh_async(wait=True) is False
        assert holder.rules is old and holder.last_error is not None
        assert holder.last_error.problems[0].line is not None
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov", "Gulnara Yusupova"))
        assert await holder.refresh_async(wait=True) is True
        assert holder.last_error is None and len(holder.rules.people) == 3

    asyncio.run(scenario())


def test_a_failing_compile_reaches_the_caller_and_the_old_rules_stay(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov")
    calls: list[Rules] = []

    def prepare(rules: Rules) -> None:
        calls.append(rules)
        if len(calls) > 1:
            raise RuntimeError("compile failed")

    holder = RulesHolder(folder, prepare=prepare)
    old = holder.rules
    _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov"))
    with pytest.raises(RuntimeError):
        asyncio.run(holder.refresh_async())
    assert holder.rules is old


def test_keep_heap_frozen_freezes_at_start_and_after_each_swap(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "Bakhodir Karimov")
    holder = RulesHolder(folder, prepare=matcher_for)
    try:
        holder.keep_heap_frozen()
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        _write(folder, _people("Bakhodir Karimov", "Dilshod Rakhimov"))
        assert asyncio.run(holder.refresh_async()) is True
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
