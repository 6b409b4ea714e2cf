"""Governance SQL (parameters only)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypeAlias

import asyncpg

from services.procurement.governance.domain import (
    REMINDER_DAYS,
    Attachment,
    Body,
    Decision,
    Option,
    Question,
    QuestionKind,
    SubjectKind,
    Survey,
    SurveyKind,
    SurveyState,
)

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def put_file(conn: Conn, attachment: Attachment, content: bytes) -> None:
    await conn.execute(
        "INSERT INTO governance_files (sha256, content, size, media_type) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
        attachment.sha256,
        content,
        attachment.size,
        attachment.media_type,
    )


async def get_file(conn: Conn, sha256: str) -> tuple[bytes, str] | None:
    row = await conn.fetchrow(
        "SELECT content, media_type FROM governance_files WHERE sha256 = $1", sha256
    )
    return None if row is None else (bytes(row["content"]), row["media_type"])


async def insert_decision(conn: asyncpg.Connection, d: Decision) -> bool:
    """False when a decision with that id, or that body, day and section, already exists."""
    inserted = await conn.fetchval(
        "INSERT INTO decisions (id, body, decided_on, section, subject_kind, subject_id, text) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
        d.id,
        d.body.value,
        d.decided_on,
        d.section,
        d.subject_kind.value,
        d.subject_id,
        d.text,
    )
    return inserted is not None


async def add_attachment(conn: asyncpg.Connection, decision_id: str, a: Attachment) -> bool:
    position = await conn.fetchval(
        "SELECT count(*) FROM decision_attachments WHERE decision_id = $1", decision_id
    )
    added = await conn.fetchval(
        "INSERT INTO decision_attachments (decision_id, name, sha256, position) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING name",
        decision_id,
        a.name,
        a.sha256,
        position,
    )
    return added is not None


async def get_decision(conn: Conn, decision_id: str, *, lock: bool = False) -> Decision | None:
    query = "SELECT * FROM decisions WHERE id = $1" + (" FOR UPDATE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, decision_id)
    if row is None:
        return None
    files = await conn.fetch(
        "SELECT a.name, a.sha256, f.size, f.media_type FROM decision_attachments a "
        "JOIN governance_files f USING (sha256) WHERE a.decision_id = $1 ORDER BY a.position",
        decision_id,
    )
    return _decision(row, files)


def _decision(row: asyncpg.Record, files: list[asyncpg.Record]) -> Decision:
    return Decision(
        id=row["id"],
        body=Body(row["body"]),
        decided_on=row["decided_on"],
        section=row["section"],
        subject_kind=SubjectKind(row["subject_kind"]),
        subject_id=row["subject_id"],
        text=row["text"],
        attachments=tuple(
            Attachment(f["name"], f["sha256"], f["size"], f["media_type"]) for f in files
        ),
    )


async def list_decisions(
    conn: Conn, subject_id: str | None, limit: int, offset: int
) -> tuple[list[Decision], int]:
    rows = await conn.fetch(
        "SELECT * FROM decisions WHERE ($1::text IS NULL OR subject_id = $1) "
        "ORDER BY decided_on DESC, id LIMIT $2 OFFSET $3",
        subject_id,
        limit,
        offset,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM decisions WHERE ($1::text IS NULL OR subject_id = $1)", subject_id
    )
    out = []
    for row in rows:
        decision = await get_decision(conn, row["id"])
        assert decision is not None
        out.append(decision)
    return out, total


def _questions_json(questions: tuple[Question, ...]) -> list[dict[str, Any]]:
    # The pool's jsonb codec (kit.db) encodes Python values itself.
    return [
        {
            "id": q.id,
            "kind": q.kind.value,
            "fi": q.fi,
            "sv": q.sv,
            "options": [{"id": o.id, "fi": o.fi, "sv": o.sv} for o in q.options],
            "required": q.required,
            "binding_option": q.binding_option,
        }
        for q in questions
    ]


def _questions(raw: str | list[dict[str, Any]]) -> tuple[Question, ...]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(
        Question(
            id=q["id"],
            kind=QuestionKind(q["kind"]),
            fi=q["fi"],
            sv=q["sv"],
            options=tuple(Option(o["id"], o["fi"], o["sv"]) for o in q["options"]),
            required=q["required"],
            binding_option=q["binding_option"],
        )
        for q in items
    )


async def insert_survey(conn: asyncpg.Connection, s: Survey) -> None:
    await conn.execute(
        "INSERT INTO surveys (id, kind, title_fi, title_sv, opens_on, closes_on, questions, "
        "audience, agreement_id, participation_from, decision_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)",
        s.id,
        s.kind.value,
        s.title_fi,
        s.title_sv,
        s.opens_on,
        s.closes_on,
        _questions_json(s.questions),
        list(s.audience),
        s.agreement_id,
        s.participation_from,
        s.decision_id,
    )


def _survey(row: asyncpg.Record) -> Survey:
    return Survey(
        id=row["id"],
        kind=SurveyKind(row["kind"]),
        title_fi=row["title_fi"],
        title_sv=row["title_sv"],
        opens_on=row["opens_on"],
        closes_on=row["closes_on"],
        questions=_questions(row["questions"]),
        audience=tuple(row["audience"]),
        agreement_id=row["agreement_id"],
        participation_from=row["participation_from"],
        decision_id=row["decision_id"],
        state=SurveyState(row["state"]),
        reminded=row["reminded_at"] is not None,
    )


async def get_survey(conn: Conn, survey_id: str, *, lock: bool = False) -> Survey | None:
    # FOR SHARE on answering: an answer and the close are serialised, so no answer slips in
    # after the close has read them all.
    query = "SELECT * FROM surveys WHERE id = $1" + (" FOR SHARE" if lock else "")  # noqa: S608
    row = await conn.fetchrow(query, survey_id)
    return None if row is None else _survey(row)


async def list_surveys(conn: Conn, limit: int, offset: int) -> tuple[list[Survey], int]:
    rows = await conn.fetch(
        "SELECT * FROM surveys ORDER BY closes_on DESC, id LIMIT $1 OFFSET $2", limit, offset
    )
    total = await conn.fetchval("SELECT count(*) FROM surveys")
    return [_survey(r) for r in rows], total


async def claim_due(conn: asyncpg.Connection, what: str, today: dt.date) -> Survey | None:
    """Lock one survey due for ``what`` (open, remind, close); another replica skips it."""
    conditions = {
        "open": "state = 'scheduled' AND opens_on <= $1 AND $2::int >= 0",
        "remind": "state = 'open' AND reminded_at IS NULL AND closes_on - $2::int <= $1 "
        "AND closes_on >= $1",
        "close": "state = 'open' AND closes_on < $1 AND $2::int >= 0",
    }
    row = await conn.fetchrow(
        f"SELECT * FROM surveys WHERE {conditions[what]} "  # noqa: S608 - fixed fragments
        "ORDER BY closes_on, id LIMIT 1 FOR UPDATE SKIP LOCKED",
        today,
        REMINDER_DAYS,
    )
    return None if row is None else _survey(row)


async def set_state(conn: asyncpg.Connection, survey_id: str, state: str) -> None:
    await conn.execute(
        "UPDATE surveys SET state = $2, "
        "closed_at = CASE WHEN $2 = 'closed' THEN now() ELSE closed_at END WHERE id = $1",
        survey_id,
        state,
    )


async def mark_reminded(conn: asyncpg.Connection, survey_id: str) -> None:
    await conn.execute("UPDATE surveys SET reminded_at = now() WHERE id = $1", survey_id)


async def put_answer(
    conn: asyncpg.Connection, survey_id: str, isil: str, answers: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO survey_answers (survey_id, isil, answers) VALUES ($1, $2, $3::jsonb) "
        "ON CONFLICT (survey_id, isil) DO UPDATE "
        "SET answers = EXCLUDED.answers, answered_at = now()",
        survey_id,
        isil,
        answers,
    )


async def answers_of(conn: Conn, survey_id: str) -> dict[str, dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT isil, answers FROM survey_answers WHERE survey_id = $1 ORDER BY isil", survey_id
    )
    return {
        r["isil"]: json.loads(r["answers"]) if isinstance(r["answers"], str) else r["answers"]
        for r in rows
    }


# --- kimppas (shared library systems), from membership's events ------------------------------


async def put_kimppa(conn: asyncpg.Connection, kimppa_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO kimppas (id, name) VALUES ($1, $2) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()",
        kimppa_id,
        name,
    )


async def set_member_kimppa(conn: asyncpg.Connection, isil: str, kimppa_id: str | None) -> None:
    await conn.execute("UPDATE members SET kimppa_id = $2 WHERE isil = $1", isil, kimppa_id)


async def set_kimppa_libraries(conn: asyncpg.Connection, kimppa_id: str, isils: list[str]) -> None:
    """The kimppa's libraries are exactly ``isils`` now: the listed members join it, the
    members no longer listed leave it."""
    await conn.execute(
        "UPDATE members SET kimppa_id = NULL WHERE kimppa_id = $1 AND NOT isil = ANY($2::text[])",
        kimppa_id,
        isils,
    )
    await conn.execute(
        "UPDATE members SET kimppa_id = $1 WHERE isil = ANY($2::text[])", kimppa_id, isils
    )


async def kimppa_known(conn: Conn, kimppa_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM kimppas WHERE id = $1) "
            "OR EXISTS (SELECT 1 FROM members WHERE kimppa_id = $1)",
            kimppa_id,
        )
    )


async def kimppa_members_on(conn: Conn, kimppa_id: str, day: dt.date) -> list[str]:
    rows = await conn.fetch(
        "SELECT isil FROM members WHERE kimppa_id = $1 AND joined_on <= $2 "
        "AND (left_on IS NULL OR left_on > $2) ORDER BY isil",
        kimppa_id,
        day,
    )
    return [r["isil"] for r in rows]


async def add_decision_ref(
    conn: asyncpg.Connection, action: str, subject_id: str, decision_id: str
) -> None:
    await conn.execute(
        "INSERT INTO decision_refs (action, subject_id, decision_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        action,
        subject_id,
        decision_id,
    )


async def decision_refs(conn: Conn, decision_id: str) -> list[tuple[str, str]]:
    """(action, subject id) of every act the decision approved, oldest first."""
    rows = await conn.fetch(
        "SELECT action, subject_id FROM decision_refs WHERE decision_id = $1 "
        "ORDER BY recorded_at, action, subject_id",
        decision_id,
    )
    return [(r["action"], r["subject_id"]) for r in rows]
