"""Procurement HTTP API, composed of one router per area.

Roles: the procurement role runs tenders, bids, tests and the award; the coordinator signs,
renews and terminates agreements; a library proposes needs, registers interest and opts in
or out for itself only (the coordinator may do those for any library). Every authenticated
caller may read, except bids, tests and scores, which stay with procurement and the
coordinator (bids are confidential until the award).

This module holds the reference data (procurement's copy of the members and the licence-term
catalogue); each area has its own module (``api_needs``, ``api_tenders``, ``api_bids``,
``api_awards``, ``api_tender_documents``, ``api_appeals``, ``api_agreements``,
``api_billing``, ``api_entitlements``), and ``ROUTERS`` lists them all in the order their
paths appear in the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kit.app import pool_of
from services.procurement import (
    api_agreements,
    api_appeals,
    api_awards,
    api_bids,
    api_billing,
    api_entitlements,
    api_needs,
    api_tender_documents,
    api_tenders,
    domain,
    store,
)
from services.procurement.api_common import AnyCaller, DayQuery, Page, Paged, Text, today
from services.procurement.domain import TERM_CATALOGUE, LibrarySystem

router = APIRouter(tags=["procurement"])
catalogue_router = APIRouter(tags=["procurement"])


# --- members ----------------------------------------------------------------------------------


class MemberOut(BaseModel):
    isil: str
    name: str
    names: dict[str, str | None]
    population: int
    municipalities: list[str]
    library_system: LibrarySystem
    library_system_text: str = Field(description="As membership recorded it")
    joined_on: dt.date
    left_on: dt.date | None
    active: bool = Field(description="An active consortium member today")


class MemberPage(Page):
    items: list[MemberOut]


@router.get("/members", response_model=MemberPage, summary="Procurement's copy of the members")
async def list_members(
    request: Request,
    _: AnyCaller,
    paging: Paged,
    q: Annotated[Text | None, Query(max_length=100, description="ISIL or name contains")] = None,
    active_on: DayQuery = None,
    library_system: LibrarySystem | None = None,
) -> MemberPage:
    records, total = await store.list_members(
        pool_of(request),
        store.MemberFilter(q, active_on, library_system.value if library_system else None),
        limit=paging.limit,
        offset=paging.offset,
    )
    day = today()
    return paging.page(
        MemberPage,
        [
            MemberOut(
                isil=r.member.isil,
                name=r.member.name,
                names=r.names,
                population=r.member.population,
                municipalities=r.municipalities,
                library_system=LibrarySystem(r.library_system),
                library_system_text=r.library_system_text,
                joined_on=r.member.joined_on,
                left_on=r.member.left_on,
                active=r.member.is_active_on(day),
            )
            for r in records
        ],
        total,
    )


# --- the term catalogue ---------------------------------------------------------------------


class TermDefinitionOut(BaseModel):
    name: str
    label: str
    type: str
    minimum: int | None
    choices: list[str] | None


@catalogue_router.get(
    "/licence-terms",
    response_model=list[TermDefinitionOut],
    summary="The catalogue of licence terms a bid may state",
)
async def licence_terms(_: AnyCaller) -> list[TermDefinitionOut]:
    return [
        TermDefinitionOut(
            name=d.name.value,
            label=d.label,
            type=d.type.value,
            minimum=d.minimum if d.type is domain.TermType.NUMBER else None,
            choices=[str(c.value) for c in d.choices] if d.choices else None,
        )
        for d in TERM_CATALOGUE.values()
    ]


ROUTERS = [
    router,
    api_needs.router,
    api_tenders.router,
    api_bids.router,
    api_awards.router,
    api_tender_documents.router,
    api_appeals.router,
    api_agreements.router,
    api_billing.router,
    api_entitlements.router,
    catalogue_router,
]
