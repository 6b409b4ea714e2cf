"""Title-level entitlements: licence models as sold to Finnish libraries, unlimited as a
value, expiry, what survives leaving, and KBART in and out."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.procurement.domain import (
    UNLIMITED,
    Entitlement,
    InvalidValue,
    TitleLicenceModel,
    due_to_expire,
    end_on_leaving,
    normalise_isbn,
    parse_kbart,
    render_kbart,
    survives_leaving,
)

ISBN = "978-951-0-12345-4"
ON = date(2027, 1, 1)


def title(model: str = "one-copy-one-user", **kw: object) -> Entitlement:
    return Entitlement("FI-Hki", "a-1", kw.pop("isbn", ISBN), model, ON, **kw)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time


def test_isbn_is_normalised_and_checked() -> None:
    assert normalise_isbn(ISBN) == "9789510123454"
    for bad in ("978-951-0-12345-3", "123", "979951012345"):
        with pytest.raises(InvalidValue):
            normalise_isbn(bad)


def test_each_model_states_what_it_needs() -> None:
    assert title().expires_on is None
    with pytest.raises(InvalidValue, match="expires_on"):
        title("one-copy-one-user-time-limited")
    with pytest.raises(InvalidValue, match="expires_on"):
        title("one-copy-one-user", expires_on=date(2028, 1, 1))
    with pytest.raises(InvalidValue, match="loans_left"):
        title("loan-limited")
    assert title("loan-limited", loans_left=26).held_on(ON)
    assert not title("loan-limited", loans_left=0).held_on(ON)
    with pytest.raises(InvalidValue, match="copies"):
        title("simultaneous-use")
    unlimited = title("simultaneous-use", copies=UNLIMITED)
    assert unlimited.copies == UNLIMITED
    with pytest.raises(InvalidValue, match="copies"):
        title("one-copy-one-user", copies=UNLIMITED)


def test_expiry_and_leaving() -> None:
    months = title("one-copy-one-user-time-limited", expires_on=date(2028, 1, 1))
    assert months.held_on(date(2027, 12, 31)) and not months.held_on(date(2028, 1, 1))
    assert due_to_expire([months, title()], date(2028, 1, 1)) == (months,)
    assert due_to_expire([months], date(2027, 12, 31)) == ()
    # Leaving: perpetual titles and post-cancellation access stay; the rest end then.
    assert survives_leaving(title()) and end_on_leaving(title(), date(2027, 6, 1)) == title()
    kept = title("subscription", expires_on=date(2028, 1, 1), post_cancellation_access=True)
    assert end_on_leaving(kept, date(2027, 6, 1)) == kept
    ended = end_on_leaving(months, date(2027, 6, 1))
    assert ended is not None and ended.expires_on == date(2027, 6, 1)
    assert end_on_leaving(months, ON) is None


models = st.sampled_from(list(TitleLicenceModel))


@st.composite
def entitlements(draw: st.DrawFn) -> Entitlement:
    model = draw(models)
    body = draw(st.integers(0, 10**8))
    digits = f"978{body:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    isbn = digits + str((10 - total % 10) % 10)
    copies = UNLIMITED if model is TitleLicenceModel.SIMULTANEOUS_USE else draw(st.integers(1, 5))
    loans = draw(st.integers(1, 50)) if model is TitleLicenceModel.LOAN_LIMITED else None
    ends = model in (
        TitleLicenceModel.ONE_COPY_ONE_USER_TIME_LIMITED,
        TitleLicenceModel.SUBSCRIPTION,
    )
    return Entitlement(
        "FI-Hki",
        "a-1",
        isbn,
        model,
        ON,
        copies=copies,
        loans_left=loans,
        expires_on=date(2029, 1, 1) if ends else None,
        order_reference=draw(st.sampled_from(["", "PO-1", "ORD 77"])),
    )


@given(items=st.lists(entitlements(), max_size=8, unique_by=lambda e: e.isbn))
def test_kbart_round_trips(items: list[Entitlement]) -> None:
    text = render_kbart(items)
    back, problems = parse_kbart(text, holder="FI-Hki", agreement_id="a-1", default_acquired_on=ON)
    assert problems == ()
    assert sorted(back, key=lambda e: e.isbn) == sorted(items, key=lambda e: e.isbn)


def test_bad_kbart_rows_are_reported_by_line() -> None:
    text = "publication_title\tonline_identifier\nA\t9789510123454\nB\tnot-an-isbn\n"
    found, problems = parse_kbart(text, holder="FI-Hki", agreement_id="a-1", default_acquired_on=ON)
    assert len(found) == 1 and problems[0].startswith("line 3:")
    with pytest.raises(InvalidValue, match="kbart"):
        parse_kbart("a\tb\n", holder="FI-Hki", agreement_id="a-1", default_acquired_on=ON)
