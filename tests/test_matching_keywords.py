"""Incident keywords across languages and inflections, and the countries an item names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watcher.matching import Matcher
from watcher.rules import IncidentType, Person, Rules, load_rules

ROOT = Path(__file__).parent.parent
STARTER = Matcher(load_rules(ROOT / "rules"))


@pytest.mark.parametrize("text, expected", [
    ("Russia agreed to his extradition", "extradition"),
    ("Суд отказал в экстрадиции", "extradition"),  # экстрадиц* stem, genitive
    ("Ekstraditsiya so'rovi rad etildi", "extradition"),
    ("Türkiye suçlu iadesi istedi", "extradition"),
    ("Interpol issued a red notice", "interpol_red_notice"),
    ("объявлен в международный розыск через Интерпол", "interpol_red_notice"),
    ("He was abducted in Moscow", "abduction_rendition"),
    ("его похитили в Москве", "abduction_rendition"),
    ("The court applied Rule 39 interim measures", "ecthr_rule39"),
    ("deported to Tajikistan", "deportation"),
])
def test_starter_keywords_find_the_incident_in_each_language(text: str, expected: str) -> None:
    assert expected in STARTER.analyse(text).incident_types


@pytest.mark.parametrize("text", [
    "Prosecutor renews arrest warrant for the banker",  # 'arrest warrant' is not a detention
    "выдача паспортов возобновлена",  # выдача (issuing) is not extradition
    "задержка рейса на два часа",  # задержка (delay) is not detention
    "суд, как правило, рассматривает жалобы год",  # 'правило' without 39 is just "a rule"
    "The rule of law in Article 3 cases",  # 'rule' is not Rule 39
])
def test_starter_keywords_avoid_known_traps(text: str) -> None:
    assert STARTER.analyse(text).incident_types == []


def test_stem_keyword_matches_inflections_and_plain_keyword_matches_english_plural() -> None:
    rules = Rules((), {"abduction_rendition": IncidentType(keywords={"ru": ("похищени*",), "en": ("kidnapping",)})})
    result = Matcher(rules).analyse("Похищения продолжаются; two kidnappings reported")
    assert [m.text for m in result.matches] == ["Похищения", "kidnappings"]
    assert result.matches[0].why == "stem 'похищени*'"


def test_multi_word_phrase_with_stem_on_last_word() -> None:
    rules = Rules((), {"ecthr_rule39": IncidentType(keywords={"en": ("interim measure*",)})})
    m = Matcher(rules)
    assert m.analyse("the Court indicated interim measures").incident_types == ["ecthr_rule39"]
    assert m.analyse("interim results, measures later").incident_types == []


def test_incident_regex_on_re2() -> None:
    rules = Rules((), {"detention": IncidentType(regex=r"held\s+(for|in)\s+custody")})
    assert Matcher(rules).analyse("He was HELD in custody").incident_types == ["detention"]


def test_countries_with_origin_and_host() -> None:
    rules = Rules((Person(name="Bakhodir Karimov", country="UZ"),), {})
    result = Matcher(rules).analyse("Uzbek migrant Bakhodir Karimov was detained in Russia; Tashkent wants him back.")
    assert result.countries == ["UZ", "RU"]
    assert result.origin == ["UZ"] and result.host == ["RU"]


def test_countries_in_russian_and_uzbek_cases() -> None:
    result = STARTER.analyse("Его выдали Узбекистану из Казахстана. O'zbekistonga qaytarildi.")
    assert result.countries == ["UZ", "KZ"]


def test_cli_match_reads_json_lines_and_writes_one_result_each(ws) -> None:
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n    country: UZ\n")
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "a", "title": "Бахадира Каримова ждёт экстрадиции", "summary": "в Узбекистан"},
        {"id": "b", "title": "Islam Karimov", "summary": ""},
    ])
    from click.testing import CliRunner

    from watcher.cli import cli
    result = CliRunner().invoke(cli, ["--rules", str(ws.rules), "match"], input=lines + "\n")
    assert result.exit_code == 0, result.output
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert first["id"] == "a" and first["people"] == ["Bakhodir Karimov"]
    assert first["incident_types"] == ["extradition"] and "UZ" in first["countries"]
    person = first["matches"][0]
    assert set(person) == {"rule", "kind", "variant", "span", "text", "why"}
    assert person["text"] == "Бахадира Каримова" and person["span"] == [0, 17]
    assert second == {"id": "b", "people": [], "incident_types": [], "countries": [], "origin": [], "host": [],
                      "matches": []}


def test_cli_match_refuses_a_line_that_is_not_json(ws) -> None:
    from click.testing import CliRunner

    from watcher.cli import cli
    result = CliRunner().invoke(cli, ["--rules", str(ws.rules), "match"], input="{not json\n")
    assert result.exit_code == 1 and "stdin:1: not a JSON object" in result.stderr


def test_cli_rules_test_explains(ws) -> None:
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n")
    result = ws.cli("rules", "test", "Суд арестовал Бахадира Каримова по запросу об экстрадиции")
    assert result.exit_code == 0
    assert "people:         Bakhodir Karimov" in result.stdout
    assert "incident types: extradition" in result.stdout
    assert "cyrillic→latin; given name 'Бахадира' (genitive/accusative -а)" in result.stdout


def test_cli_rules_variants_lists_keys_and_forms(ws) -> None:
    result = ws.cli("rules", "variants", "Bakhodir Karimov")
    assert result.exit_code == 0
    assert "given name 'Bakhodir': spelling key 'bahadir'" in result.stdout
    assert "form 'karimava': genitive/accusative -а" in result.stdout
    assert "form 'karimavni': Uzbek accusative -ni" in result.stdout


def test_regex_refused_by_re2_is_a_rules_error_with_file_and_line(ws) -> None:
    (ws.rules / "people.yaml").write_text("people:\n  - name: A B\n    regex: '(?<=x)y'\n", encoding="utf-8")
    result = ws.cli("rules", "check")
    assert result.exit_code == 1
    assert "people.yaml:3: person #1: regex: RE2 refuses this pattern: invalid perl operator: (?<=" in result.stderr
