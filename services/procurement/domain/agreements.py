"""Framework agreements, their periods (after FOLIO) and their end.

Dates: a period's ``start`` and ``end`` are both days in force (inclusive), as in FOLIO.
An *end date* of an agreement or a participation is different: it is the *effective date*,
the first day no longer in force. So an agreement whose last period ends on 31 December
expires with effective date 1 January, and a termination effective 1 March leaves the
agreement in force to the end of February. Effective dates match membership's notice dates,
which keeps "a library leaving the consortium on D leaves its agreements on D" exact.

States: ``active`` → ``ended``. A termination with a future effective date is *scheduled*:
the agreement stays active until :func:`due_to_end` reports it on that date.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ._checks import coerce_enum, coerce_enum_set, require_date, require_int, require_text
from .appeals import Appeal, check_appeals_allow_signing
from .awards import Award
from .bids import Bid, Supplier
from .cost_shares import CostSharePolicy, check_cost_model_fits
from .errors import IllegalTransition, InvalidValue, NotPermitted
from .licence_terms import LicenceTerms, TermComparisonRow, compare_terms
from .needs import Need
from .tenders import Tender, TenderState, lot_of
from .thresholds import ThresholdTable, default_table
from .vocabulary import LicenceModel, MaterialType

ONE_DAY = timedelta(days=1)


class AgreementState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class EndKind(StrEnum):
    EXPIRY = "expiry"
    TERMINATION = "termination"


def add_months(day: date, months: int) -> date:
    """Same day of month ``months`` later, clamped to the month's last day (31 Jan + 1 → 28/29
    Feb), so period lengths in months stay calendar-true."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    #: Last day in force (inclusive).
    end: date
    #: Last day on which notice can be given to leave at the end of this period.
    cancellation_deadline: date

    def __post_init__(self) -> None:
        require_date("period.start", self.start)
        require_date("period.end", self.end)
        require_date("period.cancellation_deadline", self.cancellation_deadline)
        if self.end < self.start:
            raise InvalidValue("period.end", "must not be before the start")
        if not self.start <= self.cancellation_deadline <= self.end:
            raise InvalidValue("period.cancellation_deadline", "must lie within the period")

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


MAX_EXTENSION_OPTIONS = 4
MAX_EXTENSION_MONTHS = 24


@dataclass(frozen=True, slots=True)
class ExtensionOptions:
    """How many times, and by how many months each, the agreement may be renewed.

    Bounded to what real e-material agreements hold (at most four options of at most two
    years); the framework-length rule of the threshold class applies on top."""

    count: int = 0
    months: int = 12

    def __post_init__(self) -> None:
        require_int("extension_options.count", self.count, minimum=0, maximum=MAX_EXTENSION_OPTIONS)
        require_int(
            "extension_options.months", self.months, minimum=1, maximum=MAX_EXTENSION_MONTHS
        )


@dataclass(frozen=True, slots=True)
class AgreementEnd:
    kind: EndKind
    #: Effective date: the first day no longer in force.
    effective_on: date
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Agreement:
    id: str
    tender_id: str
    bid_id: str
    supplier: Supplier
    product: str
    material_types: frozenset[MaterialType]
    price_model: LicenceModel
    terms: LicenceTerms
    periods: tuple[Period, ...]
    extension_options: ExtensionOptions
    annual_cost_cents: int
    cost_share: CostSharePolicy
    signed_on: date
    state: AgreementState = AgreementState.ACTIVE
    #: While active: a scheduled termination, if any. Once ended: how and when it ended.
    end: AgreementEnd | None = None
    #: Why the annual cost differs from the awarded bid's price, when it does.
    price_amendment: str | None = None
    #: Why the framework may run longer than its threshold class allows, when it does.
    framework_justification: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "tender_id", "bid_id"):
            require_text(name, getattr(self, name), max_length=100)
        require_text("product", self.product, max_length=500)
        set_ = object.__setattr__
        set_(
            self,
            "material_types",
            coerce_enum_set("material_types", MaterialType, self.material_types),
        )
        set_(self, "price_model", coerce_enum("price_model", LicenceModel, self.price_model))
        set_(self, "state", coerce_enum("state", AgreementState, self.state))
        require_int("annual_cost_cents", self.annual_cost_cents, minimum=0)
        require_date("signed_on", self.signed_on)
        periods = tuple(self.periods)
        if not periods:
            raise InvalidValue("periods", "an agreement has at least one period")
        for before, after in zip(periods, periods[1:], strict=False):
            if after.start <= before.end:
                raise InvalidValue("periods", "must be in order and must not overlap")
        if len(periods) - 1 > self.extension_options.count:
            raise InvalidValue("periods", "more renewals than the extension options allow")
        set_(self, "periods", periods)
        if self.state is AgreementState.ENDED and self.end is None:
            raise InvalidValue("end", "an ended agreement records how it ended")

    @property
    def first_period(self) -> Period:
        return self.periods[0]

    @property
    def last_period(self) -> Period:
        return self.periods[-1]

    @property
    def renewals_left(self) -> int:
        return self.extension_options.count - (len(self.periods) - 1)

    @property
    def expires_on(self) -> date:
        """Effective date of expiry if nothing else happens: the day after the last period."""
        return self.last_period.end + ONE_DAY

    @property
    def scheduled_end(self) -> AgreementEnd | None:
        return self.end if self.state is AgreementState.ACTIVE else None

    def period_on(self, day: date) -> Period | None:
        return next((p for p in self.periods if p.contains(day)), None)

    def is_in_force_on(self, day: date) -> bool:
        if self.period_on(day) is None:
            return False
        return self.end is None or day < self.end.effective_on


def sign_agreement(
    *,
    agreement_id: str,
    tender: Tender,
    award: Award,
    bid: Bid,
    needs: Iterable[Need],
    first_period: Period,
    extension_options: ExtensionOptions,
    annual_cost_cents: int | None,
    cost_share: CostSharePolicy,
    signed_on: date,
    today: date,
    appeals: Iterable[Appeal] = (),
    price_amendment: str | None = None,
    framework_justification: str | None = None,
    table: ThresholdTable | None = None,
) -> Agreement:
    """Make the framework agreement from the awarded bid; it inherits the bid's terms and,
    for an annual fee, its price.

    Refused before the standstill has ended, while a suspending appeal is pending or after
    an appeal was upheld; ``signed_on`` is never before the decision nor the standstill's
    end, nor after today. An EU-class framework runs at most the table's maximum (four
    years), extension options included, unless ``framework_justification`` says why. An
    annual cost other than the awarded annual fee needs ``price_amendment``; under other
    price models the annual cost is the budgeted spend and must be given."""
    if tender.state is not TenderState.AWARDED:
        raise IllegalTransition("tender", tender.state.value, "sign an agreement for")
    # A tender divided into lots has one award and one agreement per lot; the tender's
    # awarded_bid_id is only the first lot's.
    if award.tender_id != tender.id or (not tender.lots and award.bid_id != tender.awarded_bid_id):
        raise InvalidValue("award", f"is not the award of tender {tender.id}")
    lot = lot_of(tender, award.lot_id)
    if bid.id != award.bid_id or bid.tender_id != tender.id:
        raise InvalidValue("bid_id", f"{bid.id} is not the awarded bid {award.bid_id}")
    needs = tuple(needs)
    if {n.id for n in needs} != set(lot.need_ids):
        raise InvalidValue("needs", "must be exactly the tender's needs (the awarded lot's)")
    if signed_on > first_period.end:
        raise InvalidValue("signed_on", "must not be after the first period ends")
    require_date("today", today)
    if signed_on > today:
        raise InvalidValue("signed_on", "must not be in the future")
    decided_on = (award.served_at or award.awarded_at).date()
    if signed_on < decided_on:
        raise NotPermitted("signed_on", f"must not be before the decision served on {decided_on}")
    if not award.standstill_over(today) or not award.standstill_over(signed_on):
        raise NotPermitted(
            "signed_on",
            f"the standstill runs until {award.standstill_ends_on}; sign on or after it",
        )
    check_appeals_allow_signing(appeals, award.corrected_on)
    check_cost_model_fits(cost_share.model, bid.price_model)
    limit = (table or default_table()).framework_max_months.get(tender.threshold_class)
    longest = first_period.end
    for _ in range(extension_options.count):
        longest = add_months(longest + ONE_DAY, extension_options.months) - ONE_DAY
    if limit is not None and longest >= add_months(first_period.start, limit):
        if framework_justification is None or not framework_justification.strip():
            raise NotPermitted(
                "extension_options",
                f"a {tender.threshold_class.value}-class framework runs at most {limit} months "
                f"with its extensions (would end {longest}); record a framework_justification",
            )
    else:
        framework_justification = None
    if bid.price_model is LicenceModel.ANNUAL_FEE:
        if annual_cost_cents is None:
            annual_cost_cents = bid.price_cents
        if annual_cost_cents != bid.price_cents:
            if price_amendment is None or not price_amendment.strip():
                raise NotPermitted(
                    "annual_cost_cents",
                    f"{annual_cost_cents} differs from the awarded bid's price "
                    f"{bid.price_cents}; record a price_amendment",
                )
        else:
            price_amendment = None
    elif annual_cost_cents is None:
        raise InvalidValue(
            "annual_cost_cents",
            f"required: the bid is priced {bid.price_model.value}, so give the budgeted spend",
        )
    return Agreement(
        id=agreement_id,
        tender_id=tender.id,
        bid_id=bid.id,
        supplier=bid.supplier,
        product=bid.product,
        material_types=frozenset(n.material_type for n in needs),
        price_model=bid.price_model,
        terms=bid.terms,
        periods=(first_period,),
        extension_options=extension_options,
        annual_cost_cents=annual_cost_cents,
        cost_share=cost_share,
        signed_on=signed_on,
        price_amendment=price_amendment,
        framework_justification=framework_justification,
    )


def renew_agreement(
    agreement: Agreement, today: date, cancellation_deadline: date | None = None
) -> Agreement:
    """Open the next period, straight after the last one, ``extension_options.months`` long.

    Only while active, before the last period has run out, with an extension option left and
    no termination scheduled. Without an explicit cancellation deadline the new period keeps
    the previous period's notice time (days between deadline and end).
    """
    require_date("today", today)
    if agreement.state is not AgreementState.ACTIVE:
        raise IllegalTransition("agreement", agreement.state.value, "renew")
    if agreement.end is not None:
        raise NotPermitted("end", f"termination is scheduled for {agreement.end.effective_on}")
    if agreement.renewals_left <= 0:
        raise NotPermitted("extension_options", "no extension options left")
    last = agreement.last_period
    if today > last.end:
        raise NotPermitted("today", f"the last period ended on {last.end}; it cannot be renewed")
    start = last.end + ONE_DAY
    end = add_months(start, agreement.extension_options.months) - ONE_DAY
    if cancellation_deadline is None:
        cancellation_deadline = max(start, end - (last.end - last.cancellation_deadline))
    period = Period(start, end, cancellation_deadline)
    return dataclasses.replace(agreement, periods=(*agreement.periods, period))


def terminate_agreement(
    agreement: Agreement, effective_on: date, reason: str, today: date
) -> Agreement:
    """Terminate from ``effective_on`` (today or later). A future date is scheduled and
    reported by :func:`due_to_end` on that date; today ends it at once."""
    require_date("effective_on", effective_on)
    require_date("today", today)
    require_text("reason", reason)
    if agreement.state is not AgreementState.ACTIVE:
        raise IllegalTransition("agreement", agreement.state.value, "terminate")
    if agreement.end is not None:
        raise NotPermitted("end", f"termination already scheduled for {agreement.end.effective_on}")
    if effective_on < today:
        raise NotPermitted("effective_on", "cannot be in the past")
    if effective_on > agreement.expires_on:
        raise NotPermitted("effective_on", f"the agreement expires on {agreement.expires_on}")
    end = AgreementEnd(EndKind.TERMINATION, effective_on, reason)
    terminated = dataclasses.replace(agreement, end=end)
    return end_agreement(terminated, today) if effective_on <= today else terminated


def due_end(agreement: Agreement, today: date) -> AgreementEnd | None:
    """How the agreement ends as of ``today``, or ``None`` if it is still in force."""
    if agreement.state is not AgreementState.ACTIVE:
        return None
    scheduled = agreement.end
    if scheduled is not None and scheduled.effective_on <= today:
        return scheduled
    if agreement.expires_on <= today:
        return AgreementEnd(EndKind.EXPIRY, agreement.expires_on)
    return None


def due_to_end(
    agreements: Iterable[Agreement], today: date
) -> tuple[tuple[Agreement, AgreementEnd], ...]:
    """Active agreements whose expiry or scheduled termination has arrived, by id; the
    scheduler ends each with :func:`end_agreement` and emits ``agreement-ended``."""
    require_date("today", today)
    due = ((a, due_end(a, today)) for a in agreements)
    return tuple(sorted(((a, e) for a, e in due if e is not None), key=lambda p: p[0].id))


def end_agreement(agreement: Agreement, today: date) -> Agreement:
    """Move to ``ended`` if the agreement is due to end today (or earlier)."""
    if agreement.state is not AgreementState.ACTIVE:
        raise IllegalTransition("agreement", agreement.state.value, "end")
    end = due_end(agreement, today)
    if end is None:
        raise NotPermitted("today", f"the agreement is in force until {agreement.expires_on}")
    return dataclasses.replace(agreement, state=AgreementState.ENDED, end=end)


def compare_agreements(agreements: Iterable[Agreement]) -> tuple[TermComparisonRow, ...]:
    """Licence terms side by side, keyed by agreement id; see :func:`compare_terms`."""
    return compare_terms({a.id: a.terms for a in agreements})
