"""Tenders and their state machine.

::

    draft ──open──▶ open ──start_evaluation──▶ evaluation ──award──▶ awarded
      │               │                            │
      └───────────────┴────────cancel──────────────┴──▶ cancelled

Timing rules, so that every bidder has the same chance:

- a tender can be opened only before its deadline;
- bids are accepted only while open and strictly before the deadline;
- evaluation starts only at or after the deadline (bids are not opened early).

Awarding lives in :mod:`.awards` because it needs the scores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from ._checks import coerce_enum, require_aware_datetime, require_int, require_text
from .errors import IllegalTransition, InvalidValue, NotPermitted
from .vocabulary import LicenceModel


class TenderState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    EVALUATION = "evaluation"
    AWARDED = "awarded"
    CANCELLED = "cancelled"


#: The only moves a tender can make. Awarded and cancelled are final.
TENDER_TRANSITIONS: Mapping[TenderState, frozenset[TenderState]] = MappingProxyType(
    {
        TenderState.DRAFT: frozenset({TenderState.OPEN, TenderState.CANCELLED}),
        TenderState.OPEN: frozenset({TenderState.EVALUATION, TenderState.CANCELLED}),
        TenderState.EVALUATION: frozenset({TenderState.AWARDED, TenderState.CANCELLED}),
        TenderState.AWARDED: frozenset(),
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


@dataclass(frozen=True, slots=True)
class Tender:
    id: str
    title: str
    #: The KL-Kuntahankinnat reference of the procurement.
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


def _move(tender: Tender, target: TenderState, action: str, **changes: object) -> Tender:
    """Apply one transition, refusing anything not in :data:`TENDER_TRANSITIONS`."""
    if target not in TENDER_TRANSITIONS[tender.state]:
        raise IllegalTransition("tender", tender.state.value, action)
    return dataclasses.replace(tender, state=target, **changes)  # type: ignore[arg-type]


def revise_draft(tender: Tender, **changes: object) -> Tender:
    """Change a draft (title, reference, needs, deadline, criteria, price model).

    Once open, bidders rely on the published conditions, so they are frozen.
    """
    if tender.state is not TenderState.DRAFT:
        raise IllegalTransition("tender", tender.state.value, "revise")
    allowed = {"title", "kl_reference", "need_ids", "deadline", "criteria", "price_model"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidValue(sorted(unknown)[0], "cannot be changed on a tender")
    return dataclasses.replace(tender, **changes)  # type: ignore[arg-type]


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
    """Cancel from draft, open or evaluation; the reason is kept for the record and event."""
    require_text("reason", reason)
    return _move(tender, TenderState.CANCELLED, "cancel", cancellation_reason=reason)


def accepts_bids(tender: Tender, now: datetime) -> bool:
    return tender.state is TenderState.OPEN and now < tender.deadline
