"""Municipalities and their official population, with no I/O.

Population is never typed by a library: it is the sum of the Statistics Finland figures (the
population on 31 December of a year) of the municipalities a library or an organisation
serves. The coordinator loads each year's figures from the CSV that Statistics Finland's PxWeb
tables export; a code is valid in a year only if that year's classification has it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.membership.domain import InvalidValue

SHIPPED_FIGURES = Path(__file__).parent / "data" / "municipalities.csv"
CODE = re.compile(r"^\d{3}$")
# "091 Helsinki", "KU091 Helsinki", "091 Helsinki - Helsingfors"
AREA = re.compile(r"^\s*(?:KU)?(\d{3})\s+(.+?)\s*$")
POPULATION_HEADER = re.compile(r"(?:väestö|population|folkmängd).*?(\d{4})", re.IGNORECASE)
YEAR_ONLY = re.compile(r"^\s*(\d{4})\s*$")


@dataclass(frozen=True)
class Municipality:
    code: str
    name_fi: str
    name_sv: str | None
    population: int


@dataclass(frozen=True)
class Figures:
    """The municipalities of one year (the classification) and their population on 31.12."""

    year: int
    municipalities: Mapping[str, Municipality]

    def check(self, codes: Iterable[str], field_name: str = "municipalities") -> list[str]:
        """The codes, sorted, if every one is in this year's classification."""
        codes = list(codes)
        for code in codes:
            if code not in self.municipalities:
                raise InvalidValue(
                    f"{field_name}: municipality code {code!r} is not in Statistics "
                    f"Finland's {self.year} classification",
                    field_name,
                )
        if len(set(codes)) != len(codes):
            raise InvalidValue(f"{field_name}: a municipality is listed twice", field_name)
        return sorted(codes)

    def population_of(self, codes: Iterable[str]) -> int:
        return sum(self.municipalities[code].population for code in codes)


@dataclass(frozen=True)
class Derived:
    """A population figure and where it comes from: official figures of ``year``, or a
    coordinator's documented exception (then ``exception_reason`` says why)."""

    population: int
    year: int | None
    exception_reason: str | None = None


def derive(
    codes: Iterable[str],
    figures: Figures | None,
    exception: tuple[int, str] | None = None,
) -> Derived:
    """The population served: the exception if the coordinator recorded one, else the sum of
    the municipalities' official figures (0 when no figures are loaded)."""
    if exception is not None:
        return Derived(exception[0], figures.year if figures else None, exception[1])
    if figures is None:
        return Derived(0, None)
    known = [code for code in codes if code in figures.municipalities]
    return Derived(figures.population_of(known), figures.year)


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    message: str


@dataclass
class ParsedFigures:
    year: int | None
    rows: list[Municipality] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def _dialect(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return ";" if first.count(";") >= first.count(",") else ","


def parse_pxweb_csv(text: str, year: int | None = None) -> ParsedFigures:
    """Read a PxWeb CSV export of population by municipality.

    Shapes handled: semicolon or comma separated, quoted or not, with
    - one area column (``"091 Helsinki"``) and one population column whose header names the
      year (``"Väestö 31.12.2024"``), or
    - a code column and a name column (``Alue``/``Kunta``, ``Koodi``/``Code``), optionally a
      Swedish name column, and a population column (a header of the year alone, ``2024``,
      also counts), or
    - a year column (``Vuosi``) with one row per area and year; only ``year``'s rows are kept.
    Rows for the whole country (``SSS``/``KOKO MAA``) and other area levels are skipped.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=_dialect(text))
    # PxWeb puts a title line above the header in some exports: the header is the first row
    # with at least two cells.
    header: list[str] = []
    for cells in reader:
        if len([c for c in cells if c.strip()]) >= 2:
            header = [c.strip() for c in cells]
            break
    parsed = ParsedFigures(year=year)
    if not header:
        parsed.problems.append(RowProblem(1, "file", "no header row"))
        return parsed
    lowered = [h.lower() for h in header]

    def column(*names: str) -> int | None:
        for i, h in enumerate(lowered):
            if any(h == n or h.startswith(n) for n in names):
                return i
        return None

    code_col = column("koodi", "code", "kuntanumero", "kod")
    name_col = column("alue", "kunta", "area", "municipality", "region", "område", "kommun")
    sv_col = column("nimi ruotsiksi", "name_sv", "namn", "ruotsi")
    year_col = column("vuosi", "year", "år")
    pop_col: int | None = None
    for i, h in enumerate(header):
        found = POPULATION_HEADER.search(h) or YEAR_ONLY.match(h)
        if found and i not in (code_col, name_col, year_col):
            pop_col = i
            header_year = int(found.group(1))
            if parsed.year is None:
                parsed.year = header_year
            elif year_col is None and header_year != parsed.year:
                # A wide export with several years: take the requested year's column.
                continue
            break
    if pop_col is None:
        pop_col = column("väestö", "population", "folkmängd", "väkiluku", "yhteensä", "total")
    if pop_col is None or name_col is None:
        parsed.problems.append(
            RowProblem(1, "file", f"no area and population columns in header {header}")
        )
        return parsed
    if parsed.year is None:
        parsed.problems.append(RowProblem(1, "year", "the year is neither given nor in the header"))
        return parsed
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        if year_col is not None and cells[year_col].strip() != str(parsed.year):
            continue
        area = cells[name_col].strip()
        if code_col is not None:
            code, name = cells[code_col].strip().removeprefix("KU"), area
        else:
            match = AREA.match(area)
            if not match:
                # The whole country, regions and other area levels have no 3-digit code.
                continue
            code, name = match.group(1), match.group(2)
        if not CODE.match(code):
            if code.upper() in ("SSS", "") or not code.isdigit():
                continue
            parsed.problems.append(RowProblem(number, "code", f"{code!r} is not a 3-digit code"))
            continue
        name_fi, _, name_sv = name.partition(" - ")
        if sv_col is not None and cells[sv_col].strip():
            name_sv = cells[sv_col].strip()
        raw = cells[pop_col].strip().replace(" ", "").replace("\u00a0", "")
        if not raw.isdigit():
            parsed.problems.append(
                RowProblem(number, "population", f"{raw!r} is not a whole number ({code})")
            )
            continue
        if code in seen:
            parsed.problems.append(RowProblem(number, "code", f"{code} is listed twice"))
            continue
        seen.add(code)
        parsed.rows.append(Municipality(code, name_fi.strip(), name_sv.strip() or None, int(raw)))
    if not parsed.rows and not parsed.problems:
        parsed.problems.append(RowProblem(1, "file", "no municipality rows"))
    return parsed


def shipped_figures() -> list[tuple[int, Municipality]]:
    """The figures the repository ships (see the header of the data file for their source)."""
    rows = []
    lines = [
        line
        for line in SHIPPED_FIGURES.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    for record in csv.DictReader(lines, delimiter=";"):
        rows.append(
            (
                int(record["year"]),
                Municipality(
                    record["code"],
                    record["name_fi"],
                    record["name_sv"] or None,
                    int(record["population"]),
                ),
            )
        )
    return rows
