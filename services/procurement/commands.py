"""Procurement commands: load, apply the domain rule, store, and record the events, all in one
transaction. The HTTP API, the event handlers and the scheduled jobs all go through here.

Lock order, the same in every command so that none can deadlock another:
member → tender or agreement → participations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from contracts import procurement as events
from contracts.membership import Library
from contracts.usage import UsageReported
from kit.outbox import record_event
from services.procurement import domain, store
from services.procurement.domain import (
    TERM_CATALOGUE,
    Agreement,
    CostShare,
    Criteria,
    ExtensionOptions,
    LeaveReason,
    LibrarySystem,
    Participation,
    Period,
    Tender,
)

BATCH = 100


class NotFound(LookupError):
    def __init__(self, what: str, field: str, key: str) -> None:
        super().__init__(f"no {what} {key}")
        self.field = field


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- the member list, from membership's events ----------------------------------------------


def library_system_of(text: str) -> LibrarySystem:
    """Membership keeps the library system as free text ("Koha", "Aurora 4"); procurement's
    compatibility vocabulary is closed, so anything unrecognised is ``other``."""
    words = text.strip().lower()
    for system in LibrarySystem:
        if system is not LibrarySystem.OTHER and (
            words == system.value or words.split(" ", 1)[0] == system.value
        ):
            return system
    return LibrarySystem.OTHER


def payer_of(library: Library) -> dict[str, object] | None:
    """The organisation that pays for the library, when membership's event carries it
    (``organisation`` with ``business_id``, ``names.fi`` and ``einvoice.ovt``); read
    tolerantly, so an event without it leaves the library as its own payer."""
    organisation = getattr(library, "organisation", None)
    business_id = getattr(organisation, "business_id", None)
    if not isinstance(business_id, str) or not business_id:
        return None
    names = getattr(organisation, "names", None)
    name = getattr(names, "fi", None) or business_id
    einvoice = getattr(organisation, "einvoice", None)
    address = getattr(einvoice, "ovt", None)
    return {
        "id": business_id,
        "name": str(name),
        "business_id": business_id,
        "e_invoice_address": str(address) if address else None,
    }


def _member_fields(library: Library) -> dict[str, object]:
    return {
        "isil": library.isil,
        "names": library.names.model_dump(),
        "population": library.population,
        "municipalities": list(library.municipalities),
        "library_system": library_system_of(library.library_system).value,
        "library_system_text": library.library_system,
        "payer": payer_of(library),
    }


async def member_joined(conn: asyncpg.Connection, library: Library, joined_on: dt.date) -> None:
    await store.upsert_member(conn, **_member_fields(library), joined_on=joined_on)  # type: ignore[arg-type]  # _member_fields gives the store's keyword arguments


async def member_updated(
    conn: asyncpg.Connection, library: Library, is_member: bool, today: dt.date
) -> None:
    """Details only: the membership dates come from member-joined and member-left."""
    known = await store.update_member_details(conn, **_member_fields(library))  # type: ignore[arg-type]  # _member_fields gives the store's keyword arguments
    if not known and is_member:
        # Its member-joined is older than the topic's retention: a member from now on.
        await store.upsert_member(conn, **_member_fields(library), joined_on=today)  # type: ignore[arg-type]  # _member_fields gives the store's keyword arguments


async def member_left(
    conn: asyncpg.Connection, library: Library, effective_on: dt.date, today: dt.date
) -> list[Participation]:
    """The library leaves the consortium on ``effective_on``, and with it every agreement it
    takes part in, whatever their terms; agreement-left is recorded for each."""
    if not await store.update_member_details(conn, **_member_fields(library)):  # type: ignore[arg-type]  # _member_fields gives the store's keyword arguments
        await store.upsert_member(conn, **_member_fields(library), joined_on=effective_on)  # type: ignore[arg-type]  # _member_fields gives the store's keyword arguments
    await store.set_member_left(conn, library.isil, effective_on)
    # Titles that do not survive leaving end on the effective date (their expiry is
    # published by the expiry job then); perpetual ones and post-cancellation access stay.
    for held in await store.entitlements_of(conn, holder=library.isil):
        after = domain.end_on_leaving(held, effective_on)
        if after is not None and after != held:
            await store.set_entitlement_end(conn, after)
    mine = await store.participations_of_library(conn, library.isil)
    to_end = {
        r.participation.agreement_id for r in mine if r.participation.still_open_on(effective_on)
    }
    agreements = {r.agreement.id: r for r in await store.lock_agreements(conn, sorted(to_end))}
    ended: list[Participation] = []
    for record in await store.participations_of_library(conn, library.isil):
        for participation in domain.leave_on_membership_end(
            [record.participation], library.isil, effective_on
        ):
            await _end_participation(
                conn, agreements[participation.agreement_id], record.id, participation, today
            )
            ended.append(participation)
    return ended


# --- needs and interest ---------------------------------------------------------------------


async def propose_need(
    pool: asyncpg.Pool,
    *,
    proposed_by: str,
    material_type: str,
    description: str,
    accepted_licence_models: Sequence[str],
    required_devices: Sequence[str],
    required_library_systems: Sequence[str],
    today: dt.date,
) -> domain.Need:
    need = domain.Need(
        id=new_id("need"),
        proposed_by=proposed_by,
        material_type=material_type,  # type: ignore[arg-type]  # a raw API value; the domain coerces it to its enum
        description=description,
        accepted_licence_models=frozenset(accepted_licence_models),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enum
        required_devices=frozenset(required_devices),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enum
        required_library_systems=frozenset(required_library_systems),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enum
    )
    async with pool.acquire() as conn, conn.transaction():
        member = await store.get_member(conn, proposed_by, lock=True)
        domain.propose_need(need, member, today)
        await store.insert_need(conn, need, today)
        await record_event(
            conn,
            events.NeedProposed(
                need_id=need.id,
                proposed_by=need.proposed_by,
                material_type=need.material_type.value,
                description=need.description,
                accepted_licence_models=sorted(m.value for m in need.accepted_licence_models),
                required_devices=sorted(d.value for d in need.required_devices),
                required_library_systems=sorted(s.value for s in need.required_library_systems),
                proposed_on=today,
            ),
        )
    return need


async def register_interest(
    pool: asyncpg.Pool,
    need_id: str,
    isil: str,
    indicative_budget_cents: int | None,
    today: dt.date,
) -> domain.Interest:
    interest = domain.Interest(need_id, isil, indicative_budget_cents)
    async with pool.acquire() as conn, conn.transaction():
        member = await store.get_member(conn, isil, lock=True)
        need = await store.get_need(conn, need_id, lock=True)
        if need is None:
            raise NotFound("need", "need_id", need_id)
        existing = [r.interest for r in await store.interests(conn, need_id)]
        domain.register_interest(need.need, member, existing, interest, today)
        await store.insert_interest(conn, interest, today)
        await record_event(
            conn,
            events.InterestRegistered(
                need_id=need_id, isil=isil, indicative_budget_cents=indicative_budget_cents
            ),
        )
    return interest


# --- tenders --------------------------------------------------------------------------------


async def _needs_exist(conn: asyncpg.Connection, need_ids: Sequence[str]) -> list[domain.Need]:
    needs = await store.needs_by_ids(conn, need_ids)
    missing = sorted(set(need_ids) - {n.id for n in needs})
    if missing:
        raise domain.InvalidValue("need_ids", f"unknown need(s): {', '.join(missing)}")
    return needs


async def _tender(conn: asyncpg.Connection, tender_id: str) -> Tender:
    tender = await store.get_tender(conn, tender_id, lock=True)
    if tender is None:
        raise NotFound("tender", "tender_id", tender_id)
    return tender


async def create_tender(
    pool: asyncpg.Pool,
    *,
    title: str,
    kl_reference: str,
    need_ids: Sequence[str],
    deadline: dt.datetime,
    criteria: Criteria,
    price_model: str,
    today: dt.date,
    procedure: str = "open",
    estimated_value_cents: int = 0,
    purchasing_body: domain.PurchasingBody | None = None,
    optional_targets: Sequence[str] = (),
    lots: Sequence[domain.Lot] = (),
) -> Tender:
    """Create a draft; its threshold class follows the table in force ``today``."""
    tender = Tender(
        id=new_id("tender"),
        title=title,
        kl_reference=kl_reference,
        need_ids=tuple(need_ids),
        deadline=deadline,
        criteria=criteria,
        price_model=price_model,  # type: ignore[arg-type]  # a raw API value; the domain coerces it to its enum
        procedure=procedure,  # type: ignore[arg-type]  # a raw API value; the domain coerces it to its enum
        estimated_value_cents=estimated_value_cents,
        threshold_class=domain.default_table().classify(estimated_value_cents, today),
        purchasing_body=purchasing_body,
        optional_targets=frozenset(optional_targets),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enums
        lots=tuple(lots),
    )
    async with pool.acquire() as conn, conn.transaction():
        await _needs_exist(conn, tender.need_ids)
        await store.insert_tender(conn, tender)
    return tender


async def revise_tender(
    pool: asyncpg.Pool, tender_id: str, today: dt.date, **changes: object
) -> Tender:
    """Revise a draft; a new estimated value is classed by the table in force ``today``."""
    if "estimated_value_cents" in changes:
        value = changes["estimated_value_cents"]
        changes["threshold_class"] = domain.default_table().classify(value, today)  # type: ignore[arg-type]  # changes holds API values; classify checks it is an int
    async with pool.acquire() as conn, conn.transaction():
        revised = domain.revise_draft(await _tender(conn, tender_id), **changes)
        await _needs_exist(conn, revised.need_ids)
        await store.update_tender(conn, revised)
    return revised


def criteria_dict(criteria: Criteria) -> dict[str, int]:
    return {
        "price": criteria.price_weight,
        "quality": criteria.quality_weight,
        "compatibility": criteria.compatibility_weight,
    }


async def open_tender(
    pool: asyncpg.Pool, tender_id: str, now: dt.datetime, decision_id: str | None = None
) -> Tender:
    """Publish the tender; ``decision_id``, when given, is the recorded decision that
    approved it (checked and referenced in the same transaction)."""
    from services.procurement.governance import commands as governance
    from services.procurement.governance.domain import Approved

    async with pool.acquire() as conn, conn.transaction():
        opened = domain.open_tender(await _tender(conn, tender_id), now)
        approved = await governance.approved_by(
            conn, Approved.TENDER_PUBLISHED, tender_id, decision_id, required=False
        )
        await store.update_tender(conn, opened)
        needs = await store.needs_by_ids(conn, opened.need_ids)
        await record_event(
            conn,
            events.TenderOpened(
                tender_id=opened.id,
                title=opened.title,
                kl_reference=opened.kl_reference,
                deadline=opened.deadline,
                need_ids=list(opened.need_ids),
                material_types=sorted({n.material_type.value for n in needs}),
                # Outreach invites these libraries to comment, without asking who they are.
                interested_libraries=await store.interested_isils(conn, opened.need_ids),
                criteria=criteria_dict(opened.criteria),
                price_model=opened.price_model.value,
                procedure=opened.procedure.value,
                estimated_value_cents=opened.estimated_value_cents,
                threshold_class=opened.threshold_class.value,
                purchasing_body=events.PurchasingBody(
                    name=opened.purchasing_body.name,
                    business_id=opened.purchasing_body.business_id,
                    reference=opened.kl_reference,
                )
                if opened.purchasing_body
                else None,
                tie_break=domain.TIE_BREAK_RULE,
                documents=[
                    events.TenderDocument(
                        kind=d.kind.value,
                        version=d.version,
                        sha256=d.sha256,
                        media_type=d.media_type,
                    )
                    for d in domain.latest(await store.documents_of(conn, opened.id))
                ],
                lots=[
                    events.TenderLot(
                        lot_id=lot.id,
                        title=lot.title,
                        need_ids=list(lot.need_ids),
                        criteria=criteria_dict(lot.criteria),
                        price_model=lot.price_model.value,
                    )
                    for lot in domain.lots_of(opened)
                ],
                decision_id=approved,
            ),
        )
    return opened


async def start_evaluation(pool: asyncpg.Pool, tender_id: str, now: dt.datetime) -> Tender:
    """Bids stay confidential, so opening them publishes nothing."""
    async with pool.acquire() as conn, conn.transaction():
        evaluated = domain.start_evaluation(await _tender(conn, tender_id), now)
        await store.update_tender(conn, evaluated)
    return evaluated


async def cancel_tender(pool: asyncpg.Pool, tender_id: str, reason: str) -> Tender:
    """Discontinue the procurement, at the latest before the agreement is signed."""
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        if await store.agreement_of_tender(conn, tender_id):
            raise domain.NotPermitted("tender_id", "the agreement is signed; terminate it instead")
        cancelled = domain.cancel_tender(tender, reason)
        await store.update_tender(conn, cancelled)
        await record_event(
            conn,
            events.TenderCancelled(tender_id=cancelled.id, reason=reason, title=cancelled.title),
        )
    return cancelled


@dataclass(frozen=True)
class BidIn:
    supplier_name: str
    supplier_country: str
    product: str
    price_model: str
    price_cents: int
    supported_devices: Sequence[str]
    supported_library_systems: Sequence[str]
    terms: dict[str, object]
    #: The lot the bid answers; None: the one lot of an undivided tender.
    lot_id: str | None = None


async def submit_bid(
    pool: asyncpg.Pool, tender_id: str, given: BidIn, now: dt.datetime
) -> domain.Bid:
    bid = domain.Bid(
        id=new_id("bid"),
        tender_id=tender_id,
        supplier=domain.Supplier(given.supplier_name, given.supplier_country),
        product=given.product,
        price_model=given.price_model,  # type: ignore[arg-type]  # a raw API value; the domain coerces it to its enum
        price_cents=given.price_cents,
        submitted_at=now,
        supported_devices=frozenset(given.supported_devices),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enum
        supported_library_systems=frozenset(given.supported_library_systems),  # type: ignore[arg-type]  # raw API values; the domain coerces them to its enum
        terms=domain.parse_licence_terms(given.terms),
    )
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        bid = dataclasses.replace(bid, lot_id=domain.lot_of(tender, given.lot_id).id)
        domain.submit_bid(tender, bid, await store.bids_of(conn, tender_id))
        await store.insert_bid(conn, bid)
    return bid


async def record_compatibility_result(
    pool: asyncpg.Pool, tender_id: str, result: domain.CompatibilityResult
) -> domain.CompatibilityResult:
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        existing = [r.result for r in await store.compatibility_results(conn, tender_id)]
        domain.record_compatibility_result(
            tender, await store.bids_of(conn, tender_id), existing, result
        )
        await store.upsert_compatibility_result(conn, result)
    return result


async def record_quality_score(
    pool: asyncpg.Pool, tender_id: str, score: domain.QualityScore
) -> domain.QualityScore:
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        domain.record_quality_score(
            tender,
            await store.bids_of(conn, tender_id),
            await store.quality_scores(conn, tender_id),
            score,
        )
        await store.upsert_quality_score(conn, score)
    return score


def score_rows(scores: Sequence[domain.BidScore]) -> list[dict[str, object]]:
    """The ranking as plain figures (two decimals), for the award record and the API."""
    rows: list[dict[str, object]] = []
    for s in scores:
        rounded = s.rounded()
        rows.append(
            {
                "bid_id": s.bid_id,
                "rank": s.rank,
                "price_points": float(rounded["price"]),
                "quality_points": float(rounded["quality"]),
                "compatibility_points": float(rounded["compatibility"]),
                "total": float(rounded["total"]),
                "tests_passed": s.tests_passed,
                "tests_recorded": s.tests_recorded,
                "quality_missing": s.quality_missing,
            }
        )
    return rows


async def reject_bid(
    pool: asyncpg.Pool, tender_id: str, rejection: domain.Rejection, recorded_by: str
) -> domain.Rejection:
    """Record a rejection or an exclusion, with its ground, during evaluation."""
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        if tender.state is not domain.TenderState.EVALUATION:
            raise domain.IllegalTransition("tender", tender.state.value, "reject a bid of")
        if await store.get_bid(conn, rejection.bid_id) is None or rejection.bid_id not in {
            b.id for b in await store.bids_of(conn, tender_id)
        }:
            raise domain.InvalidValue("bid_id", f"{rejection.bid_id} is not a bid of {tender_id}")
        if any(r.bid_id == rejection.bid_id for r in await store.rejections_of(conn, tender_id)):
            raise domain.DuplicateEntry("bid_id", f"bid {rejection.bid_id} is already rejected")
        await store.insert_rejection(conn, tender_id, rejection, recorded_by)
    return rejection


def _lot_decisions(
    awards: Sequence[domain.Award], by_id: dict[str, domain.Bid]
) -> list[events.LotDecision]:
    decisions: list[events.LotDecision] = []
    for award in awards:
        bid = by_id[award.bid_id]
        chosen = next(s for s in award.scores if s.bid_id == award.bid_id)
        decisions.append(
            events.LotDecision(
                lot_id=award.lot_id,
                bid_id=bid.id,
                supplier=events.Supplier(name=bid.supplier.name, country=bid.supplier.country),
                product=bid.product,
                price_model=bid.price_model.value,
                price_cents=bid.price_cents,
                total_score=float(domain.to_decimal(chosen.total)),
                bids_scored=len(award.scores),
            )
        )
    return decisions


def _rejected(
    awards: Sequence[domain.Award], by_id: dict[str, domain.Bid]
) -> list[events.RejectedBid]:
    return [
        events.RejectedBid(
            bid_id=r.bid_id,
            supplier=events.Supplier(
                name=by_id[r.bid_id].supplier.name, country=by_id[r.bid_id].supplier.country
            ),
            kind=r.kind.value,
            ground=r.ground,
        )
        for award in awards
        for r in award.rejections
    ]


def _discontinued(decision: domain.Decision) -> list[events.DiscontinuedLot]:
    return [events.DiscontinuedLot(lot_id=d.lot_id, ground=d.ground) for d in decision.discontinued]


async def _record_decision(
    conn: asyncpg.Connection, decision: domain.Decision, awarded_by: str
) -> None:
    await store.update_tender(conn, decision.tender)
    for award in decision.awards:
        await store.insert_award(conn, award, score_rows(award.scores), awarded_by)
    for lot in decision.discontinued:
        await store.insert_discontinued_lot(conn, decision.tender.id, lot, decision.revision)


async def award_tender(
    pool: asyncpg.Pool,
    tender_id: str,
    *,
    now: dt.datetime,
    awarded_by: str,
    served_at: dt.datetime | None = None,
    decision_id: str | None = None,
) -> tuple[Tender, tuple[domain.Award, ...]]:
    """Make and record the procurement decision, one award per lot with a conforming bid and
    the other lots discontinued, and publish it (tender-awarded v2 with every lot, and v1
    beside it, for the first awarded lot, for its readers). ``decision_id``, when given, is
    the recorded decision that approved it."""
    from services.procurement.governance import commands as governance
    from services.procurement.governance.domain import Approved

    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        approved = await governance.approved_by(
            conn, Approved.TENDER_AWARDED, tender_id, decision_id, required=False
        )
        bids = await store.bids_of(conn, tender_id)
        decision = domain.decide(
            tender,
            bids,
            [r.result for r in await store.compatibility_results(conn, tender_id)],
            await store.quality_scores(conn, tender_id),
            now,
            needs=await store.needs_by_ids(conn, tender.need_ids),
            rejections=await store.rejections_of(conn, tender_id),
            served_at=served_at,
        )
        awarded, awards = decision.tender, decision.awards
        await _record_decision(conn, decision, awarded_by)
        by_id = {b.id: b for b in bids}
        decisions = _lot_decisions(awards, by_id)
        first = awards[0]
        await record_event(
            conn,
            events.TenderAwardedV2(
                tender_id=tender_id,
                title=awarded.title,
                procedure=awarded.procedure.value,
                threshold_class=awarded.threshold_class.value,
                lots=decisions,
                rejected=_rejected(awards, by_id),
                decided_at=first.awarded_at,
                served_at=first.served_at or first.awarded_at,
                standstill_ends_on=first.standstill_ends_on,
                bids=len(bids),
                decision_id=approved,
                discontinued_lots=_discontinued(decision) or None,
            ),
        )
        lead = decisions[0]
        await record_event(
            conn,
            events.TenderAwarded(
                tender_id=tender_id,
                bid_id=lead.bid_id,
                supplier=lead.supplier,
                product=lead.product,
                total_score=lead.total_score,
                overridden=False,
                justification=None,
                title=awarded.title,
                recommended_bid_id=lead.bid_id,
                price_model=lead.price_model,
                price_cents=lead.price_cents,
                bids=len(bids),
            ),
        )
    return awarded, awards


def _superseded(
    awards: Sequence[store.AwardRecord], discontinued: Sequence[domain.DiscontinuedLot]
) -> dict[str, object]:
    """The replaced decision as it was, kept with the correction as evidence."""
    return {
        "awards": [
            {
                "lot_id": r.award.lot_id,
                "bid_id": r.award.bid_id,
                "revision": r.award.revision,
                "awarded_at": r.award.awarded_at.isoformat(),
                "awarded_by": r.awarded_by,
                "served_at": r.award.served_at.isoformat() if r.award.served_at else None,
                "standstill_ends_on": (
                    r.award.standstill_ends_on.isoformat() if r.award.standstill_ends_on else None
                ),
                "rejections": [
                    {"bid_id": x.bid_id, "kind": x.kind.value, "ground": x.ground}
                    for x in r.award.rejections
                ],
                "scores": r.scores,
            }
            for r in awards
        ],
        "discontinued_lots": [{"lot_id": d.lot_id, "ground": d.ground} for d in discontinued],
    }


@dataclass(frozen=True)
class CorrectionIn:
    reason: str
    served_at: dt.datetime | None = None
    decision_id: str | None = None
    #: Rejections or exclusions the correction adds (found wrongly left out).
    rejections: tuple[domain.Rejection, ...] = ()
    #: Bids whose rejection recorded by a person the correction withdraws (found wrong).
    reinstated_bid_ids: tuple[str, ...] = ()
    #: Quality scores the correction revises (an evaluation error found); the replaced
    #: decision keeps the ranking it was made on.
    quality_scores: tuple[domain.QualityScore, ...] = ()


async def correct_decision(
    pool: asyncpg.Pool,
    tender_id: str,
    correction: CorrectionIn,
    *,
    now: dt.datetime,
    corrected_by: str,
) -> domain.Decision:
    """Correct the procurement decision (hankintaoikaisu): amend the recorded rejections as
    the correction says, make the decision again, replace the one in force with it, keep the
    replaced one as evidence and publish decision-corrected, all in one transaction."""
    from services.procurement.governance import commands as governance
    from services.procurement.governance.domain import Approved

    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        current = await store.awards_of(conn, tender_id)
        if tender.state is not domain.TenderState.AWARDED or not current:
            raise domain.IllegalTransition("tender", tender.state.value, "correct the decision of")
        bids = await store.bids_of(conn, tender_id)
        by_id = {b.id: b for b in bids}
        for bid_id in correction.reinstated_bid_ids:
            if not await store.delete_rejection(conn, tender_id, bid_id):
                raise domain.InvalidValue(
                    "reinstated_bid_ids", f"bid {bid_id} has no rejection recorded by a person"
                )
        recorded = {r.bid_id for r in await store.rejections_of(conn, tender_id)}
        for rejection in correction.rejections:
            if rejection.bid_id not in by_id:
                raise domain.InvalidValue(
                    "rejections", f"{rejection.bid_id} is not a bid of {tender_id}"
                )
            if rejection.bid_id in recorded:
                raise domain.DuplicateEntry(
                    "rejections", f"bid {rejection.bid_id} is already rejected"
                )
            recorded.add(rejection.bid_id)
            await store.insert_rejection(conn, tender_id, rejection, corrected_by)
        rescored: set[str] = set()
        for score in correction.quality_scores:
            if score.bid_id not in by_id:
                raise domain.InvalidValue(
                    "quality_scores", f"{score.bid_id} is not a bid of {tender_id}"
                )
            if score.bid_id in rescored:
                raise domain.DuplicateEntry("quality_scores", f"bid {score.bid_id} is scored twice")
            rescored.add(score.bid_id)
            await store.upsert_quality_score(conn, score)
        replaced = await store.discontinued_lots_of(conn, tender_id)
        decision = domain.correct_decision(
            tender,
            [r.award for r in current],
            bids,
            [r.result for r in await store.compatibility_results(conn, tender_id)],
            await store.quality_scores(conn, tender_id),
            now,
            reason=correction.reason,
            needs=await store.needs_by_ids(conn, tender.need_ids),
            rejections=await store.rejections_of(conn, tender_id),
            signed_lots=await store.signed_lots_of(conn, tender_id),
            served_at=correction.served_at,
        )
        approved = await governance.approved_by(
            conn, Approved.DECISION_CORRECTED, tender_id, correction.decision_id, required=False
        )
        await store.insert_correction(
            conn,
            store.CorrectionRecord(
                tender_id=tender_id,
                revision=decision.revision,
                reason=correction.reason,
                corrected_at=now,
                corrected_by=corrected_by,
                decision_id=approved,
                superseded=_superseded(current, replaced),
            ),
        )
        await store.delete_awards(conn, tender_id)
        await _record_decision(conn, decision, corrected_by)
        before = {r.award.lot_id: r.award.bid_id for r in current}
        after = {a.lot_id: a.bid_id for a in decision.awards}
        changed = sorted(
            lot for lot in before.keys() | after.keys() if before.get(lot) != after.get(lot)
        )
        first = decision.awards[0]
        await record_event(
            conn,
            events.DecisionCorrected(
                tender_id=tender_id,
                title=tender.title,
                revision=decision.revision,
                replaces_revision=max(r.award.revision for r in current),
                reason=correction.reason,
                procedure=tender.procedure.value,
                threshold_class=tender.threshold_class.value,
                lots=_lot_decisions(decision.awards, by_id),
                discontinued_lots=_discontinued(decision),
                rejected=_rejected(decision.awards, by_id),
                corrected_at=now,
                served_at=first.served_at or now,
                standstill_ends_on=first.standstill_ends_on,
                bids=len(bids),
                changed_lots=changed,
                decision_id=approved,
            ),
        )
    return decision


async def _decided_tender(
    conn: asyncpg.Connection, tender_id: str
) -> tuple[Tender, store.AwardRecord]:
    tender = await _tender(conn, tender_id)
    award = await store.get_award(conn, tender_id)
    if award is None:
        raise domain.IllegalTransition("tender", tender.state.value, "appeal the decision of")
    return tender, award


async def lodge_appeal(pool: asyncpg.Pool, appeal: domain.Appeal) -> domain.Appeal:
    async with pool.acquire() as conn, conn.transaction():
        tender, award = await _decided_tender(conn, appeal.tender_id)
        decided = award.award.served_at or award.award.awarded_at
        domain.lodge_appeal(tender, decided.date(), appeal, await store.appeals_of(conn, tender.id))
        await store.upsert_appeal(conn, appeal)
        await record_event(
            conn,
            events.AppealLodged(
                tender_id=tender.id,
                case_number=appeal.case_number,
                lodged_on=appeal.lodged_on,
                suspends=appeal.suspends,
                title=tender.title,
            ),
        )
    return appeal


async def resolve_appeal(
    pool: asyncpg.Pool,
    tender_id: str,
    case_number: str,
    status: str,
    resolved_on: dt.date,
    note: str = "",
) -> domain.Appeal:
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        appeal = next(
            (a for a in await store.appeals_of(conn, tender_id) if a.case_number == case_number),
            None,
        )
        if appeal is None:
            raise NotFound("appeal", "case_number", case_number)
        resolved = domain.resolve_appeal(appeal, status, resolved_on, note)
        await store.upsert_appeal(conn, resolved)
        await record_event(
            conn,
            events.AppealResolved(
                tender_id=tender_id,
                case_number=case_number,
                outcome=resolved.status.value,
                resolved_on=resolved_on,
                title=tender.title,
            ),
        )
    return resolved


# --- agreements -----------------------------------------------------------------------------


async def _agreement(conn: asyncpg.Connection, agreement_id: str) -> store.AgreementRecord:
    record = await store.get_agreement(conn, agreement_id, lock=True)
    if record is None:
        raise NotFound("agreement", "agreement_id", agreement_id)
    return record


def _supplier(agreement: Agreement) -> events.Supplier:
    return events.Supplier(name=agreement.supplier.name, country=agreement.supplier.country)


def licence_terms_payload(terms: domain.LicenceTerms) -> dict[str, events.TermValue]:
    return {
        term.name.value: events.TermValue(
            type=term.type.value,
            value=term.value if isinstance(term.value, int) else str(term.value),
            note=term.note,
            label=TERM_CATALOGUE[term.name].label,
        )
        for term in terms.terms
    }


def cost_share_v2_payload(policy: domain.CostSharePolicy) -> events.CostShareV2:
    rate = policy.rate_per_resident_cents
    return events.CostShareV2(
        model=policy.model.value,
        base_fee_cents=policy.base_fee_cents,
        rate_per_resident_cents=None if rate is None else format(rate, "f"),
        bands=[events.PopulationBand(up_to=b.up_to, points=b.points) for b in policy.bands] or None,
    )


def cost_share_payload(policy: domain.CostSharePolicy) -> events.CostShare | None:
    """v1's cost_share; none for a model v1 cannot name (usage), which v2 carries."""
    if policy.model is domain.CostShareModel.USAGE:
        return None
    rate = policy.rate_per_resident_cents
    return events.CostShare(
        model=policy.model.value,
        base_fee_cents=policy.base_fee_cents,
        rate_per_resident_cents=None if rate is None else format(rate, "f"),
        bands=[events.PopulationBand(up_to=b.up_to, points=b.points) for b in policy.bands] or None,
    )


def periods_payload(agreement: Agreement) -> list[events.AgreementPeriod]:
    return [
        events.AgreementPeriod(
            start=p.start, end=p.end, cancellation_deadline=p.cancellation_deadline
        )
        for p in agreement.periods
    ]


async def sign_agreement(
    pool: asyncpg.Pool,
    *,
    tender_id: str,
    title: str | None,
    first_period: Period,
    extension_options: ExtensionOptions,
    annual_cost_cents: int | None,
    cost_share: domain.CostSharePolicy,
    signed_on: dt.date,
    today: dt.date,
    price_amendment: str | None = None,
    framework_justification: str | None = None,
    lot_id: str | None = None,
) -> store.AgreementRecord:
    """Sign the framework agreement of one lot (``lot_id``; None: an undivided tender)."""
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        lot = domain.lot_of(tender, lot_id)
        award = await store.get_award(conn, tender_id, lot.id)
        discontinued = {d.lot_id: d for d in await store.discontinued_lots_of(conn, tender_id)}
        if award is None and lot.id in discontinued:
            raise domain.NotPermitted(
                "lot_id",
                f"lot {lot.id} was discontinued in the decision: {discontinued[lot.id].ground}",
            )
        if award is None:
            # Let the domain word the refusal of a tender that is not awarded.
            raise domain.IllegalTransition("tender", tender.state.value, "sign an agreement for")
        if await store.agreement_of_tender(conn, tender_id, lot.id):
            what = f"lot {lot.id} of tender {tender_id}" if tender.lots else f"tender {tender_id}"
            raise domain.DuplicateEntry("tender_id", f"{what} already has one")
        bid = await store.get_bid(conn, award.award.bid_id)
        assert bid is not None
        agreement = domain.sign_agreement(
            agreement_id=new_id("agreement"),
            tender=tender,
            award=award.award,
            bid=bid,
            needs=await store.needs_by_ids(conn, lot.need_ids),
            first_period=first_period,
            extension_options=extension_options,
            annual_cost_cents=annual_cost_cents,
            cost_share=cost_share,
            signed_on=signed_on,
            today=today,
            appeals=await store.appeals_of(conn, tender_id),
            price_amendment=price_amendment,
            framework_justification=framework_justification,
        )
        default_title = f"{tender.title}: {lot.title}" if tender.lots else tender.title
        record = store.AgreementRecord(agreement, title or default_title, lot.id)
        await store.insert_agreement(conn, agreement, record.title, lot.id)
        await record_event(
            conn,
            events.AgreementSigned(
                agreement_id=agreement.id,
                tender_id=tender.id,
                title=record.title,
                supplier=_supplier(agreement),
                product=agreement.product,
                material_types=sorted(m.value for m in agreement.material_types),
                licence_terms=licence_terms_payload(agreement.terms),
                periods=periods_payload(agreement),
                extension_options=agreement.renewals_left,
                annual_cost_cents=agreement.annual_cost_cents,
                cost_share_model=events.LEGACY_COST_SHARE_MODEL[agreement.cost_share.model.value],
                cost_share=cost_share_payload(agreement.cost_share),
                signed_on=agreement.signed_on,
                extension_months=agreement.extension_options.months,
                base_fee_cents=agreement.cost_share.base_fee_cents,
                price_model=agreement.price_model.value,
                bid_id=agreement.bid_id,
                kl_reference=tender.kl_reference,
                lot_id=lot.id,
            ),
        )
        # v2 beside v1: v1's readers keep working, and v2 names every cost model (usage too).
        await record_event(
            conn,
            events.AgreementSignedV2(
                agreement_id=agreement.id,
                tender_id=tender.id,
                lot_id=lot.id,
                title=record.title,
                supplier=_supplier(agreement),
                product=agreement.product,
                material_types=sorted(m.value for m in agreement.material_types),
                licence_terms=licence_terms_payload(agreement.terms),
                periods=periods_payload(agreement),
                extension_options=agreement.renewals_left,
                extension_months=agreement.extension_options.months,
                annual_cost_cents=agreement.annual_cost_cents,
                cost_share=cost_share_v2_payload(agreement.cost_share),
                signed_on=agreement.signed_on,
                price_model=agreement.price_model.value,
                bid_id=agreement.bid_id,
                kl_reference=tender.kl_reference,
            ),
        )
    return record


async def renew_agreement(
    pool: asyncpg.Pool,
    agreement_id: str,
    today: dt.date,
    cancellation_deadline: dt.date | None = None,
    decision_id: str | None = None,
) -> store.AgreementRecord:
    """Open the next period. The contracts have no renewal event yet, so nothing is
    published; expiry moves, and the scheduler ends the agreement on the new date."""
    async with pool.acquire() as conn, conn.transaction():
        record = await _agreement(conn, agreement_id)
        renewed = domain.renew_agreement(record.agreement, today, cancellation_deadline)
        # Governance: a renewal names the recorded decision that approved it (imported here
        # because governance's commands build on this module).
        from services.procurement.governance import commands as governance
        from services.procurement.governance.domain import Approved

        await governance.approved_by(
            conn, Approved.AGREEMENT_RENEWED, agreement_id, decision_id, required=True
        )
        await store.update_agreement(conn, renewed)
    return store.AgreementRecord(renewed, record.title, record.lot_id)


async def terminate_agreement(
    pool: asyncpg.Pool, agreement_id: str, effective_on: dt.date, reason: str, today: dt.date
) -> store.AgreementRecord:
    """Terminate from ``effective_on``: today ends it now, a later date is scheduled."""
    async with pool.acquire() as conn, conn.transaction():
        record = await _agreement(conn, agreement_id)
        terminated = domain.terminate_agreement(record.agreement, effective_on, reason, today)
        await store.update_agreement(conn, terminated)
        if terminated.state is domain.AgreementState.ENDED:
            await _agreement_ended(
                conn, store.AgreementRecord(terminated, record.title, record.lot_id), today
            )
    return store.AgreementRecord(terminated, record.title, record.lot_id)


async def end_due_agreements(pool: asyncpg.Pool, today: dt.date) -> int:
    """End every agreement whose expiry or scheduled termination has come. Safe with several
    replicas: each claims its rows with SKIP LOCKED."""
    ended = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.claim_due_agreements(conn, today, limit=BATCH)
            for record in await store.agreements_by_ids(conn, due):
                finished = domain.end_agreement(record.agreement, today)
                await store.update_agreement(conn, finished)
                await _agreement_ended(
                    conn, store.AgreementRecord(finished, record.title, record.lot_id), today
                )
        ended += len(due)
        if len(due) < BATCH:
            return ended


async def _agreement_ended(
    conn: asyncpg.Connection, record: store.AgreementRecord, today: dt.date
) -> None:
    agreement = record.agreement
    assert agreement.end is not None
    await record_event(
        conn,
        events.AgreementEnded(
            agreement_id=agreement.id,
            kind="expired" if agreement.end.kind is domain.EndKind.EXPIRY else "terminated",
            effective_on=agreement.end.effective_on,
            reason=agreement.end.reason or "",
            title=record.title,
        ),
    )
    for stored in await store.participations_of(conn, agreement.id):
        for participation in domain.end_participations(agreement, [stored.participation]):
            await _end_participation(conn, record, stored.id, participation, today)


# --- participation --------------------------------------------------------------------------

LEAVE_REASONS = {
    LeaveReason.OPT_OUT: "opt-out",
    LeaveReason.MEMBER_LEFT: "membership-ended",
    LeaveReason.AGREEMENT_ENDED: "agreement-ended",
}


def _participants_on(records: Sequence[store.ParticipationRecord], day: dt.date) -> int:
    return sum(1 for r in records if r.participation.participates_on(day))


async def opt_in(
    pool: asyncpg.Pool, agreement_id: str, isil: str, from_date: dt.date, today: dt.date
) -> Participation:
    async with pool.acquire() as conn, conn.transaction():
        member = await store.get_member(conn, isil, lock=True)
        record = await _agreement(conn, agreement_id)
        agreement = record.agreement
        existing = await store.participations_of(conn, agreement_id)
        participation = domain.opt_in(
            agreement, member, [r.participation for r in existing], isil, from_date, today
        )
        everyone = [r.participation for r in existing] + [participation]
        members = await store.members_by_isil(conn, sorted({p.isil for p in everyone}))
        try:
            # Usage shares depend on figures that come later; nothing to check on opting in.
            if agreement.cost_share.model is not domain.CostShareModel.USAGE:
                domain.agreement_cost_shares(agreement, everyone, members, from_date)
        except domain.InvalidValue as error:
            # Base fees that no longer fit the annual cost: the table could not be made.
            raise domain.NotPermitted("isil", error.problem) from error
        record_id = await store.insert_participation(conn, participation)
        count = _participants_on(
            [*existing, store.ParticipationRecord(record_id, participation, False)], from_date
        )
        await record_event(
            conn,
            events.AgreementJoined(
                agreement_id=agreement.id,
                isil=isil,
                joined_on=from_date,
                title=record.title,
                supplier=_supplier(agreement),
                product=agreement.product,
                participants=max(count, 1),
                material_types=sorted(m.value for m in agreement.material_types),
            ),
        )
    return participation


async def opt_out(
    pool: asyncpg.Pool, agreement_id: str, isil: str, effective_on: dt.date, today: dt.date
) -> Participation:
    """Opt out under the agreement's terms. An effective date later than today is kept, and
    agreement-left is published on that date by :func:`announce_due_leaves`."""
    async with pool.acquire() as conn, conn.transaction():
        record = await _agreement(conn, agreement_id)
        mine = [
            r
            for r in await store.participations_of(conn, agreement_id)
            if r.participation.isil == isil and r.participation.still_open_on(today)
        ]
        if not mine:
            raise domain.NotPermitted("isil", f"{isil} does not take part in {agreement_id}")
        current = mine[-1]
        left = domain.opt_out(record.agreement, current.participation, effective_on, today)
        await _end_participation(conn, record, current.id, left, today)
    return left


async def _end_participation(
    conn: asyncpg.Connection,
    record: store.AgreementRecord,
    record_id: int,
    participation: Participation,
    today: dt.date,
) -> None:
    """Store an ended participation. A library forced out (consortium left, agreement ended)
    is announced at once; an opt-out given with notice is announced on its date."""
    assert participation.left_on is not None
    announce = participation.leave_reason is not LeaveReason.OPT_OUT or (
        participation.left_on <= today
    )
    await store.set_participation_left(conn, record_id, participation, announced=announce)
    if announce:
        await _announce_leave(conn, record, participation)


async def _announce_leave(
    conn: asyncpg.Connection, record: store.AgreementRecord, participation: Participation
) -> None:
    assert participation.left_on is not None and participation.leave_reason is not None
    remaining = await store.participations_of(conn, record.agreement.id)
    await record_event(
        conn,
        events.AgreementLeft(
            agreement_id=record.agreement.id,
            isil=participation.isil,
            left_on=participation.left_on,
            reason=LEAVE_REASONS[participation.leave_reason],
            participants=_participants_on(remaining, participation.left_on),
            title=record.title,
        ),
    )


async def announce_due_leaves(pool: asyncpg.Pool, today: dt.date) -> int:
    """Publish agreement-left for opt-outs whose date has come. Each is re-checked under the
    agreement's lock, so two replicas never announce one twice."""
    announced = 0
    async with pool.acquire() as conn:
        due = await store.due_leaves(conn, today, limit=1000)
    for record_id, agreement_id in due:
        async with pool.acquire() as conn, conn.transaction():
            record = await store.get_agreement(conn, agreement_id, lock=True)
            stored = await store.get_participation(conn, record_id, lock=True)
            if record is None or stored is None or stored.left_event_sent:
                continue
            await store.mark_leave_announced(conn, record_id)
            await _announce_leave(conn, record, stored.participation)
            announced += 1
    return announced


async def cost_shares(
    conn: asyncpg.Connection | asyncpg.Pool, record: store.AgreementRecord, day: dt.date
) -> tuple[CostShare, ...]:
    participations = await store.participations_of(conn, record.agreement.id)
    current = [r.participation for r in participations]
    members = await store.members_by_isil(conn, sorted({p.isil for p in current}))
    uses = None
    agreement = record.agreement
    if agreement.cost_share.model is domain.CostShareModel.USAGE:
        # The annual cost of the agreement period in force is divided by the use in that
        # period so far (its months up to the day's).
        period = agreement.period_on(day) or agreement.first_period
        months = domain.months_covering(period.start, min(day, period.end))
        on_day = {p.isil for p in domain.participants_on(current, agreement.id, day)}
        uses = domain.usage_weights(
            agreement.id,
            months,
            sorted(on_day),
            await store.usage_figures_of(conn, agreement.id, months),
        )
    return domain.agreement_cost_shares(agreement, current, members, day, uses)


async def usage_reported(conn: asyncpg.Connection, event: UsageReported) -> None:
    await store.put_usage_figure(
        conn,
        domain.UsageFigure(
            agreement_id=event.agreement_id,
            isil=event.isil,
            month=event.period,
            report=event.report,
            revision=event.revision,
            uses=domain.uses_of(event.totals),
        ),
    )


# --- billing periods ------------------------------------------------------------------------


async def close_billing_period(
    pool: asyncpg.Pool,
    agreement_id: str,
    period: domain.BillingPeriod,
    *,
    today: dt.date,
    closed_by: str,
) -> store.BillingRecord:
    """Close a billing period that has ended: divide its cost among the libraries that took
    part, pro-rated by days, and issue the invoice lines (invoice-lines-issued)."""
    async with pool.acquire() as conn, conn.transaction():
        record = await _agreement(conn, agreement_id)
        agreement = record.agreement
        if period.end >= today:
            raise domain.NotPermitted("end", "a billing period is closed once it has ended")
        if period.start < agreement.first_period.start:
            raise domain.NotPermitted(
                "start", f"the agreement is in force from {agreement.first_period.start}"
            )
        for closed in await store.billing_periods_of(conn, agreement_id):
            if closed.period.start <= period.end and period.start <= closed.period.end:
                raise domain.DuplicateEntry(
                    "start",
                    f"overlaps the closed period {closed.period.start}–{closed.period.end}",
                )
        domain.check_cost_model_fits(agreement.cost_share.model, agreement.price_model)
        participations = [
            p.participation for p in await store.participations_of(conn, agreement_id)
        ]
        isils = sorted({p.isil for p in participations})
        members = await store.members_by_isil(conn, isils)
        uses = None
        months: tuple[str, ...] = ()
        if agreement.cost_share.model is domain.CostShareModel.USAGE:
            months = domain.months_of(period.start, period.end)
            taking_part = [i for i in isils if domain.days_in(participations, i, period) > 0]
            uses = domain.usage_weights(
                agreement_id,
                months,
                taking_part,
                await store.usage_figures_of(conn, agreement_id, months),
            )
        cost = domain.period_cost_cents(
            period, agreement.annual_cost_cents, participations, members, agreement.cost_share
        )
        shares = domain.prorated_shares(
            period, cost, participations, members, agreement.cost_share, uses
        )
        if not shares:
            raise domain.NotPermitted("start", "no library took part in the period")
        lines = domain.invoice_lines(
            record.title, period, shares, await store.payers_of(conn, isils)
        )
        await store.insert_billing_period(conn, agreement_id, period, cost, lines, closed_by)
        await record_event(
            conn,
            events.InvoiceLinesIssued(
                agreement_id=agreement_id,
                title=record.title,
                period_start=period.start,
                period_end=period.end,
                cost_cents=cost,
                cost_share_model=events.LEGACY_COST_SHARE_MODEL[agreement.cost_share.model.value],
                cost_share=cost_share_payload(agreement.cost_share),
                lines=[
                    events.InvoiceLine(
                        payer_id=line.payer.id,
                        payer_name=line.payer.name,
                        business_id=line.payer.business_id,
                        e_invoice_address=line.payer.e_invoice_address,
                        isil=line.isil,
                        description=line.description,
                        days=line.days,
                        amount_cents=line.amount_cents,
                    )
                    for line in lines
                ],
            ),
        )
        # v2 beside v1: v2 names every cost model, usage and the months it divided by too.
        await record_event(
            conn,
            events.InvoiceLinesIssuedV2(
                agreement_id=agreement_id,
                title=record.title,
                period_start=period.start,
                period_end=period.end,
                cost_cents=cost,
                cost_share=cost_share_v2_payload(agreement.cost_share),
                usage_months=list(months) or None,
                lines=[
                    events.InvoiceLine(
                        payer_id=line.payer.id,
                        payer_name=line.payer.name,
                        business_id=line.payer.business_id,
                        e_invoice_address=line.payer.e_invoice_address,
                        isil=line.isil,
                        description=line.description,
                        days=line.days,
                        amount_cents=line.amount_cents,
                    )
                    for line in lines
                ],
            ),
        )
        periods = await store.billing_periods_of(conn, agreement_id)
    return next(c for c in periods if c.period.start == period.start)


# --- cancellation-deadline reminders --------------------------------------------------------


async def send_due_reminders(pool: asyncpg.Pool, today: dt.date) -> int:
    """Publish cancellation-deadline-approaching for every reminder due today, each once.
    Restart-safe: a reminder's row and its event commit together."""
    horizon = today + dt.timedelta(days=max(domain.LEADS))
    sent = 0
    after = ""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            ids = await store.claim_reminder_candidates(
                conn, today, horizon, limit=BATCH, after=after
            )
            for record in await store.agreements_by_ids(conn, ids):
                agreement = record.agreement
                already = await store.reminders_sent(conn, agreement.id)
                for reminder in domain.due_reminders(agreement, today, already):
                    for lead in reminder.skipped:
                        await store.mark_reminder_sent(conn, agreement.id, reminder.deadline, lead)
                    if not await store.mark_reminder_sent(
                        conn, agreement.id, reminder.deadline, reminder.days_before
                    ):
                        continue
                    participants = domain.participants_on(
                        [
                            p.participation
                            for p in await store.participations_of(conn, agreement.id)
                        ],
                        agreement.id,
                        today,
                    )
                    await record_event(
                        conn,
                        events.CancellationDeadlineApproaching(
                            agreement_id=agreement.id,
                            title=record.title,
                            supplier=_supplier(agreement),
                            product=agreement.product,
                            cancellation_deadline=reminder.deadline,
                            days_before=reminder.days_before,
                            period_end=reminder.period.end,
                            renewals_left=agreement.renewals_left,
                            annual_cost_cents=agreement.annual_cost_cents,
                            participants=[p.isil for p in participants],
                        ),
                    )
                    sent += 1
        if len(ids) < BATCH:
            return sent
        after = ids[-1]


# --- entitlements ---------------------------------------------------------------------------


def _title(e: domain.Entitlement) -> events.TitleEntitlement:
    return events.TitleEntitlement(
        isbn=e.isbn,
        licence_model=e.model.value,
        copies="unlimited" if e.copies == domain.UNLIMITED else e.copies,
        loans_left=e.loans_left,
        expires_on=e.expires_on,
        acquired_on=e.acquired_on,
        order_reference=e.order_reference,
        survives_leaving=domain.survives_leaving(e),
    )


async def load_entitlements(
    pool: asyncpg.Pool,
    agreement_id: str,
    holder: str,
    text: str,
    *,
    today: dt.date,
    delimiter: str = "\t",
) -> list[domain.Entitlement]:
    """Load a holder's titles from KBART (or CSV with the same columns): all rows or none."""
    if not holder.startswith("kimppa:"):
        domain.check_isil("holder", holder)
    items, problems = domain.parse_kbart(
        text,
        holder=holder,
        agreement_id=agreement_id,
        default_acquired_on=today,
        delimiter=delimiter,
    )
    if problems:
        raise domain.InvalidValue("file", "; ".join(problems[:10]))
    if not items:
        raise domain.InvalidValue("file", "no title rows")
    if len({e.isbn for e in items}) != len(items):
        raise domain.InvalidValue("file", "an ISBN appears twice")
    async with pool.acquire() as conn, conn.transaction():
        await _agreement(conn, agreement_id)
        if not holder.startswith("kimppa:") and await store.get_member(conn, holder) is None:
            raise domain.InvalidValue("holder", f"{holder} is not a known member library")
        await store.upsert_entitlements(conn, items)
        await record_event(
            conn,
            events.EntitlementsChanged(
                agreement_id=agreement_id,
                holder=holder,
                change="added",
                titles=[_title(e) for e in items],
            ),
        )
    return list(items)


async def expire_due_entitlements(pool: asyncpg.Pool, today: dt.date) -> int:
    """Publish the expiry of every entitlement whose end date has come, once each, grouped
    by holder and agreement. Restart-safe: the mark and the event commit together."""
    expired = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.claim_due_entitlements(conn, today, limit=BATCH)
            groups: dict[tuple[str, str], list[domain.Entitlement]] = {}
            for e in domain.due_to_expire(due, today):
                groups.setdefault((e.agreement_id, e.holder), []).append(e)
            for (agreement_id, holder), items in sorted(groups.items()):
                await store.mark_entitlements_expired(conn, items)
                await record_event(
                    conn,
                    events.EntitlementsChanged(
                        agreement_id=agreement_id,
                        holder=holder,
                        change="expired",
                        titles=[_title(e) for e in items],
                    ),
                )
        expired += len(due)
        if len(due) < BATCH:
            return expired


# --- questions and answers; the standstill's end --------------------------------------------


async def ask_question(
    pool: asyncpg.Pool, tender_id: str, asked_by: str, text: str, now: dt.datetime
) -> domain.Question:
    question = domain.Question(new_id("question"), tender_id, asked_by, text, now)
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        domain.ask_question(tender, question, tender.deadline)
        await store.upsert_question(conn, question)
    return question


async def answer_question(
    pool: asyncpg.Pool, tender_id: str, question_id: str, answer: str, now: dt.datetime
) -> domain.Question:
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        question = next(
            (q for q in await store.questions_of(conn, tender_id) if q.id == question_id), None
        )
        if question is None:
            raise NotFound("question", "question_id", question_id)
        answered = domain.answer_question(tender, question, answer, now)
        await store.upsert_question(conn, answered)
        await record_event(
            conn,
            events.QuestionAnswered(
                tender_id=tender_id,
                question_id=question_id,
                question=answered.text,
                answer=answer,
                answered_at=now,
                title=tender.title,
            ),
        )
    return answered


async def announce_ended_standstills(pool: asyncpg.Pool, today: dt.date) -> int:
    """Publish standstill-ended once for each decision whose standstill has run out."""
    announced = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await store.claim_ended_standstills(conn, today, limit=BATCH)
            for tender_id in due:
                award = await store.get_award(conn, tender_id)
                tender = await store.get_tender(conn, tender_id)
                assert award is not None and tender is not None
                appeals = await store.appeals_of(conn, tender_id)
                await store.mark_standstill_announced(conn, tender_id)
                assert award.award.standstill_ends_on is not None
                await record_event(
                    conn,
                    events.StandstillEnded(
                        tender_id=tender_id,
                        ended_on=award.award.standstill_ends_on,
                        bid_id=award.award.bid_id,
                        suspending_appeals=sum(
                            1 for a in appeals if a.blocks(award.award.corrected_on)
                        ),
                        title=tender.title,
                    ),
                )
        announced += len(due)
        if len(due) < BATCH:
            return announced


# --- documents ------------------------------------------------------------------------------


async def add_document(
    pool: asyncpg.Pool, tender_id: str, kind: str, content: bytes, media_type: str
) -> domain.Document:
    """Store a new version of a draft's document; the same content again returns the
    latest version unchanged."""
    async with pool.acquire() as conn, conn.transaction():
        tender = await _tender(conn, tender_id)
        existing = await store.documents_of(conn, tender_id)
        added = domain.add_version(tender, kind, content, media_type, existing)
        if added is None:
            return next(d for d in domain.latest(existing) if d.kind == kind)
        await store.insert_document(conn, added, content)
    return added
