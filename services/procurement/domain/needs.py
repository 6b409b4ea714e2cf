"""Material needs proposed by members, and members' non-binding interest in them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ._checks import coerce_enum, coerce_enum_set, require_date, require_int, require_text
from .errors import DuplicateEntry, InvalidValue, NotPermitted
from .members import Member
from .vocabulary import Device, LibrarySystem, LicenceModel, MaterialType, check_isil


@dataclass(frozen=True, slots=True)
class Need:
    id: str
    #: ISIL of the member that proposed it.
    proposed_by: str
    material_type: MaterialType
    description: str
    accepted_licence_models: frozenset[LicenceModel]
    required_devices: frozenset[Device] = field(default_factory=frozenset)
    required_library_systems: frozenset[LibrarySystem] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        require_text("id", self.id, max_length=100)
        check_isil("proposed_by", self.proposed_by)
        set_ = object.__setattr__
        set_(self, "material_type", coerce_enum("material_type", MaterialType, self.material_type))
        require_text("description", self.description)
        models = coerce_enum_set(
            "accepted_licence_models", LicenceModel, self.accepted_licence_models
        )
        if not models:
            # A need that accepts no licence model can never be met by any bid.
            raise InvalidValue("accepted_licence_models", "must name at least one model")
        set_(self, "accepted_licence_models", models)
        set_(
            self,
            "required_devices",
            coerce_enum_set("required_devices", Device, self.required_devices),
        )
        set_(
            self,
            "required_library_systems",
            coerce_enum_set(
                "required_library_systems", LibrarySystem, self.required_library_systems
            ),
        )


def propose_need(need: Need, proposer: Member | None, today: date) -> Need:
    """Only an active member may propose a need."""
    if proposer is None or proposer.isil != need.proposed_by or not proposer.is_active_on(today):
        raise NotPermitted("proposed_by", f"{need.proposed_by} is not an active member")
    return need


@dataclass(frozen=True, slots=True)
class Interest:
    """Non-binding: it obliges the library to nothing, and only informs the tender."""

    need_id: str
    isil: str
    #: Indicative yearly budget in cents, if the library wants to give one.
    indicative_budget_cents: int | None = None

    def __post_init__(self) -> None:
        require_text("need_id", self.need_id, max_length=100)
        check_isil("isil", self.isil)
        if self.indicative_budget_cents is not None:
            require_int("indicative_budget_cents", self.indicative_budget_cents, minimum=0)


def register_interest(
    need: Need,
    member: Member | None,
    existing: Iterable[Interest],
    interest: Interest,
    today: date,
) -> Interest:
    """Check that an active member registers interest in this need at most once.

    ``existing`` is the interest already recorded for the need (others are ignored).
    """
    require_date("today", today)
    if interest.need_id != need.id:
        raise InvalidValue("need_id", f"interest is for {interest.need_id}, not {need.id}")
    if member is None or member.isil != interest.isil or not member.is_active_on(today):
        raise NotPermitted("isil", f"{interest.isil} is not an active member")
    if any(i.need_id == need.id and i.isil == interest.isil for i in existing):
        raise DuplicateEntry("isil", f"{interest.isil} has already registered interest")
    return interest
