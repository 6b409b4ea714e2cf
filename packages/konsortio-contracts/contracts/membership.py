"""Events published by the membership service on ``konsortio.membership``, keyed by ISIL.

Each carries the library's whole current state, so that no consumer has to call back."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from contracts.base import Event, Payload

Language = Literal["fi", "sv"]
# Finland's population at the end of 2024 (Statistics Finland): the denominator of every
# "share of Finland's population served" figure, shared by membership and the dashboard.
FINLAND_POPULATION = 5_635_971
ISIL_PATTERN = r"^[A-Z]{2}-[A-Za-z0-9:/\-]{1,11}$"


class Contact(Payload):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    role: str = Field(min_length=1, max_length=100, description="e.g. director, e-resources")
    language: Language = Field(description="Language the contact is written to in.")


class LibraryNames(Payload):
    fi: str = Field(min_length=1, max_length=300)
    sv: str | None = Field(None, max_length=300)
    en: str | None = Field(None, max_length=300)


class Library(Payload):
    """A library as consumers need it."""

    isil: str = Field(pattern=ISIL_PATTERN, description="ISO 15511 identifier, e.g. FI-Tro.")
    names: LibraryNames
    municipalities: list[str] = Field(
        description="Statistics Finland 3-digit municipality codes served."
    )
    population: int = Field(ge=0, description="Population served; drives cost shares.")
    library_system: str = Field(description="Koha, Aurora, Sierra, Quria, …")
    library_type: str | None = Field(None, description="municipal, mobile, …")
    kirkanta_id: int | None = Field(None, description="Id in the Finnish library directory.")
    contacts: list[Contact] = Field(default_factory=list)


class MemberJoined(Event):
    """A library signed the consortium agreement and is now a member."""

    name = "member-joined"
    producer = "membership"
    key_field = "library.isil"

    library: Library
    joined_on: dt.date = Field(description="Signing date of the consortium agreement.")
    period: int = Field(ge=1, description="Ordinal of this membership period (re-joins add one).")


class MemberUpdated(Event):
    """A library's details changed."""

    name = "member-updated"
    producer = "membership"
    key_field = "library.isil"

    library: Library
    is_member: bool = Field(description="Whether the library is an active member now.")


class MemberLeft(Event):
    """A library's notice took effect: it is no longer a member from ``effective_date``."""

    name = "member-left"
    producer = "membership"
    key_field = "library.isil"

    library: Library
    effective_date: dt.date
    period: int = Field(ge=1)
    joined_on: dt.date | None = Field(
        None, description="First day of the membership period that ends (since 2026-11)."
    )

    def broken_rule(self) -> str | None:
        if self.joined_on is not None and self.effective_date < self.joined_on:
            return (
                f"effective_date {self.effective_date} is before joined_on {self.joined_on}: "
                "a membership cannot end before it began"
            )
        return None


EVENTS: tuple[type[Event], ...] = (MemberJoined, MemberUpdated, MemberLeft)
