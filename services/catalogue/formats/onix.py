"""ONIX for Books 3.0 Product → MARC 21, following the Finnish national conventions for
e-books and e-audiobooks (see marc21.py for the field building blocks).

Both reference tags (<Product>) and short tags (<product>) are read: every element name
is mapped to its reference name first, so the rest of the code knows only one spelling.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

from lxml import etree
from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.formats import marc21
from services.catalogue.formats.marc21 import CatalogueLanguage, Kind
from services.catalogue.profile import RESOLVER_PREFIX, hyphenated_isbn, normalise_isbn

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
    "collection": "Collection",
    "x329": "CollectionType",
    "x410": "PartNumber",
    "collectionsequence": "CollectionSequence",
    "x479": "CollectionSequenceType",
    "x481": "CollectionSequenceNumber",
    "b083": "CountryOfPublication",
    "audience": "Audience",
    "b204": "AudienceCodeType",
    "b206": "AudienceCodeValue",
    "b171": "SubjectSchemeName",
    "productformfeature": "ProductFormFeature",
    "b334": "ProductFormFeatureType",
    "b335": "ProductFormFeatureValue",
    "productsupply": "ProductSupply",
    "supplydetail": "SupplyDetail",
    "supplier": "Supplier",
    "j137": "SupplierName",
}

HTTP_URL = re.compile(r"https?://[^\s/?#]+\.[^\s/?#]+\S*\Z", re.IGNORECASE)

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
class Series:
    title: str
    number: str | None
    controlled: bool  # a publisher's series (CollectionType 10): also an 830 access point


@dataclass(frozen=True)
class Subject:
    scheme: str  # ONIX list 27
    code: str | None
    text: str | None
    scheme_name: str | None


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
    original_title: str | None = None
    series: tuple[Series, ...] = field(default_factory=tuple)
    country: str | None = None
    audiences: tuple[str, ...] = field(default_factory=tuple)
    subjects: tuple[Subject, ...] = field(default_factory=tuple)
    accessibility: tuple[str, ...] = field(default_factory=tuple)
    identifier_types: tuple[str, ...] = field(default_factory=tuple)
    source_hash: str = ""

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
_REFERENCE_NAMES: dict[str, str | None] = {}
_REFERENCE_NAMES_MAX = 4096


def _all_text(node: _Node) -> str:
    """The element's text and its descendants', stripped."""
    element = node.element
    if not len(element):  # most elements read are leaves: their text is all there is
        return (element.text or "").strip()
    return "".join(element.itertext()).strip()  # type: ignore[arg-type]  # str parts from a str parse


def reference_name(element: etree._Element) -> str | None:
    """The element's reference name (a short tag mapped to its reference tag), or None for
    an element outside the ONIX namespaces (and not in none)."""
    tag = element.tag
    if tag in _REFERENCE_NAMES:
        return _REFERENCE_NAMES[tag]
    qname = etree.QName(element)
    name = (
        SHORT_TAGS.get(qname.localname, qname.localname)
        if qname.namespace in _READ_NAMESPACES
        else None
    )
    if len(_REFERENCE_NAMES) < _REFERENCE_NAMES_MAX:
        _REFERENCE_NAMES[tag] = name
    return name


_READ_NAMESPACES = frozenset([*ONIX_NAMESPACES, None])
_REFERENCE_TO_SHORT = {reference: short for short, reference in SHORT_TAGS.items()}
_TAGS: dict[str, tuple[str, ...]] = {}


def _tags(name: str) -> tuple[str, ...]:
    """Every spelling of a reference name: reference and short tag, in either ONIX
    namespace or none, for lxml to filter by in C."""
    tags = _TAGS.get(name)
    if tags is None:
        names = [name] + ([_REFERENCE_TO_SHORT[name]] if name in _REFERENCE_TO_SHORT else [])
        tags = tuple(names) + tuple(f"{{{ns}}}{n}" for ns in ONIX_NAMESPACES for n in names)
        if len(_TAGS) < _REFERENCE_NAMES_MAX:
            _TAGS[name] = tags
    return tags


_NO_NODES: tuple[_Node, ...] = ()


class _Node:
    """One element of a product, its children indexed by reference name on first use.

    The conversion asks each element for its children by name dozens of times per product.
    Filtering with lxml on every call built a tag matcher each time and was most of the
    conversion's time; one pass over an element's children, once, is cheaper."""

    __slots__ = ("element", "_index")

    def __init__(self, element: etree._Element) -> None:
        self.element = element
        self._index: dict[str, list[_Node]] | None = None

    def children(self, name: str) -> Sequence[_Node]:
        index = self._index
        if index is None:
            index = {}
            for child in self.element:
                if isinstance(child.tag, str) and (child_name := reference_name(child)):
                    index.setdefault(child_name, []).append(_Node(child))
            self._index = index
        return index.get(name, _NO_NODES)


def _children(node: _Node, name: str) -> Iterator[_Node]:
    return iter(node.children(name))


def _child(node: _Node | None, name: str) -> _Node | None:
    if node is None:
        return None
    found = node.children(name)
    return found[0] if found else None


def _text(node: _Node | None, name: str) -> str | None:
    child = _child(node, name)
    if child is None:
        return None
    text = _all_text(child)
    return " ".join(text.split()) or None


# --- extraction ------------------------------------------------------------------------


def parse_product(element: etree._Element) -> OnixProduct:
    """Read the parts of one <Product> element the conversion uses."""
    product = _Node(element)
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
    form_details = tuple(t for el in _children(detail, "ProductFormDetail") if (t := _all_text(el)))
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
        original_title=_original_title(detail),
        series=_series(detail),
        country=_text(publishing, "CountryOfPublication"),
        audiences=tuple(
            value
            for audience in _children(detail, "Audience")
            if _text(audience, "AudienceCodeType") == "01"
            and (value := _text(audience, "AudienceCodeValue"))
        ),
        subjects=_subjects(detail),
        accessibility=tuple(
            value
            for feature in _children(detail, "ProductFormFeature")
            if _text(feature, "ProductFormFeatureType") == "09"
            and (value := _text(feature, "ProductFormFeatureValue"))
        ),
        identifier_types=tuple(t for t in ids if t),
        source_hash=hashlib.sha256(etree.tostring(element)).hexdigest()[:16],
    )


def _original_title(detail: _Node) -> str | None:
    """The title in the original language (List 15 type 03), for 240 / "Alkuteos"."""
    for title_detail in _children(detail, "TitleDetail"):
        if _text(title_detail, "TitleType") != "03":
            continue
        for element in _children(title_detail, "TitleElement"):
            prefix = _text(element, "TitlePrefix")
            without = _text(element, "TitleWithoutPrefix")
            text = _text(element, "TitleText")
            if without:
                text = f"{prefix} {without}" if prefix else without
            if text:
                return text
    return None


def _series(detail: _Node) -> tuple[Series, ...]:
    """Series from <Collection> (publisher's collection, type 10, is controlled) and from
    collection-level title elements in the product's own TitleDetail."""
    out: list[Series] = []
    for collection in _children(detail, "Collection"):
        number = None
        for sequence in _children(collection, "CollectionSequence"):
            if _text(sequence, "CollectionSequenceType") in ("02", "03", "01"):
                number = _text(sequence, "CollectionSequenceNumber")
                break
        for title_detail in _children(collection, "TitleDetail"):
            for element in _children(title_detail, "TitleElement"):
                if _text(element, "TitleElementLevel") not in (None, "02", "03"):
                    continue
                title = _text(element, "TitleText") or _text(element, "TitleWithoutPrefix")
                if title:
                    out.append(
                        Series(
                            title=title,
                            number=number or _text(element, "PartNumber"),
                            controlled=_text(collection, "CollectionType") == "10",
                        )
                    )
                break
            break
    for title_detail in _children(detail, "TitleDetail"):
        if _text(title_detail, "TitleType") not in (None, "01"):
            continue
        for element in _children(title_detail, "TitleElement"):
            if _text(element, "TitleElementLevel") != "02":
                continue
            title = _text(element, "TitleText") or _text(element, "TitleWithoutPrefix")
            if title and all(s.title != title for s in out):
                out.append(Series(title, _text(element, "PartNumber"), controlled=True))
    return tuple(out)


def _subjects(detail: _Node) -> tuple[Subject, ...]:
    return tuple(
        Subject(
            scheme=_text(subject, "SubjectSchemeIdentifier") or "",
            code=_text(subject, "SubjectCode"),
            text=_text(subject, "SubjectHeadingText"),
            scheme_name=_text(subject, "SubjectSchemeName"),
        )
        for subject in _children(detail, "Subject")
    )


def _title(detail: _Node) -> tuple[str | None, str | None, str | None]:
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


def _contributors(detail: _Node) -> tuple[Contributor, ...]:
    out = []
    for index, el in enumerate(_children(detail, "Contributor")):
        roles = tuple(t for r in _children(el, "ContributorRole") if (t := _all_text(r)))
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


def _extent(detail: _Node) -> tuple[int | None, int | None]:
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


def _publication_date(publishing: _Node | None) -> str | None:
    if publishing is None:
        return None
    for pub_date in _children(publishing, "PublishingDate"):
        if _text(pub_date, "PublishingDateRole") in ("01", "11", "19"):
            return _text(pub_date, "Date")
    return None


def _description(product: _Node) -> str | None:
    collateral = _child(product, "CollateralDetail")
    if collateral is None:
        return None
    for content in _children(collateral, "TextContent"):
        if _text(content, "TextType") in ("03", "02"):
            return _text(content, "Text")
    return None


def _keywords(detail: _Node) -> tuple[str, ...]:
    words: list[str] = []
    for subject in _children(detail, "Subject"):
        if _text(subject, "SubjectSchemeIdentifier") == "20":
            text = _text(subject, "SubjectHeadingText") or ""
            words += [w.strip() for w in text.split(";") if w.strip()]
    return tuple(words)


def _urls(product: _Node) -> tuple[str, ...]:
    """Access URLs: Website links on the product, the publisher or the supplier.

    ONIX has no single "access URL" element; Finnish e-lending suppliers put the
    title's page in a Website with a product-specific role (02, 36) or leave it out
    (the converter's url_template then builds one).
    """
    urls: list[str] = []
    for element in product.element.iter(*_tags("Website")):
        website = _Node(element)
        role = _text(website, "WebsiteRole")
        link = _text(website, "WebsiteLink")
        # A placeholder ("TBA", "-", a bare host) is not a link: the record then gets the
        # url_template's or the national resolver's URL instead of being rejected.
        if not link or not HTTP_URL.match(link):
            continue
        if role in (None, "02", "36", "29") and link not in urls:
            urls.append(link)
    return tuple(urls)


# --- conversion ------------------------------------------------------------------------

# ONIX CountryOfPublication (ISO 3166-1) → MARC country code for 008/15-17. The MARC list is
# not ISO 3166: the countries Finnish libraries buy from; anything else is "xx " (unknown).
MARC_COUNTRIES: dict[str, str] = {
    "FI": "fi ", "SE": "sw ", "NO": "no ", "DK": "dk ", "IS": "ic ", "EE": "er ",
    "DE": "gw ", "AT": "au ", "CH": "sz ", "FR": "fr ", "BE": "be ", "NL": "ne ",
    "IT": "it ", "ES": "sp ", "PL": "pl ", "RU": "ru ", "IE": "ie ", "GB": "xxk",
    "US": "xxu", "CA": "xxc", "AU": "at ", "NZ": "nz ",
}  # fmt: skip
# ONIX list 28 audience → 008/22 target audience: children's (j), young adult (d), general (g).
AUDIENCES: dict[str, str] = {"02": "j", "03": "d", "01": "g", "06": "f", "05": "e"}
# ONIX list 27 subject schemes the conversion maps to MARC.
YKL_SCHEMES = ("66", "80")
YSO_SCHEME = "71"
KEYWORD_SCHEME = "20"
# Genre/form terms (SLM) have no list-27 code: suppliers send them under a proprietary
# scheme (24) with this scheme name.
GENRE_SCHEME_NAMES = frozenset({"slm", "slm/fin", "slm/swe"})
# ONIX list 196 accessibility details → 341 access mode (textual / auditory) and a 532 note.
ACCESSIBILITY_NOTES: dict[CatalogueLanguage, dict[str, str]] = {
    "fin": {
        "52": "Kaikki sisältö on luettavissa ilman näköä.",
        "10": "Lukuohjelman saavutettavuusasetuksia ei ole estetty.",
        "11": "Sisällön järjestys on looginen.",
        "13": "Kuville on tekstivastineet.",
        "14": "Sisältö on navigoitavissa sisällysluettelon avulla.",
        "22": "Kieli on merkitty.",
        "24": "Kuvailevat tekstivastineet kaikille ei-koristeellisille kuville.",
        "26": "Tekstin kontrasti on riittävä.",
    },
    "swe": {
        "52": "Allt innehåll kan läsas utan syn.",
        "10": "Läsprogrammets tillgänglighetsinställningar är inte blockerade.",
        "11": "Innehållets ordning är logisk.",
        "13": "Bilderna har textalternativ.",
        "14": "Innehållet kan navigeras via innehållsförteckningen.",
        "22": "Språket är angivet.",
        "24": "Beskrivande textalternativ för alla icke-dekorativa bilder.",
        "26": "Textens kontrast är tillräcklig.",
    },
}
MACHINE_NOTE: dict[CatalogueLanguage, str] = {
    "fin": "Koneellisesti tuotettu tietue.",
    "swe": "Maskinellt producerad post.",
}
NARRATOR_NOTE: dict[CatalogueLanguage, str] = {"fin": "Lukija", "swe": "Uppläsare"}
ORIGINAL_NOTE: dict[CatalogueLanguage, str] = {"fin": "Alkuteos", "swe": "Originaltitel"}
RESOLVER = RESOLVER_PREFIX + "{isbn}"
TRANSFORMATION = "ONIX3 to MARC transformation"
_TERMINAL = (".", "?", "!", "-")


def _end(text: str, mark: str = ".") -> str:
    """``text`` ending in ISBD ``mark``, unless it already ends in terminal punctuation."""
    text = text.rstrip()
    if mark == "." and text.endswith(_TERMINAL):
        return text
    return text + mark


def _sep(text: str, mark: str) -> str:
    """``text`` followed by an ISBD separator (" :", " /", " ;", ",")."""
    text = text.rstrip()
    if mark == ",":
        return text if text.endswith((",", "-")) else text + ","
    return f"{text.rstrip(' .')} {mark}" if text.endswith(".") and mark != "." else f"{text} {mark}"


def product_to_record(
    product: OnixProduct,
    *,
    url_template: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
    converted: date | None = None,
) -> Record:
    """Build the MARC 21 record for one digital product, by the National Library of
    Finland's ONIX transformer's conventions: RDA with ISBD punctuation (leader/18 "i").

    url_template, e.g. "https://lainaa.example.fi/book/{isbn}", supplies an access URL when
    the supplier's ONIX carries none (or a placeholder); without one the national resolver
    (``http://urn.fi/URN:ISBN:<isbn>``) is used. ``converted`` is the date written to 884 $g
    (today when not given); the store's content hash leaves it out, so a re-conversion of the
    same product is not a change.
    """
    if product.product_form not in E_TEXT_FORMS | AUDIO_FORMS:
        raise OnixError(
            f"product {product.reference!r}: form {product.product_form!r} is not an "
            "e-book (EA/EB/EC/ED) or e-audiobook (AJ/AN)"
        )
    raw_isbn = product.isbn13 or product.isbn10
    isbn = (normalise_isbn(raw_isbn) or raw_isbn) if raw_isbn else None
    if not isbn:
        kinds = ", ".join(product.identifier_types) or "none"
        raise OnixError(
            f"product {product.reference!r} cannot be identified: no ISBN (ONIX identifier "
            f"types it has: {kinds})"
        )
    kind = product.kind
    language = product.languages[0] if product.languages else None
    lang = marc21.catalogue_language(language)
    year = (product.publication_date or "")[:4] or None
    record = marc21.new_record(marc21.leader(kind, punctuated=True))
    if product.reference:
        record.add_field(Field(tag="001", data=product.reference))
    record.add_field(marc21.field_006(kind))
    record.add_field(*marc21.fields_007(kind))
    record.add_field(
        marc21.field_008(
            kind=kind,
            year=year,
            language=language,
            entered=_entered(product.publication_date),
            country=MARC_COUNTRIES.get((product.country or "").upper(), "xx ")
            if product.country
            else "fi ",
            audience=next((AUDIENCES[a] for a in product.audiences if a in AUDIENCES), " "),
        )
    )
    record.add_field(*_fields_020(product))
    record.add_field(marc21.field_040(lang, agency))
    record.add_field(*_field_041(product, kind))
    record.add_field(*_classification(product))
    main = _main_entry(product)
    record.add_field(*_name_fields(product, lang))
    if product.original_title and main is not None:
        record.add_field(
            Field(
                tag="240",
                indicators=Indicators("1", "0"),
                subfields=[Subfield("a", _end(product.original_title))],
            )
        )
    record.add_field(_field_245(product, lang))
    if product.edition:
        record.add_field(
            Field(
                tag="250",
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", _end(_edition(product.edition, lang)))],
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
    record.add_field(*_accessibility(product, lang))
    if kind == "audio":
        record.add_field(marc21.field_344(lang))
    record.add_field(marc21.field_347(kind, lang, product.encoding_format))
    for series in product.series:
        subfields = [Subfield("a", _sep(series.title, ";") if series.number else series.title)]
        if series.number:
            subfields.append(Subfield("v", series.number))
        record.add_field(Field(tag="490", indicators=Indicators("0", " "), subfields=subfields))
    record.add_field(
        Field(
            tag="500",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", MACHINE_NOTE[lang])],
        )
    )
    if product.original_title and main is None:
        note = f"{ORIGINAL_NOTE[lang]}: {_end(product.original_title)}"
        record.add_field(
            Field(tag="500", indicators=Indicators(" ", " "), subfields=[Subfield("a", note)])
        )
    narrators = [c.display for c in product.contributors if "E07" in c.roles and c.display]
    if narrators:
        note = f"{NARRATOR_NOTE[lang]}: {_end(', '.join(narrators))}"
        record.add_field(
            Field(tag="511", indicators=Indicators("0", " "), subfields=[Subfield("a", note)])
        )
    if product.description:
        # The publisher's description is copyrighted: it stays in the consortium's own
        # records and exports, and the Melinda adapter leaves it out.
        record.add_field(
            Field(
                tag="520",
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", product.description)],
            )
        )
    record.add_field(*_accessibility_notes(product, lang))
    record.add_field(*_subject_fields(product, lang))
    record.add_field(*_series_entries(product))
    urls = list(product.urls)
    if not urls:
        if url_template:
            urls.append(url_template.format(isbn=isbn, reference=product.reference))
        else:
            # The national resolver's URN:ISBN takes the hyphenated ISBN.
            urls.append(RESOLVER.format(isbn=hyphenated_isbn(isbn)))
    for url in urls:
        record.add_field(marc21.field_856(url, lang))
    when = (converted or date.today()).strftime("%Y%m%d")
    record.add_field(
        Field(
            tag="884",
            indicators=Indicators(" ", " "),
            subfields=[
                Subfield("a", TRANSFORMATION),
                Subfield("g", when),
                Subfield("k", f"{product.reference}:{product.source_hash}"),
                Subfield("q", agency),
                Subfield("5", "MELINDA"),
            ],
        )
    )
    # Fields go in tag order; the stable sort keeps repeated fields in their given order.
    record.fields.sort(key=lambda f: f.tag)
    return record


def element_to_record(
    element: etree._Element,
    *,
    url_template: str | None = None,
    agency: str = marc21.DEFAULT_AGENCY,
    converted: date | None = None,
) -> Record:
    return product_to_record(
        parse_product(element), url_template=url_template, agency=agency, converted=converted
    )


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


def _fields_020(product: OnixProduct) -> list[Field]:
    """020 $a the hyphenated ISBN, $q the file format; an ISBN-10 the supplier also gives
    is kept in its own 020, not overwritten by the ISBN-13."""
    out = []
    for value in (product.isbn13, product.isbn10):
        if not value:
            continue
        subfields = [Subfield("a", hyphenated_isbn(value))]
        if product.encoding_format:
            subfields.append(Subfield("q", product.encoding_format))
        out.append(Field(tag="020", indicators=Indicators(" ", " "), subfields=subfields))
    return out


def _field_041(product: OnixProduct, kind: Kind) -> list[Field]:
    if not product.languages:
        return []
    # Spoken-word language goes in $d for audiobooks, text language in $a.
    code = "d" if kind == "audio" else "a"
    subfields = [Subfield(code, lang) for lang in product.languages]
    subfields += [Subfield("h", lang) for lang in product.original_languages]
    first = "1" if product.original_languages else "0"
    return [Field(tag="041", indicators=Indicators(first, " "), subfields=subfields)]


def _classification(product: OnixProduct) -> list[Field]:
    out = []
    for subject in product.subjects:
        if subject.scheme in YKL_SCHEMES and subject.code:
            out.append(
                Field(
                    tag="084",
                    indicators=Indicators(" ", " "),
                    subfields=[Subfield("a", subject.code), Subfield("2", "ykl")],
                )
            )
    return out


def _subject_fields(product: OnixProduct, lang: CatalogueLanguage) -> list[Field]:
    out = []
    for subject in product.subjects:
        if subject.scheme == YSO_SCHEME and subject.text:
            subfields = [Subfield("a", subject.text), Subfield("2", f"yso/{lang}")]
            if subject.code:
                code = subject.code
                if not code.startswith("http"):
                    code = f"http://www.yso.fi/onto/yso/{code}"
                subfields.append(Subfield("0", code))
            out.append(Field(tag="650", indicators=Indicators(" ", "7"), subfields=subfields))
        elif (subject.scheme_name or "").lower() in GENRE_SCHEME_NAMES and subject.text:
            out.append(
                Field(
                    tag="655",
                    indicators=Indicators(" ", "7"),
                    subfields=[Subfield("a", subject.text), Subfield("2", f"slm/{lang}")],
                )
            )
    for keyword in product.keywords:
        out.append(
            Field(tag="653", indicators=Indicators(" ", " "), subfields=[Subfield("a", keyword)])
        )
    return out


def _accessibility(product: OnixProduct, lang: CatalogueLanguage) -> list[Field]:
    if not product.accessibility:
        return []
    mode = "auditory" if product.kind == "audio" else "textual"
    return [Field(tag="341", indicators=Indicators("0", " "), subfields=[Subfield("a", mode)])]


def _accessibility_notes(product: OnixProduct, lang: CatalogueLanguage) -> list[Field]:
    notes = ACCESSIBILITY_NOTES[lang]
    texts = [notes[code] for code in product.accessibility if code in notes]
    if not texts:
        return []
    return [
        Field(
            tag="532", indicators=Indicators("8", " "), subfields=[Subfield("a", " ".join(texts))]
        )
    ]


def _series_entries(product: OnixProduct) -> list[Field]:
    out = []
    for series in product.series:
        if not series.controlled:
            continue
        subfields = [
            Subfield("a", _sep(series.title, ";") if series.number else _end(series.title))
        ]
        if series.number:
            subfields.append(Subfield("v", _end(series.number)))
        out.append(Field(tag="830", indicators=Indicators(" ", "0"), subfields=subfields))
    return out


def _relators(contributor: Contributor, lang: CatalogueLanguage) -> list[Subfield]:
    terms = marc21.RELATOR_TERMS[lang]
    found = [terms[r] for r in contributor.roles if r in terms]
    # "$e kirjoittaja, $e kuvittaja." - a comma between terms, a period after the last.
    return [
        Subfield("e", _end(term) if i == len(found) - 1 else _sep(term, ","))
        for i, term in enumerate(found)
    ]


def _name_field(tag_person: str, contributor: Contributor, lang: CatalogueLanguage) -> Field:
    relators = _relators(contributor, lang)
    if contributor.corporate and not (contributor.inverted or contributor.direct):
        tag = "110" if tag_person == "100" else "710"
        name = _sep(contributor.corporate, ",") if relators else _end(contributor.corporate)
        return Field(
            tag=tag,
            indicators=Indicators("2", " "),
            subfields=[Subfield("a", name), *relators],
        )
    heading = contributor.heading
    # Indicator 1: 1 = surname first, 0 = forename only (e.g. a pseudonym "Tove").
    first = "1" if "," in heading else "0"
    name = _sep(heading, ",") if relators else _end(heading)
    return Field(
        tag=tag_person,
        indicators=Indicators(first, " "),
        subfields=[Subfield("a", name), *relators],
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
    """245 $a title, $b subtitle, $c statement of responsibility, with ISBD punctuation:
    ``$a Title : $b subtitle / $c Author.``; title and subtitle are never joined in $a."""
    has_main = _main_entry(product) is not None
    nonfiling = str(len(product.title_prefix) + 1) if product.title_prefix else "0"
    statement = _statement_of_responsibility(product, lang)
    parts: list[tuple[str, str]] = [("a", product.title)]
    if product.subtitle:
        parts.append(("b", product.subtitle))
    if statement:
        parts.append(("c", statement))
    subfields = []
    for index, (code, value) in enumerate(parts):
        following = parts[index + 1][0] if index + 1 < len(parts) else None
        if following == "b":
            value = _sep(value, ":")
        elif following == "c":
            value = _sep(value, "/")
        else:
            value = _end(value)
        subfields.append(Subfield(code, value))
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
    """``$a Place : $b Publisher, $c 2018.``"""
    place = product.city or marc21.UNKNOWN_PLACE[lang]
    parts: list[tuple[str, str]] = [("a", place)]
    if product.publisher:
        parts.append(("b", product.publisher))
    if year:
        parts.append(("c", year))
    subfields = []
    for index, (code, value) in enumerate(parts):
        following = parts[index + 1][0] if index + 1 < len(parts) else None
        if following == "b":
            value = _sep(value, ":")
        elif following == "c":
            value = _sep(value, ",")
        else:
            value = _end(value)
        subfields.append(Subfield(code, value))
    return Field(tag="264", indicators=Indicators(" ", "1"), subfields=subfields)


def _field_300(product: OnixProduct, lang: CatalogueLanguage) -> Field:
    """``1 verkkoaineisto``; an audiobook's duration ``(6 h 11 min)``; an e-book's pages."""
    extent = marc21.ONLINE_EXTENT[lang]
    if product.kind == "audio" and product.duration_minutes:
        hours, mins = divmod(product.duration_minutes, 60)
        unit = "h" if lang == "fin" else "tim"
        if hours and mins:
            extent += f" ({hours} {unit} {mins} min)"
        elif hours:
            extent += f" ({hours} {unit})"
        else:
            extent += f" ({mins} min)"
    elif product.pages:
        extent += f" ({product.pages} {marc21.PAGES_WORD[lang]})"
    return Field(tag="300", indicators=Indicators(" ", " "), subfields=[Subfield("a", extent)])
