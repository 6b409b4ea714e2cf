"""Dividing an agreement's annual cost among its participants.

Models:

- ``per-capita``: in proportion to population served;
- ``base-plus-per-capita``: every participant pays the same base fee, and what is left of
  the total is divided per capita;
- ``equal``: the same share each;
- ``population-bands``: each participant's population falls in a band (up to 5,000
  residents, up to 20,000, …, the open top band) and the band's points are its weight: the
  cost is divided in proportion to the points;
- ``usage``: in proportion to each participant's use of the agreement in the period (see
  :mod:`.usage`): the only model that fits a per-loan price, where each library pays for
  its own loans; it also divides an annual fee or a per-title budget. Without figures for
  the period it refuses (409) rather than guess;
- ``per-resident``: a rate in euros per resident a year; each participant is charged rate ×
  residents, and the total is what the rate charges (rounded half up to the cent). It
  charges a rate instead of dividing a sum, so it fits a budgeted spend (per-title prices)
  and not a supplier's fixed annual fee, which must be shared out in full.

A cost model that does not fit the agreement's price model is refused naming both
(:func:`check_cost_model_fits`).

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
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from ._checks import coerce_enum, require_int, require_text
from .errors import DuplicateEntry, InvalidValue, NotPermitted
from .vocabulary import LicenceModel, check_isil


class CostShareModel(StrEnum):
    PER_CAPITA = "per-capita"
    BASE_PLUS_PER_CAPITA = "base-plus-per-capita"
    EQUAL = "equal"
    POPULATION_BANDS = "population-bands"
    PER_RESIDENT = "per-resident"
    USAGE = "usage"


#: Most bands a population-bands model may have, and the largest points of one band.
MAX_BANDS = 20
MAX_BAND_POINTS = 1_000_000
#: The largest rate per resident a year, in cents (1,000 euros).
MAX_RATE_CENTS = Decimal(100_000)


@dataclass(frozen=True, slots=True)
class PopulationBand:
    #: The largest population in the band (inclusive); None: the open top band.
    up_to: int | None
    #: The band's points: a participant's weight when the cost is divided.
    points: int

    def __post_init__(self) -> None:
        if self.up_to is not None:
            require_int("cost_share.bands.up_to", self.up_to, minimum=0)
        require_int("cost_share.bands.points", self.points, minimum=0, maximum=MAX_BAND_POINTS)


@dataclass(frozen=True, slots=True)
class CostSharePolicy:
    model: CostShareModel
    #: Cents each participant pays before the per-capita part; only for base-plus-per-capita.
    base_fee_cents: int = 0
    #: Cents per resident a year, to the hundredth of a cent; only for per-resident.
    rate_per_resident_cents: Decimal | None = None
    #: Ascending bands, the last open; only for population-bands.
    bands: tuple[PopulationBand, ...] = ()

    def __post_init__(self) -> None:
        model = coerce_enum("cost_share.model", CostShareModel, self.model)
        object.__setattr__(self, "model", model)
        require_int("cost_share.base_fee_cents", self.base_fee_cents, minimum=0)
        if model is not CostShareModel.BASE_PLUS_PER_CAPITA and self.base_fee_cents:
            raise InvalidValue(
                "cost_share.base_fee_cents",
                f"only applies to {CostShareModel.BASE_PLUS_PER_CAPITA}",
            )
        object.__setattr__(self, "rate_per_resident_cents", self._checked_rate(model))
        object.__setattr__(self, "bands", self._checked_bands(model))

    def _checked_rate(self, model: CostShareModel) -> Decimal | None:
        rate = self.rate_per_resident_cents
        if model is not CostShareModel.PER_RESIDENT:
            if rate is not None:
                raise InvalidValue(
                    "cost_share.rate_per_resident_cents",
                    f"only applies to {CostShareModel.PER_RESIDENT}",
                )
            return None
        if rate is None:
            raise InvalidValue(
                "cost_share.rate_per_resident_cents", f"is required for {model.value}"
            )
        if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
            raise InvalidValue("cost_share.rate_per_resident_cents", "must be a decimal number")
        rate = Decimal(rate)
        if not rate.is_finite() or not Decimal(0) < rate <= MAX_RATE_CENTS:
            raise InvalidValue(
                "cost_share.rate_per_resident_cents",
                f"must be more than 0 and at most {MAX_RATE_CENTS}",
            )
        if rate != rate.quantize(Decimal("0.01")):
            raise InvalidValue(
                "cost_share.rate_per_resident_cents", "at most two decimals (a hundredth of a cent)"
            )
        return rate

    def _checked_bands(self, model: CostShareModel) -> tuple[PopulationBand, ...]:
        if isinstance(self.bands, str | bytes):
            raise InvalidValue("cost_share.bands", "must be a list of bands")
        bands = tuple(self.bands)
        if model is not CostShareModel.POPULATION_BANDS:
            if bands:
                raise InvalidValue(
                    "cost_share.bands", f"only applies to {CostShareModel.POPULATION_BANDS}"
                )
            return ()
        if not 1 <= len(bands) <= MAX_BANDS:
            raise InvalidValue("cost_share.bands", f"1 to {MAX_BANDS} bands, got {len(bands)}")
        for n, band in enumerate(bands):
            if not isinstance(band, PopulationBand):
                raise InvalidValue("cost_share.bands", "must be PopulationBand")
            last = n == len(bands) - 1
            if (band.up_to is None) != last:
                raise InvalidValue(
                    "cost_share.bands", "every band but the last has an upper bound (up_to)"
                )
            if n and band.up_to is not None and band.up_to <= (bands[n - 1].up_to or 0):
                raise InvalidValue("cost_share.bands", "upper bounds must ascend")
        if not any(b.points for b in bands):
            raise InvalidValue("cost_share.bands", "at least one band needs points")
        return bands

    def band_points(self, population: int) -> int:
        """The points of the band ``population`` falls in."""
        for band in self.bands:
            if band.up_to is None or population <= band.up_to:
                return band.points
        raise InvalidValue("cost_share.bands", "the last band must be open")  # pragma: no cover

    def weight(self, population: int) -> int:
        """A participant's weight when the cost is divided (per-capita, bands, base-plus)."""
        if self.model is CostShareModel.EQUAL:
            return 1
        if self.model is CostShareModel.POPULATION_BANDS:
            return self.band_points(population)
        return population


#: Which cost models fit which price models. A supplier's annual fee is a fixed sum to share
#: out in full; a per-title price is a budgeted spend, which a rate per resident may also
#: collect; per-loan prices are paid by each library's own loans, so only a division by use
#: fits them.
FITS: Mapping[LicenceModel, frozenset[CostShareModel]] = {
    LicenceModel.ANNUAL_FEE: frozenset(CostShareModel) - {CostShareModel.PER_RESIDENT},
    LicenceModel.PER_TITLE: frozenset(CostShareModel),
    LicenceModel.PER_LOAN: frozenset({CostShareModel.USAGE}),
}


def check_cost_model_fits(model: CostShareModel | str, price_model: LicenceModel | str) -> None:
    """Refuse a cost model that cannot divide the price model's costs, naming both."""
    model = CostShareModel(model)
    price_model = LicenceModel(price_model)
    if model in FITS[price_model]:
        return
    if price_model is LicenceModel.PER_LOAN:
        raise NotPermitted(
            "cost_share.model",
            f"{model.value} cannot divide {price_model.value} prices: each library pays for "
            f"its own loans, so only {CostShareModel.USAGE.value} fits",
        )
    raise NotPermitted(
        "cost_share.model",
        f"{model.value} cannot divide {price_model.value} prices: a fixed fee is shared out in "
        "full, and a rate per resident would charge another sum; fitting models: "
        + ", ".join(sorted(m.value for m in FITS[price_model])),
    )


def round_half_up(value: Fraction) -> int:
    whole, rest = divmod(value.numerator, value.denominator)
    return whole + (1 if 2 * rest >= value.denominator else 0)


def round_quotas(total: int, quotas: Mapping[str, Fraction]) -> dict[str, int]:
    """Exact quotas summing to ``total`` (or, for a rate, to within half a cent of it) →
    whole cents summing to ``total``, by largest remainder; equal remainders go to the
    smaller key first."""
    floors = {k: q.numerator // q.denominator for k, q in quotas.items()}
    remainders = {k: q - floors[k] for k, q in quotas.items()}
    leftover = total - sum(floors.values())
    for key in sorted(quotas, key=lambda k: (-remainders[k], k))[:leftover]:
        floors[key] += 1
    return floors


def rate_quotas(
    policy: CostSharePolicy, resident_years: Mapping[str, Fraction]
) -> dict[str, Fraction]:
    """Exact charges of a per-resident rate: rate × residents × the share of a year."""
    assert policy.rate_per_resident_cents is not None
    rate = Fraction(policy.rate_per_resident_cents)
    return {key: rate * years for key, years in resident_years.items()}


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
    total_cents: int,
    participants: Iterable[Participant],
    policy: CostSharePolicy,
    uses: Mapping[str, int] | None = None,
) -> tuple[CostShare, ...]:
    """The cost-share table, ordered by ISIL. ``uses``: each participant's use, which the
    usage model divides by (required for it, ignored by the others).

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

    if policy.model is CostShareModel.PER_RESIDENT:
        # A rate charges what it charges: the total is the rate's, not the annual cost.
        quotas = rate_quotas(policy, {i: Fraction(p.population) for i, p in by_isil.items()})
        charged = round_quotas(round_half_up(sum(quotas.values(), Fraction(0))), quotas)
        return tuple(
            CostShare(p.isil, p.name, p.population, charged[isil])
            for isil, p in sorted(by_isil.items())
        )
    base = 0
    if policy.model is CostShareModel.USAGE:
        if uses is None:
            raise InvalidValue("usage", "the usage model needs each participant's use")
        weights = {isil: uses.get(isil, 0) for isil in by_isil}
        if not any(weights.values()):
            raise NotPermitted("usage", "no participant used the agreement: nothing to divide by")
    else:
        weights = {isil: policy.weight(p.population) for isil, p in by_isil.items()}
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
