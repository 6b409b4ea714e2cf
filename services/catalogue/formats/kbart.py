"""KBART Phase II title-list row → MARC 21 record for an online resource.

KBART has no language column, so the caller passes the list's language (the CLI's
--language, the ingest's batch setting); without it the profile rejects the record.
"""

from __future__ import annotations

from collections.abc import Mapping

from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.formats import marc21
from services.catalogue.profile import normalise_language

KBART_COLUMNS: tuple[str, ...] = (
    "publication_title",
    "print_identifier",
    "online_identifier",
    "date_first_issue_online",
    "num_first_vol_online",
    "num_first_issue_online",
    "date_last_issue_online",
    "num_last_vol_online",
    "num_last_issue_online",
    "title_url",
    "first_author",
    "title_id",
    "embargo_info",
    "coverage_depth",
    "notes",
    "publisher_name",
    "publication_type",
    "date_monograph_published_print",
    "date_monograph_published_online",
    "monograph_volume",
    "monograph_edition",
    "first_editor",
    "parent_publication_title_id",
    "preceding_publication_title_id",
    "access_type",
)


def _sub(code: str, value: str) -> Subfield:
    return Subfield(code, value.strip())


def row_to_record(
    row: Mapping[str, str | None],
    *,
    default_language: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
) -> Record:
    def get(column: str) -> str:
        return (row.get(column) or "").strip()

    serial = get("publication_type").lower() == "serial"
    language = normalise_language(default_language) if default_language else None
    lang = marc21.catalogue_language(language)
    if serial:
        year = get("date_first_issue_online")[:4] or None
    else:
        year = (
            get("date_monograph_published_online")[:4]
            or get("date_monograph_published_print")[:4]
            or None
        )
    record = marc21.new_record(marc21.leader("text", serial=serial))
    record.add_field(marc21.field_006("text"))
    record.add_field(*marc21.fields_007("text"))
    record.add_field(
        marc21.field_008(kind="text", year=year, language=language, entered=None, serial=serial)
    )
    online, printed = get("online_identifier"), get("print_identifier")
    id_tag, id_code = ("022", "a") if serial else ("020", "a")
    if online:
        subfields = [_sub(id_code, online)]
        if not serial:
            subfields.append(Subfield("q", "verkkoaineisto" if lang == "fin" else "onlineresurs"))
        record.add_field(Field(tag=id_tag, indicators=Indicators(" ", " "), subfields=subfields))
    if get("title_id"):
        record.add_field(
            Field(
                tag="035",
                indicators=Indicators(" ", " "),
                subfields=[_sub("a", f"(KBART){get('title_id')}")],
            )
        )
    record.add_field(marc21.field_040(lang, agency))
    if language:
        record.add_field(
            Field(tag="041", indicators=Indicators("0", " "), subfields=[Subfield("a", language)])
        )
    author = get("first_author")
    if author:
        relator = marc21.RELATOR_TERMS[lang]["A01"]
        record.add_field(
            Field(
                tag="100",
                indicators=Indicators("1", " "),
                subfields=[_sub("a", author), Subfield("e", relator)],
            )
        )
    record.add_field(
        Field(
            tag="245",
            indicators=Indicators("1" if author else "0", "0"),
            subfields=[_sub("a", get("publication_title"))],
        )
    )
    if get("monograph_edition"):
        record.add_field(
            Field(
                tag="250",
                indicators=Indicators(" ", " "),
                subfields=[_sub("a", get("monograph_edition"))],
            )
        )
    imprint = [Subfield("a", marc21.UNKNOWN_PLACE[lang])]
    if get("publisher_name"):
        imprint.append(_sub("b", get("publisher_name")))
    if year:
        imprint.append(Subfield("c", year))
    record.add_field(Field(tag="264", indicators=Indicators(" ", "1"), subfields=imprint))
    record.add_field(
        Field(
            tag="300",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", marc21.ONLINE_EXTENT[lang])],
        )
    )
    record.add_field(*marc21.rda_fields("text", lang))
    record.add_field(marc21.field_347("text", lang, None))
    if get("notes"):
        record.add_field(
            Field(tag="500", indicators=Indicators(" ", " "), subfields=[_sub("a", get("notes"))])
        )
    editor = get("first_editor")
    if editor:
        record.add_field(
            Field(
                tag="700",
                indicators=Indicators("1", " "),
                subfields=[_sub("a", editor), Subfield("e", marc21.RELATOR_TERMS[lang]["B01"])],
            )
        )
    if printed:
        code = "x" if serial else "z"
        record.add_field(
            Field(
                tag="776",
                indicators=Indicators("0", "8"),
                subfields=[Subfield("i", marc21.PRINT_VERSION[lang]), _sub(code, printed)],
            )
        )
    if get("title_url"):
        record.add_field(marc21.field_856(get("title_url"), lang))
    record.fields.sort(key=lambda f: f.tag)
    return record
