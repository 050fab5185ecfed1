"""Inflected forms of names: Russian cases, Uzbek and Tajik suffixes, gender kept apart."""

from __future__ import annotations

from watcher.matching.morphology import given_forms, surname_forms
from watcher.matching.translit import name_key


def form(forms: dict[str, str], word: str) -> str | None:
    return forms.get(name_key(word))


MALE = surname_forms(name_key("Karimov"), female=False)
FEMALE = surname_forms(name_key("Karimova"), female=True)


def test_russian_male_surname_cases_каримова_каримову_каримовым_каримове() -> None:
    assert form(MALE, "Каримова") == "genitive/accusative -а"
    assert form(MALE, "Каримову") == "dative -у"
    assert form(MALE, "Каримовым") == "instrumental -ым"
    assert form(MALE, "Каримове") == "prepositional -е"


def test_russian_plural_surname_каримовы_каримовых_каримовыми() -> None:
    assert form(MALE, "Каримовы") == "plural -ы"
    assert form(MALE, "Каримовых") == "plural genitive -ых"
    assert form(MALE, "Каримовыми") == "plural instrumental -ыми"


def test_russian_ev_surname_хамроева_хамроевым() -> None:
    forms = surname_forms(name_key("Khamroyev"), female=False)
    assert form(forms, "Хамроева") == "genitive/accusative -а"
    assert form(forms, "Хамроевым") == "instrumental -ым"
    assert form(forms, "Хамроеву") == "dative -у"


def test_russian_female_surname_каримовой_каримову() -> None:
    assert form(FEMALE, "Каримова") == ""
    assert form(FEMALE, "Каримовой") == "oblique case -ой"
    assert form(FEMALE, "Каримову") == "accusative -у"


def test_female_and_male_forms_are_distinct_aliyeva_is_not_aliyev() -> None:
    assert form(MALE, "Karimovoy") is None and form(MALE, "Каримовой") is None
    assert form(FEMALE, "Каримов") is None and form(FEMALE, "Каримовым") is None
    assert form(surname_forms(name_key("Aliyev"), female=False), "Aliyeva") == "genitive/accusative -а"  # his genitive
    assert form(surname_forms(name_key("Aliyeva"), female=True), "Aliyev") is None


def test_russian_adjective_surname_иорданского() -> None:
    forms = surname_forms(name_key("Yordanskiy"), female=False)
    assert form(forms, "Иорданского") == "genitive -ого"
    assert form(forms, "Иорданским") == "instrumental -им"


def test_russian_given_name_consonant_stem_бахадира_баходиру_баходиром() -> None:
    forms = given_forms(name_key("Bakhodir"))
    assert form(forms, "Бахадира") == "genitive/accusative -а"
    assert form(forms, "Баходиру") == "dative -у"
    assert form(forms, "Баходиром") == "instrumental -ом"


def test_russian_given_name_a_stem_татьяны_татьяне_татьяну_татьяной() -> None:
    forms = given_forms(name_key("Tatyana"))
    assert form(forms, "Татьяны") == "genitive -ы/-и"
    assert form(forms, "Татьяне") == "dative/prepositional -е"
    assert form(forms, "Татьяну") == "accusative -у"
    assert form(forms, "Татьяной") == "instrumental -ой"


def test_uzbek_suffixes_karimovni_kamolovning_karimovga_karimovdan() -> None:
    assert form(MALE, "Karimovni") == "Uzbek accusative -ni"
    assert form(surname_forms(name_key("Kamolov"), False), "Kamolovning") == "Uzbek genitive -ning"
    assert form(MALE, "Karimovga") == "Uzbek dative -ga"
    assert form(MALE, "Karimovdan") == "Uzbek ablative -dan"
    assert form(given_forms(name_key("Bahodir")), "Bahodirni") == "Uzbek accusative -ni"


def test_tajik_suffix_искандаровро() -> None:
    forms = surname_forms(name_key("Iskandarov"), female=False)
    assert form(forms, "Искандаровро") == "Tajik object marker -ро"


def test_english_plural_karimovs() -> None:
    assert form(MALE, "Karimovs") == "English plural -s"
