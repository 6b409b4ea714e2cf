"""Realistic MARC 21 (ISO 2709) records of Finnish and Swedish e-books and e-audiobooks,
for benchmarks and streaming tests.

    python -m bench.marc_generator 100000 /tmp/titles.mrc
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

from pymarc import Field, Indicators, Record, Subfield

from services.catalogue.formats import marc21
from services.catalogue.profile import isbn13_check_digit

FIRST_NAMES = ("Aino", "Eino", "Helmi", "Juhani", "Kaisa", "Leena", "Matti", "Sofia", "Ulla")
LAST_NAMES = ("Virtanen", "Korhonen", "Mäkelä", "Nieminen", "Lindqvist", "Holm", "Laine")
WORDS = ("meren", "muisti", "talvi", "kesä", "tarina", "koti", "valo", "yö", "saari", "tie")
PUBLISHERS = ("Kustannus Aalto", "Luontokirjat", "Förlaget Holm Ab", "Historiakirjat")


def isbn_for(number: int) -> str:
    body = f"978952{number:06d}"[:12]
    return body + isbn13_check_digit(body)


def generate_record(number: int, rng: random.Random) -> Record:
    kind: marc21.Kind = "audio" if rng.random() < 0.3 else "text"
    language = "swe" if rng.random() < 0.15 else "fin"
    lang = marc21.catalogue_language(language)
    year = str(rng.randint(1990, 2026))
    isbn = isbn_for(number)
    author = f"{rng.choice(LAST_NAMES)}, {rng.choice(FIRST_NAMES)}"
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))).capitalize()
    record = marc21.new_record(marc21.leader(kind))
    record.add_field(Field(tag="001", data=f"gen{number:09d}"))
    record.add_field(marc21.field_006(kind), *marc21.fields_007(kind))
    record.add_field(
        marc21.field_008(kind=kind, year=year, language=language, entered=None),
        Field(
            tag="020",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", isbn), Subfield("q", "MP3" if kind == "audio" else "EPUB")],
        ),
        marc21.field_040(lang),
        Field(
            tag="041",
            indicators=Indicators("0", " "),
            subfields=[Subfield("d" if kind == "audio" else "a", language)],
        ),
        Field(
            tag="100",
            indicators=Indicators("1", " "),
            subfields=[Subfield("a", author), Subfield("e", marc21.RELATOR_TERMS[lang]["A01"])],
        ),
        Field(tag="245", indicators=Indicators("1", "0"), subfields=[Subfield("a", title)]),
        Field(
            tag="264",
            indicators=Indicators(" ", "1"),
            subfields=[
                Subfield("a", "Helsinki"),
                Subfield("b", rng.choice(PUBLISHERS)),
                Subfield("c", year),
            ],
        ),
        Field(
            tag="300",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", marc21.ONLINE_EXTENT[lang])],
        ),
        *marc21.rda_fields(kind, lang),
        marc21.field_347(kind, lang, "MP3" if kind == "audio" else "EPUB"),
        Field(
            tag="520",
            indicators=Indicators(" ", " "),
            subfields=[Subfield("a", " ".join(rng.choice(WORDS) for _ in range(30)))],
        ),
        marc21.field_856(f"https://lainaa.example.fi/kirja/{isbn}", lang),
    )
    return record


def generate(count: int, seed: int = 0) -> Iterator[Record]:
    rng = random.Random(seed)
    for number in range(count):
        yield generate_record(number, rng)


def write_file(path: Path, count: int, seed: int = 0) -> None:
    with path.open("wb") as out:
        for record in generate(count, seed):
            out.write(record.as_marc())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[0].isdigit():
        print("usage: python -m bench.marc_generator N OUT", file=sys.stderr)
        return 2
    write_file(Path(args[1]), int(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
