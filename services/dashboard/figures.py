"""The consortium's key figures, read from the read model in one consistent snapshot.

The same ``Figures`` feed the page and ``GET /api/figures``. Nothing in them depends on when
an event was received, only on the events themselves and today's date, so two dashboards that
have consumed the same topics show the same figures.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
from pydantic import BaseModel, Field

from services.dashboard import domain, store


class MemberFigures(BaseModel):
    active: int = Field(description="Libraries that are members now")
    population: int = Field(
        description="Population the active members serve, each municipality counted once"
    )
    population_share: float = Field(description="That population as a share of Finland's")


class AgreementFigure(BaseModel):
    agreement_id: str
    title: str | None
    supplier: str | None
    product: str | None
    material_types: list[str]
    active: bool = Field(description="In force today")
    participants: int = Field(description="Libraries taking part today")
    population: int = Field(
        description="Population the participants serve, each municipality counted once"
    )
    population_share: float = Field(description="Coverage: that population over Finland's")
    annual_cost_cents: int | None
    signed_on: dt.date | None
    ended_on: dt.date | None = Field(description="First day no longer in force")
    valid_from: dt.date | None = Field(None, description="Start of its first period")
    valid_until: dt.date | None = Field(None, description="End of its last period")


class AgreementFigures(BaseModel):
    active: int
    participants: int = Field(description="Participations in active agreements")
    annual_cost_cents: int = Field(description="Annual cost of the active agreements")
    items: list[AgreementFigure]


class CollectionFigure(BaseModel):
    collection_id: str
    title: str | None
    agreement_id: str | None
    records: int = Field(description="Records in the collection after its latest batch")
    libraries: int = Field(description="Libraries whose record set holds the collection")
    batches: int
    received: int
    rejected: int
    duplicate: int
    warnings: int
    accepted_share: float | None = Field(
        description="Share of received records that passed the metadata profile"
    )


class CatalogueFigures(BaseModel):
    collections: int
    records: int
    items: list[CollectionFigure]


class DeliveryKind(BaseModel):
    kind: str
    sent: int
    failed: int


class OutreachFigures(BaseModel):
    sent: int
    failed: int
    by_kind: list[DeliveryKind]
    campaigns: int
    announcements: int


class ProcurementFigures(BaseModel):
    needs: int
    interests: int
    tenders_open: int
    tenders_awarded: int
    tenders_cancelled: int


class Point(BaseModel):
    date: dt.date
    count: int


class History(BaseModel):
    start: dt.date
    end: dt.date
    membership: list[Point] = Field(description="Member libraries per day")
    participation: list[Point] = Field(description="Agreement participations per day")


class Figures(BaseModel):
    as_of: dt.date
    finland_population: int
    members: MemberFigures
    agreements: AgreementFigures
    catalogue: CatalogueFigures
    outreach: OutreachFigures
    procurement: ProcurementFigures
    history: History


async def figures(pool: asyncpg.Pool, today: dt.date) -> Figures:
    # One repeatable-read snapshot: the figures never mix states from before and after an event.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        members = await store.active_members(conn)
        agreement_rows = await store.agreements(conn, today)
        participants = await store.participants_today(conn, today)
        collection_rows = await store.collections(conn)
        kinds = await store.delivery_counts(conn)
        campaigns, announcements = await store.outreach_totals(conn)
        procurement = await store.procurement_totals(conn)
        membership_intervals = await store.membership_intervals(conn)
        participation_intervals = await store.participation_intervals(conn)

    population = domain.served_population(members)
    agreements = []
    for row in agreement_rows:
        served = domain.served_population(participants.get(row["agreement_id"], []))
        agreements.append(
            AgreementFigure(
                **{k: row[k] for k in AgreementFigure.model_fields if k in row},
                population=served,
                population_share=domain.share(served),
            )
        )
    active = [a for a in agreements if a.active]
    collections = [
        CollectionFigure(
            **{k: row[k] for k in CollectionFigure.model_fields if k in row},
            accepted_share=(
                round((row["received"] - row["rejected"]) / row["received"], 4)
                if row["received"]
                else None
            ),
        )
        for row in collection_rows
    ]
    starts = [began for began, _ in (*membership_intervals, *participation_intervals) if began]
    start, end = domain.chart_window(min(starts) if starts else None, today)
    return Figures(
        as_of=today,
        finland_population=domain.FINLAND_POPULATION,
        members=MemberFigures(
            active=len(members),
            population=population,
            population_share=domain.share(population),
        ),
        agreements=AgreementFigures(
            active=len(active),
            participants=sum(a.participants for a in active),
            annual_cost_cents=sum(a.annual_cost_cents or 0 for a in active),
            items=agreements,
        ),
        catalogue=CatalogueFigures(
            collections=len(collections),
            records=sum(c.records for c in collections),
            items=collections,
        ),
        outreach=OutreachFigures(
            sent=sum(k["sent"] for k in kinds),
            failed=sum(k["failed"] for k in kinds),
            by_kind=[DeliveryKind(**k) for k in kinds],
            campaigns=campaigns,
            announcements=announcements,
        ),
        procurement=ProcurementFigures(**procurement),
        history=History(
            start=start,
            end=end,
            membership=[
                Point(date=d, count=c)
                for d, c in domain.daily_counts(membership_intervals, start, end)
            ],
            participation=[
                Point(date=d, count=c)
                for d, c in domain.daily_counts(participation_intervals, start, end)
            ],
        ),
    )
