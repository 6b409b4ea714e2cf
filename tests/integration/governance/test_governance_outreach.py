"""The whole chain on the real broker: membership admits ten libraries, procurement learns of
them, a renewal survey opens and outreach invites each library in its contact's language; the
three that do not answer get exactly one reminder; the close turns the seven binding answers
into participations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.procurement.governance import commands
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service, library_body, register_and_join, unique_isil
from tests.integration.governance.test_governance_surveys import CLOSES, ok, renewal_survey
from tests.integration.procurement.conftest import Actors, signed_agreement

pytestmark = pytest.mark.integration


def mails_to(infra: Infra, email: str, subject_word: str) -> list[dict[str, Any]]:
    return [m for m in infra.mails() if email in m["rcpt_to"] and subject_word in m["subject"]]


async def test_invitations_and_one_reminder_reach_the_libraries(
    membership: Service,
    live_procurement: Service,
    outreach: Service,
    actors: Actors,
    infra: Infra,
) -> None:
    service = live_procurement
    libraries = sorted(unique_isil("FI-G") for _ in range(10))
    emails = {isil: f"johtaja.{isil.lower()}@example.org" for isil in libraries}
    language = {isil: "sv" if i % 2 else "fi" for i, isil in enumerate(libraries)}
    for isil in libraries:
        contact = {"name": "Johtaja", "email": emails[isil], "role": "director"}
        contact["language"] = language[isil]
        await register_and_join(membership, infra, library_body(isil, contacts=[contact]))

    async def procurement_knows_them() -> bool:
        count = await service.pool.fetchval(
            "SELECT count(*) FROM members WHERE isil = ANY($1::text[])", libraries
        )
        return count == len(libraries)

    await wait_for(procurement_knows_them, 30)
    agreement = await signed_agreement(service, actors)
    survey = ok(
        await service.client.post(
            "/surveys", json=renewal_survey(agreement["id"], libraries), headers=actors.coordinator
        ),
        201,
    )
    invitation = {"fi": "Kysely:", "sv": "Enkät:"}
    await wait_for(
        lambda: all(mails_to(infra, emails[i], invitation[language[i]]) for i in libraries),
        30,
    )
    for isil in libraries:
        [mail] = mails_to(infra, emails[isil], invitation[language[isil]])
        assert mail["subject"].endswith(f"{CLOSES.day}.{CLOSES.month}.{CLOSES.year})")

    yes, silent = libraries[:7], libraries[7:]
    for isil in yes:
        ok(
            await service.client.put(
                f"/surveys/{survey['id']}/answers/{isil}",
                json={"answers": {"renew": "yes"}},
                headers=actors.library(isil),
            )
        )
    # The reminder job runs twice on the reminder day and again the next: one reminder each.
    for day in (CLOSES - dt.timedelta(days=3), CLOSES - dt.timedelta(days=3), CLOSES):
        await commands.run_due(service.pool, day)
    reminder = {"fi": "Muistutus", "sv": "Påminnelse"}
    await wait_for(
        lambda: all(mails_to(infra, emails[i], reminder[language[i]]) for i in silent), 30
    )
    await commands.run_due(service.pool, CLOSES + dt.timedelta(days=1))
    rows = await service.pool.fetch(
        "SELECT isil FROM participations WHERE agreement_id = $1 ORDER BY isil", agreement["id"]
    )
    assert [r["isil"] for r in rows] == yes
    # By now outreach has had every event before survey-closed; nothing more is sent.
    for isil in libraries:
        reminded = mails_to(infra, emails[isil], reminder[language[isil]])
        assert len(reminded) == (1 if isil in silent else 0)

    # The annual reports are announced once per library; outreach mails each a link.
    year = CLOSES.year
    first = ok(
        await service.client.post(f"/reports/annual/{year}/publish", headers=actors.coordinator)
    )
    assert set(libraries) <= set(first["published"])
    again = ok(
        await service.client.post(f"/reports/annual/{year}/publish", headers=actors.coordinator)
    )
    assert not set(libraries) & set(again["published"])
    subject = {"fi": "vuosiraportti", "sv": "årsrapport"}
    await wait_for(
        lambda: all(mails_to(infra, emails[i], subject[language[i]]) for i in libraries), 30
    )
    for isil in libraries:
        [mail] = mails_to(infra, emails[isil], subject[language[isil]])
        assert f"isil={isil}&format=pdf&lang={language[isil]}" in mail["text"]
