"""What catalogue reacts to. Each handler runs inside the consumer's inbox transaction, so the
collection or participation change, the record-set change and its records-available or
records-withdrawn event commit together with the event's inbox row; a redelivery is skipped.

- agreement-signed  → a collection for the agreement (its id is the agreement id)
- agreement-joined  → participation; the library's set gains the collection's records
                      (records-available), on the day it joins
- agreement-left    → participation ends; the records are withdrawn from that day
                      (records-withdrawn; they stay visible as deleted)
- agreement-ended   → every participation ends; every set loses the collection's records
- member-left       → the library leaves every agreement it takes part in
- member-joined, member-updated → the library's name and kimppa (``library.kimppa``)
- kimppa-updated    → the kimppa's name, Melinda holding code and libraries now; the sets of
                      kimppas that gained or lost a library are re-derived
- entitlements-changed → titles a library or kimppa bought (added) or no longer holds
                      (expired): its set gains or loses them by ISBN, unless another
                      purchase, the whole collection or post-cancellation access covers them
"""

from __future__ import annotations

import datetime as dt

from contracts.membership import KimppaUpdated, MemberJoined, MemberLeft, MemberUpdated
from contracts.procurement import (
    AgreementEnded,
    AgreementJoined,
    AgreementLeft,
    AgreementSigned,
    EntitlementsChanged,
)
from kit.consumer import Delivery, Reactions
from services.catalogue import commands
from services.catalogue.commands import kimppa

reactions = Reactions()


def _today() -> dt.date:
    return dt.date.today()


@reactions.on(AgreementSigned)
async def create_collection(delivery: Delivery, event: AgreementSigned) -> None:
    await commands.agreement_signed(delivery.conn, event)


@reactions.on(AgreementJoined)
async def give_records(delivery: Delivery, event: AgreementJoined) -> None:
    await commands.agreement_joined(delivery.conn, event, _today())


@reactions.on(AgreementLeft)
async def withdraw_records(delivery: Delivery, event: AgreementLeft) -> None:
    await commands.agreement_left(delivery.conn, event, _today())


@reactions.on(AgreementEnded)
async def end_collection(delivery: Delivery, event: AgreementEnded) -> None:
    await commands.agreement_ended(delivery.conn, event, _today())


@reactions.on(MemberLeft)
async def leave_every_agreement(delivery: Delivery, event: MemberLeft) -> None:
    await commands.member_left(delivery.conn, event, _today())


@reactions.on(MemberJoined)
async def library_joined(delivery: Delivery, event: MemberJoined) -> None:
    moved = await kimppa.library_known(delivery.conn, event.library)
    await commands.libraries_moved(delivery.conn, moved, _today())


@reactions.on(MemberUpdated)
async def library_updated(delivery: Delivery, event: MemberUpdated) -> None:
    moved = await kimppa.library_known(delivery.conn, event.library)
    await commands.libraries_moved(delivery.conn, moved, _today())


@reactions.on(KimppaUpdated)
async def kimppa_updated(delivery: Delivery, event: KimppaUpdated) -> None:
    moved = await kimppa.kimppa_updated(delivery.conn, event)
    await commands.libraries_moved(delivery.conn, moved, _today())


@reactions.on(EntitlementsChanged)
async def titles_entitled(delivery: Delivery, event: EntitlementsChanged) -> None:
    await commands.entitlements_changed(delivery.conn, event, _today())
