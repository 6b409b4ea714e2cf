"""Building blocks for MARC 21 records of online resources, following the Finnish
national conventions (Kansalliskirjasto's RDA practice) that the consortium profile uses.

The ONIX and KBART converters both build on these so that e-books coming from either
source look the same to the profile, the dedup logic and the library systems.

ONIX records are built with ISBD punctuation (leader/18 = "i") as Melinda takes them; the
match keys (dedup) use the punctuation-free form. KBART records carry none (leader/18 "c").
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pymarc import Field, Indicators, Record, Subfield

Kind = Literal["text", "audio"]
CatalogueLanguage = Literal["fin", "swe"]

# Agency code written to 040 $a and $d until the deployment configures its own ISIL.
DEFAULT_AGENCY = "FI-KONS"

# Relator terms by cataloguing language; keys are ONIX List 17 contributor roles.
RELATOR_TERMS: dict[CatalogueLanguage, dict[str, str]] = {
    "fin": {
        "A01": "kirjoittaja",
        "A12": "kuvittaja",
        "B01": "toimittaja",
        "B06": "kääntäjä",
        "E07": "lukija",
    },
    "swe": {
        "A01": "författare",
        "A12": "illustratör",
        "B01": "redaktör",
        "B06": "översättare",
        "E07": "uppläsare",
    },
}

# 336/337/338 terms and their vocabularies ($2) by cataloguing language.
RDA_TERMS: dict[CatalogueLanguage, dict[str, tuple[str, str]]] = {
    "fin": {
        "txt": ("teksti", "rdacontent"),
        "spw": ("puhe", "rdacontent"),
        "c": ("tietokonekäyttöinen", "rdamedia"),
        "cr": ("verkkoaineisto", "rdacarrier"),
    },
    "swe": {
        "txt": ("text", "rdacontent"),
        "spw": ("tal", "rdacontent"),
        "c": ("dator", "rdamedia"),
        "cr": ("onlineresurs", "rdacarrier"),
    },
}

# 347 $a file type (RDA file type vocabulary) by cataloguing language.
FILE_TYPE_TERMS: dict[CatalogueLanguage, dict[Kind, str]] = {
    "fin": {"text": "tekstitiedosto", "audio": "äänitiedosto"},
    "swe": {"text": "textfil", "audio": "ljudfil"},
}

ONLINE_EXTENT: dict[CatalogueLanguage, str] = {"fin": "1 verkkoaineisto", "swe": "1 onlineresurs"}
PAGES_WORD: dict[CatalogueLanguage, str] = {"fin": "sivua", "swe": "sidor"}
UNKNOWN_PLACE: dict[CatalogueLanguage, str] = {
    "fin": "[Julkaisupaikka tuntematon]",
    "swe": "[Utgivningsort okänd]",
}
LINK_TEXT: dict[CatalogueLanguage, str] = {
    "fin": "Linkki verkkoaineistoon",
    "swe": "Länk till e-resursen",
}
PRINT_VERSION: dict[CatalogueLanguage, str] = {"fin": "Painettu", "swe": "Tryckt"}


def catalogue_language(language: str | None) -> CatalogueLanguage:
    """Swedish-language resources are catalogued in Swedish, all others in Finnish."""
    return "swe" if language == "swe" else "fin"


def leader(
    kind: Kind, *, serial: bool = False, encoding_level: str = "5", punctuated: bool = False
) -> str:
    """Leader for a converted online resource: text (a) or spoken word (i).

    Encoding level 5 (preliminary) marks supplier data that no cataloguer has checked.
    ``punctuated``: leader/18 "i", RDA with ISBD punctuation, as Melinda takes records;
    otherwise "c" (no punctuation).
    """
    record_type = "i" if kind == "audio" else "a"
    level = "s" if serial else "m"
    form = "i" if punctuated else "c"
    return f"00000n{record_type}{level} a2200000{encoding_level}{form} 4500"


def field_006(kind: Kind) -> Field:
    # Computer file aspect of the resource: online (o), document (d) or sound (h).
    file_type = "h" if kind == "audio" else "d"
    return Field(tag="006", data=f"m     o  {file_type}        ")


def fields_007(kind: Kind) -> list[Field]:
    fields = [Field(tag="007", data="cr||||||||||||")]
    if kind == "audio":
        fields.append(Field(tag="007", data="sr|||||||||||"))
    return fields


def field_008(
    *,
    kind: Kind,
    year: str | None,
    language: str | None,
    entered: date | None,
    serial: bool = False,
    country: str = "fi ",
    audience: str = " ",
) -> Field:
    """008 for an online book, serial or spoken-word recording.

    `entered` is a parameter rather than today's date so that converting the same input
    twice gives byte-identical records (re-ingest must be idempotent).
    """
    when = entered.strftime("%y%m%d") if entered else "000000"
    known = year is not None and len(year) == 4 and year.isdigit()
    if serial:
        date_type, dates = ("c", f"{year}9999") if known else ("u", "uuuuuuuu")
        # frequency, regularity, type and script unknown (|); form of item online (o)
        specific = "|| | o    " + " 0   " + " 0"
    else:
        date_type, dates = ("s", f"{year}    ") if known else ("n", "uuuu    ")
        if kind == "audio":
            # composition/format n/a, form of item online, literary text unknown
            specific = "nnn  o      || n "
        else:
            # form of item online, no conference/festschrift/index, literary form unknown
            specific = "     o     000 | "
    if not serial:
        # 008/22 target audience (juvenile j, adolescent d…) in books and sound recordings.
        specific = specific[:4] + (audience or " ")[:1] + specific[5:]
    lang = (language or "   ")[:3].ljust(3)
    place = (country or "xx ")[:3].ljust(3)
    data = f"{when}{date_type}{dates}{place}{specific}{lang} d"
    return Field(tag="008", data=data)


def rda_fields(kind: Kind, lang: CatalogueLanguage) -> list[Field]:
    terms = RDA_TERMS[lang]
    content = "spw" if kind == "audio" else "txt"
    out = []
    for tag, code in (("336", content), ("337", "c"), ("338", "cr")):
        term, vocabulary = terms[code]
        out.append(
            Field(
                tag=tag,
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", term), Subfield("b", code), Subfield("2", vocabulary)],
            )
        )
    return out


def field_040(lang: CatalogueLanguage, agency: str = DEFAULT_AGENCY) -> Field:
    return Field(
        tag="040",
        indicators=Indicators(" ", " "),
        subfields=[
            Subfield("a", agency),
            Subfield("b", lang),
            Subfield("e", "rda"),
            Subfield("d", agency),
        ],
    )


# 344 $a type of recording for sound (RDA term list rdatr), as the National Library's
# ONIX transformer writes it for e-audiobooks.
RECORDING_TYPE: dict[CatalogueLanguage, str] = {"fin": "digitaalinen", "swe": "digital"}


def field_344(lang: CatalogueLanguage) -> Field:
    return Field(
        tag="344",
        indicators=Indicators(" ", " "),
        subfields=[Subfield("a", RECORDING_TYPE[lang]), Subfield("2", "rdatr")],
    )


def field_347(kind: Kind, lang: CatalogueLanguage, encoding_format: str | None) -> Field:
    subfields = [Subfield("a", FILE_TYPE_TERMS[lang][kind])]
    if encoding_format:
        subfields.append(Subfield("b", encoding_format))
    subfields.append(Subfield("2", "rdaft"))
    return Field(tag="347", indicators=Indicators(" ", " "), subfields=subfields)


def field_856(url: str, lang: CatalogueLanguage) -> Field:
    return Field(
        tag="856",
        indicators=Indicators("4", "0"),
        subfields=[Subfield("u", url), Subfield("y", LINK_TEXT[lang])],
    )


def new_record(leader_value: str) -> Record:
    return Record(leader=leader_value, force_utf8=True)
