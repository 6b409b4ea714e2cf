from __future__ import annotations

import pytest
from procurement_factories import agreement

from services.procurement.domain import (
    TERM_CATALOGUE,
    DrmKind,
    DuplicateEntry,
    InvalidValue,
    LicenceTerm,
    LicenceTerms,
    PermittedStatus,
    TermName,
    TermType,
    compare_agreements,
    parse_licence_terms,
)
from services.procurement.domain.licence_terms import UNLIMITED


def test_catalogue_covers_every_term_name_with_a_type() -> None:
    assert set(TERM_CATALOGUE) == set(TermName)
    assert TERM_CATALOGUE[TermName.CONCURRENT_USERS].type is TermType.NUMBER
    assert TERM_CATALOGUE[TermName.REMOTE_ACCESS].type is TermType.PERMITTED_STATUS
    assert TERM_CATALOGUE[TermName.OTHER_RESTRICTIONS].type is TermType.TEXT
    assert TERM_CATALOGUE[TermName.DRM].type is TermType.CHOICE


def test_parse_coerces_values_and_keeps_catalogue_order() -> None:
    terms = parse_licence_terms(
        {
            "text_and_data_mining": {
                "value": "permitted_under_conditions",
                "note": "non-commercial",
            },
            "drm": "readium-lcp",
            "concurrent_users": 3,
            "other_restrictions": "No lending to other consortia",
        }
    )
    assert [t.name for t in terms.terms] == [
        TermName.CONCURRENT_USERS,
        TermName.DRM,
        TermName.TEXT_AND_DATA_MINING,
        TermName.OTHER_RESTRICTIONS,
    ]
    assert terms.get("drm").value is DrmKind.READIUM_LCP  # type: ignore[union-attr]  # present in the test's data; a None fails the test
    tdm = terms.get(TermName.TEXT_AND_DATA_MINING)
    assert tdm is not None and tdm.note == "non-commercial"
    assert terms.to_dict()["concurrent_users"] == {"value": 3, "note": ""}
    assert terms.to_dict()["drm"] == {"value": "readium-lcp", "note": ""}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"simultaneous_users": 3}, "terms"),  # unknown name
        ({"concurrent_users": "three"}, "terms.concurrent_users"),
        ({"concurrent_users": 0}, "terms.concurrent_users"),  # minimum 1
        ({"concurrent_users": True}, "terms.concurrent_users"),  # bool is not a number
        ({"loan_period_days": 2.5}, "terms.loan_period_days"),
        ({"lending_limit": -1}, "terms.lending_limit"),
        ({"remote_access": "yes"}, "terms.remote_access"),
        ({"remote_access": 1}, "terms.remote_access"),
        ({"drm": "permitted"}, "terms.drm"),
        ({"other_restrictions": "  "}, "terms.other_restrictions"),
        ({"other_restrictions": 5}, "terms.other_restrictions"),
        ({"walk_in_access": {"value": "permitted", "extra": 1}}, "terms.walk_in_access"),
        ({"walk_in_access": {"note": "x"}}, "terms.walk_in_access"),
    ],
)
def test_invalid_terms_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_licence_terms(raw)
    assert caught.value.field == field
    assert caught.value.http_status == 422


def test_a_term_may_be_stated_only_once() -> None:
    with pytest.raises(DuplicateEntry):
        LicenceTerms((LicenceTerm("drm", "none"), LicenceTerm(TermName.DRM, "watermark")))


def test_unstated_permitted_status_reads_as_unmentioned() -> None:
    terms = parse_licence_terms({"remote_access": "prohibited"})
    assert terms.permitted_status("remote_access") is PermittedStatus.PROHIBITED
    assert terms.permitted_status("annual_opt_out") is PermittedStatus.UNMENTIONED
    with pytest.raises(InvalidValue):
        terms.permitted_status("concurrent_users")


def test_comparison_of_agreements_by_term() -> None:
    a = agreement(
        "a-1",
        terms=parse_licence_terms(
            {"concurrent_users": 1, "remote_access": "permitted", "drm": "adobe-acs"}
        ),
    )
    b = agreement(
        "a-2",
        terms=parse_licence_terms(
            {
                "concurrent_users": 5,
                "remote_access": "permitted_under_conditions",
                "walk_in_access": "prohibited",
            }
        ),
    )
    c = agreement("a-3", terms=parse_licence_terms({"concurrent_users": 5}))
    rows = {row.term: row for row in compare_agreements([a, b, c])}
    assert list(rows) == list(TERM_CATALOGUE)  # every term, catalogue order

    users = rows[TermName.CONCURRENT_USERS]
    assert {k: v.value for k, v in users.values.items() if v} == {"a-1": 1, "a-2": 5, "a-3": 5}
    assert users.most_favourable == ("a-2", "a-3")

    remote = rows[TermName.REMOTE_ACCESS]
    assert remote.values["a-3"] is None  # not stated is not the same as unmentioned
    assert remote.most_favourable == ("a-1",)

    # DRM has no natural order, so nothing is called most favourable.
    assert rows[TermName.DRM].most_favourable == ()
    assert rows[TermName.TEXT_AND_DATA_MINING].most_favourable == ()


def test_unlimited_is_a_value_where_a_licence_can_be_without_limit() -> None:
    terms = parse_licence_terms(
        {"concurrent_users": "Unlimited", "lending_limit": {"value": "unlimited", "note": "OC/OU"}}
    )
    users = terms.get(TermName.CONCURRENT_USERS)
    assert users is not None and users.value == UNLIMITED
    assert terms.to_dict()["lending_limit"] == {"value": "unlimited", "note": "OC/OU"}
    assert parse_licence_terms(terms.to_dict()) == terms  # it survives the round trip
    # A loan period always has a length; any other word is still refused by name.
    for raw, field in (
        ({"loan_period_days": "unlimited"}, "terms.loan_period_days"),
        ({"concurrent_users": "many"}, "terms.concurrent_users"),
    ):
        with pytest.raises(InvalidValue) as refused:
            parse_licence_terms(raw)
        assert refused.value.field == field


def test_no_limit_beats_any_number_and_a_longer_loan_is_not_better() -> None:
    limited = agreement(
        "a-1", terms=parse_licence_terms({"concurrent_users": 50, "loan_period_days": 28})
    )
    unlimited = agreement(
        "a-2", terms=parse_licence_terms({"concurrent_users": "unlimited", "loan_period_days": 14})
    )
    rows = {row.term: row for row in compare_agreements([limited, unlimited])}
    assert rows[TermName.CONCURRENT_USERS].most_favourable == ("a-2",)
    assert rows[TermName.LOAN_PERIOD_DAYS].most_favourable == ()
