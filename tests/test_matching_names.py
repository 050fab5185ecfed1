"""Who is who: full mentions, surnames alone, namesakes, `not` lists, fuzziness, regexes."""

from __future__ import annotations

from watcher.matching import Matcher
from watcher.rules import IncidentType, Person, Rules


def person(name: str, *aliases: str, not_: tuple[str, ...] = (), country: str | None = None, regex: str | None = None) -> Person:
    return Person(name=name, aliases=aliases, country=country, regex=regex, **{"not": not_})


WATCHLIST = (
    person("Bakhodir Karimov", "Bahodir Karimov", "Баходир Каримов", country="UZ"),
    person("Tatyana Karimova", "Tanya Karimova", "Tatyana Karimov", "Татьяна Каримова"),
    person("Rakhmetdin Kamolov", "Рахметдин Камолов"),
    person("Murod Yuldashev", "Мурод Юлдашев"),
    person("Mirsobir Khamidkariyev"),
    person("Umar Israilov"),
    person("Ali Israilov"),
    person("Dashgin Agalarli", "Daşqın Ağalarlı"),
)
MATCHER = Matcher(Rules(WATCHLIST, {"extradition": IncidentType(keywords={"en": ("extradition",)})}))


def people(text: str, matcher: Matcher = MATCHER) -> list[str]:
    return matcher.analyse(text).people


def test_full_name_bakhodir_karimov() -> None:
    assert people("Bakhodir Karimov was detained.") == ["Bakhodir Karimov"]


def test_spelling_variant_and_script_bahodir_баходир() -> None:
    assert people("Bahodir Karimov") == ["Bakhodir Karimov"]
    assert people("Задержан Баходир Каримов") == ["Bakhodir Karimov"]


def test_russian_oblique_case_бахадира_каримова_is_him_not_her() -> None:
    result = MATCHER.analyse("Суд оставил Бахадира Каримова под стражей")
    assert result.people == ["Bakhodir Karimov"]
    assert "genitive/accusative -а" in result.matches[0].why and result.matches[0].why.startswith("cyrillic→latin")


def test_female_form_татьяну_каримову_is_her() -> None:
    assert people("Полиция угрожала Татьяне Каримовой") == ["Tatyana Karimova"]


def test_reverse_order_karimov_bahodir() -> None:
    assert people("Karimov Bahodir, 35, a migrant") == ["Bakhodir Karimov"]


def test_patronymic_between_баходир_алиевич_каримов() -> None:
    assert people("Баходир Алиевич Каримов") == ["Bakhodir Karimov"]


def test_initial_b_karimov() -> None:
    assert people("B. Karimov was released.") == ["Bakhodir Karimov"]
    assert people("I. Karimov was president.") == []


def test_uzbek_accusative_bahodir_karimovni() -> None:
    assert people("Bahodir Karimovni hibsga olishdi") == ["Bakhodir Karimov"]


def test_possessive_bakhodir_karimovs_case() -> None:
    assert people("Bakhodir Karimov's case") == ["Bakhodir Karimov"]


def test_president_islam_karimov_never_triggers_bakhodir() -> None:
    assert people("President Islam Karimov ordered troops to fire.") == []
    assert people("Ислам Каримов недоволен. Судя по заявлениям Ислама Каримова, потепления нет.") == []
    assert people("President Karimov said. Karimov is not satisfied.") == []


def test_surname_alone_never_matches_when_shared_karimov() -> None:
    assert people("Karimov was detained at the migration office.") == []


def test_surname_alone_after_full_mention_counts_as_a_second_mention() -> None:
    result = MATCHER.analyse("Bakhodir Karimov was arrested. Later Karimov was released.")
    spans = [m.span for m in result.matches if m.rule == "person:Bakhodir Karimov"]
    assert len(spans) == 2 and "after a full mention" in result.matches[1].why


def test_distinctive_surname_alone_kamolov_камолова() -> None:
    assert people("Kamolov's extradition case went on for a year.") == ["Rakhmetdin Kamolov"]
    assert people("Дело об экстрадиции Камолова тянулось полтора года.") == ["Rakhmetdin Kamolov"]


def test_capitalised_word_before_surname_is_not_a_namesake_радио_liberty_agalarli() -> None:
    assert people("According to Radio Liberty Agalarli was arrested.") == ["Dashgin Agalarli"]
    assert people("Экстрадиция Камолова отложена") == ["Rakhmetdin Kamolov"]


def test_another_person_of_the_surname_blocks_surname_alone_тахир_юлдашев() -> None:
    assert people("Тахир Юлдашев командует силами в Пакистане. Юлдашев скрывается.") == []
    assert people("Judge Kamolov refused bail.") == []


def test_shared_surname_israilov_alone_is_not_guessed() -> None:
    assert people("Four exiles attempted to grab Israilov from a Vienna sidewalk.") == []
    assert people("Umar Israilov and his father Ali Israilov fled.") == ["Umar Israilov", "Ali Israilov"]


def test_not_list_blocks_the_namesake_and_surname_alone() -> None:
    guarded = Matcher(Rules((person("Rakhmetdin Kamolov", not_=("Farrukh Kamolov",)),), {}))
    assert people("Farrukh Kamolov, a banker, said Kamolov was away.", guarded) == []
    assert people("Rakhmetdin Kamolov met Farrukh Kamolov.", guarded) == ["Rakhmetdin Kamolov"]


def test_one_edit_on_long_surname_beside_exact_given_name_karinov_khamidakariyev() -> None:
    assert people("Bakhodir Karinov was detained") == ["Bakhodir Karimov"]
    assert people("Mirsobir Khamidakariyev was abducted") == ["Mirsobir Khamidkariyev"]
    assert people("Bakhodir Kadirov was detained") == []  # two edits: too far
    # Karimzoda is Karimov de-Russified (issue #12): the same surname beside the exact given name
    assert people("Bakhodir Karimzoda was detained") == ["Bakhodir Karimov"]
    assert people("Bahrom Karinov was detained") == []  # no exact part: no fuzziness


def test_typo_in_given_name_before_distinctive_surname_dasghin_agalarli() -> None:
    assert people("the earlier incident with Dasghin Agalarli") == ["Dashgin Agalarli"]


def test_coordinated_names_tatyana_and_bakhodir_karimov() -> None:
    assert people("The story of Tatyana and Bakhodir Karimov") == ["Tatyana Karimova", "Bakhodir Karimov"]


def test_given_name_with_family_name_elsewhere_tanya_exile_karimov() -> None:
    assert people("Wife of exile Karimov threatened. Tanya tells me she was scared.") == ["Tatyana Karimova"]


def test_given_name_before_another_surname_is_not_a_family_mention() -> None:
    assert people("Tatyana Lokshina of HRW commented on the Karimov case.") == []


def test_lowercase_words_are_not_names_murod_means_wish() -> None:
    assert people("bahodir karimov hibsga olindi") == ["Bakhodir Karimov"]  # an all-lowercase text is read as is
    assert people("Uning bahodir karimov emas") == []


def test_person_regex_runs_on_re2() -> None:
    guarded = Matcher(Rules((person("Rakhmetdin Kamolov", regex=r"r\.?\s*kamolov"),), {}))
    assert people("R. Kamolov", guarded) == ["Rakhmetdin Kamolov"]


def test_explanations_name_rule_variant_span_and_reason() -> None:
    result = MATCHER.analyse("Суд: Бахадира Каримова выдадут")
    (found,) = [m for m in result.matches if m.kind == "person"]
    assert found.rule == "person:Bakhodir Karimov" and found.variant == "Баходир Каримов"
    assert found.text == "Бахадира Каримова" and found.span == (5, 22)
    assert found.why == ("cyrillic→latin; given name 'Бахадира' (genitive/accusative -а); "
                         "surname 'Каримова' (genitive/accusative -а)")


ISSUE_PEOPLE = Matcher(Rules((
    person("Bakhodir Karimov"),
    person("Jo'rayev Bahodir"),
    person("Qosim Toshmatov"),
    person("Ҷумъа Қодиров"),
), {}))


def test_issue_pairs_bakhodir_karimov_in_every_spelling_case_and_order() -> None:
    for text in ("Bahodir Karimov", "Баходир Каримов", "Бахадира Каримова", "Karimov Bahodir",
                 "Bahodir Karimovni", "Bakhodir Karimov was held; B. Karimov was later freed"):
        assert ISSUE_PEOPLE.analyse(text).people == ["Bakhodir Karimov"], text
    assert ISSUE_PEOPLE.analyse("President Islam Karimov").people == []


def test_issue_pairs_peers_score_below_threshold_jo_rayev_toshmatov_kodirov() -> None:
    assert ISSUE_PEOPLE.analyse("Джураев Баходир задержан").people == ["Jo'rayev Bahodir"]
    assert ISSUE_PEOPLE.analyse("Kasym Tashmatov was deported").people == ["Qosim Toshmatov"]
    assert ISSUE_PEOPLE.analyse("Dzhuma Kodirov was abducted").people == ["Ҷумъа Қодиров"]


# -- the index's shortcuts (issue 16): each must give what the plain reading gives -------------

def test_one_edit_strings_are_exactly_the_strings_one_edit_away() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from watcher.matching.nameindex import one_edit_strings
    from watcher.matching.namesakes import one_edit

    letters = "abkrvo"

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet=letters, max_size=7), st.text(alphabet=letters, max_size=8))
    def check(key: str, other: str) -> None:
        assert (other in one_edit_strings(key, frozenset(letters))) == one_edit(key, other)

    check()


def test_nearby_sources_are_those_with_a_form_one_edit_away() -> None:
    """near_srcs looks the strings one edit from a key up; namesakes.one_edit against every form
    of every source is what it stands for."""
    import random

    from watcher.matching.nameindex import MIN_FUZZY
    from watcher.matching.namesakes import one_edit

    index = MATCHER.names
    forms = sorted({form for src_forms in index.src_forms for form in src_forms})
    rng = random.Random(16)
    keys = set(forms[:200])
    for form in rng.sample(forms, 300):  # a deletion, a substitution, an insertion; sometimes two
        at = rng.randrange(len(form) + 1)
        letter = rng.choice("abdeghijklmnrstuvz")
        for key in (form[:at] + form[at + 1:], form[:at] + letter + form[at + 1:], form[:at] + letter + form[at:]):
            keys.add(key)
            keys.add(key[::-1][:3] + key[3:])
    for key in sorted(keys):
        brute = {src for src, src_forms in enumerate(index.src_forms)
                 if any(len(form) >= MIN_FUZZY - 2 and one_edit(key, form) for form in src_forms)}
        assert index.near_srcs(key) == brute, key


def test_words_remembered_or_forgotten_read_the_same(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A word's Hit is kept with the parts worked out there; forgetting them all (MAX_HITS) at
    any point changes no analysis."""
    from watcher.matching import names

    texts = ["Bakhodir Karimov and Tatyana Karimova met Murod Yuldashev.", "Karimov said. Баходира Каримова",
             "Mirsobir Khamidakariyev, Umar and Ali Israilov", "Tanya Karimova; Bahodir Karimov; Karimov's wife"] * 3

    def analyses(matcher: Matcher) -> list[object]:
        return [(a.people, a.matches) for a in map(matcher.analyse, texts)]

    kept = analyses(Matcher(MATCHER.rules))
    monkeypatch.setattr(names, "MAX_HITS", 2)
    assert analyses(Matcher(MATCHER.rules)) == kept
