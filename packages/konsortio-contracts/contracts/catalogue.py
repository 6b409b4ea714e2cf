"""Events published by the catalogue service on ``konsortio.catalogue``.

``titles-ingested`` is keyed by collection id; per-library record-set events by ISIL, so that
a library's ``records-withdrawn`` never overtakes its ``records-available``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.base import Event, Payload


class IngestCounts(Payload):
    received: int = Field(ge=0)
    accepted: int = Field(ge=0, description="New records")
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    duplicate: int = Field(ge=0, description="Merged into another record of the batch")
    rejected: int = Field(ge=0, description="Failed the metadata profile or unreadable")
    withdrawn: int = Field(ge=0, description="Full loads: titles no longer on the list")
    warnings: int = Field(ge=0)


class TitlesIngested(Event):
    """A supplier title list was loaded into a collection."""

    name = "titles-ingested"
    producer = "catalogue"
    key_field = "collection_id"

    batch_id: str
    collection_id: str
    agreement_id: str | None
    format: Literal["onix", "marc", "marcxml", "kbart"]
    mode: Literal["full", "delta"]
    counts: IngestCounts
    records_in_collection: int = Field(ge=0)


class RecordsAvailable(Event):
    """A library's record set gained a collection's records (it joined the agreement, or new
    titles arrived in a collection it takes part in)."""

    name = "records-available"
    producer = "catalogue"
    key_field = "isil"

    isil: str
    collection_id: str
    agreement_id: str | None
    title: str = Field(description="The collection's title, for notices")
    count: int = Field(ge=0, description="Records made available by this change")
    reason: Literal["agreement-joined", "titles-added"] | None = Field(
        None,
        description=(
            "agreement-joined: the library's set gained the whole collection; titles-added: "
            "new titles were loaded into a collection the library already has"
        ),
    )
    oai_set: str | None = Field(
        None,
        description=(
            "The OAI-PMH set the library harvests these records from: kimppa:<id> for a "
            "library in a kimppa (the kimppa's one shared set), else library:<ISIL> "
            "(since 1.6)"
        ),
    )

    def broken_rule(self) -> str | None:
        if self.reason == "titles-added" and self.count == 0:
            return "count is 0 for titles-added: new titles make at least one record available"
        return None


class RecordsWithdrawn(Event):
    """A library's record set lost a collection's records; they stay visible as deleted."""

    name = "records-withdrawn"
    producer = "catalogue"
    key_field = "isil"

    isil: str
    collection_id: str
    agreement_id: str | None
    count: int = Field(ge=0)
    reason: Literal["agreement-left", "agreement-ended", "member-left", "titles-removed"]


EVENTS: tuple[type[Event], ...] = (TitlesIngested, RecordsAvailable, RecordsWithdrawn)
