"""Organisations, official population figures, agreement versions and who may change what:
the pure rules."""

from __future__ import annotations

import datetime as dt

import pytest

from services.membership import agreement, domain, population
from services.membership.agreement import NoticeTakesEffect, Version
from services.membership.population import Figures, Municipality

# --- business IDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("0201256-6", "0201256-6"),  # Helsingin kaupunki
        ("0101263-6", "0101263-6"),  # Espoon kaupunki
        ("0124610-9", "0124610-9"),  # Vantaan kaupunki
        ("0204819-8", "0204819-8"),  # Kauniaisten kaupunki
        ("02012566", "0201256-6"),  # without the hyphen
        (" 0201256-6 ", "0201256-6"),
    ],
)
def test_valid_business_ids_are_accepted_in_standard_form(given: str, normal: str) -> None:
    assert domain.check_business_id(given) == normal


@pytest.mark.parametrize(
    "bad", ["0201256-5", "0201256-0", "1234567-8", "020125-6", "02012566X", "", "ABCDEFG-H"]
)
def test_invalid_business_ids_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(domain.InvalidValue) as caught:
        domain.check_business_id(bad)
    assert caught.value.field == "business_id"


def test_every_wrong_check_digit_is_caught() -> None:
    for digit in "012345789":  # 6 is the right one for 0201256
        with pytest.raises(domain.InvalidValue):
            domain.check_business_id(f"0201256-{digit}")


# --- municipality codes and population by year --------------------------------------------------


def figures(year: int, **population_by_code: int) -> Figures:
    return Figures(
        year=year,
        municipalities={
            code.removeprefix("m"): Municipality(code.removeprefix("m"), f"Kunta {code}", None, n)
            for code, n in population_by_code.items()
        },
    )


Y2015 = figures(2015, m091=628_208, m164=7_900, m301=14_500)  # Jalasjärvi still a municipality
Y2024 = figures(2024, m091=684_000, m301=20_300, m049=320_900)  # Jalasjärvi merged into Kurikka


def test_a_code_is_valid_only_in_the_years_whose_classification_has_it() -> None:
    assert Y2015.check(["164", "091"]) == ["091", "164"]
    with pytest.raises(domain.InvalidValue, match="'164'.*2024 classification") as caught:
        Y2024.check(["091", "164"])
    assert caught.value.field == "municipalities"


def test_code_000_is_never_valid() -> None:
    for table in (Y2015, Y2024):
        with pytest.raises(domain.InvalidValue, match="'000'"):
            table.check(["000"])


def test_a_code_listed_twice_is_refused() -> None:
    with pytest.raises(domain.InvalidValue, match="twice"):
        Y2024.check(["091", "091"])


def test_population_is_derived_from_the_years_figures() -> None:
    assert population.derive(["091", "049"], Y2024) == population.Derived(1_004_900, 2024)
    assert population.derive(["091"], Y2015) == population.Derived(628_208, 2015)


def test_a_documented_exception_replaces_the_derived_figure_and_says_why() -> None:
    derived = population.derive(["091"], Y2024, (15_000, "serves part of Helsinki only"))
    assert derived == population.Derived(15_000, 2024, "serves part of Helsinki only")


def test_without_figures_the_population_is_zero_not_a_guess() -> None:
    assert population.derive(["091"], None) == population.Derived(0, None)


def test_the_shipped_figures_name_their_source_and_cover_helmet() -> None:
    text = population.SHIPPED_FIGURES.read_text()
    assert "Statistics Finland" in text and "FROM MEMORY" in text
    shipped = {m.code: m for _, m in population.shipped_figures()}
    assert {"091", "049", "092", "235"} <= set(shipped)
    assert shipped["235"].name_sv == "Grankulla"
    assert all(m.population > 0 for m in shipped.values())


# --- PxWeb CSV shapes ---------------------------------------------------------------------------


def test_pxweb_area_column_with_code_and_name() -> None:
    text = (
        '"Väestö kunnittain"\n\n'
        '"Alue";"Väestö 31.12.2024"\n'
        '"KOKO MAA";"5635971"\n'
        '"091 Helsinki";"684018"\n'
        '"235 Kauniainen";"10300"\n'
    )
    parsed = population.parse_pxweb_csv(text)
    assert parsed.year == 2024 and not parsed.problems
    assert [(m.code, m.name_fi, m.population) for m in parsed.rows] == [
        ("091", "Helsinki", 684_018),
        ("235", "Kauniainen", 10_300),
    ]


def test_pxweb_code_and_names_in_separate_columns_comma_separated() -> None:
    text = "Koodi,Alue,Nimi ruotsiksi,2024\nKU049,Espoo,Esbo,320931\n092,Vantaa,Vanda,251269\n"
    parsed = population.parse_pxweb_csv(text)
    assert parsed.year == 2024 and not parsed.problems
    assert [(m.code, m.name_sv) for m in parsed.rows] == [("049", "Esbo"), ("092", "Vanda")]


def test_pxweb_long_format_keeps_the_requested_year() -> None:
    text = (
        '"Vuosi";"Alue";"Väestö"\n"2023";"091 Helsinki";"674963"\n"2024";"091 Helsinki";"684018"\n'
    )
    parsed = population.parse_pxweb_csv(text, 2024)
    assert [(m.code, m.population) for m in parsed.rows] == [("091", 684_018)]


def test_pxweb_bad_rows_are_reported_by_row() -> None:
    text = '"Alue";"Väestö 31.12.2024"\n"091 Helsinki";"lots"\n"049 Espoo";"1"\n"049 Espoo";"2"\n'
    parsed = population.parse_pxweb_csv(text)
    assert [(p.row, p.field) for p in parsed.problems] == [(2, "population"), (4, "code")]


def test_a_file_without_population_column_is_refused() -> None:
    parsed = population.parse_pxweb_csv("a;b\n1;2\n")
    assert parsed.problems and parsed.problems[0].field == "file"


# --- notice period ------------------------------------------------------------------------------

V_MONTH = Version("2027", dt.date(2027, 1, 1), 6, NoticeTakesEffect.END_OF_MONTH)
V_YEAR = Version("2027y", dt.date(2027, 1, 1), 6, NoticeTakesEffect.END_OF_YEAR)


@pytest.mark.parametrize(
    ("version", "given_on", "earliest"),
    [
        (V_MONTH, dt.date(2027, 3, 15), dt.date(2027, 10, 1)),  # period ends 15.9. → 30.9.
        (V_MONTH, dt.date(2027, 3, 1), dt.date(2027, 9, 1)),  # ends 1.9.: that is a boundary
        (V_MONTH, dt.date(2027, 8, 31), dt.date(2028, 3, 1)),  # 29.2.2028 → ends end of Feb
        (V_YEAR, dt.date(2027, 3, 15), dt.date(2028, 1, 1)),
        (V_YEAR, dt.date(2027, 7, 2), dt.date(2029, 1, 1)),  # ends 2.1.2028 → end of 2028
        (V_YEAR, dt.date(2027, 7, 1), dt.date(2028, 1, 1)),
    ],
)
def test_the_earliest_effective_date(
    version: Version, given_on: dt.date, earliest: dt.date
) -> None:
    assert agreement.earliest_effective_date(version, given_on) == earliest


def test_an_earlier_effective_date_names_the_earliest_allowed() -> None:
    with pytest.raises(domain.MembershipRuleViolated, match="2027-10-01") as caught:
        agreement.check_notice(V_MONTH, dt.date(2027, 3, 15), dt.date(2027, 9, 30))
    assert caught.value.field == "effective_date"
    agreement.check_notice(V_MONTH, dt.date(2027, 3, 15), dt.date(2027, 10, 1))
    agreement.check_notice(V_MONTH, dt.date(2027, 3, 15), dt.date(2028, 1, 1))


def test_a_membership_without_an_accepted_version_has_no_notice_rule() -> None:
    agreement.check_notice(None, dt.date(2027, 3, 15), dt.date(2027, 3, 16))


# --- version acceptance -------------------------------------------------------------------------


def acceptance(version: str = "2027", **changes: str) -> agreement.Acceptance:
    fields = {
        "version": version,
        "decision_organ": "Kaupunginhallitus",
        "decision_date": dt.date(2026, 11, 30),
        "decision_section": "§ 812",
        "signatory_name": "Katri Kirjastonjohtaja",
        "signatory_title": "kirjastotoimenjohtaja",
        **changes,
    }
    return agreement.Acceptance(**fields)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time


def test_a_version_is_accepted_once() -> None:
    agreement.check_acceptance(V_MONTH, acceptance(), accepted=["2026"])
    with pytest.raises(domain.MembershipRuleViolated, match="already accepted") as caught:
        agreement.check_acceptance(V_MONTH, acceptance(), accepted=["2026", "2027"])
    assert caught.value.field == "version"


def test_an_acceptance_names_the_decision_and_the_signatory() -> None:
    with pytest.raises(domain.MembershipRuleViolated) as caught:
        agreement.check_acceptance(V_MONTH, acceptance(decision_section=" "), accepted=[])
    assert caught.value.field == "decision_section"


def test_who_has_not_accepted() -> None:
    accepted = {"FI-A": {"2026", "2027"}, "FI-B": {"2026"}}
    assert agreement.awaiting(["FI-C", "FI-B", "FI-A"], accepted, "2027") == ["FI-B", "FI-C"]


# --- who may change what, and who sees contacts -------------------------------------------------


def test_a_library_may_not_change_what_moves_cost_shares_or_legal_parties() -> None:
    assert domain.forbidden_for_library({"names", "contacts", "library_system"}) == []
    assert domain.forbidden_for_library({"population", "names"}) == ["population"]
    assert domain.forbidden_for_library({"municipalities", "organisation", "kimppa"}) == [
        "kimppa",
        "municipalities",
        "organisation",
    ]


@pytest.mark.parametrize(
    ("role", "isil", "sees"),
    [
        ("coordinator", None, True),
        ("library", "FI-Own", True),
        ("library", "FI-Other", False),
        ("cataloguer", None, False),
        ("procurement", None, False),
        ("operator", None, False),
    ],
)
def test_contacts_are_seen_by_the_coordinator_and_the_library_itself(
    role: str, isil: str | None, sees: bool
) -> None:
    assert domain.sees_contacts(role, isil, "FI-Own") is sees
