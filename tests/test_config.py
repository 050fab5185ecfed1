"""feeds.yaml and rules files: validation with file:line errors, and the shipped starter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config import load_feeds
from watcher.errors import ConfigError
from watcher.rules import INCIDENT_TYPES, RulesHolder, load_rules

ROOT = Path(__file__).parent.parent


def _feeds(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _errors(call) -> list[str]:
    with pytest.raises(ConfigError) as info:
        call()
    return [str(p) for p in info.value.problems]


def test_bad_interval_is_refused_with_file_line_and_source_id(tmp_path: Path) -> None:
    path = _feeds(tmp_path, "sources:\n  - id: ozodlik\n    type: rss\n    url: https://x.org/f\n    every: 15 min\n")
    assert _errors(lambda: load_feeds(path)) == [
        "feeds.yaml:5: source 'ozodlik': every: '15 min' is not a duration like 15m, 2h"
    ]


def test_unknown_key_bad_url_and_unknown_type_are_all_reported(tmp_path: Path) -> None:
    path = _feeds(tmp_path, (
        "sources:\n"
        "  - id: a\n    type: rss\n    url: https://x.org/f\n    colour: red\n"
        "  - id: b\n    type: rss\n    url: not-a-url\n"
        "  - id: c\n    type: court\n"
    ))
    errors = _errors(lambda: load_feeds(path))
    assert errors[:2] == [
        "feeds.yaml:5: source 'a': unknown key 'colour'",
        "feeds.yaml:8: source 'b': url: 'not-a-url' is not a valid http(s) URL",
    ]
    assert errors[2].startswith("feeds.yaml:10: source 'c': type: 'court' is not one of ") and "rss" in errors[2]
    assert len(errors) == 3


def test_duplicate_source_id_names_the_first_line(tmp_path: Path) -> None:
    path = _feeds(tmp_path, "sources:\n  - id: a\n    type: rss\n    url: https://x.org/1\n"
                            "  - id: a\n    type: rss\n    url: https://x.org/2\n")
    assert _errors(lambda: load_feeds(path)) == ["feeds.yaml:5: source 'a': id is already used at line 2"]


def test_yaml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    path = _feeds(tmp_path, "sources:\n  - id: a\n    type: rss\n    url: [unclosed\n")
    (error,) = _errors(lambda: load_feeds(path))
    assert error.startswith("feeds.yaml:") and "YAML syntax error" in error


def test_bad_proxy_and_country_codes_are_refused(tmp_path: Path) -> None:
    path = _feeds(tmp_path, "sources:\n  - id: a\n    type: rss\n    url: https://x.org/f\n"
                            "    proxy: ftp://p:21\n    countries: [uz]\n")
    errors = _errors(lambda: load_feeds(path))
    assert any(e.startswith("feeds.yaml:5:") and "proxy" in e for e in errors)
    assert any(e.startswith("feeds.yaml:6:") and "'uz'" in e for e in errors)


def test_valid_source_keeps_optional_settings(tmp_path: Path) -> None:
    path = _feeds(tmp_path, "sources:\n  - id: a\n    type: rss\n    url: https://x.org/f\n    every: 1h30m\n"
                            "    language: uz\n    countries: [UZ]\n    proxy: socks5://127.0.0.1:9050\n"
                            "    backfill: alert\n    enabled: false\n")
    (source,) = load_feeds(path)
    assert source.every.total_seconds() == 5400
    assert (source.language, source.countries, source.proxy, source.backfill, source.enabled) == (
        "uz", ("UZ",), "socks5://127.0.0.1:9050", "alert", False)


def test_shipped_feeds_file_is_valid_and_covers_the_field() -> None:
    sources = load_feeds(ROOT / "feeds.yaml")
    ids = {s.id for s in sources}
    assert len(sources) >= 20
    for expected in ("rferl", "ozodlik", "ozodi", "azattyq", "azadliq", "svoboda", "currenttime", "eurasianet",
                     "opendemocracy", "fergana", "hrw", "amnesty", "freedomhouse", "ovd", "mediazona", "meduza"):
        assert any(expected in i for i in ids), expected


def test_shipped_rules_have_every_incident_type_in_english_and_russian() -> None:
    rules = load_rules(ROOT / "rules")
    assert set(rules.incident_types) == set(INCIDENT_TYPES)
    for type_id, incident in rules.incident_types.items():
        assert incident.keywords.get("en") and incident.keywords.get("ru"), type_id
    assert rules.people == ()


def _rules(tmp_path: Path, people: str, incidents: str = "incident_types: {}\n") -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "people.yaml").write_text(people, encoding="utf-8")
    (folder / "incidents.yaml").write_text(incidents, encoding="utf-8")
    return folder


def test_rules_errors_locate_the_person_without_naming_them(tmp_path: Path) -> None:
    folder = _rules(tmp_path, "people:\n  - name: Bakhodir Karimov\n    alias: [x]\n  - name: ''\n")
    errors = _errors(lambda: load_rules(folder))
    assert errors == ["people.yaml:3: person #1: unknown key 'alias'", "people.yaml:4: person #2: name: name must not be empty"]
    assert not any("Karimov" in e for e in errors)


def test_duplicate_person_is_refused(tmp_path: Path) -> None:
    folder = _rules(tmp_path, "people:\n  - name: A B\n  - name: a  b\n")
    assert _errors(lambda: load_rules(folder)) == [
        "people.yaml:3: person #2: the same person is already listed at people.yaml:2"]


def test_keyword_wildcard_only_at_the_end(tmp_path: Path) -> None:
    folder = _rules(tmp_path, "people: []\n", "incident_types:\n  x:\n    keywords:\n      en: ['ab*c']\n")
    (error,) = _errors(lambda: load_rules(folder))
    assert error.startswith("incidents.yaml:3: incident type 'x': keywords:") and "only at the end" in error


def test_broken_rules_edit_keeps_previous_rules_in_force(tmp_path: Path) -> None:
    folder = _rules(tmp_path, "people:\n  - name: A B\n")
    holder = RulesHolder(folder)
    (folder / "people.yaml").write_text("people:\n  - name: A B\n  - nmae: C D\n", encoding="utf-8")
    assert holder.refresh() is False
    assert [p.name for p in holder.rules.people] == ["A B"]
    assert holder.last_error is not None and "people.yaml:3" in str(holder.last_error)
    (folder / "people.yaml").write_text("people:\n  - name: A B\n  - name: C D\n", encoding="utf-8")
    assert holder.refresh() is True
    assert [p.name for p in holder.rules.people] == ["A B", "C D"]


def test_rules_check_command_exit_codes(ws) -> None:
    ok = ws.cli("rules", "check")
    assert ok.exit_code == 0 and "rules OK: 0 people, 2 incident types" in ok.stdout
    (ws.rules / "people.yaml").write_text("people:\n  - name: X Y\n    country: Uzbekistan\n", encoding="utf-8")
    bad = ws.cli("rules", "check")
    assert bad.exit_code == 1
    assert "people.yaml:3: person #1: country: 'Uzbekistan' is not an ISO 3166 country code" in bad.stderr


def test_poll_refuses_bad_feeds_file_with_exit_2(ws) -> None:
    ws.feeds.write_text("sources:\n  - id: a\n    type: rss\n    url: https://x.org/f\n    every: soon\n")
    result = ws.cli("poll", "--once")
    assert result.exit_code == 2
    assert "feeds.yaml:5: source 'a': every: 'soon' is not a duration like 15m, 2h" in result.stderr
