"""Procurement SQL, with parameters only. Rows go in and come out as domain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from services.procurement.domain import (
    WHOLE_TENDER_LOT,
    Agreement,
    AgreementEnd,
    AgreementState,
    Appeal,
    Award,
    Bid,
    BillingPeriod,
    CompatibilityResult,
    CostSharePolicy,
    Criteria,
    DiscontinuedLot,
    Document,
    DocumentKind,
    EndKind,
    Entitlement,
    ExtensionOptions,
    Interest,
    InvoiceLine,
    Lot,
    Member,
    Need,
    Participation,
    Payer,
    Period,
    PopulationBand,
    PurchasingBody,
    QualityScore,
    Question,
    Rejection,
    Supplier,
    Tender,
    UsageFigure,
    parse_licence_terms,
)

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


class Where:
    """Builds a WHERE clause from fixed condition texts; every value is a parameter."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


async def _page(
    conn: Conn, table: str, where: Where, order: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    # ``table`` and ``order`` are constants of this module, never input.
    total = await conn.fetchval(f"SELECT count(*) FROM {table} {where.sql}", *where.args)  # noqa: S608
    rows = await conn.fetch(
        f"SELECT * FROM {table} {where.sql} ORDER BY {order} "  # noqa: S608
        f"LIMIT {where.arg(limit)} OFFSET {where.arg(offset)}",
        *where.args,
    )
    return list(rows), total


# --- members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRecord:
    member: Member
    names: dict[str, Any]
    municipalities: list[str]
    library_system: str
    library_system_text: str


def _member(row: asyncpg.Record) -> Member:
    names = row["names"]
    return Member(
        isil=row["isil"],
        name=names.get("fi") or names.get("en") or names.get("sv") or row["isil"],
        population=row["population"],
        joined_on=row["joined_on"],
        left_on=row["left_on"],
    )


def _member_record(row: asyncpg.Record) -> MemberRecord:
    return MemberRecord(
        member=_member(row),
        names=row["names"],
        municipalities=list(row["municipalities"]),
        library_system=row["library_system"],
        library_system_text=row["library_system_text"],
    )


async def upsert_member(
    conn: asyncpg.Connection,
    *,
    isil: str,
    names: dict[str, Any],
    population: int,
    municipalities: list[str],
    library_system: str,
    library_system_text: str,
    joined_on: dt.date,
    left_on: dt.date | None = None,
    payer: dict[str, Any] | None = None,
) -> None:
    """Insert a member, or start its new membership period (a re-join)."""
    await conn.execute(
        """
        INSERT INTO members (isil, names, population, municipalities, library_system,
                             library_system_text, joined_on, left_on, payer)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (isil) DO UPDATE SET
            names = EXCLUDED.names, population = EXCLUDED.population,
            municipalities = EXCLUDED.municipalities,
            library_system = EXCLUDED.library_system,
            library_system_text = EXCLUDED.library_system_text,
            joined_on = EXCLUDED.joined_on, left_on = EXCLUDED.left_on,
            payer = EXCLUDED.payer, updated_at = now()
        """,
        isil,
        names,
        population,
        municipalities,
        library_system,
        library_system_text,
        joined_on,
        left_on,
        payer,
    )


async def update_member_details(
    conn: asyncpg.Connection,
    *,
    isil: str,
    names: dict[str, Any],
    population: int,
    municipalities: list[str],
    library_system: str,
    library_system_text: str,
    payer: dict[str, Any] | None = None,
) -> bool:
    """Refresh a known member's details, keeping its membership dates. False if unknown."""
    status = await conn.execute(
        """
        UPDATE members SET names = $2, population = $3, municipalities = $4,
               library_system = $5, library_system_text = $6, payer = $7, updated_at = now()
        WHERE isil = $1
        """,
        isil,
        names,
        population,
        municipalities,
        library_system,
        library_system_text,
        payer,
    )
    return status != "UPDATE 0"


async def set_member_left(conn: asyncpg.Connection, isil: str, left_on: dt.date) -> None:
    await conn.execute(
        "UPDATE members SET left_on = GREATEST($2, joined_on), updated_at = now() WHERE isil = $1",
        isil,
        left_on,
    )


async def get_member(conn: Conn, isil: str, *, lock: bool = False) -> Member | None:
    # FOR SHARE: an opt-in and a member-left of the same library are serialised, so a library
    # leaving the consortium can never keep a participation that was being created meanwhile.
    query = "SELECT * FROM members WHERE isil = $1" + (" FOR SHARE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, isil)
    return _member(row) if row else None


async def members_by_isil(conn: Conn, isils: Sequence[str]) -> dict[str, Member]:
    rows = await conn.fetch("SELECT * FROM members WHERE isil = ANY($1::text[])", list(isils))
    return {row["isil"]: _member(row) for row in rows}


@dataclass(frozen=True)
class MemberFilter:
    text: str | None = None
    active_on: dt.date | None = None
    library_system: str | None = None


async def list_members(
    conn: Conn, where_: MemberFilter, *, limit: int, offset: int
) -> tuple[list[MemberRecord], int]:
    where = Where()
    if where_.text:
        pattern = where.arg(f"%{where_.text}%")
        where.add(f"(isil ILIKE {pattern} OR names::text ILIKE {pattern})")
    if where_.active_on:
        day = where.arg(where_.active_on)
        where.add(f"(joined_on <= {day} AND (left_on IS NULL OR {day} < left_on))")
    if where_.library_system:
        where.add(f"library_system = {where.arg(where_.library_system)}")
    rows, total = await _page(conn, "members", where, "isil", limit, offset)
    return [_member_record(row) for row in rows], total


# --- needs and interest ---------------------------------------------------------------------


@dataclass(frozen=True)
class NeedRecord:
    need: Need
    proposed_on: dt.date
    interested: int


def _need(row: asyncpg.Record) -> Need:
    return Need(
        id=row["id"],
        proposed_by=row["proposed_by"],
        material_type=row["material_type"],
        description=row["description"],
        accepted_licence_models=row["accepted_licence_models"],
        required_devices=row["required_devices"],
        required_library_systems=row["required_library_systems"],
    )


async def insert_need(conn: asyncpg.Connection, need: Need, proposed_on: dt.date) -> None:
    await conn.execute(
        """
        INSERT INTO needs (id, proposed_by, material_type, description, accepted_licence_models,
                           required_devices, required_library_systems, proposed_on)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        need.id,
        need.proposed_by,
        need.material_type.value,
        need.description,
        sorted(m.value for m in need.accepted_licence_models),
        sorted(d.value for d in need.required_devices),
        sorted(s.value for s in need.required_library_systems),
        proposed_on,
    )


NEED_ROWS = """
    SELECT n.*, (SELECT count(*) FROM interests i WHERE i.need_id = n.id) AS interested
    FROM needs n
"""


async def get_need(conn: Conn, need_id: str, *, lock: bool = False) -> NeedRecord | None:
    if lock:
        await conn.execute("SELECT 1 FROM needs WHERE id = $1 FOR UPDATE", need_id)
    row = await conn.fetchrow(f"{NEED_ROWS} WHERE n.id = $1", need_id)  # noqa: S608
    return NeedRecord(_need(row), row["proposed_on"], row["interested"]) if row else None


async def needs_by_ids(conn: Conn, ids: Sequence[str]) -> list[Need]:
    rows = await conn.fetch("SELECT * FROM needs WHERE id = ANY($1::text[]) ORDER BY id", list(ids))
    return [_need(row) for row in rows]


@dataclass(frozen=True)
class NeedFilter:
    material_type: str | None = None
    proposed_by: str | None = None
    interested: str | None = None  # ISIL that registered interest
    text: str | None = None


async def list_needs(
    conn: Conn, where_: NeedFilter, *, limit: int, offset: int
) -> tuple[list[NeedRecord], int]:
    where = Where()
    if where_.material_type:
        where.add(f"material_type = {where.arg(where_.material_type)}")
    if where_.proposed_by:
        where.add(f"proposed_by = {where.arg(where_.proposed_by)}")
    if where_.interested:
        where.add(
            "EXISTS (SELECT 1 FROM interests i WHERE i.need_id = needs.id "  # noqa: S608
            f"AND i.isil = {where.arg(where_.interested)})"
        )
    if where_.text:
        where.add(f"description ILIKE {where.arg(f'%{where_.text}%')}")
    table = "(" + NEED_ROWS + ") AS needs"
    rows, total = await _page(conn, table, where, "proposed_on DESC, id", limit, offset)
    return [NeedRecord(_need(r), r["proposed_on"], r["interested"]) for r in rows], total


async def insert_interest(conn: asyncpg.Connection, interest: Interest, today: dt.date) -> None:
    await conn.execute(
        """
        INSERT INTO interests (need_id, isil, indicative_budget_cents, registered_on)
        VALUES ($1, $2, $3, $4)
        """,
        interest.need_id,
        interest.isil,
        interest.indicative_budget_cents,
        today,
    )


@dataclass(frozen=True)
class InterestRecord:
    interest: Interest
    registered_on: dt.date


async def interests(conn: Conn, need_id: str) -> list[InterestRecord]:
    rows = await conn.fetch("SELECT * FROM interests WHERE need_id = $1 ORDER BY isil", need_id)
    return [
        InterestRecord(
            Interest(row["need_id"], row["isil"], row["indicative_budget_cents"]),
            row["registered_on"],
        )
        for row in rows
    ]


async def interested_isils(conn: Conn, need_ids: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT isil FROM interests WHERE need_id = ANY($1::text[]) ORDER BY isil",
        list(need_ids),
    )
    return [row["isil"] for row in rows]


# --- tenders ------------------------------------------------------------------------------


def _tender(row: asyncpg.Record) -> Tender:
    return Tender(
        id=row["id"],
        title=row["title"],
        kl_reference=row["kl_reference"],
        need_ids=tuple(row["need_ids"]),
        deadline=row["deadline"],
        criteria=Criteria(row["price_weight"], row["quality_weight"], row["compatibility_weight"]),
        price_model=row["price_model"],
        state=row["state"],
        cancellation_reason=row["cancellation_reason"],
        awarded_bid_id=row["awarded_bid_id"],
        procedure=row["procedure"],
        estimated_value_cents=row["estimated_value_cents"],
        threshold_class=row["threshold_class"],
        purchasing_body=PurchasingBody(
            row["purchasing_body_name"], row["purchasing_body_business_id"]
        )
        if row["purchasing_body_name"]
        else None,
        optional_targets=frozenset(row["optional_targets"]),
        lots=tuple(
            Lot(
                lot["id"],
                lot["title"],
                tuple(lot["need_ids"]),
                Criteria(
                    lot["criteria"]["price"],
                    lot["criteria"]["quality"],
                    lot["criteria"]["compatibility"],
                ),
                lot["price_model"],
            )
            for lot in row["lots"]
        ),
    )


def _lots(tender: Tender) -> list[dict[str, object]]:
    return [
        {
            "id": lot.id,
            "title": lot.title,
            "need_ids": list(lot.need_ids),
            "criteria": {
                "price": lot.criteria.price_weight,
                "quality": lot.criteria.quality_weight,
                "compatibility": lot.criteria.compatibility_weight,
            },
            "price_model": lot.price_model.value,
        }
        for lot in tender.lots
    ]


def _lawful_fields(tender: Tender) -> tuple[object, ...]:
    body = tender.purchasing_body
    return (
        tender.procedure.value,
        tender.estimated_value_cents,
        tender.threshold_class.value,
        body.name if body else None,
        body.business_id if body else None,
        sorted(t.value for t in tender.optional_targets),
        _lots(tender),
    )


async def insert_tender(conn: asyncpg.Connection, tender: Tender) -> None:
    await conn.execute(
        """
        INSERT INTO tenders (id, title, kl_reference, need_ids, deadline, price_weight,
                             quality_weight, compatibility_weight, price_model, state,
                             procedure, estimated_value_cents, threshold_class,
                             purchasing_body_name, purchasing_body_business_id,
                             optional_targets, lots)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        """,
        tender.id,
        tender.title,
        tender.kl_reference,
        list(tender.need_ids),
        tender.deadline,
        tender.criteria.price_weight,
        tender.criteria.quality_weight,
        tender.criteria.compatibility_weight,
        tender.price_model.value,
        tender.state.value,
        *_lawful_fields(tender),
    )


async def update_tender(conn: asyncpg.Connection, tender: Tender) -> None:
    await conn.execute(
        """
        UPDATE tenders SET title = $2, kl_reference = $3, need_ids = $4, deadline = $5,
               price_weight = $6, quality_weight = $7, compatibility_weight = $8,
               price_model = $9, state = $10, cancellation_reason = $11, awarded_bid_id = $12,
               procedure = $13, estimated_value_cents = $14, threshold_class = $15,
               purchasing_body_name = $16, purchasing_body_business_id = $17,
               optional_targets = $18, lots = $19, updated_at = now()
        WHERE id = $1
        """,
        tender.id,
        tender.title,
        tender.kl_reference,
        list(tender.need_ids),
        tender.deadline,
        tender.criteria.price_weight,
        tender.criteria.quality_weight,
        tender.criteria.compatibility_weight,
        tender.price_model.value,
        tender.state.value,
        tender.cancellation_reason,
        tender.awarded_bid_id,
        *_lawful_fields(tender),
    )


async def get_tender(conn: Conn, tender_id: str, *, lock: bool = False) -> Tender | None:
    # Locking the tender row serialises everything done to one tender (bids, tests, award).
    query = "SELECT * FROM tenders WHERE id = $1" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, tender_id)
    return _tender(row) if row else None


@dataclass(frozen=True)
class TenderFilter:
    state: str | None = None
    need_id: str | None = None
    text: str | None = None


async def list_tenders(
    conn: Conn, where_: TenderFilter, *, limit: int, offset: int
) -> tuple[list[Tender], int]:
    where = Where()
    if where_.state:
        where.add(f"state = {where.arg(where_.state)}")
    if where_.need_id:
        where.add(f"{where.arg(where_.need_id)} = ANY (need_ids)")
    if where_.text:
        pattern = where.arg(f"%{where_.text}%")
        where.add(f"(title ILIKE {pattern} OR kl_reference ILIKE {pattern})")
    rows, total = await _page(conn, "tenders", where, "created_at DESC, id", limit, offset)
    return [_tender(row) for row in rows], total


# --- bids, tests, quality scores, awards --------------------------------------------------


def _bid(row: asyncpg.Record) -> Bid:
    return Bid(
        id=row["id"],
        tender_id=row["tender_id"],
        supplier=Supplier(row["supplier_name"], row["supplier_country"]),
        product=row["product"],
        price_model=row["price_model"],
        price_cents=row["price_cents"],
        submitted_at=row["submitted_at"],
        supported_devices=row["supported_devices"],
        supported_library_systems=row["supported_library_systems"],
        terms=parse_licence_terms(row["terms"]),
        lot_id=row["lot_id"],
    )


async def insert_bid(conn: asyncpg.Connection, bid: Bid) -> None:
    await conn.execute(
        """
        INSERT INTO bids (id, tender_id, supplier_name, supplier_country, product, price_model,
                          price_cents, submitted_at, supported_devices,
                          supported_library_systems, terms, lot_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """,
        bid.id,
        bid.tender_id,
        bid.supplier.name,
        bid.supplier.country,
        bid.product,
        bid.price_model.value,
        bid.price_cents,
        bid.submitted_at,
        sorted(d.value for d in bid.supported_devices),
        sorted(s.value for s in bid.supported_library_systems),
        bid.terms.to_dict(),
        bid.lot_id,
    )


async def bids_of(conn: Conn, tender_id: str) -> list[Bid]:
    rows = await conn.fetch(
        "SELECT * FROM bids WHERE tender_id = $1 ORDER BY submitted_at, id", tender_id
    )
    return [_bid(row) for row in rows]


async def get_bid(conn: Conn, bid_id: str) -> Bid | None:
    row = await conn.fetchrow("SELECT * FROM bids WHERE id = $1", bid_id)
    return _bid(row) if row else None


async def upsert_compatibility_result(
    conn: asyncpg.Connection, result: CompatibilityResult
) -> None:
    """Store a result; a retest of the same (bid, target) replaces the earlier one."""
    await conn.execute(
        """
        INSERT INTO compatibility_results (bid_id, target, passed, notes)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (bid_id, target) DO UPDATE SET
            passed = EXCLUDED.passed, notes = EXCLUDED.notes, tested_at = now()
        """,
        result.bid_id,
        result.target.value,
        result.passed,
        result.notes,
    )


@dataclass(frozen=True)
class ResultRecord:
    result: CompatibilityResult
    tested_at: dt.datetime


async def compatibility_results(
    conn: Conn,
    tender_id: str,
    *,
    bid_id: str | None = None,
    target: str | None = None,
    passed: bool | None = None,
) -> list[ResultRecord]:
    where = Where()
    where.add(f"b.tender_id = {where.arg(tender_id)}")
    if bid_id:
        where.add(f"r.bid_id = {where.arg(bid_id)}")
    if target:
        where.add(f"r.target = {where.arg(target)}")
    if passed is not None:
        where.add(f"r.passed = {where.arg(passed)}")
    rows = await conn.fetch(
        "SELECT r.* FROM compatibility_results r JOIN bids b ON b.id = r.bid_id "  # noqa: S608
        f"{where.sql} ORDER BY r.bid_id, r.target",
        *where.args,
    )
    return [
        ResultRecord(
            CompatibilityResult(row["bid_id"], row["target"], row["passed"], row["notes"]),
            row["tested_at"],
        )
        for row in rows
    ]


async def upsert_quality_score(conn: asyncpg.Connection, score: QualityScore) -> None:
    await conn.execute(
        """
        INSERT INTO quality_scores (bid_id, score, rationale) VALUES ($1, $2, $3)
        ON CONFLICT (bid_id) DO UPDATE SET
            score = EXCLUDED.score, rationale = EXCLUDED.rationale, scored_at = now()
        """,
        score.bid_id,
        score.score,
        score.rationale,
    )


async def quality_scores(conn: Conn, tender_id: str) -> list[QualityScore]:
    rows = await conn.fetch(
        """
        SELECT q.* FROM quality_scores q JOIN bids b ON b.id = q.bid_id
        WHERE b.tender_id = $1 ORDER BY q.bid_id
        """,
        tender_id,
    )
    return [QualityScore(row["bid_id"], row["score"], row["rationale"]) for row in rows]


@dataclass(frozen=True)
class AwardRecord:
    award: Award
    scores: list[dict[str, Any]]
    awarded_by: str


async def insert_award(
    conn: asyncpg.Connection, award: Award, scores: list[dict[str, Any]], awarded_by: str
) -> None:
    await conn.execute(
        """
        INSERT INTO awards (tender_id, bid_id, recommended_bid_id, justification, scores,
                            awarded_at, awarded_by, served_at, standstill_ends_on, rejections,
                            lot_id, revision)
        VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        award.tender_id,
        award.bid_id,
        award.recommended_bid_id,
        scores,
        award.awarded_at,
        awarded_by,
        award.served_at,
        award.standstill_ends_on,
        [
            {"bid_id": r.bid_id, "kind": r.kind.value, "ground": r.ground, "automatic": r.automatic}
            for r in award.rejections
        ],
        award.lot_id,
        award.revision,
    )


async def delete_awards(conn: asyncpg.Connection, tender_id: str) -> None:
    """Take out the decision in force, which a correction replaces."""
    await conn.execute("DELETE FROM awards WHERE tender_id = $1", tender_id)
    await conn.execute("DELETE FROM discontinued_lots WHERE tender_id = $1", tender_id)


async def insert_discontinued_lot(
    conn: asyncpg.Connection, tender_id: str, lot: DiscontinuedLot, revision: int
) -> None:
    await conn.execute(
        """
        INSERT INTO discontinued_lots (tender_id, lot_id, ground, revision)
        VALUES ($1, $2, $3, $4)
        """,
        tender_id,
        lot.lot_id,
        lot.ground,
        revision,
    )


async def discontinued_lots_of(conn: Conn, tender_id: str) -> list[DiscontinuedLot]:
    rows = await conn.fetch(
        "SELECT * FROM discontinued_lots WHERE tender_id = $1 ORDER BY lot_id", tender_id
    )
    return [DiscontinuedLot(r["lot_id"], r["ground"]) for r in rows]


@dataclass(frozen=True)
class CorrectionRecord:
    tender_id: str
    revision: int
    reason: str
    corrected_at: dt.datetime
    corrected_by: str
    decision_id: str | None
    superseded: dict[str, Any]


async def insert_correction(conn: asyncpg.Connection, record: CorrectionRecord) -> None:
    await conn.execute(
        """
        INSERT INTO decision_corrections (tender_id, revision, reason, corrected_at,
                                          corrected_by, decision_id, superseded)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        record.tender_id,
        record.revision,
        record.reason,
        record.corrected_at,
        record.corrected_by,
        record.decision_id,
        record.superseded,
    )


async def corrections_of(conn: Conn, tender_id: str) -> list[CorrectionRecord]:
    rows = await conn.fetch(
        "SELECT * FROM decision_corrections WHERE tender_id = $1 ORDER BY revision", tender_id
    )
    return [
        CorrectionRecord(
            r["tender_id"],
            r["revision"],
            r["reason"],
            r["corrected_at"],
            r["corrected_by"],
            r["decision_id"],
            r["superseded"],
        )
        for r in rows
    ]


async def signed_lots_of(conn: Conn, tender_id: str) -> list[str]:
    """The lots of the tender an agreement has been signed for."""
    rows = await conn.fetch(
        "SELECT lot_id FROM agreements WHERE tender_id = $1 ORDER BY lot_id", tender_id
    )
    return [r["lot_id"] for r in rows]


# The first lot's award (the one whose bid is the tender's awarded_bid_id) comes first.
_AWARDS = """
    SELECT a.* FROM awards a JOIN tenders t ON t.id = a.tender_id
    WHERE a.tender_id = $1 {lot}
    ORDER BY a.bid_id IS NOT DISTINCT FROM t.awarded_bid_id DESC, a.lot_id
"""


async def get_award(conn: Conn, tender_id: str, lot_id: str | None = None) -> AwardRecord | None:
    """The award of one lot; without ``lot_id`` the first lot's (an undivided tender's one)."""
    if lot_id is None:
        row = await conn.fetchrow(_AWARDS.format(lot="") + " LIMIT 1", tender_id)
    else:
        row = await conn.fetchrow(_AWARDS.format(lot="AND a.lot_id = $2"), tender_id, lot_id)
    return _award_record(row) if row else None


async def awards_of(conn: Conn, tender_id: str) -> list[AwardRecord]:
    """Every lot's award of the decision, the first lot's first."""
    rows = await conn.fetch(_AWARDS.format(lot=""), tender_id)
    return [_award_record(row) for row in rows]


def _award_record(row: asyncpg.Record) -> AwardRecord:
    # The exact ranking fractions are not needed again: the stored, rounded figures are the
    # record, and signing only checks which bid won.
    award = Award(
        tender_id=row["tender_id"],
        bid_id=row["bid_id"],
        scores=(),
        awarded_at=row["awarded_at"],
        served_at=row["served_at"],
        standstill_ends_on=row["standstill_ends_on"],
        rejections=tuple(
            Rejection(r["bid_id"], r["kind"], r["ground"], r["automatic"])
            for r in row["rejections"]
        ),
        lot_id=row["lot_id"],
        revision=row["revision"],
    )
    return AwardRecord(award, row["scores"], row["awarded_by"])


# --- rejections and appeals -----------------------------------------------------------------


async def insert_rejection(
    conn: asyncpg.Connection, tender_id: str, rejection: Rejection, recorded_by: str
) -> None:
    await conn.execute(
        """
        INSERT INTO bid_rejections (bid_id, tender_id, kind, ground, recorded_by)
        VALUES ($1, $2, $3, $4, $5)
        """,
        rejection.bid_id,
        tender_id,
        rejection.kind.value,
        rejection.ground,
        recorded_by,
    )


async def delete_rejection(conn: asyncpg.Connection, tender_id: str, bid_id: str) -> bool:
    """Withdraw a rejection recorded by a person; False when there was none."""
    status = await conn.execute(
        "DELETE FROM bid_rejections WHERE tender_id = $1 AND bid_id = $2", tender_id, bid_id
    )
    return status != "DELETE 0"


async def rejections_of(conn: Conn, tender_id: str) -> list[Rejection]:
    rows = await conn.fetch(
        "SELECT * FROM bid_rejections WHERE tender_id = $1 ORDER BY bid_id", tender_id
    )
    return [Rejection(r["bid_id"], r["kind"], r["ground"]) for r in rows]


def _appeal(row: asyncpg.Record) -> Appeal:
    return Appeal(
        tender_id=row["tender_id"],
        case_number=row["case_number"],
        lodged_on=row["lodged_on"],
        suspends=row["suspends"],
        status=row["status"],
        resolved_on=row["resolved_on"],
        note=row["note"],
    )


async def upsert_appeal(conn: asyncpg.Connection, appeal: Appeal) -> None:
    await conn.execute(
        """
        INSERT INTO appeals (tender_id, case_number, lodged_on, suspends, status, resolved_on,
                             note)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (tender_id, case_number) DO UPDATE
        SET status = EXCLUDED.status, resolved_on = EXCLUDED.resolved_on, note = EXCLUDED.note
        """,
        appeal.tender_id,
        appeal.case_number,
        appeal.lodged_on,
        appeal.suspends,
        appeal.status.value,
        appeal.resolved_on,
        appeal.note,
    )


async def appeals_of(conn: Conn, tender_id: str) -> list[Appeal]:
    rows = await conn.fetch(
        "SELECT * FROM appeals WHERE tender_id = $1 ORDER BY lodged_on, case_number", tender_id
    )
    return [_appeal(r) for r in rows]


# --- agreements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementRecord:
    agreement: Agreement
    title: str
    #: The lot of the tender the agreement was signed from ('1': the undivided tender).
    lot_id: str = WHOLE_TENDER_LOT


def _agreement(row: asyncpg.Record, periods: list[asyncpg.Record]) -> Agreement:
    end = None
    if row["end_kind"] is not None:
        end = AgreementEnd(EndKind(row["end_kind"]), row["end_effective_on"], row["end_reason"])
    return Agreement(
        id=row["id"],
        tender_id=row["tender_id"],
        bid_id=row["bid_id"],
        supplier=Supplier(row["supplier_name"], row["supplier_country"]),
        product=row["product"],
        material_types=row["material_types"],
        price_model=row["price_model"],
        terms=parse_licence_terms(row["terms"]),
        periods=tuple(
            Period(p["start_on"], p["end_on"], p["cancellation_deadline"]) for p in periods
        ),
        extension_options=ExtensionOptions(row["extension_count"], row["extension_months"]),
        annual_cost_cents=row["annual_cost_cents"],
        cost_share=CostSharePolicy(
            row["cost_share_model"],
            row["base_fee_cents"],
            row["rate_per_resident_cents"],
            tuple(PopulationBand(b["up_to"], b["points"]) for b in row["cost_share_bands"]),
        ),
        signed_on=row["signed_on"],
        state=AgreementState(row["state"]),
        end=end,
        price_amendment=row["price_amendment"],
        framework_justification=row["framework_justification"],
    )


async def _periods(conn: Conn, agreement_ids: Sequence[str]) -> dict[str, list[asyncpg.Record]]:
    rows = await conn.fetch(
        "SELECT * FROM agreement_periods WHERE agreement_id = ANY($1::text[]) "
        "ORDER BY agreement_id, number",
        list(agreement_ids),
    )
    periods: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        periods.setdefault(row["agreement_id"], []).append(row)
    return periods


async def _records(conn: Conn, rows: Sequence[asyncpg.Record]) -> list[AgreementRecord]:
    periods = await _periods(conn, [row["id"] for row in rows])
    return [
        AgreementRecord(_agreement(row, periods[row["id"]]), row["title"], row["lot_id"])
        for row in rows
    ]


async def insert_agreement(
    conn: asyncpg.Connection, agreement: Agreement, title: str, lot_id: str = WHOLE_TENDER_LOT
) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (id, tender_id, bid_id, title, supplier_name, supplier_country,
                                product, material_types, price_model, terms, extension_count,
                                extension_months, annual_cost_cents, cost_share_model,
                                base_fee_cents, signed_on, state, expires_on,
                                price_amendment, framework_justification, lot_id,
                                rate_per_resident_cents, cost_share_bands)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                $19, $20, $21, $22, $23)
        """,
        agreement.id,
        agreement.tender_id,
        agreement.bid_id,
        title,
        agreement.supplier.name,
        agreement.supplier.country,
        agreement.product,
        sorted(m.value for m in agreement.material_types),
        agreement.price_model.value,
        agreement.terms.to_dict(),
        agreement.extension_options.count,
        agreement.extension_options.months,
        agreement.annual_cost_cents,
        agreement.cost_share.model.value,
        agreement.cost_share.base_fee_cents,
        agreement.signed_on,
        agreement.state.value,
        agreement.expires_on,
        agreement.price_amendment,
        agreement.framework_justification,
        lot_id,
        agreement.cost_share.rate_per_resident_cents,
        [{"up_to": b.up_to, "points": b.points} for b in agreement.cost_share.bands],
    )
    await _insert_periods(conn, agreement, start=1)


async def _insert_periods(conn: asyncpg.Connection, agreement: Agreement, *, start: int) -> None:
    await conn.executemany(
        """
        INSERT INTO agreement_periods (agreement_id, number, start_on, end_on,
                                       cancellation_deadline)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (agreement_id, number) DO NOTHING
        """,
        [
            (agreement.id, number, p.start, p.end, p.cancellation_deadline)
            for number, p in enumerate(agreement.periods, start=1)
            if number >= start
        ],
    )


async def update_agreement(conn: asyncpg.Connection, agreement: Agreement) -> None:
    """Store a state change: a new period (renewal), a scheduled termination, or the end."""
    end = agreement.end
    await conn.execute(
        """
        UPDATE agreements SET state = $2, end_kind = $3, end_effective_on = $4, end_reason = $5,
               expires_on = $6,
               ended_at = CASE WHEN $2 = 'ended' THEN COALESCE(ended_at, now()) END
        WHERE id = $1
        """,
        agreement.id,
        agreement.state.value,
        end.kind.value if end else None,
        end.effective_on if end else None,
        end.reason if end else None,
        agreement.expires_on,
    )
    await _insert_periods(conn, agreement, start=1)


async def get_agreement(
    conn: Conn, agreement_id: str, *, lock: bool = False
) -> AgreementRecord | None:
    # Locking the agreement row serialises opt-ins, opt-outs, renewals and its end.
    query = "SELECT * FROM agreements WHERE id = $1" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, agreement_id)
    return (await _records(conn, [row]))[0] if row else None


async def lock_agreements(conn: asyncpg.Connection, ids: Sequence[str]) -> list[AgreementRecord]:
    """Lock several agreements in id order (a fixed order cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT * FROM agreements WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", list(ids)
    )
    return await _records(conn, rows)


async def agreement_of_tender(conn: Conn, tender_id: str, lot_id: str | None = None) -> str | None:
    """An agreement signed from the tender (from the one lot, if named)."""
    if lot_id is None:
        return await conn.fetchval(
            "SELECT id FROM agreements WHERE tender_id = $1 ORDER BY lot_id LIMIT 1", tender_id
        )
    return await conn.fetchval(
        "SELECT id FROM agreements WHERE tender_id = $1 AND lot_id = $2", tender_id, lot_id
    )


async def agreements_by_ids(conn: Conn, ids: Sequence[str]) -> list[AgreementRecord]:
    rows = await conn.fetch(
        "SELECT * FROM agreements WHERE id = ANY($1::text[]) ORDER BY id", list(ids)
    )
    return await _records(conn, rows)


@dataclass(frozen=True)
class AgreementFilter:
    state: str | None = None
    material_type: str | None = None
    supplier: str | None = None
    participant: str | None = None  # ISIL participating on ``on``
    on: dt.date | None = None
    text: str | None = None


async def list_agreements(
    conn: Conn, where_: AgreementFilter, *, limit: int, offset: int
) -> tuple[list[AgreementRecord], int]:
    where = Where()
    if where_.state:
        where.add(f"state = {where.arg(where_.state)}")
    if where_.material_type:
        where.add(f"{where.arg(where_.material_type)} = ANY (material_types)")
    if where_.supplier:
        where.add(f"supplier_name ILIKE {where.arg(f'%{where_.supplier}%')}")
    if where_.text:
        pattern = where.arg(f"%{where_.text}%")
        where.add(f"(title ILIKE {pattern} OR product ILIKE {pattern})")
    if where_.participant:
        day = where.arg(where_.on or dt.date.today())
        where.add(
            "EXISTS (SELECT 1 FROM participations p WHERE p.agreement_id = agreements.id "  # noqa: S608
            f"AND p.isil = {where.arg(where_.participant)} AND p.joined_on <= {day} "
            f"AND (p.left_on IS NULL OR {day} < p.left_on))"
        )
    rows, total = await _page(conn, "agreements", where, "signed_on DESC, id", limit, offset)
    return await _records(conn, rows), total


async def claim_due_agreements(
    conn: asyncpg.Connection, today: dt.date, limit: int = 100
) -> list[str]:
    """Active agreements whose expiry or scheduled termination has come. SKIP LOCKED lets
    replicas share the work; a row locked by a command is taken on the next round."""
    rows = await conn.fetch(
        """
        SELECT id FROM agreements
        WHERE state = 'active' AND (expires_on <= $1 OR end_effective_on <= $1)
        ORDER BY id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        today,
        limit,
    )
    return [row["id"] for row in rows]


# --- participations -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipationRecord:
    id: int
    participation: Participation
    left_event_sent: bool


def _participation(row: asyncpg.Record) -> ParticipationRecord:
    return ParticipationRecord(
        id=row["id"],
        participation=Participation(
            agreement_id=row["agreement_id"],
            isil=row["isil"],
            joined_on=row["joined_on"],
            left_on=row["left_on"],
            leave_reason=row["leave_reason"],
        ),
        left_event_sent=row["left_event_at"] is not None,
    )


async def insert_participation(conn: asyncpg.Connection, participation: Participation) -> int:
    return await conn.fetchval(
        "INSERT INTO participations (agreement_id, isil, joined_on) VALUES ($1, $2, $3) "
        "RETURNING id",
        participation.agreement_id,
        participation.isil,
        participation.joined_on,
    )


async def participations_of(conn: Conn, agreement_id: str) -> list[ParticipationRecord]:
    rows = await conn.fetch(
        "SELECT * FROM participations WHERE agreement_id = $1 ORDER BY id", agreement_id
    )
    return [_participation(row) for row in rows]


async def participations_of_library(conn: Conn, isil: str) -> list[ParticipationRecord]:
    rows = await conn.fetch("SELECT * FROM participations WHERE isil = $1 ORDER BY id", isil)
    return [_participation(row) for row in rows]


async def set_participation_left(
    conn: asyncpg.Connection, record_id: int, participation: Participation, *, announced: bool
) -> None:
    assert participation.leave_reason is not None
    await conn.execute(
        """
        UPDATE participations SET left_on = $2, leave_reason = $3,
               left_event_at = CASE WHEN $4 THEN now() END
        WHERE id = $1
        """,
        record_id,
        participation.left_on,
        participation.leave_reason.value,
        announced,
    )


async def due_leaves(conn: Conn, today: dt.date, limit: int = 1000) -> list[tuple[int, str]]:
    """(participation id, agreement id) of opt-outs that took effect and are not announced.
    Read without locks: the caller locks the agreement first, then re-checks each one."""
    rows = await conn.fetch(
        """
        SELECT id, agreement_id FROM participations
        WHERE left_on IS NOT NULL AND left_event_at IS NULL AND left_on <= $1
        ORDER BY left_on, id
        LIMIT $2
        """,
        today,
        limit,
    )
    return [(row["id"], row["agreement_id"]) for row in rows]


async def get_participation(
    conn: Conn, record_id: int, *, lock: bool = False
) -> ParticipationRecord | None:
    query = "SELECT * FROM participations WHERE id = $1" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, record_id)
    return _participation(row) if row else None


async def mark_leave_announced(conn: asyncpg.Connection, record_id: int) -> None:
    await conn.execute("UPDATE participations SET left_event_at = now() WHERE id = $1", record_id)


@dataclass(frozen=True)
class ParticipationFilter:
    isil: str | None = None
    on: dt.date | None = None  # participating on this day
    current: bool = False  # not ended by ``on`` (includes opt-ins starting later)


async def list_participations(
    conn: Conn, agreement_id: str, where_: ParticipationFilter, *, limit: int, offset: int
) -> tuple[list[ParticipationRecord], int]:
    where = Where()
    where.add(f"agreement_id = {where.arg(agreement_id)}")
    if where_.isil:
        where.add(f"isil = {where.arg(where_.isil)}")
    if where_.on is not None:
        day = where.arg(where_.on)
        if where_.current:
            where.add(f"(left_on IS NULL OR {day} < left_on)")
        else:
            where.add(f"(joined_on <= {day} AND (left_on IS NULL OR {day} < left_on))")
    rows, total = await _page(conn, "participations", where, "isil, id", limit, offset)
    return [_participation(row) for row in rows], total


# --- billing periods ------------------------------------------------------------------------


async def payers_of(conn: Conn, isils: Sequence[str]) -> dict[str, Payer]:
    rows = await conn.fetch(
        "SELECT isil, payer FROM members WHERE isil = ANY($1::text[]) AND payer IS NOT NULL",
        list(isils),
    )
    return {
        r["isil"]: Payer(
            r["payer"]["id"],
            r["payer"]["name"],
            r["payer"].get("business_id"),
            r["payer"].get("e_invoice_address"),
        )
        for r in rows
    }


def line_dict(line: InvoiceLine) -> dict[str, Any]:
    return {
        "payer": {
            "id": line.payer.id,
            "name": line.payer.name,
            "business_id": line.payer.business_id,
            "e_invoice_address": line.payer.e_invoice_address,
        },
        "isil": line.isil,
        "description": line.description,
        "days": line.days,
        "amount_cents": line.amount_cents,
    }


def _line(d: dict[str, Any]) -> InvoiceLine:
    p = d["payer"]
    return InvoiceLine(
        Payer(p["id"], p["name"], p.get("business_id"), p.get("e_invoice_address")),
        d["isil"],
        d["description"],
        d["days"],
        d["amount_cents"],
    )


@dataclass(frozen=True)
class BillingRecord:
    agreement_id: str
    period: BillingPeriod
    cost_cents: int
    lines: tuple[InvoiceLine, ...]
    closed_by: str
    closed_at: dt.datetime


def _billing(row: asyncpg.Record) -> BillingRecord:
    return BillingRecord(
        row["agreement_id"],
        BillingPeriod(row["start_on"], row["end_on"]),
        row["cost_cents"],
        tuple(_line(d) for d in row["lines"]),
        row["closed_by"],
        row["closed_at"],
    )


async def billing_periods_of(conn: Conn, agreement_id: str) -> list[BillingRecord]:
    rows = await conn.fetch(
        "SELECT * FROM billing_periods WHERE agreement_id = $1 ORDER BY start_on", agreement_id
    )
    return [_billing(r) for r in rows]


async def insert_billing_period(
    conn: asyncpg.Connection,
    agreement_id: str,
    period: BillingPeriod,
    cost_cents: int,
    lines: Sequence[InvoiceLine],
    closed_by: str,
) -> None:
    await conn.execute(
        """
        INSERT INTO billing_periods (agreement_id, start_on, end_on, cost_cents, lines,
                                     closed_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        agreement_id,
        period.start,
        period.end,
        cost_cents,
        [line_dict(line) for line in lines],
        closed_by,
    )


# --- cancellation-deadline reminders --------------------------------------------------------


async def claim_reminder_candidates(
    conn: asyncpg.Connection, today: dt.date, horizon: dt.date, limit: int = 100, after: str = ""
) -> list[str]:
    """Active agreements with a cancellation deadline between today and the horizon, by id
    after ``after``; SKIP LOCKED lets replicas share them."""
    rows = await conn.fetch(
        """
        SELECT a.id FROM agreements a
        WHERE a.state = 'active' AND a.id > $3 AND EXISTS (
            SELECT 1 FROM agreement_periods p
            WHERE p.agreement_id = a.id AND p.cancellation_deadline BETWEEN $1 AND $2)
        ORDER BY a.id
        LIMIT $4
        FOR UPDATE OF a SKIP LOCKED
        """,
        today,
        horizon,
        after,
        limit,
    )
    return [row["id"] for row in rows]


async def reminders_sent(conn: Conn, agreement_id: str) -> set[tuple[dt.date, int]]:
    rows = await conn.fetch(
        "SELECT deadline, days_before FROM reminders_sent WHERE agreement_id = $1", agreement_id
    )
    return {(r["deadline"], r["days_before"]) for r in rows}


async def mark_reminder_sent(
    conn: asyncpg.Connection, agreement_id: str, deadline: dt.date, days_before: int
) -> bool:
    """True if this is the first time; False if another run already sent it."""
    status = await conn.execute(
        """
        INSERT INTO reminders_sent (agreement_id, deadline, days_before) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        agreement_id,
        deadline,
        days_before,
    )
    return status == "INSERT 0 1"


# --- entitlements ---------------------------------------------------------------------------


def _entitlement(row: asyncpg.Record) -> Entitlement:
    return Entitlement(
        holder=row["holder"],
        agreement_id=row["agreement_id"],
        isbn=row["isbn"],
        model=row["model"],
        acquired_on=row["acquired_on"],
        copies=row["copies"],
        loans_left=row["loans_left"],
        expires_on=row["expires_on"],
        order_reference=row["order_reference"],
        post_cancellation_access=row["post_cancellation_access"],
    )


async def upsert_entitlements(conn: asyncpg.Connection, items: Sequence[Entitlement]) -> None:
    await conn.executemany(
        """
        INSERT INTO entitlements (holder, agreement_id, isbn, model, copies, loans_left,
                                  expires_on, acquired_on, order_reference,
                                  post_cancellation_access)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (holder, agreement_id, isbn) DO UPDATE SET
            model = EXCLUDED.model, copies = EXCLUDED.copies,
            loans_left = EXCLUDED.loans_left, expires_on = EXCLUDED.expires_on,
            acquired_on = EXCLUDED.acquired_on, order_reference = EXCLUDED.order_reference,
            post_cancellation_access = EXCLUDED.post_cancellation_access, expired_at = NULL
        """,
        [
            (
                e.holder,
                e.agreement_id,
                e.isbn,
                e.model.value,
                e.copies,
                e.loans_left,
                e.expires_on,
                e.acquired_on,
                e.order_reference,
                e.post_cancellation_access,
            )
            for e in items
        ],
    )


async def entitlements_of(
    conn: Conn, *, holder: str | None = None, agreement_id: str | None = None
) -> list[Entitlement]:
    where = Where()
    if holder is not None:
        where.add(f"holder = {where.arg(holder)}")
    if agreement_id is not None:
        where.add(f"agreement_id = {where.arg(agreement_id)}")
    rows = await conn.fetch(
        f"SELECT * FROM entitlements {where.sql} ORDER BY holder, agreement_id, isbn",  # noqa: S608
        *where.args,
    )
    return [_entitlement(r) for r in rows]


async def claim_due_entitlements(
    conn: asyncpg.Connection, today: dt.date, limit: int = 500
) -> list[Entitlement]:
    """Entitlements whose end date has come and whose expiry is not yet published."""
    rows = await conn.fetch(
        """
        SELECT * FROM entitlements
        WHERE expired_at IS NULL AND expires_on <= $1
        ORDER BY holder, agreement_id, isbn
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        today,
        limit,
    )
    return [_entitlement(r) for r in rows]


async def mark_entitlements_expired(conn: asyncpg.Connection, items: Sequence[Entitlement]) -> None:
    await conn.executemany(
        """
        UPDATE entitlements SET expired_at = now()
        WHERE holder = $1 AND agreement_id = $2 AND isbn = $3
        """,
        [(e.holder, e.agreement_id, e.isbn) for e in items],
    )


async def set_entitlement_end(conn: asyncpg.Connection, item: Entitlement) -> None:
    await conn.execute(
        """
        UPDATE entitlements SET expires_on = $4
        WHERE holder = $1 AND agreement_id = $2 AND isbn = $3
        """,
        item.holder,
        item.agreement_id,
        item.isbn,
        item.expires_on,
    )


# --- questions and answers ------------------------------------------------------------------


def _question(row: asyncpg.Record) -> Question:
    return Question(
        id=row["id"],
        tender_id=row["tender_id"],
        asked_by=row["asked_by"],
        text=row["text"],
        asked_at=row["asked_at"],
        answer=row["answer"],
        answered_at=row["answered_at"],
    )


async def upsert_question(conn: asyncpg.Connection, q: Question) -> None:
    await conn.execute(
        """
        INSERT INTO questions (id, tender_id, asked_by, text, asked_at, answer, answered_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (id) DO UPDATE SET answer = EXCLUDED.answer,
                                       answered_at = EXCLUDED.answered_at
        """,
        q.id,
        q.tender_id,
        q.asked_by,
        q.text,
        q.asked_at,
        q.answer,
        q.answered_at,
    )


async def questions_of(conn: Conn, tender_id: str) -> list[Question]:
    rows = await conn.fetch(
        "SELECT * FROM questions WHERE tender_id = $1 ORDER BY asked_at, id", tender_id
    )
    return [_question(r) for r in rows]


# --- standstill -----------------------------------------------------------------------------


async def claim_ended_standstills(
    conn: asyncpg.Connection, today: dt.date, limit: int = 100
) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT tender_id FROM awards
        WHERE standstill_ends_on <= $1 AND standstill_announced_at IS NULL
          -- one row per decision: every lot's award shares the standstill
          AND lot_id = (SELECT min(o.lot_id) FROM awards o WHERE o.tender_id = awards.tender_id)
        ORDER BY tender_id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        today,
        limit,
    )
    return [r["tender_id"] for r in rows]


async def mark_standstill_announced(conn: asyncpg.Connection, tender_id: str) -> None:
    await conn.execute(
        "UPDATE awards SET standstill_announced_at = now() WHERE tender_id = $1", tender_id
    )


# --- documents ------------------------------------------------------------------------------


def _document(row: asyncpg.Record) -> Document:
    return Document(
        row["tender_id"],
        DocumentKind(row["kind"]),
        row["version"],
        row["sha256"],
        row["media_type"],
        row["size"],
    )


async def documents_of(conn: Conn, tender_id: str) -> list[Document]:
    rows = await conn.fetch(
        """
        SELECT tender_id, kind, version, sha256, media_type, length(content) AS size
        FROM tender_documents WHERE tender_id = $1 ORDER BY kind, version
        """,
        tender_id,
    )
    return [_document(r) for r in rows]


async def insert_document(conn: asyncpg.Connection, document: Document, content: bytes) -> None:
    await conn.execute(
        """
        INSERT INTO tender_documents (tender_id, kind, version, sha256, media_type, content)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        document.tender_id,
        document.kind.value,
        document.version,
        document.sha256,
        document.media_type,
        content,
    )


async def document_content(
    conn: Conn, tender_id: str, kind: str, version: int
) -> tuple[str, bytes] | None:
    row = await conn.fetchrow(
        """
        SELECT media_type, content FROM tender_documents
        WHERE tender_id = $1 AND kind = $2 AND version = $3
        """,
        tender_id,
        kind,
        version,
    )
    return (row["media_type"], bytes(row["content"])) if row else None


# --- usage figures --------------------------------------------------------------------------


async def put_usage_figure(conn: asyncpg.Connection, figure: UsageFigure) -> None:
    """Keep the figure unless a later revision of the same month and report is kept already."""
    await conn.execute(
        """
        INSERT INTO usage_figures (agreement_id, isil, month, report, revision, uses)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (agreement_id, isil, month, report) DO UPDATE
        SET revision = EXCLUDED.revision, uses = EXCLUDED.uses, received_at = now()
        WHERE usage_figures.revision < EXCLUDED.revision
        """,
        figure.agreement_id,
        figure.isil,
        figure.month,
        figure.report,
        figure.revision,
        figure.uses,
    )


async def usage_figures_of(
    conn: Conn, agreement_id: str, months: Sequence[str]
) -> list[UsageFigure]:
    rows = await conn.fetch(
        """
        SELECT agreement_id, isil, month, report, revision, uses FROM usage_figures
        WHERE agreement_id = $1 AND month = ANY($2::text[])
        ORDER BY isil, month, report
        """,
        agreement_id,
        list(months),
    )
    return [
        UsageFigure(r["agreement_id"], r["isil"], r["month"], r["report"], r["revision"], r["uses"])
        for r in rows
    ]
