"""Catalogue rules with no I/O: who should have which collection's records on a day, what a
withdrawal is called, and what an upload may look like.

The metadata rules themselves (formats, profile, dedup, quality, OAI-PMH, Melinda) live in
their own pure modules next to this one.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from contracts.membership import ISIL_PATTERN
from kit.rules import RuleViolated

WithdrawReason = Literal["agreement-left", "agreement-ended", "member-left", "titles-removed"]
LeaveReason = Literal["opt-out", "membership-ended", "agreement-ended"]
Mode = Literal["full", "delta"]

# Collection ids go into OAI-PMH setSpecs and URLs, so they keep to the setSpec's safe letters.
COLLECTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$"
MAX_FILENAME_CHARS = 200

# What a title list may be sent as. Multipart is the browser's and curl -F's way; the rest
# are raw bodies. The content decides the format; the type only has to be plausible.
RAW_CONTENT_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/marc",
        "application/marcxml+xml",
        "application/xml",
        "text/xml",
        "application/onix+xml",
        "text/tab-separated-values",
        "text/plain",
    }
)
MULTIPART = "multipart/form-data"


class CatalogueRuleViolated(RuleViolated, ValueError):
    """A request that breaks a catalogue rule; ``field`` names what to fix. A bad value by
    default (422); a rule about the current state passes ``status=409``."""

    def __init__(self, message: str, field: str, status: int = 422) -> None:
        super().__init__(message, field=field, status=status)
        self.message = message


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- participation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Participation:
    joined_on: dt.date
    left_on: dt.date | None = None  # first day no longer participating
    leave_reason: LeaveReason | None = None

    def on(self, day: dt.date) -> bool:
        return self.joined_on <= day and (self.left_on is None or day < self.left_on)


def should_have_records(
    participations: Iterable[Participation], ended_on: dt.date | None, day: dt.date
) -> bool:
    """A library's record set holds a collection's records while it takes part in the
    agreement and the agreement is in force."""
    if ended_on is not None and ended_on <= day:
        return False
    return any(p.on(day) for p in participations)


def withdraw_reason(
    participations: Iterable[Participation], ended_on: dt.date | None, day: dt.date
) -> WithdrawReason:
    """Why a library lost a collection's records, as records-withdrawn says it."""
    if ended_on is not None and ended_on <= day:
        return "agreement-ended"
    ended = [p for p in participations if p.left_on is not None and p.left_on <= day]
    latest = max(ended, key=lambda p: p.left_on or p.joined_on, default=None)
    if latest is not None and latest.leave_reason == "membership-ended":
        return "member-left"
    if latest is not None and latest.leave_reason == "agreement-ended":
        return "agreement-ended"
    return "agreement-left"


def open_participation(
    participations: Iterable[tuple[int, Participation]], left_on: dt.date
) -> int | None:
    """The participation an ``agreement-left`` with ``left_on`` ends: the latest that began
    before that day and has not ended before it."""
    candidates = [
        (pid, p)
        for pid, p in participations
        if p.joined_on <= left_on and (p.left_on is None or p.left_on > left_on)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda item: item[1].joined_on)[0]


# --- uploads -----------------------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> Literal["multipart", "raw"]:
    kind = media_type(content_type)
    if kind == MULTIPART:
        return "multipart"
    if kind in RAW_CONTENT_TYPES:
        return "raw"
    allowed = ", ".join(sorted(RAW_CONTENT_TYPES | {MULTIPART}))
    raise CatalogueRuleViolated(
        f"a title list cannot be sent as {kind or '(no content type)'}; use one of {allowed}",
        field="content-type",
        status=415,
    )


def check_filename(raw: str | None, *, field: str = "filename") -> str | None:
    """The file name to keep (metadata only: uploads are spooled under generated names).
    A name with path parts, control characters or a leading dot is refused, because it
    would be shown in reports and reach people's file systems through exports."""
    if raw is None or raw == "":
        return None
    name = unicodedata.normalize("NFC", raw)
    if len(name) > MAX_FILENAME_CHARS:
        raise CatalogueRuleViolated(
            f"the file name may be at most {MAX_FILENAME_CHARS} characters", field
        )
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise CatalogueRuleViolated(
                f"the file name contains a control character (U+{ord(char):04X})", field
            )
    if "/" in name or "\\" in name or ":" in name:
        raise CatalogueRuleViolated("the file name may not contain a path (/, \\ or :)", field)
    if name.startswith(".") or name != name.strip() or name.endswith("."):
        raise CatalogueRuleViolated(
            "the file name may not start with a dot or end with a dot or space", field
        )
    return name


def check_url_template(template: str | None) -> str | None:
    """An ONIX access-URL template: HTTP(S), with only the {isbn} and {reference} fields."""
    if template is None or template == "":
        return None
    if not template.startswith(("https://", "http://")):
        raise CatalogueRuleViolated("the URL template must be an http(s) URL", "url_template")
    for name in re.findall(r"{([^{}]*)}", template):
        if name not in ("isbn", "reference"):
            raise CatalogueRuleViolated(
                f"unknown field {{{name}}} in the URL template; use {{isbn}} or {{reference}}",
                "url_template",
            )
    try:
        template.format(isbn="9780000000000", reference="x")
    except (ValueError, IndexError, KeyError) as error:
        raise CatalogueRuleViolated(f"bad URL template: {error}", "url_template") from error
    return template


# --- licences ----------------------------------------------------------------------------------

# The permitted_status values of the licence term post_cancellation_access that grant access
# after leaving (agreement-signed's licence_terms).
GRANTING = frozenset({"permitted", "permitted_under_conditions"})


def post_cancellation_access(licence_terms: dict[str, object]) -> bool:
    """Whether an agreement's licence keeps a library's access to what it had after it
    leaves or the agreement ends. ``licence_terms`` maps term names to objects with a
    ``value`` (contracts.procurement.TermValue)."""
    term = licence_terms.get("post_cancellation_access")
    value = getattr(term, "value", None)
    return isinstance(value, str) and value in GRANTING


def whole_collection(price_model: str | None) -> bool:
    """Whether taking part gives the whole title list. Under a per-title price model (one
    copy, one user purchases) a library's set holds the titles it bought (its entitlements),
    not everything the supplier offers."""
    return price_model != "per-title"


def parse_holder(holder: str) -> tuple[str | None, str | None]:
    """entitlements-changed's holder: (ISIL, None) or (None, kimppa id)."""
    if holder.startswith(KIMPPA_PREFIX):
        return None, check_kimppa_id(holder[len(KIMPPA_PREFIX) :])
    if not re.match(ISIL_PATTERN, holder):
        raise CatalogueRuleViolated(
            f"holder {holder!r} is neither an ISIL nor 'kimppa:<id>'", "holder"
        )
    return holder, None


# --- kimppas ------------------------------------------------------------------------------------

# A kimppa's id goes into its OAI-PMH setSpec (kimppa:<id>) and identifiers.
KIMPPA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$"
KIMPPA_PREFIX = "kimppa:"


def check_kimppa_id(kimppa_id: str) -> str:
    if not re.match(KIMPPA_ID_PATTERN, kimppa_id):
        raise CatalogueRuleViolated(
            f"kimppa id {kimppa_id!r} cannot name an OAI-PMH set: use letters, digits, '-', "
            "'_' and '.', at most 64",
            "kimppa_id",
        )
    return kimppa_id


def kimppa_set(kimppa_id: str) -> str:
    return f"{KIMPPA_PREFIX}{kimppa_id}"


def harvest_set(isil: str, kimppa_id: str | None) -> str:
    """The one OAI-PMH set a library harvests: its kimppa's, or its own outside a kimppa."""
    return kimppa_set(kimppa_id) if kimppa_id else f"library:{isil}"


def kimppas_touched(before: dict[str, str | None], after: dict[str, str | None]) -> set[str]:
    """The kimppas whose sets a change of membership touches: the old and the new kimppa of
    every library that moved. ``before``/``after`` map an ISIL to its kimppa id (or None)."""
    touched: set[str] = set()
    for isil in before.keys() | after.keys():
        old, new = before.get(isil), after.get(isil)
        if old != new:
            touched.update(k for k in (old, new) if k)
    return touched


# --- OAI-PMH identifiers ---------------------------------------------------------------------


def master_identifier(namespace: str, record_id: int) -> str:
    """The OAI identifier of a collection's record."""
    return f"oai:{namespace}:{record_id}"


def library_identifier(namespace: str, isil: str, record_id: int) -> str:
    """The OAI identifier of a record in one library's set. It is a separate item from the
    collection's record because it has its own datestamp and deleted state."""
    return f"oai:{namespace}:{isil}:{record_id}"


def kimppa_identifier(namespace: str, kimppa_id: str, record_id: int) -> str:
    """The OAI identifier of a record in a kimppa's set: one item per record, however many
    of the kimppa's libraries hold it."""
    return f"oai:{namespace}:{KIMPPA_PREFIX}{kimppa_id}:{record_id}"


def parse_identifier(namespace: str, identifier: str) -> tuple[str | None, int] | None:
    """(owner or None, record id), or None when the identifier is not one of ours. The owner
    is an ISIL, or ``kimppa:<id>`` for an item of a kimppa's set."""
    prefix = f"oai:{namespace}:"
    if not identifier.startswith(prefix):
        return None
    local = identifier[len(prefix) :]
    owner, _, number = local.rpartition(":")
    if not number.isdigit() or len(number) > 18:
        return None
    if owner.startswith(KIMPPA_PREFIX):
        if not re.match(KIMPPA_ID_PATTERN, owner[len(KIMPPA_PREFIX) :]):
            return None
    elif owner and not re.match(ISIL_PATTERN, owner):
        return None
    return (owner or None), int(number)


# --- full loads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawalLimit:
    """How much one full load may withdraw before it is refused as a whole (unless forced).

    A file cut exactly at a record boundary (or a KBART row boundary) reads as a complete,
    shorter list; nothing in it shows the cut. What shows it is the share of the collection's
    titles the load would withdraw: a supplier's monthly list drops a few titles, not a fifth
    of them. Small collections are left out, where a handful of titles is a large share."""

    max_share: float = 0.2
    from_titles: int = 100

    def exceeded(self, *, active: int, missing: int) -> bool:
        return active >= max(self.from_titles, 1) and missing / active > self.max_share


NO_WITHDRAWAL_LIMIT = WithdrawalLimit(max_share=1.0)


def full_load_refusal(
    *,
    received: int,
    rejected: int,
    rest_unread_at: int | None,
    max_rejected_share: float,
    active_titles: int = 0,
    missing_titles: int = 0,
    withdrawal_limit: WithdrawalLimit = NO_WITHDRAWAL_LIMIT,
) -> str | None:
    """Why a full load may not withdraw titles, or None when it may.

    A full load says "these are all the titles": a title it lacks is withdrawn from every
    participating library. That is only true of a file read to its end. A file that stops
    early (a broken transfer) or whose records mostly fail says nothing reliable about what
    the supplier still offers, so such a load is refused as a whole unless forced."""
    if rest_unread_at is not None:
        return (
            f"the file ends early or breaks at record {rest_unread_at} (the rest of the file "
            "could not be read), so the titles after it cannot be told from withdrawn ones"
        )
    if received and rejected / received > max_rejected_share:
        return (
            f"{rejected} of {received} records ({rejected / received:.0%}) were rejected, "
            f"more than the {max_rejected_share:.0%} a full load may reject"
        )
    if withdrawal_limit.exceeded(active=active_titles, missing=missing_titles):
        return (
            f"the load would withdraw {missing_titles} of the collection's {active_titles} "
            f"titles ({missing_titles / active_titles:.0%}), more than the "
            f"{withdrawal_limit.max_share:.0%} one full load may withdraw; a file cut at a "
            "record boundary looks like this"
        )
    return None
