"""Inflected forms of names: Russian cases, Uzbek, Tajik, Azerbaijani/Turkish and Kazakh/Kyrgyz
suffixes, gender kept apart; and de-Russified surnames (Rahmonov = Rahmon)."""

from __future__ import annotations

from watcher.matching.morphology import derussified_forms, given_forms, surname_forms
from watcher.matching.translit import name_key, name_keys


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


def all_forms(word: str, female: bool = False) -> dict[str, str]:
    """The forms of every key of a listed spelling, as an index built on name_keys would hold."""
    forms: dict[str, str] = {}
    for key in name_keys(word):
        for form, label in surname_forms(key, female).items():
            forms.setdefault(form, label)
    return forms


def test_russian_given_name_in_й_сергея_сергею_сергеем_абая_николая() -> None:
    forms = given_forms(name_key("Sergey"))
    assert form(forms, "Сергея") == "genitive/accusative -я"
    assert form(forms, "Сергею") == "dative -ю"
    assert form(forms, "Сергеем") == "instrumental -ем"
    assert form(forms, "Сергее") == "prepositional -е"
    assert form(given_forms(name_key("Abai")), "Абая") == "genitive/accusative -я"
    assert form(given_forms(name_key("Абай")), "Абаем") == "instrumental -ем"
    assert form(given_forms(name_key("Nikolai")), "Николаю") == "dative -ю"
    assert form(given_forms(name_key("Andrey")), "Андрея") == "genitive/accusative -я"


def test_russian_given_name_in_ий_юрия_дмитрием_евгением() -> None:
    assert form(given_forms(name_key("Yury")), "Юрия") == "genitive/accusative -я"
    assert form(given_forms(name_key("Юрий")), "Юрию") == "dative -ю"
    assert form(given_forms(name_key("Dmitry")), "Дмитрием") == "instrumental -ем"
    assert form(given_forms(name_key("Yevgeny")), "Евгением") == "instrumental -ем"
    assert form(given_forms(name_key("Ali")), "Алия") is None  # too short to be an -ий name


def test_russian_given_name_losing_its_е_льва_павла() -> None:
    assert form(given_forms(name_key("Lev")), "Льва") == "genitive/accusative -а (е dropped)"
    assert form(given_forms(name_key("Lev")), "Львом") == "instrumental -ом (е dropped)"
    assert form(given_forms(name_key("Pavel")), "Павлу") == "dative -у (е dropped)"


def test_russian_surnames_in_ай_ый_and_а_мамая_навального_дерипаски_мурзы() -> None:
    mamay = surname_forms(name_key("Mamay"), female=False)
    assert form(mamay, "Мамая") == "genitive/accusative -я" and form(mamay, "Мамаем") == "instrumental -ем"
    assert form(surname_forms(name_key("Tolstoy"), female=False), "Толстого") == "genitive -ого"
    navalny = surname_forms(name_key("Navalny"), female=False)
    assert form(navalny, "Навального") == "genitive -ого" and form(navalny, "Навальному") == "dative -ому"
    assert form(surname_forms(name_key("Deripaska"), female=False), "Дерипаски") == "genitive -ы/-и"
    assert form(surname_forms(name_key("Murza"), female=False), "Мурзе") == "dative/prepositional -е"


def test_azerbaijani_turkish_suffixes_attached_directly_əliyevin_əliyevə_karimovun() -> None:
    aliyev = surname_forms(name_key("Aliyev"), female=False)
    assert form(aliyev, "Əliyevin") == "Azerbaijani/Turkish genitive -in/-ın"
    assert form(aliyev, "Əliyevə") is not None  # the key of his Russian genitive too
    assert form(aliyev, "Əliyevi") is not None
    assert form(aliyev, "Əliyevdən") == "Uzbek ablative -dan"  # ə is a in keys: one suffix
    assert form(aliyev, "Aliyevning") == "Uzbek genitive -ning"
    assert form(MALE, "Karimovun") == "Azerbaijani/Turkish genitive -un/-ün"
    assert form(MALE, "Kərimovun") == "Azerbaijani/Turkish genitive -un/-ün"
    assert form(surname_forms(name_key("Hüseynzadə"), False), "Hüseynzadənin") == "Azerbaijani/Turkish genitive -nin/-nın"


def test_uzbek_suffixes_without_apostrophe_karimovni_karimovga_aliyevni() -> None:
    assert form(MALE, "Karimovni") == "Uzbek accusative -ni"
    assert form(MALE, "Karimovga") == "Uzbek dative -ga"
    assert form(surname_forms(name_key("Aliyev"), False), "Aliyevni") == "Uzbek accusative -ni"


def test_kazakh_kyrgyz_suffixes_тоқаевты_тоқаевтың_тоқаевқа_ташиевге_ташиевдин() -> None:
    tokayev = surname_forms(name_key("Tokayev"), female=False)
    assert form(tokayev, "Тоқаевты") == "Kazakh/Kyrgyz accusative -ты/-ті"
    assert form(tokayev, "Тоқаевтың") == "Kazakh/Kyrgyz genitive -тың/-тің/-тын"
    assert form(tokayev, "Tokayevtyń") == "Kazakh/Kyrgyz genitive -тың/-тің/-тын"
    assert form(tokayev, "Тоқаевқа") is not None and form(tokayev, "Tokaevqa") is not None
    assert form(tokayev, "Тоқаевпен") == "Kazakh instrumental -пен"
    tashiev = surname_forms(name_key("Tashiev"), female=False)
    assert form(tashiev, "Ташиевге") == "Kazakh/Kyrgyz dative -ге"
    assert form(tashiev, "Ташиевдин") == "Kazakh/Kyrgyz genitive -дың/-дің/-дын"


def test_turkic_suffixes_make_no_other_name_alina_is_not_ali_каримовна_is_not_karimov() -> None:
    assert form(given_forms(name_key("Ali")), "Alina") is None
    assert form(given_forms(name_key("Ali")), "Alla") is None
    assert form(MALE, "Каримовна") is None and form(MALE, "Каримовне") is None
    assert form(FEMALE, "Karimov") is None


def test_forms_of_alternate_keys_reach_russian_cases_huseynov_гусейнова_mammadov_мамедовым() -> None:
    assert form(all_forms("Huseynov"), "Гусейнова") == "genitive/accusative -а"
    assert form(all_forms("Məmmədov"), "Мамедовым") == "instrumental -ым"
    assert form(all_forms("Quliyev"), "Гулиеву") == "dative -у"
    assert form(all_forms("Hüseynova", female=True), "Гусейновой") == "oblique case -ой"


def test_derussified_forms_rahmonov_abbasov_kabirov_nazarov() -> None:
    assert derussified_forms(name_key("Rahmonov"))[name_key("Rahmon")] == "de-Russified: -ov/-ev dropped"
    assert derussified_forms(name_key("Abbasov"))[name_key("Abbas")] == "de-Russified: -ov/-ev dropped"
    assert derussified_forms(name_key("Kabirov"))[name_key("Kabiri")] == "de-Russified -i"
    assert derussified_forms(name_key("Nazarov"))[name_key("Nazarzoda")] == "de-Russified -zoda/-zade"
    assert derussified_forms(name_key("Назаров"))[name_key("Nazarzade")] == "de-Russified -zoda/-zade"
    assert derussified_forms(name_key("Agalarov"))[name_key("Ağalarlı")] == "de-Russified -li"
    assert name_key("Alizade") in derussified_forms(name_key("Aliyev"))  # the i the key of -iyev lost
    assert name_key("Rahmonova") not in derussified_forms(name_key("Rahmonov"))


def test_derussified_forms_the_other_way_rahmon_kabiri_nazarzoda_yunus() -> None:
    assert derussified_forms(name_key("Rahmon"))[name_key("Rahmonov")] == "Russified -ov"
    assert name_key("Kabirov") in derussified_forms(name_key("Kabiri"))
    assert name_key("Nazarov") in derussified_forms(name_key("Nazarzoda"))
    assert name_key("Agalarov") in derussified_forms(name_key("Agalarli"))
    assert name_key("Юнусов") in derussified_forms(name_key("Yunus"))
    assert name_key("Rasulov") in derussified_forms(name_key("Rasulzoda"))


def test_derussified_patronymic_surnames_qunanbaiuly_ibadoghlu_vagifqizi() -> None:
    assert name_key("Qunanbaiuly") in derussified_forms(name_key("Kunanbaev"))
    assert name_key("Кунанбаев") in derussified_forms(name_key("Құнанбайұлы"))
    assert name_key("Ibadov") in derussified_forms(name_key("Ibadoghlu"))
    assert name_key("Vagifova") in derussified_forms(name_key("Vagifqızı"))


def test_derussified_forms_never_hold_the_key_itself_or_a_stub() -> None:
    for word in ("Rahmonov", "Aliyev", "Rahmon", "Nazarzoda", "Kabiri", "Ağalarlı", "Qunanbaiuly"):
        forms = derussified_forms(name_key(word))
        assert name_key(word) not in forms and all(len(f) >= 3 and label for f, label in forms.items())
