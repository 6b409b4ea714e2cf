"""Kimppa rules with no I/O: set names, identifiers, who moved, holdings in the record."""

from __future__ import annotations

import pytest
from pymarc import Field, Record, Subfield

from services.catalogue import domain
from services.catalogue.exports import with_holdings


def test_a_library_harvests_its_kimppa_set_or_its_own() -> None:
    assert domain.harvest_set("FI-Tro", "vaski") == "kimppa:vaski"
    assert domain.harvest_set("FI-Tro", None) == "library:FI-Tro"


def test_kimppa_identifiers_round_trip_and_stay_apart_from_isils() -> None:
    identifier = domain.kimppa_identifier("ns", "vaski", 42)
    assert identifier == "oai:ns:kimppa:vaski:42"
    assert domain.parse_identifier("ns", identifier) == ("kimppa:vaski", 42)
    assert domain.parse_identifier("ns", "oai:ns:FI-Tro:42") == ("FI-Tro", 42)
    assert domain.parse_identifier("ns", "oai:ns:42") == (None, 42)
    assert domain.parse_identifier("ns", "oai:ns:kimppa:bad id:42") is None


@pytest.mark.parametrize("bad", ["", "a b", "-x", "x" * 65, "ä"])
def test_a_kimppa_id_must_fit_a_set_spec(bad: str) -> None:
    with pytest.raises(domain.CatalogueRuleViolated) as raised:
        domain.check_kimppa_id(bad)
    assert raised.value.field == "kimppa_id"


def test_moves_touch_the_old_and_the_new_kimppa_only() -> None:
    before = {"FI-A": "helmet", "FI-B": "vaski", "FI-C": None}
    after = {"FI-A": "helmet", "FI-B": None, "FI-C": "outi"}
    assert domain.kimppas_touched(before, after) == {"vaski", "outi"}
    assert domain.kimppas_touched(before, before) == set()


def test_holders_become_852_fields_replacing_the_suppliers() -> None:
    record = Record()
    record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", "T")]))
    record.add_field(Field(tag="852", indicators=[" ", " "], subfields=[Subfield("a", "X")]))
    with_holdings(record, ["FI-Tro", "FI-Av"])
    assert [f["a"] for f in record.get_fields("852")] == ["FI-Av", "FI-Tro"]


def test_melinda_holdings_change_only_the_codes_named() -> None:
    from services.catalogue.melinda.adapter import holding_codes
    from services.catalogue.melinda.adapter import with_holdings as with_low

    record = Record()
    record.add_field(Field(tag="245", indicators=["1", "0"], subfields=[Subfield("a", "T")]))
    record.add_field(Field(tag="LOW", indicators=[" ", " "], subfields=[Subfield("a", "OTHER")]))
    record.add_field(Field(tag="LOW", indicators=[" ", " "], subfields=[Subfield("a", "OLD")]))
    changed = with_low(record, add=["HELMET", "OTHER"], remove=["OLD"])
    assert sorted(holding_codes(changed)) == ["HELMET", "OTHER"]
    assert sorted(holding_codes(record)) == ["OLD", "OTHER"]  # the original is not changed


def test_licences_decide_what_a_library_keeps() -> None:
    from contracts.procurement import TermValue

    granted = {"post_cancellation_access": TermValue(type="permitted_status", value="permitted")}
    refused = {"post_cancellation_access": TermValue(type="permitted_status", value="prohibited")}
    assert domain.post_cancellation_access(granted)
    assert not domain.post_cancellation_access(refused)
    assert not domain.post_cancellation_access({})
    assert domain.whole_collection("annual-fee") and domain.whole_collection(None)
    assert not domain.whole_collection("per-title")
    assert domain.parse_holder("FI-Tro") == ("FI-Tro", None)
    assert domain.parse_holder("kimppa:vaski") == (None, "vaski")
    with pytest.raises(domain.CatalogueRuleViolated):
        domain.parse_holder("no such holder")
