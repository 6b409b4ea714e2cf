"""Catalogue rules without I/O: who holds which records on a day, what a withdrawal is called,
what an upload may look like, and OAI identifiers."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.catalogue import domain
from services.catalogue.domain import CatalogueRuleViolated, Participation

DAY = dt.timedelta(days=1)
TODAY = dt.date(2027, 3, 15)


def test_a_library_holds_records_while_it_participates() -> None:
    joined = Participation(TODAY - 10 * DAY)
    assert domain.should_have_records([joined], None, TODAY)
    assert not domain.should_have_records([Participation(TODAY + DAY)], None, TODAY)
    leaving = Participation(TODAY - 10 * DAY, TODAY + 5 * DAY, "opt-out")
    assert domain.should_have_records([leaving], None, TODAY)
    assert not domain.should_have_records([leaving], None, TODAY + 5 * DAY)  # first day out
    assert not domain.should_have_records([], None, TODAY)


def test_an_ended_agreement_takes_the_records_from_everyone() -> None:
    joined = Participation(TODAY - 10 * DAY)
    assert domain.should_have_records([joined], TODAY + DAY, TODAY)
    assert not domain.should_have_records([joined], TODAY, TODAY)


def test_a_rejoin_gives_the_records_back() -> None:
    periods = [
        Participation(TODAY - 30 * DAY, TODAY - 20 * DAY, "opt-out"),
        Participation(TODAY - 2 * DAY),
    ]
    assert not domain.should_have_records(periods, None, TODAY - 10 * DAY)
    assert domain.should_have_records(periods, None, TODAY)


@pytest.mark.parametrize(
    ("reason", "ended_on", "expected"),
    [
        ("opt-out", None, "agreement-left"),
        ("membership-ended", None, "member-left"),
        ("agreement-ended", None, "agreement-ended"),
        ("opt-out", TODAY, "agreement-ended"),
    ],
)
def test_withdrawals_say_why(reason: str, ended_on: dt.date | None, expected: str) -> None:
    left = Participation(TODAY - 10 * DAY, TODAY, reason)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
    assert domain.withdraw_reason([left], ended_on, TODAY) == expected


def test_agreement_left_ends_the_participation_open_on_its_day() -> None:
    periods = [
        (1, Participation(TODAY - 30 * DAY, TODAY - 20 * DAY, "opt-out")),
        (2, Participation(TODAY - 10 * DAY)),
    ]
    assert domain.open_participation(periods, TODAY) == 2
    assert domain.open_participation(periods, TODAY - 25 * DAY) == 1
    assert domain.open_participation(periods, TODAY - 40 * DAY) is None


@pytest.mark.parametrize(
    "name",
    [
        "../x.mrc",
        "a/b.mrc",
        "C:x.mrc",
        "a\\b",
        ".profile",
        "x.mrc.",
        " x.mrc",
        "x\x00.mrc",
        "gpj\u202e.mrc",
        "a" * 201,
    ],
)
def test_harmful_file_names_are_refused(name: str) -> None:
    with pytest.raises(CatalogueRuleViolated) as error:
        domain.check_filename(name)
    assert error.value.field == "filename" and error.value.status == 422


def test_ordinary_file_names_pass_in_nfc() -> None:
    assert domain.check_filename("Ellibs tammikuu 2027.mrc") == "Ellibs tammikuu 2027.mrc"
    assert domain.check_filename("a\u0308a\u0308ni.xml") == "ääni.xml"
    assert domain.check_filename(None) is None


def test_content_types() -> None:
    assert domain.check_content_type("multipart/form-data; boundary=x") == "multipart"
    assert domain.check_content_type("application/marc") == "raw"
    assert domain.check_content_type("text/xml; charset=utf-8") == "raw"
    for bad in ("image/png", "application/json", None, ""):
        with pytest.raises(CatalogueRuleViolated) as error:
            domain.check_content_type(bad)
        assert error.value.status == 415


def test_url_templates() -> None:
    assert domain.check_url_template("https://x.fi/{isbn}") == "https://x.fi/{isbn}"
    assert domain.check_url_template("") is None
    for bad in ("ftp://x/{isbn}", "https://x/{title}", "https://x/{isbn", "https://x/{0}"):
        with pytest.raises(CatalogueRuleViolated):
            domain.check_url_template(bad)


@given(
    isil=st.from_regex(r"\AFI-[A-Za-z0-9]{1,8}\Z"),
    record_id=st.integers(min_value=1, max_value=10**15),
)
def test_oai_identifiers_round_trip(isil: str, record_id: int) -> None:
    ns = "konsortio.fi"
    assert domain.parse_identifier(ns, domain.master_identifier(ns, record_id)) == (
        None,
        record_id,
    )
    assert domain.parse_identifier(ns, domain.library_identifier(ns, isil, record_id)) == (
        isil,
        record_id,
    )


def test_foreign_identifiers_are_not_ours() -> None:
    ns = "konsortio.fi"
    for identifier in ("oai:other.fi:1", f"oai:{ns}:", f"oai:{ns}:abc", f"oai:{ns}:bad isil:1"):
        assert domain.parse_identifier(ns, identifier) is None


def test_the_app_builds_and_documents_every_route() -> None:
    from kit.settings import Settings
    from services.catalogue.app import build

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = build(Settings()).openapi()
    assert {"/batches", "/oai", "/melinda/jobs", "/libraries/{isil}/export"} <= set(schema["paths"])
    upload = schema["paths"]["/batches"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/marc"} <= set(upload)


@given(
    active=st.integers(0, 100_000),
    missing_share=st.floats(0, 1),
    max_share=st.floats(0, 1),
    from_titles=st.integers(0, 1_000),
)
def test_a_full_load_is_refused_when_it_would_withdraw_more_than_its_share(
    active: int, missing_share: float, max_share: float, from_titles: int
) -> None:
    missing = round(active * missing_share)
    limit = domain.WithdrawalLimit(max_share, from_titles)
    refusal = domain.full_load_refusal(
        received=max(active - missing, 1),
        rejected=0,
        rest_unread_at=None,
        max_rejected_share=1.0,
        active_titles=active,
        missing_titles=missing,
        withdrawal_limit=limit,
    )
    held = active >= max(from_titles, 1)
    assert (refusal is not None) == (held and missing / active > max_share)
    if refusal is not None:
        assert f"withdraw {missing} of the collection's {active} titles" in refusal
    # Without a limit, nothing the share says refuses a load.
    assert (
        domain.full_load_refusal(
            received=1,
            rejected=0,
            rest_unread_at=None,
            max_rejected_share=1.0,
            active_titles=active,
            missing_titles=missing,
        )
        is None
    )
