"""Bids: what a supplier offers in answer to a tender."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from ._checks import (
    coerce_enum,
    coerce_enum_set,
    require_aware_datetime,
    require_int,
    require_text,
)
from .errors import DuplicateEntry, IllegalTransition, InvalidValue, NotPermitted
from .licence_terms import LicenceTerms
from .needs import Need
from .tenders import WHOLE_TENDER_LOT, Tender, TenderState, lot_of
from .vocabulary import Device, LibrarySystem, LicenceModel

_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class Supplier:
    name: str
    #: ISO 3166-1 alpha-2 code; suppliers are often international.
    country: str

    def __post_init__(self) -> None:
        require_text("supplier.name", self.name, max_length=500)
        if not isinstance(self.country, str) or not _COUNTRY.fullmatch(self.country):
            raise InvalidValue(
                "supplier.country", f"must be an ISO 3166-1 alpha-2 code, got {self.country!r}"
            )


@dataclass(frozen=True, slots=True)
class Bid:
    id: str
    tender_id: str
    supplier: Supplier
    product: str
    price_model: LicenceModel
    #: Price in cents under ``price_model`` (per year, per loan or per title).
    price_cents: int
    submitted_at: datetime
    supported_devices: frozenset[Device] = field(default_factory=frozenset)
    supported_library_systems: frozenset[LibrarySystem] = field(default_factory=frozenset)
    terms: LicenceTerms = field(default_factory=LicenceTerms)
    #: The lot the bid answers; a bid answers one lot only.
    lot_id: str = WHOLE_TENDER_LOT

    def __post_init__(self) -> None:
        require_text("id", self.id, max_length=100)
        require_text("tender_id", self.tender_id, max_length=100)
        require_text("lot_id", self.lot_id, max_length=20)
        if not isinstance(self.supplier, Supplier):
            raise InvalidValue("supplier", "must be a Supplier")
        require_text("product", self.product, max_length=500)
        set_ = object.__setattr__
        set_(self, "price_model", coerce_enum("price_model", LicenceModel, self.price_model))
        # A zero price would make every other bid's price score zero (lowest / price).
        require_int("price_cents", self.price_cents, minimum=1)
        require_aware_datetime("submitted_at", self.submitted_at)
        set_(
            self,
            "supported_devices",
            coerce_enum_set("supported_devices", Device, self.supported_devices),
        )
        set_(
            self,
            "supported_library_systems",
            coerce_enum_set(
                "supported_library_systems", LibrarySystem, self.supported_library_systems
            ),
        )
        if not isinstance(self.terms, LicenceTerms):
            raise InvalidValue("terms", "must be LicenceTerms")


def submit_bid(tender: Tender, bid: Bid, existing: Iterable[Bid] = ()) -> Bid:
    """Accept a bid if the tender is open, the deadline has not passed at ``submitted_at``,
    the lot is one of the tender's, the price model is the lot's and the id is new."""
    if bid.tender_id != tender.id:
        raise InvalidValue("tender_id", f"bid is for {bid.tender_id}, not {tender.id}")
    if tender.state is not TenderState.OPEN:
        raise IllegalTransition("tender", tender.state.value, "submit a bid to")
    if bid.submitted_at >= tender.deadline:
        raise NotPermitted("submitted_at", "the tender's deadline has passed")
    lot = lot_of(tender, bid.lot_id)
    if bid.price_model is not lot.price_model:
        what = f"lot {lot.id}" if tender.lots else "the tender"
        raise NotPermitted(
            "price_model",
            f"{what} compares {lot.price_model.value} prices, got {bid.price_model.value}",
        )
    if any(b.id == bid.id for b in existing):
        raise DuplicateEntry("id", f"bid {bid.id} already exists")
    return bid


@dataclass(frozen=True, slots=True)
class Shortfall:
    """What a bid lacks against the tender's needs, as the supplier itself declares it.
    Compatibility tests establish what actually works."""

    missing_devices: frozenset[Device]
    missing_library_systems: frozenset[LibrarySystem]
    #: Needs that do not accept the bid's price model.
    needs_not_accepting_model: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not (
            self.missing_devices or self.missing_library_systems or self.needs_not_accepting_model
        )


def shortfall(bid: Bid, needs: Iterable[Need]) -> Shortfall:
    needs = tuple(needs)
    devices = frozenset().union(*(n.required_devices for n in needs))
    systems = frozenset().union(*(n.required_library_systems for n in needs))
    return Shortfall(
        missing_devices=frozenset(devices - bid.supported_devices),
        missing_library_systems=frozenset(systems - bid.supported_library_systems),
        needs_not_accepting_model=tuple(
            n.id for n in needs if bid.price_model not in n.accepted_licence_models
        ),
    )
