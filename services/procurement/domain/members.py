"""Procurement's own copy of the facts it needs about consortium members.

Built by the event handlers from membership's ``member-joined`` / ``member-updated`` /
``member-left`` events; procurement never asks membership. One value is one membership
period: re-joining is a new period, so the store keeps the latest one per ISIL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ._checks import require_date, require_int, require_text
from .errors import InvalidValue
from .vocabulary import check_isil


@dataclass(frozen=True, slots=True)
class Member:
    isil: str
    name: str
    #: Population served; drives per-capita cost shares.
    population: int
    joined_on: date
    #: The effective date of notice: the first day the library is no longer a member.
    left_on: date | None = None

    def __post_init__(self) -> None:
        check_isil("isil", self.isil)
        require_text("name", self.name, max_length=500)
        require_int("population", self.population, minimum=0)
        require_date("joined_on", self.joined_on)
        if self.left_on is not None:
            require_date("left_on", self.left_on)
            if self.left_on < self.joined_on:
                raise InvalidValue("left_on", "must not be before joined_on")

    def is_active_on(self, day: date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day < self.left_on)
