"""ONIX for Books 3.0 Product → MARC 21, following the Finnish national conventions for
e-books and e-audiobooks (see marc21.py for the field building blocks).

Both reference tags (<Product>) and short tags (<product>) are read: every element name
is mapped to its reference name first, so the rest of the code knows only one spelling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from lxml import etree
from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.formats import marc21
from services.catalogue.formats.marc21 import CatalogueLanguage, Kind
from services.catalogue.profile import normalise_isbn

ONIX_NAMESPACES = (
    "http://ns.editeur.org/onix/3.0/reference",
    "http://ns.editeur.org/onix/3.0/short",
)

# Only the short tags this converter reads (ONIX 3.0 short-tag names → reference names).
SHORT_TAGS: dict[str, str] = {
    "product": "Product",
    "a001": "RecordReference",
    "a002": "NotificationType",
    "productidentifier": "ProductIdentifier",
    "b221": "ProductIDType",
    "b244": "IDValue",
    "descriptivedetail": "DescriptiveDetail",
    "x314": "ProductComposition",
    "b012": "ProductForm",
    "b333": "ProductFormDetail",
    "titledetail": "TitleDetail",
    "b202": "TitleType",
    "titleelement": "TitleElement",
    "x409": "TitleElementLevel",
    "b203": "TitleText",
    "b030": "TitlePrefix",
    "b031": "TitleWithoutPrefix",
    "b029": "Subtitle",
    "contributor": "Contributor",
    "b034": "SequenceNumber",
    "b035": "ContributorRole",
    "b036": "PersonName",
    "b037": "PersonNameInverted",
    "b039": "NamesBeforeKey",
    "b040": "KeyNames",
    "b047": "CorporateName",
    "language": "Language",
    "b253": "LanguageRole",
    "b252": "LanguageCode",
    "b057": "EditionNumber",
    "extent": "Extent",
    "b218": "ExtentType",
    "b219": "ExtentValue",
    "b220": "ExtentUnit",
    "subject": "Subject",
    "b067": "SubjectSchemeIdentifier",
    "b069": "SubjectCode",
    "b070": "SubjectHeadingText",
    "collateraldetail": "CollateralDetail",
    "textcontent": "TextContent",
    "x426": "TextType",
    "d104": "Text",
    "publishingdetail": "PublishingDetail",
    "publisher": "Publisher",
    "b291": "PublishingRole",
    "b081": "PublisherName",
    "b209": "CityOfPublication",
    "publishingdate": "PublishingDate",
    "x448": "PublishingDateRole",
    "b306": "Date",
    "website": "Website",
    "b367": "WebsiteRole",
    "b295": "WebsiteLink",
    "productsupply": "ProductSupply",
    "supplydetail": "SupplyDetail",
    "supplier": "Supplier",
    "j137": "SupplierName",
}

E_TEXT_FORMS = frozenset({"EA", "EB", "EC", "ED"})
AUDIO_FORMS = frozenset({"AJ", "AN"})

# List 175 form details → the 020 $q / 347 $b encoding format.
FORM_DETAIL_FORMATS: dict[str, str] = {
    "E101": "EPUB",
    "E107": "PDF",
    "A103": "MP3",
    "E116": "Kindle",
    "A104": "WAV",
    "A108": "AAC",
}

# List 150 fallback when no form detail is given.
FORM_FORMATS: dict[str, str] = {"AJ": "MP3"}

ISBN13_TYPES = ("15", "03")  # ISBN-13, then GTIN-13 (same digits for books)
ISBN10_TYPE = "02"

# Contributor roles that become 1XX main entries, in order of preference.
MAIN_ENTRY_ROLES = ("A01",)

# Statement-of-responsibility phrases for 245 $c, by cataloguing language.
SOR_PHRASES: dict[CatalogueLanguage, dict[str, str]] = {
    "fin": {"B06": "suomentanut", "E07": "lukija", "A12": "kuvittanut", "B01": "toimittanut"},
    "swe": {
        "B06": "översättning",
        "E07": "uppläsare",
        "A12": "illustrationer",
        "B01": "redaktör",
    },
}


class OnixError(ValueError):
    """A Product that cannot become a record (e.g. not a digital product)."""


@dataclass(frozen=True)
class Contributor:
    roles: tuple[str, ...]
    inverted: str | None
    direct: str | None
    corporate: str | None
    sequence: int

    @property
    def heading(self) -> str:
        return self.inverted or self.corporate or self.direct or ""

    @property
    def display(self) -> str:
        return self.direct or self.corporate or self.inverted or ""


@dataclass(frozen=True)
class OnixProduct:
    """The parts of an ONIX Product that the MARC conversion needs."""

    reference: str
    isbn13: str | None
    isbn10: str | None
    product_form: str
    form_details: tuple[str, ...]
    title: str
    title_prefix: str | None
    subtitle: str | None
    contributors: tuple[Contributor, ...]
    languages: tuple[str, ...]
    original_languages: tuple[str, ...]
    edition: str | None
    publisher: str | None
    city: str | None
    publication_date: str | None
    pages: int | None
    duration_minutes: int | None
    description: str | None
    keywords: tuple[str, ...] = field(default_factory=tuple)
    urls: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kind(self) -> Kind:
        return "audio" if self.product_form in AUDIO_FORMS else "text"

    @property
    def encoding_format(self) -> str | None:
        for detail in self.form_details:
            if detail in FORM_DETAIL_FORMATS:
                return FORM_DETAIL_FORMATS[detail]
        if self.product_form == "EB" or self.product_form == "ED":
            return None
        return FORM_FORMATS.get(self.product_form)


# --- XML access ------------------------------------------------------------------------


# Tag (with its namespace) → reference name. A feed uses a few dozen tags, and every field
# lookup asks for the name of each child: building a QName each time was a quarter of the
# conversion's time. Bounded, so a file of made-up tags cannot grow it without end.
_REFERENCE_NAMES: dict[str, str] = {}
_REFERENCE_NAMES_MAX = 4096


def reference_name(element: etree._Element) -> str:
    tag = element.tag
    name = _REFERENCE_NAMES.get(tag)
    if name is None:
        local = etree.QName(element).localname
        name = SHORT_TAGS.get(local, local)
        if len(_REFERENCE_NAMES) < _REFERENCE_NAMES_MAX:
            _REFERENCE_NAMES[tag] = name
    return name


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    for child in element:
        if isinstance(child.tag, str) and reference_name(child) == name:
            yield child


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return next(_children(element, name), None)


def _text(element: etree._Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None:
        return None
    text = "".join(child.itertext()).strip()
    return " ".join(text.split()) or None


def _path(element: etree._Element | None, *names: str) -> etree._Element | None:
    for name in names:
        element = _child(element, name)
    return element


# --- extraction ------------------------------------------------------------------------


def parse_product(product: etree._Element) -> OnixProduct:
    """Read the parts of one <Product> element the conversion uses."""
    reference = _text(product, "RecordReference") or ""
    ids = {
        _text(pid, "ProductIDType"): _text(pid, "IDValue")
        for pid in _children(product, "ProductIdentifier")
    }
    isbn13 = next((ids[t] for t in ISBN13_TYPES if ids.get(t)), None)
    detail = _child(product, "DescriptiveDetail")
    if detail is None:
        raise OnixError(f"product {reference!r} has no DescriptiveDetail")
    form = _text(detail, "ProductForm") or ""
    form_details = tuple(
        t for el in _children(detail, "ProductFormDetail") if (t := "".join(el.itertext()).strip())
    )
    title, prefix, subtitle = _title(detail)
    if not title:
        raise OnixError(f"product {reference!r} has no distinctive title")
    languages, originals = [], []
    for lang in _children(detail, "Language"):
        role, code = _text(lang, "LanguageRole"), _text(lang, "LanguageCode")
        if code and role == "01":
            languages.append(code.lower())
        elif code and role == "02":
            originals.append(code.lower())
    pages, minutes = _extent(detail)
    publishing = _child(product, "PublishingDetail")
    publisher_el = (
        next(
            (
                p
                for p in _children(publishing, "Publisher")
                if _text(p, "PublishingRole") in (None, "01")
            ),
            None,
        )
        if publishing is not None
        else None
    )
    return OnixProduct(
        reference=reference,
        isbn13=isbn13,
        isbn10=ids.get(ISBN10_TYPE),
        product_form=form,
        form_details=form_details,
        title=title,
        title_prefix=prefix,
        subtitle=subtitle,
        contributors=_contributors(detail),
        languages=tuple(languages),
        original_languages=tuple(originals),
        edition=_text(detail, "EditionNumber"),
        publisher=_text(publisher_el, "PublisherName"),
        city=_text(publishing, "CityOfPublication"),
        publication_date=_publication_date(publishing),
        pages=pages,
        duration_minutes=minutes,
        description=_description(product),
        keywords=_keywords(detail),
        urls=_urls(product),
    )


def _title(detail: etree._Element) -> tuple[str | None, str | None, str | None]:
    for title_detail in _children(detail, "TitleDetail"):
        if _text(title_detail, "TitleType") not in (None, "01"):
            continue
        for element in _children(title_detail, "TitleElement"):
            if _text(element, "TitleElementLevel") not in (None, "01"):
                continue
            prefix = _text(element, "TitlePrefix")
            without = _text(element, "TitleWithoutPrefix")
            text = _text(element, "TitleText")
            if without:
                text = f"{prefix} {without}" if prefix else without
            return text, prefix, _text(element, "Subtitle")
    return None, None, None


def _contributors(detail: etree._Element) -> tuple[Contributor, ...]:
    out = []
    for index, el in enumerate(_children(detail, "Contributor")):
        roles = tuple(
            t for r in _children(el, "ContributorRole") if (t := "".join(r.itertext()).strip())
        )
        key, before = _text(el, "KeyNames"), _text(el, "NamesBeforeKey")
        inverted = _text(el, "PersonNameInverted") or (
            f"{key}, {before}" if key and before else key
        )
        direct = _text(el, "PersonName") or (f"{before} {key}" if key and before else key)
        sequence = _text(el, "SequenceNumber")
        out.append(
            Contributor(
                roles=roles,
                inverted=inverted,
                direct=direct,
                corporate=_text(el, "CorporateName"),
                sequence=int(sequence) if sequence and sequence.isdigit() else 1000 + index,
            )
        )
    return tuple(sorted(out, key=lambda c: c.sequence))


def _extent(detail: etree._Element) -> tuple[int | None, int | None]:
    pages = minutes = None
    for extent in _children(detail, "Extent"):
        kind, value, unit = (
            _text(extent, "ExtentType"),
            _text(extent, "ExtentValue"),
            _text(extent, "ExtentUnit"),
        )
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if kind in ("00", "10", "11") and unit == "03" and pages is None:
            pages = int(number)
        elif kind == "09":
            # List 24: 05 hours, 06 minutes, 07 seconds, 15 HHHMM, 16 HHHMMSS
            if unit == "05":
                minutes = round(number * 60)
            elif unit == "06":
                minutes = round(number)
            elif unit == "07":
                minutes = round(number / 60)
            elif unit == "15" and value.isdigit():
                minutes = int(value[:-2] or 0) * 60 + int(value[-2:])
            elif unit == "16" and value.isdigit():
                minutes = int(value[:-4] or 0) * 60 + int(value[-4:-2])
    return pages, minutes


def _publication_date(publishing: etree._Element | None) -> str | None:
    if publishing is None:
        return None
    for pub_date in _children(publishing, "PublishingDate"):
        if _text(pub_date, "PublishingDateRole") in ("01", "11", "19"):
            return _text(pub_date, "Date")
    return None


def _description(product: etree._Element) -> str | None:
    collateral = _child(product, "CollateralDetail")
    if collateral is None:
        return None
    for content in _children(collateral, "TextContent"):
        if _text(content, "TextType") in ("03", "02"):
            return _text(content, "Text")
    return None


def _keywords(detail: etree._Element) -> tuple[str, ...]:
    words: list[str] = []
    for subject in _children(detail, "Subject"):
        if _text(subject, "SubjectSchemeIdentifier") == "20":
            text = _text(subject, "SubjectHeadingText") or ""
            words += [w.strip() for w in text.split(";") if w.strip()]
    return tuple(words)


def _urls(product: etree._Element) -> tuple[str, ...]:
    """Access URLs: Website links on the product, the publisher or the supplier.

    ONIX has no single "access URL" element; Finnish e-lending suppliers put the
    title's page in a Website with a product-specific role (02, 36) or leave it out
    (the converter's url_template then builds one).
    """
    urls: list[str] = []
    for website in product.iter():
        if not isinstance(website.tag, str) or reference_name(website) != "Website":
            continue
        role = _text(website, "WebsiteRole")
        link = _text(website, "WebsiteLink")
        if link and role in (None, "02", "36", "29") and link not in urls:
            urls.append(link)
    return tuple(urls)


# --- conversion ------------------------------------------------------------------------


def product_to_record(
    product: OnixProduct,
    *,
    url_template: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
) -> Record:
    """Build the MARC 21 record for one digital product.

    url_template, e.g. "https://lainaa.example.fi/book/{isbn}", supplies an access URL
    when the supplier's ONIX carries none.
    """
    if product.product_form not in E_TEXT_FORMS | AUDIO_FORMS:
        raise OnixError(
            f"product {product.reference!r}: form {product.product_form!r} is not an "
            "e-book (EA/EB/EC/ED) or e-audiobook (AJ/AN)"
        )
    kind = product.kind
    language = product.languages[0] if product.languages else None
    lang = marc21.catalogue_language(language)
    year = (product.publication_date or "")[:4] or None
    record = marc21.new_record(marc21.leader(kind))
    if product.reference:
        record.add_field(Field(tag="001", data=product.reference))
    record.add_field(marc21.field_006(kind))
    record.add_field(*marc21.fields_007(kind))
    record.add_field(
        marc21.field_008(
            kind=kind, year=year, language=language, entered=_entered(product.publication_date)
        )
    )
    raw_isbn = product.isbn13 or product.isbn10
    isbn = (normalise_isbn(raw_isbn) or raw_isbn) if raw_isbn else None
    if isbn:
        subfields = [Subfield("a", isbn)]
        if product.encoding_format:
            subfields.append(Subfield("q", product.encoding_format))
        record.add_field(Field(tag="020", indicators=Indicators(" ", " "), subfields=subfields))
    record.add_field(marc21.field_040(lang, agency))
    record.add_field(*_field_041(product, kind))
    record.add_field(*_name_fields(product, lang))
    record.add_field(_field_245(product, lang))
    if product.edition:
        record.add_field(
            Field(
                tag="250",
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", _edition(product.edition, lang))],
            )
        )
    record.add_field(_field_264(product, lang, year))
    record.add_field(_field_300(product, lang))
    if product.duration_minutes:
        hours, mins = divmod(product.duration_minutes, 60)
        record.add_field(
            Field(
                tag="306",
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", f"{hours:02d}{mins:02d}00")],
            )
        )
    record.add_field(*marc21.rda_fields(kind, lang))
    record.add_field(marc21.field_347(kind, lang, product.encoding_format))
    if product.description:
        record.add_field(
            Field(
                tag="520",
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", product.description)],
            )
        )
    for keyword in product.keywords:
        record.add_field(
            Field(tag="653", indicators=Indicators(" ", " "), subfields=[Subfield("a", keyword)])
        )
    urls = list(product.urls)
    if not urls and url_template and isbn:
        urls.append(url_template.format(isbn=isbn, reference=product.reference))
    for url in urls:
        record.add_field(marc21.field_856(url, lang))
    record.add_field(
        Field(
            tag="884",
            indicators=Indicators(" ", " "),
            subfields=[
                Subfield("a", "ONIX3 to MARC transformation"),
                Subfield("k", product.reference),
                Subfield("q", agency),
            ],
        )
    )
    # Fields go in tag order; the stable sort keeps repeated fields in their given order.
    record.fields.sort(key=lambda f: f.tag)
    return record


def element_to_record(
    element: etree._Element, *, url_template: str | None = None, agency: str = marc21.DEFAULT_AGENCY
) -> Record:
    return product_to_record(parse_product(element), url_template=url_template, agency=agency)


def _entered(publication_date: str | None) -> date | None:
    # Deterministic 008/00-05: the publication date stands in for the entry date.
    if publication_date and len(publication_date) >= 8 and publication_date[:8].isdigit():
        try:
            return date(
                int(publication_date[:4]), int(publication_date[4:6]), int(publication_date[6:8])
            )
        except ValueError:
            return None
    return None


def _field_041(product: OnixProduct, kind: Kind) -> list[Field]:
    if not product.languages:
        return []
    # Spoken-word language goes in $d for audiobooks, text language in $a.
    code = "d" if kind == "audio" else "a"
    subfields = [Subfield(code, lang) for lang in product.languages]
    subfields += [Subfield("h", lang) for lang in product.original_languages]
    first = "1" if product.original_languages else "0"
    return [Field(tag="041", indicators=Indicators(first, " "), subfields=subfields)]


def _relators(contributor: Contributor, lang: CatalogueLanguage) -> list[Subfield]:
    terms = marc21.RELATOR_TERMS[lang]
    return [Subfield("e", terms[r]) for r in contributor.roles if r in terms]


def _name_field(tag_person: str, contributor: Contributor, lang: CatalogueLanguage) -> Field:
    if contributor.corporate and not (contributor.inverted or contributor.direct):
        tag = "110" if tag_person == "100" else "710"
        return Field(
            tag=tag,
            indicators=Indicators("2", " "),
            subfields=[Subfield("a", contributor.corporate), *_relators(contributor, lang)],
        )
    heading = contributor.heading
    # Indicator 1: 1 = surname first, 0 = forename only (e.g. a pseudonym "Tove").
    first = "1" if "," in heading else "0"
    return Field(
        tag=tag_person,
        indicators=Indicators(first, " "),
        subfields=[Subfield("a", heading), *_relators(contributor, lang)],
    )


def _main_entry(product: OnixProduct) -> Contributor | None:
    for role in MAIN_ENTRY_ROLES:
        for contributor in product.contributors:
            if role in contributor.roles:
                return contributor
    return None


def _name_fields(product: OnixProduct, lang: CatalogueLanguage) -> list[Field]:
    main = _main_entry(product)
    fields = [_name_field("100", main, lang)] if main else []
    fields += [
        _name_field("700", c, lang) for c in product.contributors if c is not main and c.heading
    ]
    return fields


def _field_245(product: OnixProduct, lang: CatalogueLanguage) -> Field:
    has_main = _main_entry(product) is not None
    nonfiling = str(len(product.title_prefix) + 1) if product.title_prefix else "0"
    subfields = [Subfield("a", product.title)]
    if product.subtitle:
        subfields.append(Subfield("b", product.subtitle))
    statement = _statement_of_responsibility(product, lang)
    if statement:
        subfields.append(Subfield("c", statement))
    return Field(
        tag="245",
        indicators=Indicators("1" if has_main else "0", nonfiling if len(nonfiling) == 1 else "0"),
        subfields=subfields,
    )


def _statement_of_responsibility(product: OnixProduct, lang: CatalogueLanguage) -> str | None:
    authors = [c.display for c in product.contributors if "A01" in c.roles and c.display]
    parts = [", ".join(authors)] if authors else []
    phrases = SOR_PHRASES[lang]
    for role, phrase in phrases.items():
        names = [c.display for c in product.contributors if role in c.roles and c.display]
        if names:
            parts.append(f"{phrase} {', '.join(names)}")
    return " ; ".join(parts) or None


def _edition(edition: str, lang: CatalogueLanguage) -> str:
    if not edition.isdigit():
        return edition
    return f"{edition}. painos" if lang == "fin" else f"{edition}. upplagan"


def _field_264(product: OnixProduct, lang: CatalogueLanguage, year: str | None) -> Field:
    subfields = [Subfield("a", product.city or marc21.UNKNOWN_PLACE[lang])]
    if product.publisher:
        subfields.append(Subfield("b", product.publisher))
    if year:
        subfields.append(Subfield("c", year))
    return Field(tag="264", indicators=Indicators(" ", "1"), subfields=subfields)


def _field_300(product: OnixProduct, lang: CatalogueLanguage) -> Field:
    extent = marc21.ONLINE_EXTENT[lang]
    if product.kind == "audio" and product.duration_minutes:
        hours, mins = divmod(product.duration_minutes, 60)
        unit = ("h", "min") if lang == "fin" else ("tim", "min")
        files = "1 äänitiedosto" if lang == "fin" else "1 ljudfil"
        extent += f" ({files} ({hours} {unit[0]} {mins} {unit[1]}))"
    elif product.pages:
        extent += f" ({product.pages} {marc21.PAGES_WORD[lang]})"
    return Field(tag="300", indicators=Indicators(" ", " "), subfields=[Subfield("a", extent)])
