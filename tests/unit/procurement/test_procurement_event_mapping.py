"""The pure mappings at procurement's edges: membership's free-text library system to the
compatibility vocabulary, and domain values to event payloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import agreement

from contracts.procurement import AgreementLeft, AgreementSigned
from services.procurement.commands import (
    LEAVE_REASONS,
    library_system_of,
    licence_terms_payload,
    periods_payload,
)
from services.procurement.domain import LeaveReason, LibrarySystem, parse_licence_terms


@pytest.mark.parametrize(
    ("text", "system"),
    [
        ("Koha", LibrarySystem.KOHA),
        ("KOHA", LibrarySystem.KOHA),
        ("  koha ", LibrarySystem.KOHA),
        ("Aurora 4", LibrarySystem.AURORA),
        ("Sierra", LibrarySystem.SIERRA),
        ("Quria", LibrarySystem.QURIA),
        ("Origo", LibrarySystem.ORIGO),
        ("Evergreen", LibrarySystem.OTHER),
        ("Kohana", LibrarySystem.OTHER),
        ("other", LibrarySystem.OTHER),
        ("", LibrarySystem.OTHER),
    ],
)
def test_library_systems_map_case_insensitively_and_unknown_is_other(
    text: str, system: LibrarySystem
) -> None:
    assert library_system_of(text) is system


@given(st.text(max_size=60))
def test_any_library_system_text_maps_to_the_vocabulary(text: str) -> None:
    assert library_system_of(text) in set(LibrarySystem)


def test_every_leave_reason_has_a_contract_value() -> None:
    allowed = set(AgreementLeft.model_fields["reason"].annotation.__args__)  # type: ignore[union-attr]  # present in the test's data; a None fails the test
    assert set(LEAVE_REASONS) == set(LeaveReason)
    assert set(LEAVE_REASONS.values()) == allowed
    assert LEAVE_REASONS[LeaveReason.MEMBER_LEFT] == "membership-ended"


def test_an_agreement_maps_to_a_valid_agreement_signed_payload() -> None:
    terms = parse_licence_terms(
        {
            "concurrent_users": {"value": 3, "note": "per title"},
            "drm": "readium-lcp",
            "annual_opt_out": "permitted_under_conditions",
            "other_restrictions": "No lending abroad",
        }
    )
    subject = agreement(terms=terms)
    payload = licence_terms_payload(subject.terms)
    assert payload["concurrent_users"].model_dump() == {
        "type": "number",
        "value": 3,
        "note": "per title",
        "label": "Concurrent users",
    }
    assert payload["drm"].value == "readium-lcp" and payload["drm"].type == "choice"
    assert payload["annual_opt_out"].value == "permitted_under_conditions"
    assert payload["other_restrictions"].type == "text"
    event = AgreementSigned(
        agreement_id=subject.id,
        tender_id=subject.tender_id,
        title="E-audiobooks",
        supplier={"name": subject.supplier.name, "country": subject.supplier.country},
        product=subject.product,
        material_types=sorted(m.value for m in subject.material_types),
        licence_terms=payload,
        periods=periods_payload(subject),
        extension_options=subject.renewals_left,
        annual_cost_cents=subject.annual_cost_cents,
        cost_share_model=subject.cost_share.model.value,
        signed_on=subject.signed_on,
    )
    again = AgreementSigned.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.periods[0].cancellation_deadline == subject.first_period.cancellation_deadline
