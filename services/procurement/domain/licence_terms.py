"""Licence terms as a typed catalogue, after FOLIO's licence terms.

The catalogue fixes which terms exist and what type each value has, so that agreements can
be compared term by term. A bid states some of the terms; an agreement inherits the awarded
bid's terms unchanged. A term that a bid does not state is "not stated", which comparison
shows as ``None``; that is different from a stated ``unmentioned`` (the licence text was
read and says nothing).

Numbers are non-negative integers with a per-term minimum. Where a licence can be without a
limit (concurrent users, loans per licence, renewals), ``"unlimited"`` is a value of its own:
an unstated term is not the same as a stated "no limit", and no limit beats any number.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from ._checks import coerce_enum, optional_text, require_int, require_text
from .errors import DuplicateEntry, InvalidValue


class TermName(StrEnum):
    CONCURRENT_USERS = "concurrent_users"
    LOAN_PERIOD_DAYS = "loan_period_days"
    LENDING_LIMIT = "lending_limit"
    RENEWAL_LIMIT = "renewal_limit"
    DRM = "drm"
    REMOTE_ACCESS = "remote_access"
    WALK_IN_ACCESS = "walk_in_access"
    POST_CANCELLATION_ACCESS = "post_cancellation_access"
    ANNUAL_OPT_OUT = "annual_opt_out"
    TEXT_AND_DATA_MINING = "text_and_data_mining"
    OTHER_RESTRICTIONS = "other_restrictions"


class TermType(StrEnum):
    NUMBER = "number"
    PERMITTED_STATUS = "permitted_status"
    TEXT = "text"
    #: A closed list particular to one term (DRM). FOLIO calls these pick-list terms.
    CHOICE = "choice"


class PermittedStatus(StrEnum):
    PERMITTED = "permitted"
    PERMITTED_UNDER_CONDITIONS = "permitted_under_conditions"
    PROHIBITED = "prohibited"
    UNMENTIONED = "unmentioned"


class DrmKind(StrEnum):
    """What protection the supplier applies. A pick list rather than permitted/prohibited,
    because libraries need to know which reader apps will open the files."""

    NONE = "none"
    WATERMARK = "watermark"
    READIUM_LCP = "readium-lcp"
    ADOBE_ACS = "adobe-acs"
    PROPRIETARY = "proprietary"


@dataclass(frozen=True, slots=True)
class TermDefinition:
    name: TermName
    label: str
    type: TermType
    #: Smallest allowed value of a number term.
    minimum: int = 0
    #: The enum whose values a choice term accepts.
    choices: builtins.type[DrmKind] | None = None  # builtins: the field `type` shadows it here
    #: A number term that a licence may leave without limit ("unlimited").
    may_be_unlimited: bool = False
    #: Whether more is better for the libraries. Not for the loan period: a copy lent for
    #: longer serves fewer readers, so neither value is the more favourable one.
    more_is_better: bool = True


TERM_CATALOGUE: Mapping[TermName, TermDefinition] = MappingProxyType(
    {
        d.name: d
        for d in (
            TermDefinition(
                TermName.CONCURRENT_USERS,
                "Concurrent users",
                TermType.NUMBER,
                1,
                may_be_unlimited=True,
            ),
            TermDefinition(
                TermName.LOAN_PERIOD_DAYS,
                "Loan period (days)",
                TermType.NUMBER,
                1,
                more_is_better=False,
            ),
            TermDefinition(
                TermName.LENDING_LIMIT,
                "Loans per licence",
                TermType.NUMBER,
                0,
                may_be_unlimited=True,
            ),
            TermDefinition(
                TermName.RENEWAL_LIMIT,
                "Renewals per loan",
                TermType.NUMBER,
                0,
                may_be_unlimited=True,
            ),
            TermDefinition(TermName.DRM, "DRM", TermType.CHOICE, choices=DrmKind),
            TermDefinition(TermName.REMOTE_ACCESS, "Remote access", TermType.PERMITTED_STATUS),
            TermDefinition(TermName.WALK_IN_ACCESS, "Walk-in access", TermType.PERMITTED_STATUS),
            TermDefinition(
                TermName.POST_CANCELLATION_ACCESS,
                "Post-cancellation access",
                TermType.PERMITTED_STATUS,
            ),
            TermDefinition(TermName.ANNUAL_OPT_OUT, "Annual opt-out", TermType.PERMITTED_STATUS),
            TermDefinition(
                TermName.TEXT_AND_DATA_MINING, "Text and data mining", TermType.PERMITTED_STATUS
            ),
            TermDefinition(TermName.OTHER_RESTRICTIONS, "Other restrictions", TermType.TEXT),
        )
    }
)

#: For comparison: which permitted status is better for the libraries.
_STATUS_RANK: Mapping[PermittedStatus, int] = MappingProxyType(
    {
        PermittedStatus.PERMITTED: 3,
        PermittedStatus.PERMITTED_UNDER_CONDITIONS: 2,
        PermittedStatus.UNMENTIONED: 1,
        PermittedStatus.PROHIBITED: 0,
    }
)

TermValue = int | PermittedStatus | DrmKind | str
#: The value of a number term stated without limit.
UNLIMITED = "unlimited"


@dataclass(frozen=True, slots=True)
class LicenceTerm:
    """One stated term. ``value`` is coerced to the catalogue type: raw strings are accepted
    for permitted-status and choice terms so the API can pass JSON through."""

    name: TermName
    value: TermValue
    #: Why or under which conditions; FOLIO's term note.
    note: str = ""

    def __post_init__(self) -> None:
        name = coerce_enum("terms", TermName, self.name)
        definition = TERM_CATALOGUE[name]
        where = f"terms.{name.value}"
        value: TermValue
        match definition.type:
            case TermType.NUMBER if (
                definition.may_be_unlimited
                and isinstance(self.value, str)
                and self.value.strip().lower() == UNLIMITED
            ):
                value = UNLIMITED
            case TermType.NUMBER:
                value = require_int(where, self.value, minimum=definition.minimum)
            case TermType.PERMITTED_STATUS:
                value = coerce_enum(where, PermittedStatus, self.value)
            case TermType.CHOICE:
                assert definition.choices is not None
                value = coerce_enum(where, definition.choices, self.value)
            case TermType.TEXT:
                value = require_text(where, self.value)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "note", optional_text(f"{where}.note", self.note))

    @property
    def type(self) -> TermType:
        return TERM_CATALOGUE[self.name].type

    def to_dict(self) -> dict[str, object]:
        value = self.value if isinstance(self.value, int) else str(self.value)
        return {"value": value, "note": self.note}


@dataclass(frozen=True, slots=True)
class LicenceTerms:
    """The terms a bid states, at most one per name, kept in catalogue order."""

    terms: tuple[LicenceTerm, ...] = field(default=())

    def __post_init__(self) -> None:
        seen: set[TermName] = set()
        for term in self.terms:
            if not isinstance(term, LicenceTerm):
                raise InvalidValue("terms", f"expected a LicenceTerm, got {type(term).__name__}")
            if term.name in seen:
                raise DuplicateEntry(f"terms.{term.name.value}", "term stated more than once")
            seen.add(term.name)
        order = list(TERM_CATALOGUE)
        object.__setattr__(
            self, "terms", tuple(sorted(self.terms, key=lambda t: order.index(t.name)))
        )

    def get(self, name: TermName | str) -> LicenceTerm | None:
        wanted = coerce_enum("terms", TermName, name)
        return next((t for t in self.terms if t.name is wanted), None)

    def permitted_status(self, name: TermName | str) -> PermittedStatus:
        """The status of a permitted-status term; a term not stated counts as unmentioned."""
        wanted = coerce_enum("terms", TermName, name)
        if TERM_CATALOGUE[wanted].type is not TermType.PERMITTED_STATUS:
            raise InvalidValue(f"terms.{wanted.value}", "is not a permitted-status term")
        term = self.get(wanted)
        if term is None:
            return PermittedStatus.UNMENTIONED
        assert isinstance(term.value, PermittedStatus)
        return term.value

    def to_dict(self) -> dict[str, dict[str, object]]:
        return {t.name.value: t.to_dict() for t in self.terms}


def parse_licence_terms(raw: Mapping[str, object]) -> LicenceTerms:
    """Build terms from JSON-like input: ``{name: value}`` or ``{name: {"value", "note"}}``.

    Unknown names and wrongly typed values raise :class:`InvalidValue` naming the term.
    """
    if not isinstance(raw, Mapping):
        raise InvalidValue("terms", "must be an object keyed by term name")
    terms: list[LicenceTerm] = []
    for name, given in raw.items():
        term_name = coerce_enum("terms", TermName, name)
        if isinstance(given, Mapping):
            unknown = set(given) - {"value", "note"}
            if unknown or "value" not in given:
                raise InvalidValue(
                    f"terms.{term_name.value}", "must be a value or {value, note} object"
                )
            terms.append(LicenceTerm(term_name, given["value"], given.get("note", "")))
        else:
            terms.append(LicenceTerm(term_name, given))  # type: ignore[arg-type]  # a bare value; LicenceTerm checks it
    return LicenceTerms(tuple(terms))


@dataclass(frozen=True, slots=True)
class TermComparisonRow:
    term: TermName
    label: str
    type: TermType
    #: Subject id (agreement id) → the stated term, or ``None`` when not stated.
    values: Mapping[str, LicenceTerm | None]
    #: Subjects whose value is best for the libraries: the highest number, or the most
    #: permissive status. Empty for text and choice terms, which have no natural order,
    #: and when no subject states the term.
    most_favourable: tuple[str, ...]


def _rank(term: LicenceTerm) -> float | None:
    if isinstance(term.value, PermittedStatus):
        return _STATUS_RANK[term.value]
    if not TERM_CATALOGUE[term.name].more_is_better:
        return None
    if term.type is TermType.NUMBER and term.value == UNLIMITED:
        return math.inf
    if isinstance(term.value, int):
        return term.value
    return None


def compare_terms(subjects: Mapping[str, LicenceTerms]) -> tuple[TermComparisonRow, ...]:
    """Compare several sets of terms, one row per catalogue term, in catalogue order.

    More concurrent users, more loans per licence and more renewals favour the libraries, and
    "unlimited" beats any number. The loan period has no most favourable value: a longer loan
    suits the reader who has the copy and keeps it from the next one.
    """
    rows: list[TermComparisonRow] = []
    for definition in TERM_CATALOGUE.values():
        values = {sid: terms.get(definition.name) for sid, terms in subjects.items()}
        ranks = {sid: _rank(t) for sid, t in values.items() if t is not None}
        ranked = {sid: r for sid, r in ranks.items() if r is not None}
        best: tuple[str, ...] = ()
        if ranked:
            top = max(ranked.values())
            best = tuple(sorted(sid for sid, r in ranked.items() if r == top))
        rows.append(
            TermComparisonRow(
                term=definition.name,
                label=definition.label,
                type=definition.type,
                values=MappingProxyType(values),
                most_favourable=best,
            )
        )
    return tuple(rows)
