"""Realistic ONIX for Books 3.0 messages (reference tags) of Finnish and Swedish e-books and
e-audiobooks, as an e-lending supplier sends them, for benchmarks and streaming tests.

    python -m bench.onix_generator 50000 /tmp/titles.xml

The mix: EPUB and PDF e-books and MP3 audiobooks, Finnish, Swedish and some English; authors,
translators and readers in both name forms ONIX allows; subjects, descriptions, extents,
publishers, dates and prices; most products carry their lending URL, some leave it to the
ingest's URL template; about 2 % are printed books, which the converter must refuse.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from services.catalogue.profile import isbn13_check_digit

NAMESPACE = "http://ns.editeur.org/onix/3.0/reference"
FIRST_NAMES = ("Aino", "Eino", "Helmi", "Juhani", "Kaisa", "Leena", "Matti", "Sofia", "Ulla-Lena")
LAST_NAMES = ("Virtanen", "Korhonen", "Mäkelä", "Nieminen", "Lindqvist", "Holm", "Laine", "Åberg")
WORDS = {
    "fin": ("meren", "muisti", "talvi", "kesä", "tarina", "koti", "valo", "yö", "saari", "tie"),
    "swe": ("havets", "minne", "vinter", "sommar", "berättelse", "hem", "ljus", "natt", "ö"),
    "eng": ("sea", "memory", "winter", "summer", "story", "home", "light", "night", "island"),
}
PUBLISHERS = ("Kustannus Aalto", "Luontokirjat", "Förlaget Holm Ab", "Historiakirjat")
CITIES = ("Helsinki", "Turku", "Tampere", "Vaasa", "Helsingfors")
SUBJECTS = ("romaanit", "dekkarit", "elämäkerrat", "luonto", "historia", "lasten kirjat")
# (product form, form detail, share)
FORMS = (("EB", "E101", 0.50), ("EB", "E107", 0.10), ("AJ", "A103", 0.38), ("BC", "", 0.02))


def isbn_for(number: int) -> str:
    body = f"978952{number:06d}"[:12]
    return body + isbn13_check_digit(body)


def _pick_form(rng: random.Random) -> tuple[str, str]:
    roll, total = rng.random(), 0.0
    for form, detail, share in FORMS:
        total += share
        if roll < total:
            return form, detail
    return FORMS[0][0], FORMS[0][1]


def _element(name: str, text: str | int) -> str:
    return f"<{name}>{escape(str(text))}</{name}>"


def _contributor(sequence: int, role: str, rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if rng.random() < 0.5:
        names = _element("PersonName", f"{first} {last}") + _element(
            "PersonNameInverted", f"{last}, {first}"
        )
    else:
        names = _element("NamesBeforeKey", first) + _element("KeyNames", last)
    return (
        f"<Contributor>{_element('SequenceNumber', sequence)}"
        f"{_element('ContributorRole', role)}{names}</Contributor>"
    )


def product(number: int, rng: random.Random) -> str:
    """One <Product> element."""
    form, detail = _pick_form(rng)
    language = rng.choices(("fin", "swe", "eng"), weights=(80, 15, 5))[0]
    words = WORDS[language]
    isbn = isbn_for(number)
    title = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))).capitalize()
    year = rng.randint(1995, 2026)
    audio = form == "AJ"
    contributors = [_contributor(1, "A01", rng)]
    translated = language != "eng" and rng.random() < 0.2
    if translated:
        contributors.append(_contributor(len(contributors) + 1, "B06", rng))
    if audio:
        contributors.append(_contributor(len(contributors) + 1, "E07", rng))
    if audio:
        extent = (
            "<Extent><ExtentType>09</ExtentType>"
            f"{_element('ExtentValue', f'{rng.randint(2, 20):03d}{rng.randint(0, 59):02d}')}"
            "<ExtentUnit>15</ExtentUnit></Extent>"
        )
    else:
        extent = (
            "<Extent><ExtentType>00</ExtentType>"
            f"{_element('ExtentValue', rng.randint(60, 640))}<ExtentUnit>03</ExtentUnit></Extent>"
        )
    languages = f"<Language><LanguageRole>01</LanguageRole>{_element('LanguageCode', language)}"
    languages += "</Language>"
    if translated:
        languages += "<Language><LanguageRole>02</LanguageRole><LanguageCode>eng</LanguageCode>"
        languages += "</Language>"
    subtitle = _element("Subtitle", "romaani") if rng.random() < 0.3 else ""
    keywords = "; ".join(rng.sample(SUBJECTS, 3))
    description = " ".join(rng.choice(words) for _ in range(rng.randint(30, 90))).capitalize()
    link = (
        "<Website><WebsiteRole>02</WebsiteRole>"
        f"{_element('WebsiteLink', f'https://lainaa.example.fi/kirja/{isbn}')}</Website>"
        if rng.random() < 0.85
        else ""
    )
    form_detail = _element("ProductFormDetail", detail) if detail else ""
    return (
        "<Product>"
        f"{_element('RecordReference', f'fi.esimerkki.{number:08d}')}"
        "<NotificationType>03</NotificationType>"
        "<ProductIdentifier><ProductIDType>01</ProductIDType>"
        f"{_element('IDValue', f'EJ-{number}')}</ProductIdentifier>"
        f"<ProductIdentifier><ProductIDType>15</ProductIDType>{_element('IDValue', isbn)}"
        "</ProductIdentifier>"
        "<DescriptiveDetail><ProductComposition>00</ProductComposition>"
        f"{_element('ProductForm', form)}{form_detail}"
        "<TitleDetail><TitleType>01</TitleType><TitleElement>"
        f"<TitleElementLevel>01</TitleElementLevel>{_element('TitleText', title)}{subtitle}"
        "</TitleElement></TitleDetail>"
        f"{''.join(contributors)}{languages}{extent}"
        "<Subject><SubjectSchemeIdentifier>20</SubjectSchemeIdentifier>"
        f"{_element('SubjectHeadingText', keywords)}</Subject>"
        "</DescriptiveDetail>"
        "<CollateralDetail><TextContent><TextType>03</TextType>"
        f"<ContentAudience>00</ContentAudience>{_element('Text', description)}"
        "</TextContent></CollateralDetail>"
        "<PublishingDetail><Publisher><PublishingRole>01</PublishingRole>"
        f"{_element('PublisherName', rng.choice(PUBLISHERS))}{link}</Publisher>"
        f"{_element('CityOfPublication', rng.choice(CITIES))}"
        "<PublishingDate><PublishingDateRole>01</PublishingDateRole>"
        f"{_element('Date', f'{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}')}"
        "</PublishingDate></PublishingDetail>"
        "<ProductSupply><SupplyDetail><Supplier><SupplierRole>01</SupplierRole>"
        "<SupplierName>Esimerkkijakelu Oy</SupplierName></Supplier>"
        "<ProductAvailability>20</ProductAvailability>"
        "<Price><PriceType>01</PriceType>"
        f"{_element('PriceAmount', f'{rng.randint(500, 4000) / 100:.2f}')}"
        "<CurrencyCode>EUR</CurrencyCode></Price></SupplyDetail></ProductSupply>"
        "</Product>\n"
    )


def generate(count: int, seed: int = 0) -> Iterator[str]:
    """The message as text chunks: header, one product per chunk, footer."""
    rng = random.Random(seed)
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ONIXMessage release="3.0" xmlns="{NAMESPACE}">\n'
        "<Header><Sender><SenderName>Esimerkkijakelu Oy</SenderName></Sender>"
        "<SentDateTime>20261101T0900</SentDateTime></Header>\n"
    )
    for number in range(count):
        yield product(number, rng)
    yield "</ONIXMessage>\n"


def write_file(path: Path, count: int, seed: int = 0) -> None:
    with path.open("w", encoding="utf-8") as out:
        for chunk in generate(count, seed):
            out.write(chunk)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        print("usage: python -m bench.onix_generator N OUT", file=sys.stderr)
        return 2
    write_file(Path(args[1]), int(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
