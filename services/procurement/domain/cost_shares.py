"""Dividing an agreement's annual cost among its participants.

Models:

- ``per-capita``: in proportion to population served;
- ``base-plus-per-capita``: every participant pays the same base fee, and what is left of
  the total is divided per capita;
- ``equal``: the same share each.

Shares are integer cents, never negative, and add up exactly to the total. The exact
(fractional) quotas are rounded by the largest-remainder (Hamilton) method: everyone gets
the floor of their quota, and the cents left over go one each to the largest fractional
remainders. Equal remainders are broken by ISIL in ascending order, so the table never
depends on the order the participants came in. When every participant has population 0,
per-capita division falls back to equal shares rather than dividing by zero.

Under per-capita and base-plus-per-capita a larger population never pays less: its quota is
larger, so its floor is at least as large, and on equal floors its remainder is larger.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ._checks import coerce_enum, require_int, require_text
from .errors import DuplicateEntry, InvalidValue, NotPermitted
from .vocabulary import LicenceModel, check_isil


class CostShareModel(StrEnum):
    PER_CAPITA = "per-capita"
    BASE_PLUS_PER_CAPITA = "base-plus-per-capita"
    EQUAL = "equal"


@dataclass(frozen=True, slots=True)
class CostSharePolicy:
    model: CostShareModel
    #: Cents each participant pays before the per-capita part; only for base-plus-per-capita.
    base_fee_cents: int = 0

    def __post_init__(self) -> None:
        model = coerce_enum("cost_share.model", CostShareModel, self.model)
        object.__setattr__(self, "model", model)
        require_int("cost_share.base_fee_cents", self.base_fee_cents, minimum=0)
        if model is not CostShareModel.BASE_PLUS_PER_CAPITA and self.base_fee_cents:
            raise InvalidValue(
                "cost_share.base_fee_cents",
                f"only applies to {CostShareModel.BASE_PLUS_PER_CAPITA}",
            )


def check_cost_model_fits(model: CostShareModel | str, price_model: LicenceModel | str) -> None:
    """Refuse a cost model that cannot divide the price model's costs."""
    model = CostShareModel(model)
    price_model = LicenceModel(price_model)
    if price_model is LicenceModel.PER_LOAN:
        raise NotPermitted(
            "cost_share.model",
            f"{model.value} cannot divide {price_model.value} prices: each library pays for "
            "its own loans, which needs usage figures procurement does not have yet",
        )


@dataclass(frozen=True, slots=True)
class Participant:
    isil: str
    name: str
    population: int

    def __post_init__(self) -> None:
        check_isil("isil", self.isil)
        require_text("name", self.name, max_length=500)
        require_int("population", self.population, minimum=0)


@dataclass(frozen=True, slots=True)
class CostShare:
    isil: str
    name: str
    population: int
    share_cents: int


def largest_remainder(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` cents in proportion to ``weights`` (key → non-negative weight).

    Keys break ties between equal remainders, in ascending order. All-zero weights split
    equally.
    """
    require_int("total_cents", total, minimum=0)
    if not weights:
        return {}
    if sum(weights.values()) == 0:
        weights = dict.fromkeys(weights, 1)
    whole = sum(weights.values())
    floors: dict[str, int] = {}
    remainders: dict[str, int] = {}
    for key, weight in weights.items():
        floors[key], remainders[key] = divmod(total * weight, whole)
    leftover = total - sum(floors.values())
    for key in sorted(weights, key=lambda k: (-remainders[k], k))[:leftover]:
        floors[key] += 1
    return floors


def compute_cost_shares(
    total_cents: int, participants: Iterable[Participant], policy: CostSharePolicy
) -> tuple[CostShare, ...]:
    """The cost-share table, ordered by ISIL.

    With no participants there is nobody to charge, and the table is empty.
    """
    require_int("annual_cost_cents", total_cents, minimum=0)
    people: Sequence[Participant] = tuple(participants)
    by_isil: dict[str, Participant] = {}
    for p in people:
        if p.isil in by_isil:
            raise DuplicateEntry("participants", f"{p.isil} appears twice")
        by_isil[p.isil] = p
    if not by_isil:
        return ()

    base = 0
    if policy.model is CostShareModel.EQUAL:
        weights = dict.fromkeys(by_isil, 1)
    else:
        weights = {isil: p.population for isil, p in by_isil.items()}
        if policy.model is CostShareModel.BASE_PLUS_PER_CAPITA:
            base = policy.base_fee_cents
            if base * len(by_isil) > total_cents:
                raise InvalidValue(
                    "cost_share.base_fee_cents",
                    f"{len(by_isil)} base fees of {base} exceed the total {total_cents}",
                )
    split = largest_remainder(total_cents - base * len(by_isil), weights)
    return tuple(
        CostShare(p.isil, p.name, p.population, base + split[isil])
        for isil, p in sorted(by_isil.items())
    )


def format_euros(cents: int) -> str:
    """Cents as euros with two decimals and a point, e.g. 123456 → ``1234.56``."""
    require_int("cents", cents, minimum=0)
    return f"{cents // 100}.{cents % 100:02d}"


#: Characters that make a spreadsheet read a cell as a formula (or hide text before one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> str:
    """Text safe to open in a spreadsheet: a cell starting a formula is prefixed with '."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_HEADER = ("isil", "name", "population", "share_cents", "share_eur")


def render_cost_shares_csv(shares: Iterable[CostShare]) -> str:
    """The table as RFC 4180 CSV text (CRLF line ends), header first, every cell
    neutralised against spreadsheet formulas."""
    buffer = io.StringIO()  # in memory only: the caller decides where the text goes
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for s in shares:
        row = (s.isil, s.name, s.population, s.share_cents, format_euros(s.share_cents))
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()
