"""Events published by the usage service on ``konsortio.usage``.

All are keyed by agreement id, so a library's usage for an agreement stays in order with the
agreement's other usage events. ``period`` is a calendar month written ``YYYY-MM``, as
COUNTER writes months. Figures are whole counts of a COUNTER metric (``Total_Item_Requests``,
``Unique_Title_Requests``, ...) or of a supplier's own measures (``loans``,
``minutes_listened``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.base import Event

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
UsageSource = Literal["sushi", "counter-upload", "supplier-upload"]


class UsageReported(Event):
    """A library's usage of an agreement's titles for one month and one report was recorded,
    or corrected: a correction is a new ``revision`` and replaces the earlier figures."""

    name = "usage-reported"
    producer = "usage"
    key_field = "agreement_id"

    agreement_id: str
    isil: str = Field(description="The library (or the kimppa's lead library) the usage is of")
    period: str = Field(pattern=PERIOD_PATTERN, description="Month, YYYY-MM")
    report: str = Field(description="COUNTER report id (TR, TR_B1, PR) or SUPPLIER")
    source: UsageSource
    revision: int = Field(ge=1, description="1 for the first figures, +1 per correction")
    totals: dict[str, int] = Field(description="Metric → total count over all titles")
    titles: int = Field(ge=0, description="Titles with any use")


class UsageHarvestFailed(Event):
    """A SUSHI harvest of one month for one library gave up: the provider kept failing or
    refused the request. The job stays visible as failed and can be retried."""

    name = "usage-harvest-failed"
    producer = "usage"
    key_field = "agreement_id"

    agreement_id: str
    isil: str
    period: str = Field(pattern=PERIOD_PATTERN)
    report: str
    job_id: int
    attempts: int = Field(ge=1)
    reason: str
    sushi_code: int | None = Field(None, description="COUNTER_SUSHI exception code, if any")


class InvoiceDiscrepancyFound(Event):
    """An invoice for per-loan use differs from loans × the contract price by more than the
    tolerance the coordinator allowed."""

    name = "invoice-discrepancy-found"
    producer = "usage"
    key_field = "agreement_id"

    agreement_id: str
    isil: str | None = Field(None, description="The library invoiced; none for the whole deal")
    period_from: str = Field(pattern=PERIOD_PATTERN)
    period_to: str = Field(pattern=PERIOD_PATTERN)
    loans: int = Field(ge=0)
    price_per_loan_cents: int = Field(ge=0)
    expected_cents: int = Field(ge=0)
    invoiced_cents: int = Field(ge=0)
    difference_cents: int = Field(description="Invoiced minus expected")
    tolerance_cents: int = Field(ge=0)

    def broken_rule(self) -> str | None:
        if self.difference_cents != self.invoiced_cents - self.expected_cents:
            return (
                f"difference_cents {self.difference_cents} is not invoiced_cents "
                f"{self.invoiced_cents} minus expected_cents {self.expected_cents}"
            )
        return None


EVENTS: tuple[type[Event], ...] = (UsageReported, UsageHarvestFailed, InvoiceDiscrepancyFound)
