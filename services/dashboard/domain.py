"""The dashboard's rules, with no I/O: what an event contributes to the read model, how shares
and series over time are computed, and what may be shown.

Payloads are read tolerantly from the event's JSON (``Envelope.data``): the producers may still
add or reshape optional fields, and a dashboard should show what it can rather than dead-letter
a fact that every other consumer accepted. A missing field becomes ``None`` or zero; only a
missing aggregate id makes a projection skip (the event still enters the feed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.membership import FINLAND_POPULATION as FINLAND_POPULATION  # figures use it
from kit.logging import mask_text

# The chart shows at least a month and at most a year of daily points.
CHART_MIN_DAYS = 30
CHART_MAX_DAYS = 365

TEXT_LIMIT = 200
REASON_LIMIT = 500
_TYPE = re.compile(r"^(?P<prefix>.+)\.(?P<producer>[a-z0-9-]+)\.(?P<name>[a-z0-9-]+)\.v(?P<v>\d+)$")


@dataclass(frozen=True)
class EventKind:
    producer: str
    name: str
    version: int


def parse_type(ce_type: str) -> EventKind:
    """``fi.konsortio.membership.member-joined.v1`` → (membership, member-joined, 1)."""
    match = _TYPE.match(ce_type)
    if match is None:
        return EventKind(producer="unknown", name=ce_type[:100], version=0)
    return EventKind(match["producer"], match["name"], int(match["v"]))


# --- tolerant reading of payloads ------------------------------------------------------------


def get(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing or not an object."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    result = str(value).strip()
    return result[:limit] or None


def integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0


def day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in (text(v, 60) for v in value) if item]


# --- what each event contributes --------------------------------------------------------------


@dataclass(frozen=True)
class LibraryFacts:
    isil: str
    name_fi: str
    name_sv: str | None
    name_en: str | None
    population: int
    library_system: str | None
    municipalities: tuple[str, ...] = ()


def library_facts(data: Mapping[str, Any]) -> LibraryFacts | None:
    """The public facts of a library from a membership event; contacts are never read."""
    isil = text(get(data, "library.isil"), 16)
    if isil is None:
        return None
    return LibraryFacts(
        isil=isil,
        name_fi=text(get(data, "library.names.fi")) or isil,
        name_sv=text(get(data, "library.names.sv")),
        name_en=text(get(data, "library.names.en")),
        population=max(integer(get(data, "library.population")), 0),
        library_system=text(get(data, "library.library_system"), 60),
        municipalities=tuple(sorted(set(texts(get(data, "library.municipalities"))))),
    )


@dataclass(frozen=True)
class Period:
    isil: str
    period: int
    joined_on: dt.date | None = None
    left_on: dt.date | None = None


def joined_period(data: Mapping[str, Any], isil: str) -> Period:
    return Period(isil, max(integer(get(data, "period")), 1), joined_on=day(get(data, "joined_on")))


def left_period(data: Mapping[str, Any], isil: str) -> Period:
    return Period(
        isil, max(integer(get(data, "period")), 1), left_on=day(get(data, "effective_date"))
    )


@dataclass(frozen=True)
class AgreementFacts:
    agreement_id: str
    title: str | None
    supplier: str | None
    product: str | None
    material_types: list[str]
    annual_cost_cents: int | None
    signed_on: dt.date | None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


def agreement_facts(data: Mapping[str, Any]) -> AgreementFacts | None:
    agreement_id = text(get(data, "agreement_id"), 100)
    if agreement_id is None:
        return None
    cost = get(data, "annual_cost_cents")
    periods = get(data, "periods")
    periods = [p for p in periods if isinstance(p, Mapping)] if isinstance(periods, list) else []
    starts = [d for d in (day(p.get("start")) for p in periods) if d]
    ends = [d for d in (day(p.get("end")) for p in periods) if d]
    return AgreementFacts(
        agreement_id=agreement_id,
        title=text(get(data, "title")),
        supplier=text(get(data, "supplier.name")) or text(get(data, "supplier")),
        product=text(get(data, "product")),
        material_types=texts(get(data, "material_types")),
        annual_cost_cents=max(integer(cost), 0) if cost is not None else None,
        signed_on=day(get(data, "signed_on")),
        valid_from=min(starts) if starts else None,
        valid_until=max(ends) if ends else None,
    )


@dataclass(frozen=True)
class ParticipationChange:
    agreement_id: str
    isil: str
    on: dt.date
    reason: str | None = None


def participation_change(
    data: Mapping[str, Any], date_field: str, today: dt.date
) -> ParticipationChange | None:
    agreement_id = text(get(data, "agreement_id"), 100)
    isil = text(get(data, "isil"), 16)
    if agreement_id is None or isil is None:
        return None
    # An event without its date still happened; the day it was handled is the best guess.
    on = day(get(data, date_field)) or today
    return ParticipationChange(agreement_id, isil, on, text(get(data, "reason"), 60))


@dataclass(frozen=True)
class BatchFacts:
    batch_id: str
    collection_id: str
    agreement_id: str | None
    received: int
    accepted: int
    updated: int
    duplicate: int
    rejected: int
    warnings: int
    records_in_collection: int


def batch_facts(data: Mapping[str, Any]) -> BatchFacts | None:
    batch_id = text(get(data, "batch_id"), 100)
    collection_id = text(get(data, "collection_id"), 100)
    if batch_id is None or collection_id is None:
        return None

    def count(name: str) -> int:
        return max(integer(get(data, f"counts.{name}")), 0)

    return BatchFacts(
        batch_id=batch_id,
        collection_id=collection_id,
        agreement_id=text(get(data, "agreement_id"), 100),
        received=count("received"),
        accepted=count("accepted"),
        updated=count("updated"),
        duplicate=count("duplicate"),
        rejected=count("rejected"),
        warnings=count("warnings"),
        records_in_collection=max(integer(get(data, "records_in_collection")), 0),
    )


def withdraws_collection(reason: str | None) -> bool:
    """A library loses a whole collection unless only some titles left the supplier's list."""
    return reason != "titles-removed"


# --- the live feed ----------------------------------------------------------------------------

# The payload fields each event's feed line may show. An allow-list, so personal data (contact
# names and addresses) and free text (descriptions, justifications) never reach the page.
FEED_FIELDS: dict[str, tuple[str, ...]] = {
    "member-joined": (
        "library.names.fi",
        "library.names.sv",
        "library.names.en",
        "library.population",
        "joined_on",
    ),
    "member-updated": ("library.names.fi", "library.names.sv", "library.names.en", "is_member"),
    "member-left": ("library.names.fi", "library.names.sv", "library.names.en", "effective_date"),
    "organisation-updated": ("organisation.names.fi", "organisation.business_id"),
    "kimppa-updated": ("kimppa_name", "library_system"),
    "population-figures-loaded": ("year", "municipalities", "population"),
    "agreement-version-published": ("agreement_version", "valid_from"),
    "agreement-version-accepted": ("isil", "agreement_version"),
    "contact-erased": ("isil", "erased_on"),
    "token-revoked": ("jti", "expires_at"),
    "usage-reported": ("agreement_id", "isil", "period", "report", "titles"),
    "usage-harvest-failed": ("agreement_id", "isil", "period", "report"),
    "invoice-discrepancy-found": ("agreement_id", "isil", "difference_cents"),
    "appeal-lodged": ("title", "case_number", "suspends"),
    "appeal-resolved": ("title", "case_number", "outcome"),
    "question-answered": ("title", "question_id"),
    "standstill-ended": ("title", "ended_on"),
    "decision-corrected": ("title", "revision", "reason", "standstill_ends_on"),
    "invoice-lines-issued": ("title", "period_start", "period_end", "cost_cents"),
    "cancellation-deadline-approaching": ("title", "cancellation_deadline", "days_before"),
    "entitlements-changed": ("agreement_id", "holder", "change"),
    "decision-recorded": ("decision_id", "body", "section"),
    "survey-opened": ("survey_id", "kind", "closes_on"),
    "survey-reminder-due": ("survey_id", "closes_on"),
    "survey-closed": ("survey_id", "kind"),
    "annual-report-published": ("isil", "year"),
    "need-proposed": ("material_type", "proposed_by"),
    "interest-registered": ("isil", "need_id"),
    "tender-opened": ("title", "kl_reference"),
    "tender-awarded": ("title", "supplier.name", "product"),
    "tender-cancelled": ("tender_id", "title"),
    "agreement-signed": ("title", "supplier.name", "annual_cost_cents"),
    "agreement-ended": ("title", "kind", "effective_on"),
    "agreement-joined": ("isil", "title", "participants"),
    "agreement-left": ("isil", "participants", "reason"),
    "titles-ingested": (
        "collection_id",
        "counts.accepted",
        "counts.rejected",
        "records_in_collection",
    ),
    "records-available": ("isil", "title", "count"),
    "records-withdrawn": ("isil", "count", "reason"),
    # The cause groups a campaign's or an announcement's mails into one item on the page.
    "message-delivered": ("kind", "isil", "status", "cause_id"),
    "campaign-sent": ("title", "recipients", "sent", "failed"),
    "announcement-published": ("title", "language"),
    "usage-digest-subscription-changed": ("isil", "subscribed"),
}


def feed_details(name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The allow-listed fields of a payload, flattened (``supplier.name`` → ``supplier_name``)."""
    details: dict[str, Any] = {}
    for path in FEED_FIELDS.get(name, ()):
        value = get(data, path)
        if isinstance(value, bool | int | float):
            details[path.replace(".", "_")] = value
        elif (shown := text(value)) is not None:
            details[path.replace(".", "_")] = redact(shown)
    return details


def redact(value: str, limit: int = REASON_LIMIT) -> str:
    """Mask e-mail addresses: dead-letter reasons and free text may quote a payload."""
    # Linear in the length of the text: a crafted reason cannot stall the dashboard.
    return mask_text(value)[:limit]


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedArea:
    """A library and the municipalities it serves (Statistics Finland codes)."""

    isil: str
    municipalities: tuple[str, ...]
    population: int


def served_population(libraries: Iterable[ServedArea]) -> int:
    """The population a set of libraries serves, each municipality counted once.

    Libraries share municipalities (a city library and its mobile library; a joint library of
    several towns beside each town's own): adding up their populations counted the same
    residents twice and put the consortium above 100 % of Finland. Events carry a library's
    population and its municipalities, not each municipality's own figure, so a library's
    population is spread evenly over its municipalities and each municipality counts the
    largest share any library reports for it. A library with no known municipality (seen
    before they were recorded) counts as an area of its own."""
    by_municipality: dict[str, float] = {}
    for library in libraries:
        codes = sorted(set(library.municipalities)) or [f"isil:{library.isil}"]
        each = max(library.population, 0) / len(codes)
        for code in codes:
            by_municipality[code] = max(by_municipality.get(code, 0.0), each)
    return round(sum(by_municipality.values()))


def share(part: int, whole: int = FINLAND_POPULATION) -> float:
    """Part of a whole as a fraction, rounded so that two replays print the same figure."""
    return round(part / whole, 6) if whole > 0 else 0.0


Interval = tuple[dt.date | None, dt.date | None]  # [from, until); None is open-ended


def chart_window(earliest: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    start = today - dt.timedelta(days=CHART_MIN_DAYS)
    if earliest is not None and earliest < start:
        start = max(earliest, today - dt.timedelta(days=CHART_MAX_DAYS))
    return start, today


def daily_counts(
    intervals: Iterable[Interval], start: dt.date, end: dt.date
) -> list[tuple[dt.date, int]]:
    """How many intervals cover each day from ``start`` to ``end`` inclusive (a sweep over the
    interval ends, so it costs the number of intervals plus the number of days)."""
    if end < start:
        return []
    change: dict[dt.date, int] = {}
    active = 0
    for began, until in intervals:
        if until is not None and (until <= start or (began is not None and until <= began)):
            continue  # over before the window, or an empty interval
        if began is None or began <= start:
            active += 1
        elif began <= end:
            change[began] = change.get(began, 0) + 1
        else:
            continue
        if until is not None and until <= end:
            change[until] = change.get(until, 0) - 1
    series: list[tuple[dt.date, int]] = []
    current = start
    while current <= end:
        if current != start:
            active += change.get(current, 0)
        series.append((current, active))
        current += dt.timedelta(days=1)
    return series
