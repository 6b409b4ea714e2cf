"""Cancellation-deadline reminders over the real broker, database and SMTP server: each of the
60-, 30- and 7-day events is mailed once to the coordinator and to every contact of every
participating library, in the contact's language, and a redelivered event sends nothing more."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import pytest

from contracts.procurement import CancellationDeadlineApproaching, Supplier
from kit.envelope import encode
from tests.conftest import Infra
from tests.integration.outreach.conftest import (
    COORDINATOR,
    TODAY,
    MailServer,
    Outreach,
    all_sent,
    contact,
    handled,
    joined,
    library,
    members_known,
    publish,
    unique_isil,
)

pytestmark = pytest.mark.integration


def approaching(
    agreement_id: str, days_before: Literal[60, 30, 7], participants: list[str]
) -> CancellationDeadlineApproaching:
    return CancellationDeadlineApproaching(
        agreement_id=agreement_id,
        title=f"E-kirjat {agreement_id}",
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product="Ellibs E-kirjasto",
        cancellation_deadline=TODAY + dt.timedelta(days=days_before),
        days_before=days_before,
        period_end=TODAY + dt.timedelta(days=days_before + 90),
        renewals_left=1,
        annual_cost_cents=1_234_567,
        participants=participants,
    )


async def test_each_reminder_is_mailed_once_to_the_coordinator_and_every_participant(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    first, second, outsider = unique_isil("FI-C"), unique_isil("FI-C"), unique_isil("FI-C")
    libs = {
        first: library(first, [contact(first, "Aino", "fi"), contact(first, "Sara", "sv")]),
        second: library(second, [contact(second, "Elin", "sv")]),
        outsider: library(outsider),
    }
    await publish(infra, *(joined(lib) for lib in libs.values()))
    await members_known(outreach_own, *libs)
    agreement_id = f"AG-{uuid.uuid4().hex[:6]}"
    # A library no longer in the audience is listed too: it is skipped, the rest are mailed.
    participants = [first, second, "FI-Notamember", first]
    # Encoded once, so that publishing them again redelivers the same CloudEvent ids.
    events = [
        encode(approaching(agreement_id, days, participants), source="/tests")
        for days in (60, 30, 7)
    ]
    event_ids = await publish(infra, *events, times=2)

    expected = {COORDINATOR} | {c.email for isil in (first, second) for c in libs[isil].contacts}
    for event_id in event_ids:
        rows = await all_sent(infra, outreach_own, event_id, expected=len(expected))
        assert {r["recipient"] for r in rows} == expected
        assert {r["kind"] for r in rows} == {"cancellation-deadline"}

    def reminders(address: str) -> list[str]:
        return sorted(
            m.subject
            for m in mail_server.to(address, "cancellation-deadline")
            if agreement_id in m.text
        )

    # Three reminders each, one per event, each in the recipient's language.
    for address in expected:
        assert len(reminders(address)) == 3, address
    to_sara = mail_server.to(libs[first].contacts[1].email, "cancellation-deadline")
    assert {m.language for m in to_sara} == {"sv"}
    assert all(m.subject.startswith("Sista dag för uppsägning") for m in to_sara)
    assert {m.subject.rsplit("(", 1)[1] for m in to_sara} == {"60 dagar)", "30 dagar)", "7 dagar)"}
    to_aino = mail_server.to(libs[first].contacts[0].email, "cancellation-deadline")
    assert {m.language for m in to_aino} == {"fi"}
    assert all(libs[first].names.fi in m.text for m in to_aino)
    to_coordinator = [m for m in mail_server.to(COORDINATOR) if agreement_id in m.text]
    assert {m.language for m in to_coordinator} == {"fi"}
    assert all("12\u00a0345,67 €" in m.text for m in to_coordinator)
    assert not mail_server.to(libs[outsider].contacts[0].email, "cancellation-deadline")

    # Delivered yet again, later: the inbox and the deliveries' key send nothing more.
    await publish(infra, *events)
    marker = await publish(infra, approaching(f"AG-{uuid.uuid4().hex[:6]}", 7, [second]))
    await handled(outreach_own, marker[0])
    for event_id in event_ids:
        await all_sent(infra, outreach_own, event_id, expected=len(expected))
    for address in expected:
        assert len(reminders(address)) == 3, address
