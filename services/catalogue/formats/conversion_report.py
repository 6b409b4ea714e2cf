"""How many converted records carry each core field as a Melinda cataloguer would accept it.

A field is *applicable* to a record when Melinda expects it there: the fields every
e-resource has (020, 040, 041, 245, 264, 300, 336-338, 347) always; 240 for a translation
(041 $h); 511 for a spoken-word record; 100, 490 and 700 when the record has them (the
source had no author, series or other contributor otherwise). It is *accepted* when it
has the form the National Library of Finland's ONIX transformer writes: ISBD punctuation,
the hyphenated ISBN with its format, the RDA vocabularies."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pymarc import Field, Record

CORE_TAGS = (
    "020", "040", "041", "100", "240", "245", "264", "300",
    "336", "337", "338", "347", "490", "511", "700",
)  # fmt: skip
ALWAYS = frozenset({"020", "040", "041", "245", "264", "300", "336", "337", "338", "347"})
_ISBD_END = (".", "?", "!", "-", ")", "]")


def _relator_form(f: Field) -> bool:
    names = f.get_subfields("a")
    terms = f.get_subfields("e")
    return bool(names and terms) and names[0].endswith(",") and terms[-1].endswith(".")


def _020(f: Field) -> bool:
    return any("-" in v for v in f.get_subfields("a")) and bool(f.get_subfields("q"))


def _040(f: Field) -> bool:
    return (
        bool(f.get_subfields("b"))
        and f.get_subfields("e") == ["rda"]
        and bool(f.get_subfields("d"))
    )


def _245(f: Field) -> bool:
    values = [sf.value for sf in f.subfields if sf.code in "abc"]
    return bool(values) and values[-1].endswith(_ISBD_END)


def _264(f: Field) -> bool:
    years = f.get_subfields("c")
    return (
        f.indicator2 == "1"
        and bool(f.get_subfields("b"))
        and bool(years)
        and years[-1].endswith(".")
    )


def _300(f: Field) -> bool:
    extent = (f.get_subfields("a") or [""])[0]
    # one parenthesis: "1 verkkoaineisto (6 h 11 min)", not a file count with a nested one
    return extent.startswith(("1 verkkoaineisto", "1 onlineresurs")) and extent.count("(") <= 1


def _vocabulary(name: str) -> Callable[[Field], bool]:
    return lambda f: f.get_subfields("2") == [name] and bool(f.get_subfields("a", "b"))


CHECKS: dict[str, Callable[[Field], bool]] = {
    "020": _020,
    "040": _040,
    "041": lambda f: bool(f.get_subfields("a", "d")),
    "100": _relator_form,
    "240": lambda f: bool(f.get_subfields("a")),
    "245": _245,
    "264": _264,
    "300": _300,
    "336": _vocabulary("rdacontent"),
    "337": _vocabulary("rdamedia"),
    "338": _vocabulary("rdacarrier"),
    "347": lambda f: bool(f.get_subfields("a")) and f.get_subfields("2") == ["rdaft"],
    "490": lambda f: bool(f.get_subfields("a")),
    "511": lambda f: (f.get_subfields("a") or [""])[0].endswith("."),
    "700": _relator_form,
}


def _applicable(record: Record, tag: str) -> bool:
    if tag in ALWAYS:
        return True
    if tag == "240":
        return any(f.get_subfields("h") for f in record.get_fields("041"))
    if tag == "511":
        return record.leader[6] == "i"
    return bool(record.get_fields(tag))


@dataclass
class ConversionReport:
    records: int = 0
    applicable: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CORE_TAGS, 0))
    accepted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CORE_TAGS, 0))

    def add(self, record: Record) -> None:
        self.records += 1
        for tag in CORE_TAGS:
            if not _applicable(record, tag):
                continue
            self.applicable[tag] += 1
            fields = record.get_fields(tag)
            if fields and all(CHECKS[tag](f) for f in fields):
                self.accepted[tag] += 1

    def as_dict(self) -> dict[str, Any]:
        applicable = sum(self.applicable.values())
        accepted = sum(self.accepted.values())
        return {
            "records": self.records,
            "fields": {
                tag: {
                    "applicable": self.applicable[tag],
                    "accepted": self.accepted[tag],
                    "share": round(self.accepted[tag] / self.applicable[tag], 4)
                    if self.applicable[tag]
                    else None,
                }
                for tag in CORE_TAGS
            },
            "core_share": round(accepted / applicable, 4) if applicable else None,
        }


def report(records: Iterable[Record]) -> ConversionReport:
    out = ConversionReport()
    for record in records:
        out.add(record)
    return out
