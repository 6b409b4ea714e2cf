"""Events published by the membership service on ``konsortio.membership``.

Library events are keyed by ISIL and carry the library's whole current state, so that no
consumer has to call back. Version 1.1 (December 2026) added, as optional fields: the
organisation that runs the library (the party of the consortium agreement and of every cost
share), the kimppa it shares a library system with, and where its population figure comes
from; and the organisation, kimppa, population, agreement-version and erasure events."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, TypeGuard

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

from contracts.base import Event, Payload

Language = Literal["fi", "sv"]
# Finland's population at the end of 2024 (Statistics Finland): the denominator of every
# "share of Finland's population served" figure, shared by membership and the dashboard.
FINLAND_POPULATION = 5_635_971
# The one ISIL rule every service and the published schemas share. ISO 15511 allows 1-, 3- and
# 4-character non-country prefixes too; a Finnish consortium's libraries all carry the country
# prefix (FI-Tro, FI-Hki), so the contract keeps to country prefixes: a country code, a hyphen
# and up to 11 characters of A-Z a-z 0-9 - / :.
ISIL_PATTERN = r"^[A-Z]{2}-[A-Za-z0-9:/\-]{1,11}$"
ISIL = re.compile(ISIL_PATTERN)


def is_isil(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an ISIL by the contracts' rule (the schemas' ``pattern``)."""
    return isinstance(value, str) and ISIL.fullmatch(value) is not None


# One address, no list: a comma or semicolon would let one contact fan out to a whole domain's
# mailing lists (``postmaster,all-staff,x@c.fi``). The pattern is what a schema reader sees;
# email-validator (RFC 5321/5322 syntax, no DNS look-up) is what the models enforce.
EMAIL_PATTERN = r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$"


def _one_address(value: str) -> str:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a single valid e-mail address: {error}") from None
    return value


EmailAddress = Annotated[
    str, Field(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(_one_address)
]


class Contact(Payload):
    name: str = Field(min_length=1, max_length=200)
    email: EmailAddress
    role: str = Field(min_length=1, max_length=100, description="e.g. director, e-resources")
    language: Language = Field(description="Language the contact is written to in.")


class LibraryNames(Payload):
    fi: str = Field(min_length=1, max_length=300)
    sv: str | None = Field(None, max_length=300)
    en: str | None = Field(None, max_length=300)


OrganisationKind = Literal["municipality", "joint-authority"]
NoticeTakesEffect = Literal["end-of-month", "end-of-year"]


class EInvoiceAddress(Payload):
    ovt: str = Field(description="OVT code (0037 + business ID digits + optional suffix).")
    operator: str = Field(description="The e-invoice operator's code, e.g. 003721291126.")


class OrganisationNames(Payload):
    fi: str = Field(min_length=1, max_length=300)
    sv: str | None = Field(None, max_length=300)


class Organisation(Payload):
    """The municipality or joint authority that runs libraries: it signs the consortium
    agreement, is invoiced and decides."""

    business_id: str = Field(description="Finnish business ID (Y-tunnus), e.g. 0201256-6.")
    names: OrganisationNames
    kind: OrganisationKind
    municipalities: list[str] = Field(description="Municipality codes the organisation serves.")
    einvoice: EInvoiceAddress | None = None
    population: int | None = Field(
        None, ge=0, description="Derived from the municipalities' official figures."
    )
    population_year: int | None = Field(None, description="Year of the figures (31.12.).")


class KimppaRef(Payload):
    """The shared library system and catalogue (Helmet, Vaski, …) a library belongs to."""

    id: str
    name: str
    library_system: str
    melinda_code: str | None = Field(None, description="The kimppa's Melinda holding code.")
    since: dt.date | None = Field(None, description="When the library joined the kimppa.")


class Library(Payload):
    """A library as consumers need it."""

    isil: str = Field(pattern=ISIL_PATTERN, description="ISO 15511 identifier, e.g. FI-Tro.")
    names: LibraryNames
    municipalities: list[str] = Field(
        description="Statistics Finland 3-digit municipality codes served."
    )
    population: int = Field(
        ge=0,
        description="Population served; drives cost shares. Since v1.1 derived from the "
        "municipalities' official figures of ``population_year``, or a coordinator's documented "
        "exception (``population_exception``); never typed by a library.",
    )
    library_system: str = Field(description="Koha, Aurora, Sierra, Quria, …")
    library_type: str | None = Field(None, description="municipal, mobile, …")
    kirkanta_id: int | None = Field(None, description="Id in the Finnish library directory.")
    contacts: list[Contact] = Field(default_factory=list)
    organisation: Organisation | None = Field(
        None, description="The legal party that runs the library (since v1.1)."
    )
    kimppa: KimppaRef | None = Field(None, description="Its kimppa, if any (since v1.1).")
    population_year: int | None = Field(
        None,
        description="Year of the official figures the population is derived from (since v1.1).",
    )
    population_exception: str | None = Field(
        None,
        description="Reason of a coordinator's documented exception to the derived population; "
        "when set, ``population`` is the exception's figure (since v1.1).",
    )


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


class OrganisationUpdated(Event):
    """An organisation was registered or its details (names, municipalities, e-invoice
    address, derived population) changed."""

    name = "organisation-updated"
    producer = "membership"
    key_field = "organisation.business_id"

    organisation: Organisation


class KimppaUpdated(Event):
    """A kimppa was registered or changed, with its current libraries."""

    name = "kimppa-updated"
    producer = "membership"
    key_field = "kimppa_id"

    kimppa_id: str
    kimppa_name: str
    library_system: str
    melinda_code: str | None = None
    harvest_contact_email: str | None = Field(
        None, description="Where harvesting questions go (a service address, not a person)."
    )
    libraries: list[str] = Field(description="ISILs of the kimppa's libraries now.")


class PopulationFiguresLoaded(Event):
    """Statistics Finland's population figures of a year were loaded."""

    name = "population-figures-loaded"
    producer = "membership"
    key_field = "year"

    year: int
    municipalities: int = Field(ge=0)
    population: int = Field(ge=0, description="Sum over the loaded municipalities.")
    source: str


class AgreementVersionPublished(Event):
    """A new version of the consortium agreement was published: every member is asked to
    accept it."""

    name = "agreement-version-published"
    producer = "membership"
    key_field = "agreement_version"

    agreement_version: str
    valid_from: dt.date
    document_name: str
    document_sha256: str
    notice_months: int = Field(ge=0)
    notice_takes_effect: NoticeTakesEffect
    members_asked: list[str] = Field(description="ISILs of the members asked to accept.")


class AgreementVersionAccepted(Event):
    """A member's organisation accepted a version of the consortium agreement."""

    name = "agreement-version-accepted"
    producer = "membership"
    key_field = "isil"

    isil: str
    agreement_version: str
    business_id: str | None = None
    decision_organ: str
    decision_date: dt.date
    decision_section: str
    signatory_title: str


class ContactErased(Event):
    """A former contact person's data was erased on request: every service forgets the
    address. Only its SHA-256 (of the lower-cased address) travels, never the address."""

    name = "contact-erased"
    producer = "membership"
    key_field = "isil"

    isil: str
    email_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    erased_on: dt.date


class TokenRevoked(Event):
    """The coordinator revoked a bearer token before its expiry (lost laptop, staff change,
    leaked token): every service refuses the token with this ``jti`` until ``expires_at``."""

    name = "token-revoked"
    producer = "membership"
    key_field = "jti"

    jti: str = Field(min_length=1, max_length=200, description="The token's ``jti`` claim.")
    expires_at: dt.datetime = Field(
        description="The token's own expiry: after it the token is refused anyway, so services "
        "may forget the revocation then."
    )
    reason: str = Field(min_length=1, max_length=500, description="Why it was revoked.")
    revoked_at: dt.datetime


EVENTS: tuple[type[Event], ...] = (
    MemberJoined,
    MemberUpdated,
    MemberLeft,
    OrganisationUpdated,
    KimppaUpdated,
    PopulationFiguresLoaded,
    AgreementVersionPublished,
    AgreementVersionAccepted,
    ContactErased,
    TokenRevoked,
)
