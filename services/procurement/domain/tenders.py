"""Tenders and their state machine.

::

    draft ──open──▶ open ──start_evaluation──▶ evaluation ──decide──▶ awarded
      │               │                            │                    │
      └───────────────┴────────cancel──────────────┴────────────────────┴──▶ cancelled

"Awarded" means the procurement decision is made and served; the agreement is signed
after the standstill (see :mod:`.decisions`).

Timing rules, so that every bidder has the same chance:

- a tender can be opened only before its deadline;
- bids are accepted only while open and strictly before the deadline;
- evaluation starts only at or after the deadline (bids are not opened early).

Awarding lives in :mod:`.awards` because it needs the scores.

**Lots.** A tender may be divided into lots (Act 1397/2016 section 75), each with its own
needs, award criteria and price model (the price schedule every bid for the lot prices). A
bid answers one lot; scoring and the decision are per lot. A tender without lots is one
lot, :data:`WHOLE_TENDER_LOT`, made of the tender's own needs, criteria and price model
(:func:`lots_of`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from ._checks import coerce_enum, require_aware_datetime, require_int, require_text
from .errors import IllegalTransition, InvalidValue, NotPermitted
from .thresholds import Procedure, ThresholdClass
from .vocabulary import Device, LibrarySystem, LicenceModel


class TenderState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    EVALUATION = "evaluation"
    AWARDED = "awarded"
    CANCELLED = "cancelled"


#: The only moves a tender can make. Cancelled is final; awarded may only be discontinued.
TENDER_TRANSITIONS: Mapping[TenderState, frozenset[TenderState]] = MappingProxyType(
    {
        TenderState.DRAFT: frozenset({TenderState.OPEN, TenderState.CANCELLED}),
        TenderState.OPEN: frozenset({TenderState.EVALUATION, TenderState.CANCELLED}),
        TenderState.EVALUATION: frozenset({TenderState.AWARDED, TenderState.CANCELLED}),
        # A decision may still be followed by discontinuing the procurement before signing.
        TenderState.AWARDED: frozenset({TenderState.CANCELLED}),
        TenderState.CANCELLED: frozenset(),
    }
)


@dataclass(frozen=True, slots=True)
class Criteria:
    """Award criteria weights in points; they sum to 100 so a total score reads as percent."""

    price_weight: int
    quality_weight: int
    compatibility_weight: int

    def __post_init__(self) -> None:
        for name in ("price_weight", "quality_weight", "compatibility_weight"):
            require_int(f"criteria.{name}", getattr(self, name), minimum=0, maximum=100)
        total = self.price_weight + self.quality_weight + self.compatibility_weight
        if total != 100:
            raise InvalidValue("criteria", f"weights must sum to 100, got {total}")


#: The published tie-break rule: equal totals go to the lower price, then the earlier bid.
TIE_BREAK_RULE = (
    "equal total points: the lower price wins; then the earlier submission; then the smaller bid id"
)


@dataclass(frozen=True, slots=True)
class PurchasingBody:
    """The central purchasing body or procurement unit that runs the tender for the
    consortium (KL-Kuntahankinnat until 2019, Hansel since; any party may be named)."""

    name: str
    business_id: str | None = None

    def __post_init__(self) -> None:
        require_text("purchasing_body.name", self.name, max_length=500)
        if self.business_id is not None:
            require_text("purchasing_body.business_id", self.business_id, max_length=20)


#: The one lot of a tender that is not divided into lots.
WHOLE_TENDER_LOT = "1"
#: Most lots one tender may be divided into.
MAX_LOTS = 50
_LOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$")


@dataclass(frozen=True, slots=True)
class Lot:
    """A part of a tender awarded on its own: its needs, criteria and price model."""

    id: str
    title: str
    need_ids: tuple[str, ...]
    criteria: Criteria
    #: The price model every bid for this lot must use.
    price_model: LicenceModel

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _LOT_ID.fullmatch(self.id):
            raise InvalidValue(
                "lots.id", f"must be 1-20 letters, digits, '.', '_' or '-', got {self.id!r}"
            )
        require_text("lots.title", self.title, max_length=500)
        if isinstance(self.need_ids, str) or not self.need_ids:
            raise InvalidValue("lots.need_ids", f"lot {self.id} is made from at least one need")
        need_ids = tuple(require_text("lots.need_ids", n, max_length=100) for n in self.need_ids)
        if len(set(need_ids)) != len(need_ids):
            raise InvalidValue("lots.need_ids", f"lot {self.id} lists the same need twice")
        object.__setattr__(self, "need_ids", need_ids)
        if not isinstance(self.criteria, Criteria):
            raise InvalidValue("lots.criteria", "must be Criteria")
        object.__setattr__(
            self, "price_model", coerce_enum("lots.price_model", LicenceModel, self.price_model)
        )


@dataclass(frozen=True, slots=True)
class Tender:
    id: str
    title: str
    #: The purchasing body's reference of the procurement (was: KL-Kuntahankinnat's).
    kl_reference: str
    need_ids: tuple[str, ...]
    deadline: datetime
    criteria: Criteria
    #: The price model every bid must use. Price scores divide one price by another, which
    #: only means something when both are prices of the same thing.
    price_model: LicenceModel
    state: TenderState = TenderState.DRAFT
    cancellation_reason: str | None = None
    awarded_bid_id: str | None = None
    procedure: Procedure = Procedure.OPEN
    #: Estimated total value, extension options included, VAT excluded.
    estimated_value_cents: int = 0
    #: From the threshold table in force when the value was estimated.
    threshold_class: ThresholdClass = ThresholdClass.BELOW_NATIONAL
    purchasing_body: PurchasingBody | None = None
    #: Targets tested although no need requires them; with the needs' required targets they
    #: make the test matrix every bid is scored against.
    optional_targets: frozenset[Device | LibrarySystem] = frozenset()
    #: The lots, in their published order; empty: the tender is not divided.
    lots: tuple[Lot, ...] = ()

    def __post_init__(self) -> None:
        require_text("id", self.id, max_length=100)
        require_text("title", self.title, max_length=500)
        require_text("kl_reference", self.kl_reference, max_length=100)
        if isinstance(self.need_ids, str) or not self.need_ids:
            raise InvalidValue("need_ids", "a tender is made from at least one need")
        need_ids = tuple(require_text("need_ids", n, max_length=100) for n in self.need_ids)
        if len(set(need_ids)) != len(need_ids):
            raise InvalidValue("need_ids", "lists the same need twice")
        object.__setattr__(self, "need_ids", need_ids)
        require_aware_datetime("deadline", self.deadline)
        if not isinstance(self.criteria, Criteria):
            raise InvalidValue("criteria", "must be Criteria")
        object.__setattr__(
            self, "price_model", coerce_enum("price_model", LicenceModel, self.price_model)
        )
        object.__setattr__(self, "state", coerce_enum("state", TenderState, self.state))
        object.__setattr__(self, "procedure", coerce_enum("procedure", Procedure, self.procedure))
        require_int("estimated_value_cents", self.estimated_value_cents, minimum=0)
        object.__setattr__(
            self,
            "threshold_class",
            coerce_enum("threshold_class", ThresholdClass, self.threshold_class),
        )
        if self.purchasing_body is not None and not isinstance(
            self.purchasing_body, PurchasingBody
        ):
            raise InvalidValue("purchasing_body", "must be a PurchasingBody")
        targets: set[Device | LibrarySystem] = set()
        for value in self.optional_targets:
            targets.add(_target(value))
        object.__setattr__(self, "optional_targets", frozenset(targets))
        object.__setattr__(self, "lots", _checked_lots(self.lots, need_ids))


def _checked_lots(lots: object, need_ids: tuple[str, ...]) -> tuple[Lot, ...]:
    """Lots with distinct ids, each made of the tender's needs, and every need in a lot."""
    if isinstance(lots, str | bytes) or not isinstance(lots, tuple | list):
        raise InvalidValue("lots", "must be a list of lots")
    lots = tuple(lots)
    if len(lots) > MAX_LOTS:
        raise InvalidValue("lots", f"at most {MAX_LOTS} lots, got {len(lots)}")
    seen: set[str] = set()
    covered: set[str] = set()
    for lot in lots:
        if not isinstance(lot, Lot):
            raise InvalidValue("lots", "must be Lot")
        if lot.id in seen:
            raise InvalidValue("lots.id", f"lot {lot.id} is listed twice")
        seen.add(lot.id)
        foreign = [n for n in lot.need_ids if n not in need_ids]
        if foreign:
            raise InvalidValue(
                "lots.need_ids",
                f"lot {lot.id} names need(s) not in the tender: {', '.join(foreign)}",
            )
        covered.update(lot.need_ids)
    if lots:
        uncovered = [n for n in need_ids if n not in covered]
        if uncovered:
            raise InvalidValue(
                "lots", f"need(s) {', '.join(uncovered)} belong to no lot; put each in a lot"
            )
    return lots


def lots_of(tender: Tender) -> tuple[Lot, ...]:
    """The tender's lots; an undivided tender is its one whole-tender lot."""
    if tender.lots:
        return tender.lots
    return (
        Lot(
            WHOLE_TENDER_LOT,
            tender.title,
            tender.need_ids,
            tender.criteria,
            tender.price_model,
        ),
    )


def lot_of(tender: Tender, lot_id: str | None) -> Lot:
    """The named lot; ``None`` names the one lot of an undivided tender."""
    lots = lots_of(tender)
    if lot_id is None:
        if len(lots) > 1:
            raise InvalidValue(
                "lot_id",
                f"tender {tender.id} is divided into lots "
                f"({', '.join(lot.id for lot in lots)}); name one",
            )
        return lots[0]
    for lot in lots:
        if lot.id == lot_id:
            return lot
    raise InvalidValue(
        "lot_id",
        f"tender {tender.id} has no lot {lot_id}; its lots: {', '.join(lot.id for lot in lots)}",
    )


def _target(value: object) -> Device | LibrarySystem:
    if isinstance(value, Device | LibrarySystem):
        return value
    for enum_cls in (Device, LibrarySystem):
        try:
            return enum_cls(value)  # type: ignore[arg-type]  # any value is tried; ValueError rejects it
        except ValueError:
            continue
    raise InvalidValue("optional_targets", f"not a device or library system: {value!r}")


def _move(tender: Tender, target: TenderState, action: str, **changes: object) -> Tender:
    """Apply one transition, refusing anything not in :data:`TENDER_TRANSITIONS`."""
    if target not in TENDER_TRANSITIONS[tender.state]:
        raise IllegalTransition("tender", tender.state.value, action)
    return dataclasses.replace(tender, state=target, **changes)  # type: ignore[arg-type]  # changes are the dataclass's own fields, checked by it


def revise_draft(tender: Tender, **changes: object) -> Tender:
    """Change a draft (title, reference, needs, deadline, criteria, price model).

    Once open, bidders rely on the published conditions, so they are frozen.
    """
    if tender.state is not TenderState.DRAFT:
        raise IllegalTransition("tender", tender.state.value, "revise")
    allowed = {
        "title",
        "kl_reference",
        "need_ids",
        "deadline",
        "criteria",
        "price_model",
        "procedure",
        "estimated_value_cents",
        "threshold_class",
        "purchasing_body",
        "optional_targets",
        "lots",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be changed on a tender")
    return dataclasses.replace(tender, **changes)  # type: ignore[arg-type]  # changes are the dataclass's own fields, checked by it


def open_tender(tender: Tender, now: datetime) -> Tender:
    require_aware_datetime("now", now)
    if tender.state is TenderState.DRAFT and now >= tender.deadline:
        raise NotPermitted("deadline", "has already passed; move it before opening")
    return _move(tender, TenderState.OPEN, "open")


def start_evaluation(tender: Tender, now: datetime) -> Tender:
    require_aware_datetime("now", now)
    if tender.state is TenderState.OPEN and now < tender.deadline:
        raise NotPermitted("deadline", "bids cannot be opened before the deadline")
    return _move(tender, TenderState.EVALUATION, "start evaluation of")


def cancel_tender(tender: Tender, reason: str) -> Tender:
    """Discontinue the procurement (draft, open, evaluation, or decided but not yet signed):
    the reason is kept for the record and the event. The Act allows discontinuing for a real
    and justified reason, so a reason is always required."""
    require_text("reason", reason)
    return _move(tender, TenderState.CANCELLED, "cancel", cancellation_reason=reason)


def accepts_bids(tender: Tender, now: datetime) -> bool:
    return tender.state is TenderState.OPEN and now < tender.deadline
