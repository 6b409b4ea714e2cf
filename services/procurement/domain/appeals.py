"""Appeals to the Market Court (markkinaoikeus) against a procurement decision.

An appeal is recorded with the court's case number. While an appeal that suspends the
decision (the court's interim order, or the Act's automatic suspension in the EU class) is
pending, the agreement cannot be signed. An upheld appeal annuls the decision: it cannot be
signed on until the decision is corrected (a correction made on or after the day the appeal
was upheld answers it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ._checks import coerce_enum, optional_text, require_date, require_text
from .errors import DuplicateEntry, IllegalTransition, InvalidValue, NotPermitted
from .tenders import Tender, TenderState


class AppealStatus(StrEnum):
    PENDING = "pending"
    DISMISSED = "dismissed"
    UPHELD = "upheld"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Appeal:
    tender_id: str
    case_number: str
    lodged_on: date
    #: True while the decision may not be carried out (signing is refused).
    suspends: bool
    status: AppealStatus = AppealStatus.PENDING
    resolved_on: date | None = None
    note: str = ""

    def __post_init__(self) -> None:
        require_text("tender_id", self.tender_id, max_length=100)
        require_text("case_number", self.case_number, max_length=100)
        require_date("lodged_on", self.lodged_on)
        if not isinstance(self.suspends, bool):
            raise InvalidValue("suspends", "must be true or false")
        object.__setattr__(self, "status", coerce_enum("status", AppealStatus, self.status))
        optional_text("note", self.note)
        if (self.status is AppealStatus.PENDING) != (self.resolved_on is None):
            raise InvalidValue("resolved_on", "is set exactly when the appeal is resolved")

    @property
    def blocks_signing(self) -> bool:
        """Blocks signing the first decision (see :meth:`blocks` for a corrected one)."""
        return self.blocks(None)

    def answered_by(self, corrected_on: date | None) -> bool:
        """An upheld appeal is answered by a correction made on or after the ruling."""
        return (
            self.status is AppealStatus.UPHELD
            and corrected_on is not None
            and self.resolved_on is not None
            and corrected_on >= self.resolved_on
        )

    def blocks(self, corrected_on: date | None) -> bool:
        """Whether it blocks signing the decision in force; ``corrected_on``: the day that
        decision was made by a correction (None: it is the first decision)."""
        if self.status is AppealStatus.PENDING:
            return self.suspends
        return self.status is AppealStatus.UPHELD and not self.answered_by(corrected_on)


def lodge_appeal(
    tender: Tender, decided_on: date, appeal: Appeal, existing: Iterable[Appeal] = ()
) -> Appeal:
    """Record an appeal against the decision of a decided tender."""
    if tender.state is not TenderState.AWARDED:
        raise IllegalTransition("tender", tender.state.value, "appeal the decision of")
    if appeal.tender_id != tender.id:
        raise InvalidValue("tender_id", f"the appeal is against {appeal.tender_id}")
    if appeal.status is not AppealStatus.PENDING:
        raise InvalidValue("status", "a new appeal is pending")
    if appeal.lodged_on < decided_on:
        raise InvalidValue("lodged_on", f"must not be before the decision on {decided_on}")
    if any(a.case_number == appeal.case_number for a in existing):
        raise DuplicateEntry("case_number", f"appeal {appeal.case_number} is already recorded")
    return appeal


def resolve_appeal(
    appeal: Appeal, status: AppealStatus | str, resolved_on: date, note: str = ""
) -> Appeal:
    status = coerce_enum("status", AppealStatus, status)
    require_date("resolved_on", resolved_on)
    if appeal.status is not AppealStatus.PENDING:
        raise IllegalTransition("appeal", appeal.status.value, "resolve")
    if status is AppealStatus.PENDING:
        raise InvalidValue("status", "resolving needs an outcome: dismissed, upheld or withdrawn")
    if resolved_on < appeal.lodged_on:
        raise InvalidValue("resolved_on", f"must not be before it was lodged on {appeal.lodged_on}")
    return dataclasses.replace(appeal, status=status, resolved_on=resolved_on, note=note)


def check_appeals_allow_signing(
    appeals: Iterable[Appeal], corrected_on: date | None = None
) -> None:
    """Refuse signing while a suspending appeal is pending, or after an upheld one that no
    correction has answered. ``corrected_on``: the day the decision in force was made by a
    correction (None: it is the first decision)."""
    for appeal in appeals:
        if not appeal.blocks(corrected_on):
            continue
        if appeal.status is AppealStatus.UPHELD:
            raise NotPermitted(
                "appeals",
                f"the Market Court upheld appeal {appeal.case_number}; correct the decision first",
            )
        if appeal.blocks_signing:
            raise NotPermitted(
                "appeals",
                f"appeal {appeal.case_number} is pending and suspends the decision",
            )
