"""Needs and non-binding interest: a library proposes a need for itself, the
coordinator for any library; every caller may read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kit.app import pool_of
from kit.errors import ApiError
from services.procurement import commands, store
from services.procurement.api_common import (
    MAX_CENTS,
    AnyCaller,
    IdPath,
    LibraryOrCoordinator,
    Page,
    Paged,
    Text,
    for_library,
    run,
    today,
)
from services.procurement.domain import (
    Device,
    LibrarySystem,
    LicenceModel,
    MaterialType,
)

router = APIRouter(tags=["procurement"])


class NeedIn(BaseModel):
    proposed_by: Annotated[Text | None, Field(max_length=16)] = Field(
        None, description="ISIL of the proposing member; a library token defaults to its own"
    )
    material_type: MaterialType
    description: Annotated[Text, Field(min_length=1, max_length=10_000)]
    accepted_licence_models: list[LicenceModel] = Field(min_length=1, max_length=3)
    required_devices: list[Device] = Field(default_factory=list, max_length=4)
    required_library_systems: list[LibrarySystem] = Field(default_factory=list, max_length=6)


class NeedOut(BaseModel):
    id: str
    proposed_by: str
    material_type: MaterialType
    description: str
    accepted_licence_models: list[LicenceModel]
    required_devices: list[Device]
    required_library_systems: list[LibrarySystem]
    proposed_on: dt.date
    interested: int = Field(description="Libraries that registered interest")


class NeedPage(Page):
    items: list[NeedOut]


class InterestIn(BaseModel):
    isil: Annotated[Text | None, Field(max_length=16)] = Field(
        None, description="The interested member; a library token defaults to its own"
    )
    indicative_budget_cents: int | None = Field(None, ge=0, le=MAX_CENTS)


class InterestOut(BaseModel):
    need_id: str
    isil: str
    indicative_budget_cents: int | None
    registered_on: dt.date


class InterestPage(Page):
    items: list[InterestOut]


def _need_out(record: store.NeedRecord) -> NeedOut:
    need = record.need
    return NeedOut(
        id=need.id,
        proposed_by=need.proposed_by,
        material_type=need.material_type,
        description=need.description,
        accepted_licence_models=sorted(need.accepted_licence_models),
        required_devices=sorted(need.required_devices),
        required_library_systems=sorted(need.required_library_systems),
        proposed_on=record.proposed_on,
        interested=record.interested,
    )


async def _need(request: Request, need_id: str) -> store.NeedRecord:
    record = await store.get_need(pool_of(request), need_id)
    if record is None:
        raise ApiError(404, f"no need {need_id}", field="need_id")
    return record


@router.post("/needs", status_code=201, response_model=NeedOut, summary="Propose a need")
async def propose_need(body: NeedIn, request: Request, caller: LibraryOrCoordinator) -> NeedOut:
    isil = for_library(caller, body.proposed_by, "proposed_by")
    need = await run(
        lambda: commands.propose_need(
            pool_of(request),
            proposed_by=isil,
            material_type=body.material_type,
            description=body.description,
            accepted_licence_models=body.accepted_licence_models,
            required_devices=body.required_devices,
            required_library_systems=body.required_library_systems,
            today=today(),
        )
    )
    return _need_out(await _need(request, need.id))


@router.get("/needs", response_model=NeedPage, summary="List and filter needs")
async def list_needs(
    request: Request,
    _: AnyCaller,
    paging: Paged,
    material_type: MaterialType | None = None,
    proposed_by: Annotated[Text | None, Query(max_length=16)] = None,
    interested: Annotated[
        Text | None, Query(max_length=16, description="ISIL that registered interest")
    ] = None,
    q: Annotated[Text | None, Query(max_length=100, description="Description contains")] = None,
) -> NeedPage:
    records, total = await store.list_needs(
        pool_of(request),
        store.NeedFilter(
            material_type.value if material_type else None, proposed_by, interested, q
        ),
        limit=paging.limit,
        offset=paging.offset,
    )
    return paging.page(NeedPage, [_need_out(r) for r in records], total)


@router.get("/needs/{need_id}", response_model=NeedOut, summary="One need")
async def get_need(need_id: IdPath, request: Request, _: AnyCaller) -> NeedOut:
    return _need_out(await _need(request, need_id))


@router.post(
    "/needs/{need_id}/interest",
    status_code=201,
    response_model=InterestOut,
    summary="Register non-binding interest (interest-registered)",
)
async def register_interest(
    need_id: IdPath, body: InterestIn, request: Request, caller: LibraryOrCoordinator
) -> InterestOut:
    isil = for_library(caller, body.isil, "isil")
    day = today()
    interest = await run(
        lambda: commands.register_interest(
            pool_of(request), need_id, isil, body.indicative_budget_cents, day
        )
    )
    return InterestOut(
        need_id=interest.need_id,
        isil=interest.isil,
        indicative_budget_cents=interest.indicative_budget_cents,
        registered_on=day,
    )


@router.get("/needs/{need_id}/interest", response_model=InterestPage, summary="Interest in a need")
async def list_interest(
    need_id: IdPath, request: Request, _: AnyCaller, paging: Paged
) -> InterestPage:
    await _need(request, need_id)
    records = await store.interests(pool_of(request), need_id)
    return paging.page(
        InterestPage,
        [
            InterestOut(
                need_id=r.interest.need_id,
                isil=r.interest.isil,
                indicative_budget_cents=r.interest.indicative_budget_cents,
                registered_on=r.registered_on,
            )
            for r in paging.window(records)
        ],
        len(records),
    )
