"""ONIX 3.0 → MARC 21 by Melinda's conventions (the National Library of Finland's ONIX
transformer and the Finnish RDA practice), compared field by field with golden MARCXML.

The golden files were produced by the converter and checked by hand, field by field,
against those conventions: an e-book, an e-audiobook read by a narrator, a translated novel
in a series, a children's book, a Swedish-language title and a foreign publisher's title."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from pymarc import Field, Record
from pymarc.marcxml import parse_xml_to_array

from services.catalogue import dedup
from services.catalogue.formats import conversion_report, onix
from services.catalogue.melinda.adapter import to_melinda
from services.catalogue.profile import apply_profile, has_errors

GOLDEN = Path(__file__).parents[2] / "fixtures" / "catalogue" / "melinda"
ONIX_NS = "{http://ns.editeur.org/onix/3.0/reference}"
CONVERTED = date(2025, 9, 15)
CASES = (
    "ebook",
    "audiobook_narrator",
    "translated_series",
    "childrens",
    "swedish",
    "foreign_publisher",
)


def _products() -> list[etree._Element]:
    root = etree.parse(str(GOLDEN / "products.xml")).getroot()
    return list(root.iter(f"{ONIX_NS}Product"))


def _convert(index: int) -> Record:
    return onix.element_to_record(_products()[index], converted=CONVERTED)


def _golden(name: str) -> Record:
    (record,) = parse_xml_to_array(str(GOLDEN / f"{name}.marcxml"))
    return record


def _field_text(field: Field) -> str:
    return str(field)


@pytest.mark.parametrize(("index", "name"), list(enumerate(CASES)))
def test_conversion_matches_the_golden_record_field_by_field(index: int, name: str) -> None:
    converted, golden = _convert(index), _golden(name)
    assert str(converted.leader) == str(golden.leader)
    got = [_field_text(f) for f in converted.fields]
    want = [_field_text(f) for f in golden.fields]
    for position, (mine, theirs) in enumerate(zip(got, want, strict=False)):
        assert mine == theirs, f"{name}: field {position + 1} differs"
    assert len(got) == len(want), f"{name}: {len(got)} fields, golden has {len(want)}"


def _tag(record: Record, tag: str) -> list[str]:
    return [str(f) for f in record.get_fields(tag)]


def test_isbd_punctuation_and_leader_18_i() -> None:
    record = _convert(0)
    assert record.leader[18] == "i"
    assert _tag(record, "100") == [r"=100  1\$aRistkari, Maiju,$ekirjoittaja."]
    assert _tag(record, "264") == [r"=264  \1$aHelsinki :$bPublisherCompany,$c2018."]
    # title and subtitle in their own subfields, never joined in $a
    assert record["245"].get_subfields("a", "b") == [
        "Metsän kieli :",
        "suomalaisen luonnon tarinoita /",
    ]


def test_hyphenated_isbn_with_format_and_the_isbn_10_kept() -> None:
    record = _convert(2)
    assert _tag(record, "020") == [
        r"=020  \\$a978-951-0-49775-3$qEPUB",
        r"=020  \\$a951-0-49775-4$qEPUB",
    ]
    # the profile keeps both forms, the match key is still the bare ISBN-13
    result = apply_profile(record, "AGR-1")
    assert result.record.get_fields("020")[1].get_subfields("a") == ["951-0-49775-4"]
    assert result.match_key == "9789510497753"
    assert _tag(result.record, "245") == [
        "=245  14$aThe Hollow Hours /$cJane Harrow ; suomentanut Kaisa Sivenius."
    ]


def test_audiobook_extent_narrator_note_and_relator() -> None:
    record = _convert(1)
    assert _tag(record, "300") == [r"=300  \\$a1 verkkoaineisto (6 h 11 min)"]
    assert _tag(record, "511") == [r"=511  0\$aLukija: Aku Laitinen."]
    assert _tag(record, "700") == [r"=700  1\$aLaitinen, Aku,$elukija."]


def test_country_and_audience_in_008() -> None:
    assert _convert(5)["008"].data[15:18] == "xxk"
    assert _convert(0)["008"].data[15:18] == "fi "
    assert _convert(3)["008"].data[22] == "j"
    assert _convert(0)["008"].data[22] == " "


def test_placeholder_link_gets_the_national_resolver_with_a_warning_not_a_rejection() -> None:
    record = _convert(1)  # its WebsiteLink is "TBA"
    assert record["856"].get_subfields("u") == ["http://urn.fi/URN:ISBN:978-952-04-3809-8"]
    result = apply_profile(record, None)
    assert not has_errors(result.findings)
    assert [f.code for f in result.findings] == ["resolver-access-url"]
    # a url_template wins over the resolver
    templated = onix.element_to_record(
        _products()[1], url_template="https://lainaa.example.fi/{isbn}", converted=CONVERTED
    )
    assert templated["856"].get_subfields("u") == ["https://lainaa.example.fi/9789520438098"]


def test_a_product_without_any_isbn_is_rejected_naming_its_identifier_types() -> None:
    product = _products()[5]
    for identifier in product.findall(f"{ONIX_NS}ProductIdentifier"):
        identifier.find(f"{ONIX_NS}ProductIDType").text = "01"
    with pytest.raises(onix.OnixError, match=r"cannot be identified.*types it has: 01"):
        onix.element_to_record(product, converted=CONVERTED)


def test_884_hash_follows_the_product_and_its_date_is_not_a_change() -> None:
    today = onix.element_to_record(_products()[0], converted=CONVERTED)
    later = onix.element_to_record(_products()[0], converted=date(2026, 1, 2))
    assert today["884"].get_subfields("g") == ["20250915"]
    assert today["884"].get_subfields("k") == later["884"].get_subfields("k")
    assert dedup.content_hash(today) == dedup.content_hash(later)
    changed = _products()[0]
    changed.find(f".//{ONIX_NS}TitleText").text = "Metsän toinen kieli"
    other = onix.element_to_record(changed, converted=CONVERTED)
    assert other["884"].get_subfields("k") != today["884"].get_subfields("k")


def test_publisher_description_is_kept_here_but_not_sent_to_melinda() -> None:
    record = _convert(0)
    assert record.get_fields("520")
    assert to_melinda(record, isil="FI-KONS", local_id="r1").get_fields("520") == []


def test_the_melinda_copy_names_its_source_record_in_sid() -> None:
    record = _convert(0)
    sent = to_melinda(record, isil="FI-KONS", local_id="4711", system_code="konso")
    [sid] = sent.get_fields("SID")
    assert (sid.get_subfields("c"), sid.get_subfields("b")) == (["4711"], ["konso"])
    # Once, however often the record is prepared again; none without a system code.
    again = to_melinda(sent, isil="FI-KONS", local_id="4711", system_code="konso")
    assert len(again.get_fields("SID")) == 1
    assert to_melinda(record, isil="FI-KONS", local_id="4711").get_fields("SID") == []


def test_golden_files_are_valid_marcxml() -> None:
    schema = etree.XMLSchema(etree.parse(str(GOLDEN.parent / "MARC21slim.xsd")))
    for name in CASES:
        schema.assertValid(etree.parse(io.BytesIO((GOLDEN / f"{name}.marcxml").read_bytes())))


def test_conversion_report_counts_core_fields_as_melinda_takes_them() -> None:
    records = [_convert(index) for index in range(len(CASES))]
    result = conversion_report.report(records).as_dict()
    assert result["records"] == 6
    fields = result["fields"]
    assert fields["020"] == {"applicable": 6, "accepted": 6, "share": 1.0}
    assert fields["240"]["applicable"] == 1  # the one translation
    assert fields["511"]["applicable"] == 1  # the one audiobook
    assert fields["490"]["applicable"] == 1
    assert result["core_share"] >= 0.95
    # the old forms are not accepted: joined audio extent, unpunctuated names
    old = _convert(1)
    old["300"].subfields[0] = (
        old["300"].subfields[0]._replace(value="1 verkkoaineisto (1 äänitiedosto (6 h 11 min))")
    )
    old["100"].subfields = [s._replace(value=s.value.rstrip(",.")) for s in old["100"].subfields]
    worse = conversion_report.report([old]).as_dict()["fields"]
    assert worse["300"]["accepted"] == 0
    assert worse["100"]["accepted"] == 0
