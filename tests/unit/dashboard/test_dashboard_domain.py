"""Dashboard rules without I/O: tolerant payload reading, feed allow-list, shares and series."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from contracts import ALL_EVENTS
from services.dashboard import domain

D = dt.date


def test_event_types_split_into_producer_name_and_version() -> None:
    kind = domain.parse_type("fi.konsortio.membership.member-joined.v1")
    assert (kind.producer, kind.name, kind.version) == ("membership", "member-joined", 1)
    assert domain.parse_type("garbage").producer == "unknown"


def test_every_contract_event_has_an_allow_listed_feed_line() -> None:
    assert {model.name for model in ALL_EVENTS} <= set(domain.FEED_FIELDS)


def test_feed_details_never_carry_contacts_or_free_text() -> None:
    data = {
        "library": {
            "isil": "FI-Tro",
            "names": {"fi": "Tornion kaupunginkirjasto"},
            "population": 21_500,
            "contacts": [{"name": "Aino", "email": "aino@tornio.example"}],
        },
        "joined_on": "2026-01-02",
        "period": 1,
    }
    details = domain.feed_details("member-joined", data)
    assert details == {
        "library_names_fi": "Tornion kaupunginkirjasto",
        "library_population": 21_500,
        "joined_on": "2026-01-02",
    }
    assert "aino" not in repr(details).lower()
    need = domain.feed_details(
        "need-proposed", {"material_type": "e-book", "description": "call aino@x.example"}
    )
    assert need == {"material_type": "e-book"}


def test_reading_is_tolerant_of_missing_and_reshaped_fields() -> None:
    assert domain.library_facts({}) is None
    facts = domain.library_facts({"library": {"isil": "FI-X", "population": "12"}})
    assert facts is not None and facts.population == 12 and facts.name_fi == "FI-X"
    # A supplier that became a plain string still gives a name.
    agreement = domain.agreement_facts({"agreement_id": "A-1", "supplier": "Ellibs"})
    assert agreement is not None and agreement.supplier == "Ellibs"
    assert agreement.annual_cost_cents is None and agreement.material_types == []
    assert domain.agreement_facts({"title": "no id"}) is None
    assert domain.batch_facts({"batch_id": "b", "collection_id": "c", "counts": "?"}) is not None
    assert domain.day("2026-13-01") is None and domain.day("2026-05-01T10:00:00Z") == D(2026, 5, 1)
    assert domain.integer(True) == 1 and domain.integer("x") == 0 and domain.integer(None) == 0


def test_a_participation_without_its_date_happened_today() -> None:
    change = domain.participation_change(
        {"agreement_id": "A", "isil": "FI-X"}, "joined_on", D(2026, 5, 1)
    )
    assert change is not None and change.on == D(2026, 5, 1)
    assert domain.participation_change({"agreement_id": "A"}, "joined_on", D(2026, 5, 1)) is None


def test_only_removed_titles_leave_the_collection_with_the_library() -> None:
    assert domain.withdraws_collection("agreement-left")
    assert not domain.withdraws_collection("titles-removed")


def test_redaction_masks_addresses_and_bounds_length() -> None:
    reason = "library.contacts.0.email: bad value 'aino.virtanen@tornio.example' " + "x" * 1000
    redacted = domain.redact(reason)
    assert "tornio.example" not in redacted and "[email]" in redacted
    assert len(redacted) == domain.REASON_LIMIT


def test_share_of_finland() -> None:
    assert domain.share(domain.FINLAND_POPULATION) == 1.0
    assert domain.share(56_360) == 0.01
    assert domain.share(5, 0) == 0.0


def test_chart_window_is_at_least_a_month_and_at_most_a_year() -> None:
    today = D(2026, 6, 30)
    assert domain.chart_window(None, today) == (D(2026, 5, 31), today)
    assert domain.chart_window(D(2026, 6, 20), today) == (D(2026, 5, 31), today)
    assert domain.chart_window(D(2026, 1, 1), today) == (D(2026, 1, 1), today)
    assert domain.chart_window(D(2020, 1, 1), today) == (D(2025, 6, 30), today)


def test_daily_counts_of_periods() -> None:
    series = domain.daily_counts(
        [
            (D(2026, 1, 1), None),  # before the window, still a member
            (D(2026, 1, 3), D(2026, 1, 5)),  # joined and left inside
            (None, D(2026, 1, 4)),  # a leave whose join we never saw
            (D(2026, 1, 9), None),  # after the window
            (D(2025, 1, 1), D(2025, 2, 1)),  # over before the window
        ],
        D(2026, 1, 2),
        D(2026, 1, 6),
    )
    assert series == [
        (D(2026, 1, 2), 2),
        (D(2026, 1, 3), 3),
        (D(2026, 1, 4), 2),
        (D(2026, 1, 5), 1),
        (D(2026, 1, 6), 1),
    ]


days = st.dates(min_value=D(2025, 1, 1), max_value=D(2025, 3, 1))


@given(
    st.lists(st.tuples(st.one_of(st.none(), days), st.one_of(st.none(), days)), max_size=30),
    days,
    st.integers(min_value=0, max_value=40),
)
def test_daily_counts_match_a_day_by_day_count(
    intervals: list[tuple[D | None, D | None]], start: D, length: int
) -> None:
    end = start + dt.timedelta(days=length)

    def covers(began: D | None, until: D | None, day: D) -> bool:
        return (began is None or began <= day) and (until is None or day < until)

    expected = [
        (
            start + dt.timedelta(days=i),
            sum(covers(b, u, start + dt.timedelta(days=i)) for b, u in intervals),
        )
        for i in range(length + 1)
    ]
    assert domain.daily_counts(intervals, start, end) == expected


def area(isil: str, codes: list[str], population: int) -> domain.ServedArea:
    return domain.ServedArea(isil, tuple(codes), population)


def test_libraries_sharing_a_municipality_count_its_population_once() -> None:
    helsinki = area("FI-H", ["091"], 674_500)
    assert domain.served_population([helsinki, area("FI-Hk", ["091"], 674_500)]) == 674_500
    # A joint library of three towns beside one of those towns' own library: its population
    # is spread over the three, and the town counts the larger of the two figures.
    joint = area("FI-Keski", ["179", "182", "216"], 300_000)
    assert domain.served_population([joint]) == 300_000
    assert domain.served_population([joint, area("FI-Jyv", ["179"], 150_000)]) == 350_000
    assert domain.served_population([joint, area("FI-M", ["179"], 50_000)]) == 300_000
    # Separate municipalities add up; a library with no known municipality stands alone.
    assert domain.served_population([helsinki, area("FI-E", ["049"], 320_000)]) == 994_500
    assert domain.served_population([area("FI-X", [], 1_000), area("FI-Y", [], 2_000)]) == 3_000
    assert domain.served_population([]) == 0


def test_the_whole_country_is_at_most_a_hundred_percent() -> None:
    # The report that started this: every library in the same municipalities added up to
    # 263.70 % of Finland.
    libraries = [area(f"FI-{n}", ["091", "049"], domain.FINLAND_POPULATION) for n in range(3)]
    assert domain.share(domain.served_population(libraries)) == 1.0


def test_membership_events_carry_the_municipalities_and_agreements_their_periods() -> None:
    facts = domain.library_facts(
        {"library": {"isil": "FI-K", "municipalities": ["216", "179", "179"], "population": 9}}
    )
    assert facts is not None and facts.municipalities == ("179", "216")
    agreement = domain.agreement_facts(
        {
            "agreement_id": "A-1",
            "periods": [
                {"start": "2027-01-01", "end": "2027-12-31"},
                {"start": "2026-01-01", "end": "2026-12-31"},
                "garbage",
            ],
        }
    )
    assert agreement is not None
    assert (agreement.valid_from, agreement.valid_until) == (D(2026, 1, 1), D(2027, 12, 31))
    assert domain.agreement_facts({"agreement_id": "A-2"}).valid_from is None  # type: ignore[union-attr]  # present in the test's data; a None fails the test
