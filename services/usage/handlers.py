"""What usage reacts to: procurement's agreements and participations (for cost shares and for
who may be harvested) and membership's libraries (population, which per-capita shares need).
Every handler is an upsert, so a redelivery changes nothing."""

from __future__ import annotations

from contracts.membership import MemberJoined, MemberUpdated
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


@reactions.on(MemberJoined)
async def on_member_joined(delivery: Delivery, event: MemberJoined) -> None:
    lib = event.library
    await store.upsert_library(delivery.conn, lib.isil, lib.names.fi, lib.population)


@reactions.on(MemberUpdated)
async def on_member_updated(delivery: Delivery, event: MemberUpdated) -> None:
    lib = event.library
    await store.upsert_library(delivery.conn, lib.isil, lib.names.fi, lib.population)
