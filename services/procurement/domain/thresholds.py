"""Threshold classes of the Act on Public Procurement (1397/2016), from a dated table.

A tender's class decides which rules apply to it: below the national threshold the
consortium follows its own rules; at or above it the Act applies, and at or above the EU
threshold the EU procedures, the 14-day standstill and the four-year framework limit apply.

The figures live in ``services/procurement/data/thresholds.json`` with the day each row
takes effect and the source it comes from, because thresholds change every two years. The
class follows the row in force on the day the value is estimated; the code holds the rule,
never the numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from types import MappingProxyType

from ._checks import require_date, require_int
from .errors import InvalidValue, NotPermitted

TABLE_FILE = Path(__file__).resolve().parent.parent / "data" / "thresholds.json"


class ThresholdClass(StrEnum):
    BELOW_NATIONAL = "below-national"
    NATIONAL = "national"
    EU = "eu"


class Procedure(StrEnum):
    """Procedures of the Act: open, restricted and negotiated (EU and national), the lighter
    national procedure, and a call-off under an existing framework agreement."""

    OPEN = "open"
    RESTRICTED = "restricted"
    NEGOTIATED = "negotiated"
    NATIONAL = "national"
    CALL_OFF = "call-off"


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    valid_from: date
    national_cents: int
    eu_cents: int
    source: str
    #: True while the figure has not been checked against its source.
    check: bool = True

    def __post_init__(self) -> None:
        require_date("valid_from", self.valid_from)
        require_int("national_cents", self.national_cents, minimum=1)
        require_int("eu_cents", self.eu_cents, minimum=self.national_cents)


@dataclass(frozen=True, slots=True)
class ThresholdTable:
    rows: tuple[ThresholdRow, ...]
    standstill_days: Mapping[ThresholdClass, int]
    #: Longest framework agreement in months per class; a class absent has no limit.
    framework_max_months: Mapping[ThresholdClass, int]

    def __post_init__(self) -> None:
        rows = tuple(sorted(self.rows, key=lambda r: r.valid_from))
        if not rows:
            raise InvalidValue("thresholds", "the table has no rows")
        if len({r.valid_from for r in rows}) != len(rows):
            raise InvalidValue("thresholds", "two rows take effect on the same day")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "standstill_days", MappingProxyType(dict(self.standstill_days)))
        object.__setattr__(
            self, "framework_max_months", MappingProxyType(dict(self.framework_max_months))
        )

    def row_on(self, day: date) -> ThresholdRow:
        """The row in force on ``day``: the latest that took effect on or before it."""
        require_date("day", day)
        in_force = [r for r in self.rows if r.valid_from <= day]
        if not in_force:
            raise NotPermitted(
                "estimated_on", f"no threshold is recorded in force on {day.isoformat()}"
            )
        return in_force[-1]

    def classify(self, estimated_value_cents: int, day: date) -> ThresholdClass:
        """The class of a procurement of ``estimated_value_cents`` (extension options
        included, VAT excluded) estimated on ``day``. A value equal to a threshold reaches it."""
        require_int("estimated_value_cents", estimated_value_cents, minimum=0)
        row = self.row_on(day)
        if estimated_value_cents >= row.eu_cents:
            return ThresholdClass.EU
        if estimated_value_cents >= row.national_cents:
            return ThresholdClass.NATIONAL
        return ThresholdClass.BELOW_NATIONAL

    def standstill(self, threshold_class: ThresholdClass, procedure: Procedure) -> int:
        """Days of standstill after the decision is served. A call-off under an existing
        framework agreement has none."""
        if procedure is Procedure.CALL_OFF:
            return 0
        return self.standstill_days.get(threshold_class, 0)


def parse_table(data: Mapping[str, object]) -> ThresholdTable:
    """Read the table's JSON form (euros, ISO dates) into a :class:`ThresholdTable`."""
    try:
        raw_rows = data["rows"]
        assert isinstance(raw_rows, Sequence)
        rows = tuple(
            ThresholdRow(
                valid_from=date.fromisoformat(r["valid_from"]),
                national_cents=int(r["national_eur"]) * 100,
                eu_cents=int(r["eu_eur"]) * 100,
                source=str(r["source"]),
                check=bool(r.get("check", True)),
            )
            for r in raw_rows
        )
        standstill = data.get("standstill_days", {})
        framework = data.get("framework_max_months", {})
        assert isinstance(standstill, Mapping) and isinstance(framework, Mapping)
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise InvalidValue("thresholds", f"the threshold table is malformed: {exc}") from exc
    classes = {c.value: c for c in ThresholdClass}
    return ThresholdTable(
        rows=rows,
        standstill_days={classes[k]: int(v) for k, v in standstill.items() if k in classes},
        framework_max_months={classes[k]: int(v) for k, v in framework.items() if k in classes},
    )


@cache
def default_table() -> ThresholdTable:
    """The table shipped with the service."""
    return parse_table(json.loads(TABLE_FILE.read_text(encoding="utf-8")))
