"""Incident types by meaning: lemma keywords per language, context rules, and `watcher rules test`.

Each example of a type's definition (rules/incidents.yaml) is a test here, and so is each trap:
the sentences were written for these tests, not taken from the development set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.matching import Matcher
from watcher.matching.lemmas import russian_morph, strip_suffixes, token_keys
from watcher.rules import IncidentType, Rules, load_rules

ROOT = Path(__file__).parent.parent
SHIPPED = Matcher(load_rules(ROOT / "rules"))


def types(text: str) -> list[str]:
    return SHIPPED.analyse(text).incident_types


def why_not(text: str) -> str:
    return " | ".join(m.why for m in SHIPPED.analyse(text).ignored)


# ---------------------------------------------------------------- abduction and rendition

def test_rendered_from_moscow_is_abduction_rendition() -> None:
    assert types("The cleric was rendered from Moscow to Dushanbe without any hearing.") == ["abduction_rendition"]


def test_handed_over_to_uzbek_authorities_is_abduction_rendition() -> None:
    assert "abduction_rendition" in types("Police in Bishkek handed him over to Uzbek security services.")


def test_forcibly_returned_is_abduction_rendition() -> None:
    assert "abduction_rendition" in types("The dissident was forcibly returned to Grozny.")


def test_vyvezli_to_a_country_is_abduction_rendition() -> None:
    assert "abduction_rendition" in types("Активиста вывезли в Таджикистан на частном самолёте.")


def test_skhvatili_by_strangers_is_abduction_rendition() -> None:
    assert "abduction_rendition" in types("Неизвестные в масках схватили блогера у подъезда.")


def test_uzbek_cyrillic_text_matches_latin_keywords() -> None:
    assert "abduction_rendition" in types("Фаол Москвада ўғирлаб кетилди.")  # o'g'irla*, written in Cyrillic


@pytest.mark.parametrize("text", [
    "The activist vanished in Istanbul last month.",
    "The blogger disappeared after leaving his flat.",
    "His whereabouts remain unknown.",
    "Журналист исчез в Москве.",
    "Muxolif faol Moskvada g'oyib bo'ldi.",
    "Фаъол дар Маскав нопадид шуд.",
])
def test_enforced_disappearance_is_abduction_rendition(text: str) -> None:
    assert "abduction_rendition" in types(text)


def test_football_transfer_handed_over_is_not_a_rendition() -> None:
    assert types("The club handed over the striker to a Turkish side in a record transfer.") == []


def test_stolen_money_is_not_an_abduction() -> None:
    assert types("Похищенные средства вернули в бюджет.") == []


# ---------------------------------------------------------------- extradition

@pytest.mark.parametrize("text", [
    "Россия выдала Таджикистану сторонника оппозиции.",
    "Казахстан выдал Узбекистану беженца.",
    "Его выдали узбекским властям в марте.",
])
def test_vydala_with_country_object_is_extradition(text: str) -> None:
    assert "extradition" in types(text)


def test_vydat_with_person_object_is_extradition() -> None:
    assert "extradition" in types("Суд решил выдать активиста, несмотря на риск пыток.")


@pytest.mark.parametrize("text", ["Банк выдал кредит на строительство школы.", "Выдача паспортов начнётся в марте."])
def test_vydat_meaning_issue_is_not_extradition(text: str) -> None:
    assert types(text) == []


def test_zapros_o_vydache_in_any_case_is_extradition() -> None:
    assert types("По запросам о выдаче решения не было.") == ["extradition"]


def test_turkish_iade_talebi_is_extradition() -> None:
    assert "extradition" in types("Özbekistan'ın iade talebi mahkemeye ulaştı.")


def test_turkish_suffixes_after_the_stem_iadesi_and_talebini() -> None:
    assert "extradition" in types("Mahkeme, Tacik aktivistin Duşanbe'ye iadesine karar verdi.")
    assert "extradition" in types("Savcılık iade taleplerini yeniledi.")


def test_turkish_p_b_softening_talep_talebi() -> None:
    assert strip_suffixes("talebi", "tr") == strip_suffixes("talep", "tr") == "talep"
    assert token_keys("talebini") & token_keys("talep")


def test_turkish_tax_refund_iadesi_is_not_extradition() -> None:
    assert types("Vergi iadesi başvuruları başladı.") == []


def test_kazakh_and_tajik_extradition() -> None:
    assert types("Қазақстан белсендіні Өзбекстанға ұстап берді.") == ["extradition"]
    assert types("Русия фаъолро ба Тоҷикистон истирдод кард.") == ["extradition"]


# ---------------------------------------------------------------- detention, in absentia, release

def test_gozaltina_alindi_is_a_detention() -> None:
    assert types("Özbek muhalif İstanbul'da gözaltına alındı.") == ["detention"]


def test_released_from_custody_is_a_detention() -> None:
    assert types("The blogger was released from custody after ten days.") == ["detention"]


def test_released_a_report_is_not_a_detention() -> None:
    assert types("Human Rights Watch released a report on media freedom.") == []


def test_released_a_report_on_prisons_is_explained() -> None:
    result = SHIPPED.analyse("The ministry released a report on bail hearings.")
    assert result.incident_types == []
    assert "not counted: within 'released a report'" in why_not("The ministry released a report on bail hearings.")


def test_sentenced_in_absentia_is_not_a_detention() -> None:
    text = "He was sentenced in absentia to 15 years in prison."
    assert types(text) == []
    assert "which matches not: 'in absentia + " in why_not(text)


@pytest.mark.parametrize("text", [
    "Его заочно приговорили к десяти годам лишения свободы.",
    "U sirtdan 12 yilga ozodlikdan mahrum qilindi.",
    "O, qiyabi olaraq 9 il həbs cəzasına məhkum edildi.",
])
def test_in_absentia_is_not_a_detention_in_other_languages(text: str) -> None:
    assert types(text) == []


def test_arrest_warrant_and_flight_delay_are_not_detentions() -> None:
    assert types("Prosecutors issued an arrest warrant for the banker.") == []
    assert types("Рейс задержали на два часа из-за погоды.") == []


def test_lemmas_match_every_form_of_a_keyword() -> None:
    rules = Rules((), {"detention": IncidentType(keywords={"en": ("hold incommunicado",), "ru": ("задержать",)})})
    result = Matcher(rules).analyse("He was held incommunicado. Его задержали, её задержат.")
    assert [m.text for m in result.matches] == ["held incommunicado", "задержали", "задержат"]
    assert result.matches[1].why == "keyword 'задержать': 'задержали' is a form of 'задержать' (ru)"


# ---------------------------------------------------------------- negation and hypotheticals

def test_fearing_arrest_is_not_a_detention() -> None:
    text = "Fearing arrest, the journalist left Tajikistan in 2015."
    assert types(text) == []
    assert "not counted: hypothetical ('Fearing' before it)" in why_not(text)


def test_could_face_extradition_is_hypothetical() -> None:
    assert types("He could face extradition if the court accepts the request.") == []


def test_not_arrested_is_negated_and_turkish_negative_verb_too() -> None:
    assert types("The minister was not arrested, his lawyer said.") == []
    assert types("Gazeteci iade edilmedi.") == []
    assert "negative form" in why_not("Gazeteci iade edilmedi.")


def test_hypotheticals_in_russian_tajik_and_turkish() -> None:
    assert types("Он опасается ареста в случае возвращения.") == []
    assert types("Ӯ метавонад ба Тоҷикистон истирдод шавад.") == []
    assert types("Gazeteci, tutuklanma korkusuyla ülkeyi terk etti.") == []


def test_may_the_month_is_no_hypothetical() -> None:
    assert types("On 3 May police detained the imam.") == ["detention"]


# ---------------------------------------------------------------- attacks and killings

@pytest.mark.parametrize("text", [
    "The exiled critic was murdered in his flat.",
    "An exiled blogger was killed in Vienna.",
    "The activist died in custody in unexplained circumstances.",
    "He was stabbed outside his home in Lille.",
    "The dissident was shot dead in a Berlin park.",
    "The opposition leader was poisoned with a nerve agent.",
    "The Chechen blogger was attacked by unknown assailants.",
    "В Стамбуле застрелили эмигранта из Узбекистана.",
    "Sürgündeki muhalif silahlı saldırıda öldürüldü.",
])
def test_attacks_and_killings_are_assassination_attack(text: str) -> None:
    assert "assassination_attack" in types(text)


def test_terrorist_attack_is_not_an_attack_on_the_person() -> None:
    text = "The government blamed the opposition for the terrorist attack on the metro."
    assert types(text) == []
    assert "which matches not: 'terrorist/terror/" in why_not("The terrorist attack left dozens injured in hospital.")


def test_heart_attack_and_murder_charges_are_not_attacks() -> None:
    assert types("The player suffered a heart attack during training.") == []
    assert types("He was charged with murder in absentia.") == []


# ---------------------------------------------------------------- threats to family

@pytest.mark.parametrize("text", [
    "Police questioned the relatives of the exiled journalist.",
    "Relatives of the blogger were summoned to the security service.",
    "His brother and father were held for two days.",
    "Security officers spoke to your dad, the caller told the activist.",
    "His relatives renounced him on state television.",
    "Родственников блогера вызвали на допрос.",
    "Jurnalistning qarindoshlari militsiyaga chaqirildi.",
])
def test_pressure_on_relatives_is_threats_to_family(text: str) -> None:
    assert "threats_to_family" in types(text)


def test_a_brother_alone_is_no_threat_to_family() -> None:
    assert types("His brother runs a restaurant in Berlin.") == []


# ---------------------------------------------------------------- threats, smears, surveillance

@pytest.mark.parametrize("text", [
    "She was accused on national television of treason.",
    "The exile sued for defamation.",
    "An informant network reported on the exiles' meetings.",
    "His communications were intercepted by the security service.",
    "Her phone was hacked in March.",
    "Officers tracked his phone for months.",
    "Журналист получил угрозы, его переписка была перехвачена.",
])
def test_smears_and_surveillance_are_threats_surveillance(text: str) -> None:
    assert "threats_surveillance" in types(text)


def test_threatened_to_resign_and_faces_extradition_are_no_threats() -> None:
    assert types("The minister threatened to resign over the budget.") == []
    assert "threats_surveillance" not in types("Ему угрожает экстрадиция в Узбекистан.")


# ---------------------------------------------------------------- asylum refusal

@pytest.mark.parametrize("text", [
    "The Home Office turned down his application for refugee status.",
    "He was denied refugee status in Poland.",
    "Her asylum claim was rejected last year.",
    "Uning boshpana so'rovi rad etildi.",
    "Миграционная служба отказала активисту в предоставлении убежища.",
])
def test_refused_asylum_is_asylum_refusal(text: str) -> None:
    assert "asylum_refusal" in types(text)


def test_granted_asylum_is_no_refusal() -> None:
    assert types("The critic's asylum application was approved in Lithuania.") == []


# ---------------------------------------------------------------- ECtHR interim measures

def test_strasbourg_court_halted_extradition_is_rule39() -> None:
    assert types("The Strasbourg court halted his extradition to Uzbekistan.") == ["ecthr_rule39", "extradition"]


@pytest.mark.parametrize("text", [
    "The European Court of Human Rights stayed her deportation to Tajikistan.",
    "The ECtHR intervened to block the extradition.",
    "Lawyers invoked Article 39 to keep him in Russia.",
    "ЕСПЧ приостановил выдачу беженца в Таджикистан.",
])
def test_interim_measures_without_rule_39_are_rule39(text: str) -> None:
    assert "ecthr_rule39" in types(text)


def test_article_39_of_the_constitution_is_not_rule39() -> None:
    assert types("Article 39 of the Constitution guarantees freedom of assembly.") == []
    assert types("Статья 39 Конституции гарантирует социальное обеспечение.") == []


def test_ordinary_ecthr_application_is_not_rule39() -> None:
    assert types("The European Court of Human Rights communicated the application to Russia.") == []


# ---------------------------------------------------------------- interpol

def test_interpol_meeting_is_not_a_red_notice_but_its_wanted_list_is() -> None:
    assert types("The Interpol General Assembly met in Vienna.") == []
    assert types("Tajikistan put him on Interpol's wanted list.") == ["interpol_red_notice"]


# ---------------------------------------------------------------- schema and machinery

def test_not_phrases_and_alternatives_in_the_schema(ws) -> None:
    ws.write_rules(incidents="""\
        incident_types:
          assassination_attack:
            keywords:
              en: [attack, stab/knife + victim]
            not:
              en: [terrorist attack]
        """)
    rules = load_rules(ws.rules)
    assert rules.incident_types["assassination_attack"].not_ == {"en": ("terrorist attack",)}
    matcher = Matcher(rules)
    assert matcher.analyse("a terrorist attack").incident_types == []
    assert matcher.analyse("the victim, stabbed twice").incident_types == ["assassination_attack"]


def test_broken_not_phrase_is_a_rules_error_with_file_and_line(ws) -> None:
    ws.write_rules(incidents="incident_types:\n  detention:\n    keywords:\n      en: [arrest]\n"
                             "    not:\n      en: ['warrant + ']\n")
    result = ws.cli("rules", "check")
    assert result.exit_code == 1
    expected = "incidents.yaml:5: incident type 'detention': not: en: 'warrant +': an empty part around '+'"
    assert expected in result.stderr


def test_each_match_is_reported_once() -> None:
    rules = Rules((), {"extradition": IncidentType(keywords={"en": ("extradit*", "extradition", "extradite")},
                                                   regex="extradition")})
    result = Matcher(rules).analyse("His extradition was approved.")
    assert [(m.rule, m.text) for m in result.matches] == [("incident:extradition", "extradition")]


def test_language_machinery_is_loaded_once_and_words_are_cached() -> None:
    assert russian_morph() is russian_morph()
    token_keys("выдала")
    hits = token_keys.cache_info().hits
    SHIPPED.analyse("Россия выдала Таджикистану активиста")
    assert token_keys.cache_info().hits > hits


# ---------------------------------------------------------------- watcher rules test

def test_rules_test_says_whether_it_would_alert(ws, monkeypatch) -> None:
    monkeypatch.delenv("WATCHER_TELEGRAM_TOKEN", raising=False)
    shipped = (ROOT / "rules/incidents.yaml").read_text(encoding="utf-8")
    ws.write_rules("people:\n  - name: Bakhodir Karimov\n", shipped)
    alone = ws.cli("rules", "test", "Russia extradited the activist to Tashkent.")
    assert alone.exit_code == 0
    assert ("WOULD ALERT (urgent) to the console (no WATCHER_TELEGRAM_TOKEN set): extradition is an alone type"
            in alone.stdout)
    not_alone = ws.cli("rules", "test", "Police detained the imam in Istanbul.")
    assert "would not alert: detention is not an alone type and no watched person is named" in not_alone.stdout
    person = ws.cli("rules", "test", "Police detained Bakhodir Karimov in Istanbul.")
    assert "WOULD ALERT to the console (no WATCHER_TELEGRAM_TOKEN set): names Bakhodir Karimov" in person.stdout
    nothing = ws.cli("rules", "test", "Fearing arrest, the journalist left.")
    assert "would not alert: nothing that counts matched" in nothing.stdout
    assert "(incident:detention: 'arrest' at 8-14: not counted: hypothetical ('Fearing' before it)" in nothing.stdout


def test_rules_test_prints_each_match_once(ws) -> None:
    ws.write_rules(incidents="incident_types:\n  extradition:\n    keywords:\n      en: [extradition, extradit*]\n"
                             "    regex: extradition\n")
    result = ws.cli("rules", "test", "His extradition was approved.")
    assert result.stdout.count("incident:extradition: 'extradition'") == 1
