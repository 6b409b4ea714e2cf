"""Membership's agreement-version and erasure events as outreach receives them: the request to
accept a new version reaches each member's contacts in their language, and an erased contact
is forgotten by outreach too. Real broker, PostgreSQL and SMTP server."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pytest

from kit.auth import Role
from tests.conftest import Infra, wait_for
from tests.integration.conftest import (
    Service,
    auth,
    library_body,
    register_and_join,
    unique_isil,
)

pytestmark = pytest.mark.integration


def mails_to(infra: Infra, address: str, subject_part: str) -> list[dict[str, Any]]:
    return [m for m in infra.mails() if address in m["rcpt_to"] and subject_part in m["subject"]]


async def test_members_are_asked_to_accept_a_new_version_in_their_language(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    isil = unique_isil()
    fi, sv = f"fi.{isil.lower()}@example.org", f"sv.{isil.lower()}@example.org"
    contacts = [
        {"name": "Aino", "email": fi, "role": "director", "language": "fi"},
        {"name": "Sara", "email": sv, "role": "e-resources", "language": "sv"},
    ]
    await register_and_join(membership, infra, library_body(isil, contacts))
    await wait_for(lambda: mails_to(infra, sv, "Välkommen"), 30)  # in the audience now

    version = f"v{uuid.uuid4().hex[:6]}"
    valid_from = dt.date(2100, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 20_000)
    response = await membership.client.post(
        "/agreement-versions",
        files={
            "file": ("sopimus.pdf", io.BytesIO(b"%PDF-1.4 " + version.encode()), "application/pdf")
        },
        data={
            "version": version,
            "valid_from": valid_from.isoformat(),
            "notice_months": "6",
            "notice_takes_effect": "end-of-year",
        },
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert response.status_code == 201, response.text

    await wait_for(lambda: mails_to(infra, fi, version) and mails_to(infra, sv, version), 30)
    [finnish], [swedish] = mails_to(infra, fi, version), mails_to(infra, sv, version)
    assert "hyväksyttäväksi" in finnish["subject"]
    assert "godkänna" in swedish["subject"] and "kalenderåret" in swedish["text"]
    assert swedish["headers"]["Content-Language"] == "sv"


async def test_an_erased_contact_is_forgotten_by_outreach(
    infra: Infra, membership: Service, outreach: Service
) -> None:
    isil = unique_isil()
    email = f"former.{isil.lower()}@example.org"
    contacts = [{"name": "Entinen", "email": email, "role": "director", "language": "fi"}]
    await register_and_join(membership, infra, library_body(isil, contacts))
    await wait_for(lambda: mails_to(infra, email, "Tervetuloa"), 30)
    sql = "SELECT count(*) FROM audience_contacts WHERE email = $1"
    assert await outreach.pool.fetchval(sql, email) == 1

    response = await membership.client.post(
        f"/libraries/{isil}/contacts/erasure",
        json={"email": email},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert response.status_code == 200, response.text

    async def forgotten() -> bool:
        left = await outreach.pool.fetchval(sql, email)
        logged = await outreach.pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE recipient = $1 OR text_body LIKE $2",
            email,
            f"%{email}%",
        )
        return left == 0 and logged == 0

    await wait_for(forgotten, 30)
    redacted = await outreach.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE isil = $1 AND recipient LIKE 'erased:%'", isil
    )
    assert redacted >= 1
