"""Monitors' edits of the rules: comments kept, validation before save, lock, atomic replace, audit."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.rules import Edit, EditRefused, RulesEditor
from watcher.errors import WatcherError
from watcher.matching import analyse
from watcher.rules import load_rules
from watcher.store import Store

REPO_RULES = Path(__file__).parent.parent / "rules"
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

PEOPLE = """\
# Watchlist (test copy). Comment above everything.

people:
  # --- Uzbekistan ---
  - name: Bakhodir Karimov   # canonical name
    # comment inside the entry
    aliases: [Bahodir Karimov, "Баходир Каримов"]
    country: UZ
    not: [Islam Karimov]

  # --- Tajikistan ---
  - name: Dilshod Rahimov
    aliases: ['Дилшод Рахимов']
    country: TJ
    notes: lawyer, watched by the Dushanbe team
  # commented out for now:
  # - name: Someone Else
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(REPO_RULES, folder)
    (folder / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state" / "watcher.db")


@pytest.fixture
def editor(rules: Path, store: Store) -> RulesEditor:
    return RulesEditor(rules, store, lambda: NOW)


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_add_person_keeps_the_file_and_appends_one_block(rules: Path, editor: RulesEditor) -> None:
    edit = editor.add_person("cli:anna", "Farrukh Tursunov", ["Фаррух Турсунов"], "uz", ["Tursunov Farrukh Sr"], "blogger")

    assert edit == Edit("watch", "people.yaml", edit.summary) and "Farrukh Tursunov" in edit.summary
    new = text(rules / "people.yaml")
    head, tail = PEOPLE.split("  # commented out for now:\n")
    # everything before the insertion and everything after it is unchanged, byte for byte
    assert new == head + (
        "  - name: Farrukh Tursunov\n"
        "    aliases: [Фаррух Турсунов]\n"
        "    country: UZ\n"
        "    not: [Tursunov Farrukh Sr]\n"
        "    notes: blogger\n"
    ) + "  # commented out for now:\n" + tail

    found = analyse("Blogger Farrukh Tursunov was detained in Istanbul", load_rules(rules))
    assert "Farrukh Tursunov" in found.people


def test_add_person_to_the_shipped_empty_list(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(REPO_RULES, folder)
    shipped = text(folder / "people.yaml")
    RulesEditor(folder, store, lambda: NOW).add_person("cli:anna", "Farrukh Tursunov", ["Farrux Tursunov"])
    assert text(folder / "people.yaml") == shipped.replace(
        "people: []\n", "people:\n  - name: Farrukh Tursunov\n    aliases: [Farrux Tursunov]\n")
    assert [p.name for p in load_rules(folder).people] == ["Farrukh Tursunov"]


def test_add_person_creates_people_yaml_when_no_file_has_people(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(REPO_RULES / "incidents.yaml", folder)
    RulesEditor(folder, store, lambda: NOW).add_person("cli:anna", "Farrukh Tursunov")
    assert text(folder / "people.yaml") == "people:\n  - name: Farrukh Tursunov\n"
    assert (folder / "people.yaml").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("name", "aliases", "why"), [
    ("bakhodir  KARIMOV", [], "already watched"),
    ("Bahodir Karimov", [], "already an alias of Bakhodir Karimov"),
    ("Someone New", ["Dilshod Rahimov"], "is the name of Dilshod Rahimov"),
    ("Someone New", ["дилшод рахимов"], "already an alias of Dilshod Rahimov"),
])
def test_duplicates_are_refused(rules: Path, editor: RulesEditor, name: str, aliases: list[str], why: str) -> None:
    with pytest.raises(EditRefused, match=why) as refused:
        editor.add_person("cli:anna", name, aliases)
    assert isinstance(refused.value, WatcherError)
    assert text(rules / "people.yaml") == PEOPLE
    assert editor.history() == []


def test_remove_person_by_alias_keeps_comments_around_it(rules: Path, editor: RulesEditor) -> None:
    edit = editor.remove_person("telegram:42", "баходир каримов")
    assert edit.action == "unwatch"
    new = text(rules / "people.yaml")
    assert new == PEOPLE.replace(
        "  - name: Bakhodir Karimov   # canonical name\n"
        "    # comment inside the entry\n"
        "    aliases: [Bahodir Karimov, \"Баходир Каримов\"]\n"
        "    country: UZ\n"
        "    not: [Islam Karimov]\n", "")
    assert "# --- Uzbekistan ---" in new and "# --- Tajikistan ---" in new
    assert [p.name for p in load_rules(rules).people] == ["Dilshod Rahimov"]


def test_remove_last_person_keeps_trailing_comments_and_then_empties_the_list(rules: Path, editor: RulesEditor) -> None:
    editor.remove_person("cli:anna", "Dilshod Rahimov")
    new = text(rules / "people.yaml")
    assert new.endswith("    not: [Islam Karimov]\n\n  # --- Tajikistan ---\n  # commented out for now:\n  # - name: Someone Else\n")
    editor.remove_person("cli:anna", "Bakhodir Karimov")
    new = text(rules / "people.yaml")
    assert "people: []\n  # --- Uzbekistan ---\n" in new and new.endswith("# - name: Someone Else\n")
    assert load_rules(rules).people == ()
    with pytest.raises(EditRefused, match="nobody named 'Bakhodir Karimov'"):
        editor.remove_person("cli:anna", "Bakhodir Karimov")


def test_keywords_added_and_removed_in_place(rules: Path, editor: RulesEditor) -> None:
    before = text(rules / "incidents.yaml")
    editor.add_keyword("cli:anna", "extradition", "en", "handed over to")  # flow list
    editor.add_keyword("cli:anna", "extradition", "ru", "выдан властям")  # block list
    editor.add_keyword("cli:anna", "asylum_refusal", "tg", "паноҳандагӣ рад*")  # new language
    after = text(rules / "incidents.yaml")
    assert "      en: [extradit*, handed over to]\n" in after
    assert "        - добивалась выдачи\n        - выдан властям\n      uz:" in after
    assert "      tr: [iltica başvurusu reddedil*, iltica talebi reddedil*, sığınma talebi reddedil*]\n" \
           "      tg: [паноҳандагӣ рад*]\n\n  ecthr_rule39:" in after
    assert len(after.splitlines()) == len(before.splitlines()) + 2
    rules_now = load_rules(rules)
    assert "handed over to" in rules_now.incident_types["extradition"].keywords["en"]
    assert "extradition" in analyse("He was handed over to Tashkent", rules_now).incident_types

    with pytest.raises(EditRefused, match="already a en keyword"):
        editor.add_keyword("cli:anna", "extradition", "en", "Handed  Over to")
    with pytest.raises(EditRefused, match="unknown incident type 'extradtion'; known types: abduction_rendition, "):
        editor.add_keyword("cli:anna", "extradtion", "en", "x")

    # a keyword with a comment right after it: the comment stays
    editor.remove_keyword("cli:anna", "interpol_red_notice", "ru", "красном уведомлении")
    editor.remove_keyword("cli:anna", "extradition", "en", "handed over to")
    editor.remove_keyword("cli:anna", "extradition", "ru", "выдан властям")
    editor.remove_keyword("cli:anna", "asylum_refusal", "tg", "паноҳандагӣ рад*")
    # an emptied language stays as an empty list
    assert text(rules / "incidents.yaml") == before.replace("        - красном уведомлении\n", "").replace(
        "sığınma talebi reddedil*]\n", "sığınma talebi reddedil*]\n      tg: []\n", 1)
    with pytest.raises(EditRefused, match="is not a ru keyword"):
        editor.remove_keyword("cli:anna", "extradition", "ru", "nothing like it")


def test_an_edit_that_breaks_the_rules_is_refused_and_nothing_changes(rules: Path, editor: RulesEditor) -> None:
    before = {p.name: text(p) for p in rules.glob("*.yaml")}
    with pytest.raises(EditRefused, match=r"incidents\.yaml:\d+: .*'ab\*c': '\*' is allowed only at the end") as refused:
        editor.add_keyword("cli:anna", "extradition", "en", "ab*c")
    assert refused.value.problems
    with pytest.raises(EditRefused, match="not an ISO 3166 country code"):
        editor.add_person("cli:anna", "Farrukh Tursunov", country="Uzbekistan")
    assert {p.name: text(p) for p in rules.glob("*.yaml")} == before
    assert sorted(p.name for p in rules.iterdir()) == [".lock", "incidents.yaml", "people.yaml"]  # no temporary left
    assert editor.history() == []


def test_audit_rows_newest_first(rules: Path, editor: RulesEditor) -> None:
    editor.add_person("telegram:42", "Farrukh Tursunov", ["Farrux Tursunov"])
    editor.add_keyword("cli:anna", "detention", "en", "held in custody")
    rows = editor.history()
    assert [(r["who"], r["action"], r["file"], r["at"]) for r in rows] == [
        ("cli:anna", "keyword", "incidents.yaml", "2026-11-02T10:00:00+00:00"),
        ("telegram:42", "watch", "people.yaml", "2026-11-02T10:00:00+00:00"),
    ]
    assert rows[1]["detail"] == {"before": None, "after": {"name": "Farrukh Tursunov", "aliases": ["Farrux Tursunov"]}}
    assert rows[0]["detail"]["word"] == "held in custody" and rows[0]["detail"]["after"][-1] == "held in custody"
    editor.remove_person("telegram:42", "Farrux Tursunov")
    assert editor.history(limit=1)[0]["detail"] == {"before": rows[1]["detail"]["after"], "after": None}


def test_a_failed_audit_puts_the_old_file_back(rules: Path, store: Store) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("clock broke")

    editor = RulesEditor(rules, store, broken_clock)
    with pytest.raises(RuntimeError):
        editor.add_person("cli:anna", "Farrukh Tursunov")
    assert text(rules / "people.yaml") == PEOPLE


def test_an_edit_leaves_a_shared_watchlist_owner_only(rules: Path, editor: RulesEditor) -> None:
    os.chmod(rules / "people.yaml", 0o644)
    editor.add_person("cli:anna", "Farrukh Tursunov")
    assert (rules / "people.yaml").stat().st_mode & 0o777 == 0o600
    assert (rules / ".lock").stat().st_mode & 0o777 == 0o600


def test_twenty_threads_adding_at_once(rules: Path, store: Store, tmp_path: Path) -> None:
    db = tmp_path / "state" / "watcher.db"
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            editor = RulesEditor(rules, Store(db), lambda: NOW)  # a Store per thread, as in the bot
            start.wait()
            editor.add_person(f"telegram:{n}", f"Person Number{n:02d}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    names = {p.name for p in load_rules(rules).people}
    assert names == {"Bakhodir Karimov", "Dilshod Rahimov"} | {f"Person Number{n:02d}" for n in range(20)}
    assert text(rules / "people.yaml").startswith(PEOPLE.split("  # commented out")[0])
    assert len(RulesEditor(rules, store).history(100)) == 20


def _add_in_process(folder: str, db: str, n: int) -> None:
    RulesEditor(Path(folder), Store(db), lambda: NOW).add_person(f"cli:{n}", f"Process Person{n}")


def test_two_processes_adding_at_once(rules: Path, store: Store, tmp_path: Path) -> None:
    db = str(tmp_path / "state" / "watcher.db")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_add_in_process, args=(str(rules), db, n)) for n in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(20)
    assert [p.exitcode for p in procs] == [0, 0]
    names = [p.name for p in load_rules(rules).people]
    assert sorted(names[2:]) == ["Process Person0", "Process Person1"]


@pytest.mark.parametrize(("people", "after_add", "after_remove"), [
    # no offset before '-', as some editors write it
    ("people:\n- name: Ali One  # eol\n  aliases:\n  - Ali Uno\n",
     "people:\n- name: Ali One  # eol\n  aliases:\n  - Ali Uno\n- name: Cem Three\n",
     "people:\n- name: Cem Three\n"),
    # `people:` with nothing under it
    ("# c\npeople:\n", "# c\npeople:\n  - name: Cem Three\n", "# c\npeople: []\n"),
    # a block scalar whose last line starts with '#': text, not a comment
    ("people:\n  - name: Ali One\n    notes: |\n      line one\n      # not a comment\n",
     "people:\n  - name: Ali One\n    notes: |\n      line one\n      # not a comment\n  - name: Cem Three\n",
     "people:\n  - name: Cem Three\n"),
])
def test_other_layouts(tmp_path: Path, store: Store, people: str, after_add: str, after_remove: str) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "people.yaml").write_text(people, encoding="utf-8")
    editor = RulesEditor(folder, store, lambda: NOW)
    editor.add_person("cli:anna", "Cem Three")
    assert text(folder / "people.yaml") == after_add
    if "Ali One" in people:
        editor.remove_person("cli:anna", "Ali One")
    else:
        editor.remove_person("cli:anna", "Cem Three")
    assert text(folder / "people.yaml") == after_remove


# -- off the event loop (the bot) ----------------------------------------------------------


def test_bot_edits_run_in_a_worker_thread_serialised_and_audited_on_the_loop(
        rules: Path, store: Store, editor: RulesEditor, monkeypatch: pytest.MonkeyPatch) -> None:
    """`off_loop` runs the edit's parsing and validation off the loop's thread, writes its audit
    row on the loop's (the Store's connection is bound to it: sqlite would raise elsewhere), and
    edits from concurrent tasks never interleave or lose each other's change."""
    from watcher.rules.writer import RulesWriter, off_loop

    steps: list[tuple[str, int]] = []  # (what, thread) in the order they happened
    validate = RulesWriter._validate

    def recorded_validate(self: RulesWriter, texts: dict[str, str]) -> None:
        steps.append(("validate in", threading.get_ident()))
        threading.Event().wait(0.02)  # widen the window another edit could slip into
        validate(self, texts)
        steps.append(("validate out", threading.get_ident()))

    transaction = store.transaction

    def recorded_transaction():  # type: ignore[no-untyped-def]
        steps.append(("audit", threading.get_ident()))
        return transaction()

    monkeypatch.setattr(RulesWriter, "_validate", recorded_validate)
    monkeypatch.setattr(store, "transaction", recorded_transaction)

    async def main() -> tuple[int, list[object]]:
        loop_thread = threading.get_ident()
        done = await asyncio.gather(
            off_loop(lambda: editor.add_person("telegram:1", "Farrukh Tursunov")),
            off_loop(lambda: editor.add_person("telegram:2", "Gulnara Saidova")),
            off_loop(lambda: editor.remove_person("telegram:3", "Dilshod Rahimov")),
            off_loop(lambda: editor.add_person("telegram:4", "Bakhodir Karimov")),  # a duplicate
            return_exceptions=True)
        return loop_thread, done

    loop_thread, done = asyncio.run(main())
    assert [type(d) for d in done] == [Edit, Edit, Edit, EditRefused]
    assert {p.name for p in load_rules(rules).people} == {"Bakhodir Karimov", "Farrukh Tursunov", "Gulnara Saidova"}
    assert sorted(r["who"] for r in editor.history()) == ["telegram:1", "telegram:2", "telegram:3"]
    assert "# comment inside the entry" in text(rules / "people.yaml")
    assert [what for what, _ in steps] == ["validate in", "validate out", "audit"] * 3  # one edit at a time
    assert all(thread != loop_thread for what, thread in steps if what.startswith("validate"))
    assert all(thread == loop_thread for what, thread in steps if what == "audit")
    import gc
    assert gc.isenabled()  # the collector paused during the edits is back on


def test_preview_pages_read_every_stored_item_once_in_order(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from watcher.history import preview
    from watcher.history.stored import items_seen
    from watcher.models import Item

    store.ensure_source("news", "rss")
    with store.transaction():
        for n, day in enumerate((1, 2, 2, 2, 3, 5, 5)):  # ties on first_seen across a page's edge
            seen = datetime(2026, 10, day, tzinfo=UTC)
            store.add_items([Item("news", f"k{n}", f"title {n}", "", f"https://x.example/{n}", seen,
                                  content_hash=f"h{n}")], seen)
    monkeypatch.setattr(preview, "PAGE", 2)
    since = datetime(2026, 10, 2, tzinfo=UTC)
    assert [s.id for s in preview._items_since(store, since)] == [s.id for s in items_seen(store, since)]
    assert len(list(preview._items_since(store, since))) == 6


def test_add_not_edits_one_line_of_a_long_file(rules: Path, editor: RulesEditor) -> None:
    """A namesake goes into the person's flow `not:` list, or a new `not:` line, in place: the
    rest of the file (comments, quotes, order) is byte for byte what it was."""
    editor.add_not("cli:anna", "Bakhodir Karimov", "Islam Karimov Jr")
    editor.add_not("cli:anna", "Dilshod Rahimov", "Dilshod Rahimov Sr")
    assert text(rules / "people.yaml") == PEOPLE.replace(
        "not: [Islam Karimov]", "not: [Islam Karimov, Islam Karimov Jr]").replace(
        "    notes: lawyer, watched by the Dushanbe team\n",
        "    notes: lawyer, watched by the Dushanbe team\n    not: [Dilshod Rahimov Sr]\n")
    people = {p.name: p for p in load_rules(rules).people}
    assert people["Dilshod Rahimov"].not_ == ("Dilshod Rahimov Sr",)
