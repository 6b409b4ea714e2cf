"""What usage reacts to: procurement's agreements and participations (for cost shares and for
who may be harvested), membership's libraries (population, which per-capita shares need) and
kimppas (whose libraries read the usage held by their kimppa).
Every handler is an upsert, so a redelivery changes nothing."""

from __future__ import annotations

from contracts.membership import KimppaUpdated, Library, MemberJoined, MemberUpdated
from contracts.procurement import AgreementJoined, AgreementLeft, AgreementSigned
from kit.consumer import Delivery, Reactions
from services.usage import store

reactions = Reactions()


@reactions.on(AgreementSigned)
async def on_agreement_signed(delivery: Delivery, event: AgreementSigned) -> None:
    await store.upsert_agreement(
        delivery.conn,
        event.agreement_id,
        event.title,
        event.annual_cost_cents,
        event.cost_share_model,
        event.base_fee_cents,
        event.price_model,
    )


@reactions.on(AgreementJoined)
async def on_agreement_joined(delivery: Delivery, event: AgreementJoined) -> None:
    await store.join(delivery.conn, event.agreement_id, event.isil, event.joined_on)


@reactions.on(AgreementLeft)
async def on_agreement_left(delivery: Delivery, event: AgreementLeft) -> None:
    await store.leave(delivery.conn, event.agreement_id, event.isil, event.left_on)


async def _library(delivery: Delivery, lib: Library) -> None:
    await store.upsert_library(delivery.conn, lib.isil, lib.names.fi, lib.population)
    if lib.kimppa is not None:
        kimppa = lib.kimppa
        await store.upsert_kimppa(delivery.conn, kimppa.id, kimppa.name, kimppa.library_system)
    await store.set_library_kimppa(
        delivery.conn, lib.isil, lib.kimppa.id if lib.kimppa is not None else None
    )


@reactions.on(MemberJoined)
async def on_member_joined(delivery: Delivery, event: MemberJoined) -> None:
    await _library(delivery, event.library)


@reactions.on(MemberUpdated)
async def on_member_updated(delivery: Delivery, event: MemberUpdated) -> None:
    await _library(delivery, event.library)


@reactions.on(KimppaUpdated)
async def on_kimppa_updated(delivery: Delivery, event: KimppaUpdated) -> None:
    await store.upsert_kimppa(
        delivery.conn, event.kimppa_id, event.kimppa_name, event.library_system
    )
    await store.set_kimppa_libraries(delivery.conn, event.kimppa_id, event.libraries)
