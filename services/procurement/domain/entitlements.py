"""Title-level entitlements, as Finnish e-lending buys them.

An entitlement is what one holder (a library, by ISIL, or a kimppa, by its id) has bought
of one title (ISBN) under one agreement: its licence model, copies, loans left, when it
expires, when it was acquired and the order it came from.

Licence models suppliers sell to Finnish libraries:

- ``one-copy-one-user`` perpetual: one loan at a time per copy, for good;
- ``one-copy-one-user-time-limited``: the same for a number of months (``expires_on``);
- ``loan-limited``: a number of loans (``loans_left``), sometimes also time-limited;
- ``metered-per-loan``: paid per loan, nothing held between loans;
- ``simultaneous-use``: any number of concurrent loans (copies "unlimited");
- ``subscription``: access while the subscription runs (``expires_on``).

"Unlimited" is a value (:data:`UNLIMITED`), never a missing term. Comparing terms: more
concurrent users is better; a longer loan period is not always better (it keeps a copy
from the queue), so loan periods are compared only for equality.

Leaving the consortium ends a library's participation in the consortium's agreements, not
its own call-off contracts, and entitlements that survive (perpetual ones, and those with
post-cancellation access) stay with it: :func:`survives_leaving`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ._checks import coerce_enum, require_date, require_int, require_text
from .errors import InvalidValue

#: Copies value meaning "no limit on concurrent use".
UNLIMITED = -1


class TitleLicenceModel(StrEnum):
    ONE_COPY_ONE_USER = "one-copy-one-user"
    ONE_COPY_ONE_USER_TIME_LIMITED = "one-copy-one-user-time-limited"
    LOAN_LIMITED = "loan-limited"
    METERED_PER_LOAN = "metered-per-loan"
    SIMULTANEOUS_USE = "simultaneous-use"
    SUBSCRIPTION = "subscription"


_ISBN = re.compile(r"^97[89]\d{10}$")


def normalise_isbn(value: object, field: str = "isbn") -> str:
    """An ISBN-13 without hyphens or spaces, with its check digit verified."""
    if not isinstance(value, str):
        raise InvalidValue(field, "must be an ISBN-13")
    digits = value.replace("-", "").replace(" ", "")
    if not _ISBN.fullmatch(digits):
        raise InvalidValue(field, f"not an ISBN-13: {value!r}")
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits[:12]))
    if (10 - total % 10) % 10 != int(digits[12]):
        raise InvalidValue(field, f"the check digit of {value!r} is wrong")
    return digits


@dataclass(frozen=True, slots=True)
class Entitlement:
    holder: str
    agreement_id: str
    isbn: str
    model: TitleLicenceModel
    acquired_on: date
    #: Concurrent copies; :data:`UNLIMITED` for simultaneous use.
    copies: int = 1
    loans_left: int | None = None
    #: First day no longer held (an effective date); None: no end date.
    expires_on: date | None = None
    order_reference: str = ""
    #: True when the supplier grants access after the agreement ends.
    post_cancellation_access: bool = False

    def __post_init__(self) -> None:
        require_text("holder", self.holder, max_length=100)
        require_text("agreement_id", self.agreement_id, max_length=100)
        object.__setattr__(self, "isbn", normalise_isbn(self.isbn))
        model = coerce_enum("model", TitleLicenceModel, self.model)
        object.__setattr__(self, "model", model)
        require_date("acquired_on", self.acquired_on)
        if self.copies != UNLIMITED:
            require_int("copies", self.copies, minimum=0, maximum=100_000)
        if model is TitleLicenceModel.SIMULTANEOUS_USE and self.copies != UNLIMITED:
            raise InvalidValue("copies", "simultaneous use is unlimited (copies = -1)")
        if model is not TitleLicenceModel.SIMULTANEOUS_USE and self.copies == UNLIMITED:
            raise InvalidValue("copies", f"{model.value} has a number of copies")
        if self.loans_left is not None:
            require_int("loans_left", self.loans_left, minimum=0)
        if model is TitleLicenceModel.LOAN_LIMITED and self.loans_left is None:
            raise InvalidValue("loans_left", "a loan-limited licence states its loans")
        if self.expires_on is not None:
            require_date("expires_on", self.expires_on)
            if self.expires_on <= self.acquired_on:
                raise InvalidValue("expires_on", "must be after acquired_on")
        needs_end = (
            TitleLicenceModel.ONE_COPY_ONE_USER_TIME_LIMITED,
            TitleLicenceModel.SUBSCRIPTION,
        )
        if model in needs_end and self.expires_on is None:
            raise InvalidValue("expires_on", f"a {model.value} licence states when it ends")
        if model is TitleLicenceModel.ONE_COPY_ONE_USER and self.expires_on is not None:
            raise InvalidValue("expires_on", "a perpetual licence does not expire")

    def held_on(self, day: date) -> bool:
        return (
            self.acquired_on <= day
            and (self.expires_on is None or day < self.expires_on)
            and (self.loans_left is None or self.loans_left > 0)
        )


def survives_leaving(entitlement: Entitlement) -> bool:
    """Stays with a library that leaves the consortium: perpetual titles and those with
    post-cancellation access."""
    return (
        entitlement.model is TitleLicenceModel.ONE_COPY_ONE_USER
        or entitlement.post_cancellation_access
    )


def due_to_expire(entitlements: Iterable[Entitlement], today: date) -> tuple[Entitlement, ...]:
    """Entitlements whose end date has come, by holder and ISBN."""
    require_date("today", today)
    return tuple(
        sorted(
            (e for e in entitlements if e.expires_on is not None and e.expires_on <= today),
            key=lambda e: (e.holder, e.isbn),
        )
    )


def end_on_leaving(entitlement: Entitlement, effective_on: date) -> Entitlement | None:
    """The entitlement as it stands once the holder has left on ``effective_on``: unchanged
    if it survives, else ending then (None if it would end before it began)."""
    if survives_leaving(entitlement):
        return entitlement
    if entitlement.expires_on is not None and entitlement.expires_on <= effective_on:
        return entitlement
    if effective_on <= entitlement.acquired_on:
        return None
    return dataclasses.replace(entitlement, expires_on=effective_on)


# --- KBART -----------------------------------------------------------------------------------

#: KBART phase II columns used here, plus Konsortio's licence columns at the end (KBART
#: allows local columns after the standard ones).
KBART_COLUMNS = (
    "publication_title",
    "print_identifier",
    "online_identifier",
    "date_first_issue_online",
    "num_first_vol_online",
    "num_first_issue_online",
    "date_last_issue_online",
    "num_last_vol_online",
    "num_last_issue_online",
    "title_url",
    "first_author",
    "title_id",
    "embargo_info",
    "coverage_depth",
    "notes",
    "publisher_name",
    "publication_type",
    "date_monograph_published_print",
    "date_monograph_published_online",
    "monograph_volume",
    "monograph_edition",
    "first_editor",
    "parent_publication_title_id",
    "preceding_publication_title_id",
    "access_type",
    "licence_model",
    "copies",
    "loans_left",
    "expires_on",
    "acquired_on",
    "order_reference",
)


@dataclass(frozen=True, slots=True)
class KbartRow:
    title: str
    isbn: str
    access_type: str
    coverage_depth: str


def parse_kbart(
    text: str,
    *,
    holder: str,
    agreement_id: str,
    default_acquired_on: date,
    delimiter: str = "\t",
) -> tuple[tuple[Entitlement, ...], tuple[str, ...]]:
    """Entitlements from a KBART file (tab-separated, header first; or the same columns as
    comma-separated CSV) with Konsortio's licence columns; rows without them are perpetual
    one-copy-one-user titles acquired on ``default_acquired_on``. Returns the entitlements
    and, for bad rows, "line N: problem"."""
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = reader.fieldnames or []
    if "online_identifier" not in header and "print_identifier" not in header:
        raise InvalidValue(
            "kbart", "the header names neither online_identifier nor print_identifier"
        )
    found: list[Entitlement] = []
    problems: list[str] = []
    for n, row in enumerate(reader, start=2):
        try:
            isbn = (row.get("online_identifier") or row.get("print_identifier") or "").strip()
            copies_text = (row.get("copies") or "1").strip()
            copies = UNLIMITED if copies_text.lower() == "unlimited" else int(copies_text)
            loans = (row.get("loans_left") or "").strip()
            expires = (row.get("expires_on") or "").strip()
            acquired = (row.get("acquired_on") or "").strip()
            model = (row.get("licence_model") or "one-copy-one-user").strip()
            # Access type F (free of further charge) is implied by a perpetual licence; on
            # any other model it means access after cancellation.
            free = (row.get("access_type") or "").strip().upper() == "F"
            found.append(
                Entitlement(
                    holder=holder,
                    agreement_id=agreement_id,
                    isbn=isbn,
                    model=model,  # type: ignore[arg-type]  # a raw value; Entitlement coerces it to its enum
                    acquired_on=date.fromisoformat(acquired) if acquired else default_acquired_on,
                    copies=copies,
                    loans_left=int(loans) if loans else None,
                    expires_on=date.fromisoformat(expires) if expires else None,
                    order_reference=(row.get("order_reference") or "").strip(),
                    post_cancellation_access=free and model != TitleLicenceModel.ONE_COPY_ONE_USER,
                )
            )
        except (InvalidValue, ValueError) as exc:
            problems.append(f"line {n}: {exc}")
    return tuple(found), tuple(problems)


def render_kbart(entitlements: Iterable[Entitlement], titles: dict[str, str] | None = None) -> str:
    """A holder's holdings as KBART (tab-separated, LF, header first). ``access_type`` is F
    (free of further charge: held for good) for surviving titles, P (paid) otherwise."""
    titles = titles or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(KBART_COLUMNS)
    for e in sorted(entitlements, key=lambda e: e.isbn):
        values = dict.fromkeys(KBART_COLUMNS, "")
        values.update(
            publication_title=titles.get(e.isbn, ""),
            online_identifier=e.isbn,
            title_id=e.isbn,
            coverage_depth="fulltext",
            publication_type="monograph",
            access_type="F" if survives_leaving(e) else "P",
            licence_model=e.model.value,
            copies="unlimited" if e.copies == UNLIMITED else str(e.copies),
            loans_left="" if e.loans_left is None else str(e.loans_left),
            expires_on=e.expires_on.isoformat() if e.expires_on else "",
            acquired_on=e.acquired_on.isoformat(),
            order_reference=e.order_reference,
        )
        writer.writerow([values[c] for c in KBART_COLUMNS])
    return buffer.getvalue()
