"""Each event outreach reacts to, on the real broker, database and SMTP server: exactly the
right recipients, in their language, with the right kit files, and nothing twice when the
event is delivered again (every event here is published twice, with the same id)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from contracts.catalogue import RecordsAvailable
from contracts.membership import AgreementVersionPublished, MemberLeft
from contracts.procurement import (
    TenderOpened,
)
from kit.auth import Role
from services.outreach import store
from tests.conftest import Infra, wait_for
from tests.integration.conftest import auth
from tests.integration.outreach.conftest import (
    TODAY,
    MailServer,
    Outreach,
    all_sent,
    contact,
    create_kit,
    deliveries_of,
    handled,
    joined,
    library,
    members_known,
    opted_in,
    publish,
    sha,
    signed,
    unique_isil,
    upload,
)

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def delivered_events(outreach: Outreach) -> list[dict[str, Any]]:
    rows = await outreach.pool.fetch(
        "SELECT payload FROM outbox WHERE event_type LIKE '%.message-delivered.%'"
    )
    return [json.loads(bytes(r["payload"])) for r in rows]


async def test_member_joined_sends_a_welcome_with_the_onboarding_kit_in_each_language(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    kit = await create_kit(infra, outreach_own, title="Aloituspaketti", onboarding=True)
    guide_fi, guide_sv = (
        "Tervetuloa! Näin aloitat.\n".encode(),
        "Välkommen! Så börjar du.\n".encode(),
    )
    await upload(infra, outreach_own, kit["id"], "aloitusopas.txt", guide_fi, "fi", "guide")
    await upload(infra, outreach_own, kit["id"], "startguide.txt", guide_sv, "sv", "guide")
    await upload(infra, outreach_own, kit["id"], "konsortio-logo.png", PNG, "any", "logo")

    isil = unique_isil()
    aino, sara = contact(isil, "Aino", "fi"), contact(isil, "Sara", "sv")
    [event_id] = await publish(infra, joined(library(isil, [aino, sara])), times=2)

    rows = await all_sent(infra, outreach_own, event_id, expected=2)
    assert {(r["recipient"], r["kind"], r["language"]) for r in rows} == {
        (aino.email, "welcome", "fi"),
        (sara.email, "welcome", "sv"),
    }
    [finnish] = mail_server.to(aino.email)
    [swedish] = mail_server.to(sara.email)
    assert finnish.subject.startswith("Tervetuloa") and swedish.subject.startswith("Välkommen")
    assert "aloitusopas.txt" in finnish.text and "startguide.txt" in swedish.html
    # Onboarding kits of earlier tests may be attached too; ours must be, per language.
    assert {
        ("aloitusopas.txt", "text/plain", sha(guide_fi)),
        ("konsortio-logo.png", "image/png", sha(PNG)),
    } <= set(finnish.attachments)
    assert ("startguide.txt", "text/plain", sha(guide_sv)) in swedish.attachments
    assert all(a[0] != "aloitusopas.txt" for a in swedish.attachments)

    # message-delivered for each, through the outbox, with no address in it.
    events = [e for e in await delivered_events(outreach_own) if e["cause_id"] == event_id]
    assert sorted(e["delivery_id"] for e in events) == sorted(r["id"] for r in rows)
    assert all(e["status"] == "sent" and e["isil"] == isil for e in events)
    assert all("@" not in json.dumps(e) for e in await delivered_events(outreach_own))


async def test_agreement_signed_announces_to_every_active_member_and_drafts_a_campaign(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    staying, leaving = unique_isil("FI-S"), unique_isil("FI-L")
    staying_lib = library(staying, [contact(staying, "Aino", "fi"), contact(staying, "Sara", "sv")])
    leaving_lib = library(leaving)
    await publish(infra, joined(staying_lib), joined(leaving_lib))
    await members_known(outreach_own, staying, leaving)
    [left_id] = await publish(
        infra, MemberLeft(library=leaving_lib, effective_date=TODAY, period=1)
    )
    await handled(outreach_own, left_id)

    agreement_id, product = f"AG-{uuid.uuid4().hex[:6]}", f"E-palvelu {uuid.uuid4().hex[:4]}"
    [event_id] = await publish(infra, signed(agreement_id, product), times=2)
    await handled(outreach_own, event_id)

    expected = {r.email for r in await store.audience.member_recipients(outreach_own.pool, TODAY)}
    assert {c.email for c in staying_lib.contacts} <= expected
    assert leaving_lib.contacts[0].email not in expected
    rows = await all_sent(infra, outreach_own, event_id, expected=len(expected), timeout_s=40)
    assert {r["recipient"] for r in rows} == expected
    assert {r["kind"] for r in rows} == {"announcement"}
    [to_sara] = mail_server.to(staying_lib.contacts[1].email, "announcement")
    assert to_sara.subject.startswith("Nytt ramavtal") and product in to_sara.subject
    assert not mail_server.to(leaving_lib.contacts[0].email, "announcement")

    campaigns = await outreach_own.client.get(
        "/campaigns",
        params={"status": "draft", "limit": 500},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    [draft] = [c for c in campaigns.json()["items"] if c["agreement_id"] == agreement_id]
    assert draft["origin"] == "agreement-signed" and draft["audience"]["kind"] == "all"
    assert product in draft["subject"]["fi"] and product in draft["subject"]["sv"]

    announcements = await outreach_own.client.get("/announcements", params={"limit": 200})
    ours = [a for a in announcements.json() if product in a["title"]]
    assert sorted(a["language"] for a in ours) == ["fi", "sv"]


async def test_agreement_joined_sends_that_services_kit_to_that_library_only(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    product = f"Ellibs {uuid.uuid4().hex[:4]}"
    kit = await create_kit(infra, outreach_own, title=f"{product} kit", product=product)
    poster_fi, poster_sv = b"%PDF-1.7 juliste", b"%PDF-1.7 affisch"
    big = b"%PDF-1.7 " + b"x" * (70 * 1024)  # over the attachment limit: linked only
    await upload(infra, outreach_own, kit["id"], "juliste.pdf", poster_fi, "fi")
    await upload(infra, outreach_own, kit["id"], "affisch.pdf", poster_sv, "sv")
    await upload(infra, outreach_own, kit["id"], "iso-juliste.pdf", big, "any")
    other = await create_kit(infra, outreach_own, title="other", product=f"Muu {uuid.uuid4().hex}")
    await upload(infra, outreach_own, other["id"], "muu.pdf", b"%PDF-1.7 muu", "fi")

    joining, bystander = unique_isil("FI-J"), unique_isil("FI-B")
    joining_lib = library(joining, [contact(joining, "Aino", "fi"), contact(joining, "Sara", "sv")])
    await publish(infra, joined(joining_lib), joined(library(bystander)))
    await members_known(outreach_own, joining, bystander)
    welcome_done = [c.email for c in joining_lib.contacts]
    await wait_for(lambda: all(mail_server.to(e, "welcome") for e in welcome_done))

    agreement_id = f"AG-{uuid.uuid4().hex[:6]}"
    [event_id] = await publish(infra, opted_in(agreement_id, joining, product), times=2)
    rows = await all_sent(infra, outreach_own, event_id, expected=2)
    assert {(r["recipient"], r["kind"]) for r in rows} == {(e, "kit") for e in welcome_done}

    [finnish] = mail_server.to(joining_lib.contacts[0].email, "kit")
    [swedish] = mail_server.to(joining_lib.contacts[1].email, "kit")
    assert set(finnish.attachments) == {("juliste.pdf", "application/pdf", sha(poster_fi))}
    assert set(swedish.attachments) == {("affisch.pdf", "application/pdf", sha(poster_sv))}
    assert "iso-juliste.pdf" in finnish.text and "muu.pdf" not in finnish.text
    assert f"https://outreach.test/kits/{kit['id']}/files/" in finnish.text
    assert swedish.subject == f"Marknadsföringspaket: {product}"
    assert not mail_server.to(library(bystander).contacts[0].email, "kit")

    # Participation is kept for campaign audiences.
    assert await store.agreements.participants(outreach_own.pool, agreement_id, TODAY) == [joining]

    # An e-service without a kit: the participation is recorded, no message is sent.
    [no_kit] = await publish(infra, opted_in(f"AG-{uuid.uuid4().hex[:6]}", joining, "Ei pakettia"))
    await handled(outreach_own, no_kit)
    assert await deliveries_of(infra, outreach_own, no_kit) == []


async def test_tender_opened_invites_exactly_the_interested_member_libraries(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    first, second, uninterested = unique_isil("FI-I"), unique_isil("FI-I"), unique_isil("FI-U")
    libs = {
        first: library(first, [contact(first, "Aino", "fi"), contact(first, "Sara", "sv")]),
        second: library(second),
        uninterested: library(uninterested),
    }
    await publish(infra, *(joined(lib) for lib in libs.values()))
    await members_known(outreach_own, *libs)
    tender = TenderOpened(
        tender_id=f"T-{uuid.uuid4().hex[:6]}",
        title="E-äänikirjat 2027",
        kl_reference="KL-2026-42",
        deadline=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
        need_ids=["N-1"],
        material_types=["e-audiobook"],
        interested_libraries=[first, second, "FI-Notamember", first],
        criteria={"price": 50, "quality": 30, "compatibility": 20},
    )
    [event_id] = await publish(infra, tender, times=2)
    expected = {c.email for isil in (first, second) for c in libs[isil].contacts}
    rows = await all_sent(infra, outreach_own, event_id, expected=len(expected))
    assert {r["recipient"] for r in rows} == expected
    assert {r["kind"] for r in rows} == {"invitation"}
    [swedish] = mail_server.to(libs[first].contacts[1].email, "invitation")
    assert swedish.subject == "Inbjudan att kommentera upphandlingen: E-äänikirjat 2027"
    assert "KL-2026-42" in swedish.text
    assert not mail_server.to(libs[uninterested].contacts[0].email, "invitation")


async def test_records_available_sends_a_new_e_materials_notice_to_that_library(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    isil, other = unique_isil("FI-R"), unique_isil("FI-R")
    lib = library(isil, [contact(isil, "Sara", "sv")])
    await publish(infra, joined(lib), joined(library(other)))
    await members_known(outreach_own, isil, other)
    event = RecordsAvailable(
        isil=isil,
        collection_id="C-1",
        agreement_id="AG-1",
        title="Ellibs e-böcker",
        count=1234,
        oai_set="kimppa:vaski",
    )
    [event_id] = await publish(infra, event, times=2)
    [row] = await all_sent(infra, outreach_own, event_id, expected=1)
    assert (row["recipient"], row["kind"], row["isil"]) == (lib.contacts[0].email, "notice", isil)
    [notice] = mail_server.to(lib.contacts[0].email, "notice")
    assert notice.subject == "Nya e-material: Ellibs e-böcker" and "1234" in notice.text
    assert notice.language == "sv"
    # The set the library really harvests, as the catalogue named it (a kimppa's here).
    assert "(mängden kimppa:vaski)" in notice.text
    assert not mail_server.to(library(other).contacts[0].email, "notice")


async def test_a_library_leaves_the_audience_on_its_effective_date(
    infra: Infra, outreach_own: Outreach
) -> None:
    """member-left is normally emitted on the effective date; one that arrives early keeps
    the library in the audience until that date, and not a day longer."""
    isil = unique_isil("FI-E")
    lib = library(isil)
    await publish(infra, joined(lib))
    await members_known(outreach_own, isil)
    later = TODAY + dt.timedelta(days=5)
    [event_id] = await publish(infra, MemberLeft(library=lib, effective_date=later, period=1))
    await handled(outreach_own, event_id)

    def addresses(on: dt.date) -> Any:
        return store.audience.member_recipients(outreach_own.pool, on)

    assert lib.contacts[0].email in {r.email for r in await addresses(TODAY)}
    assert lib.contacts[0].email in {r.email for r in await addresses(later - dt.timedelta(1))}
    assert lib.contacts[0].email not in {r.email for r in await addresses(later)}
    row = await outreach_own.pool.fetchrow(
        "SELECT is_member, left_on FROM audience_libraries WHERE isil = $1", isil
    )
    assert row["is_member"] is True and row["left_on"] == later


async def test_a_version_published_before_the_library_joined_is_asked_when_it_joins(
    infra: Infra, outreach_own: Outreach, mail_server: MailServer
) -> None:
    # member-joined and agreement-version-published travel on different partitions, so the
    # request can reach outreach first; it must wait for the library, not be lost.
    early, known = unique_isil("FI-E"), unique_isil("FI-K")
    early_lib = library(early, [contact(early, "Eero", "fi"), contact(early, "Stina", "sv")])
    known_lib = library(known)
    await publish(infra, joined(known_lib))
    await members_known(outreach_own, known)
    version = f"2027-{uuid.uuid4().hex[:6]}"
    [version_id] = await publish(
        infra,
        AgreementVersionPublished(
            agreement_version=version,
            valid_from=dt.date(2027, 1, 1),
            document_name=f"konsortiosopimus-{version}.pdf",
            document_sha256="0" * 64,
            notice_months=6,
            notice_takes_effect="end-of-year",
            members_asked=[known, early],
        ),
        times=2,
    )
    await handled(outreach_own, version_id)
    sent = await all_sent(infra, outreach_own, version_id, expected=1)
    assert {r["recipient"] for r in sent} == {known_lib.contacts[0].email}

    [joined_id] = await publish(infra, joined(early_lib), times=2)
    await handled(outreach_own, joined_id)
    rows = await all_sent(infra, outreach_own, version_id, expected=3)
    assert sorted((r["recipient"], r["kind"], r["language"]) for r in rows) == sorted(
        [
            (known_lib.contacts[0].email, "acceptance", "fi"),
            (early_lib.contacts[0].email, "acceptance", "fi"),
            (early_lib.contacts[1].email, "acceptance", "sv"),
        ]
    )
    [to_stina] = mail_server.to(early_lib.contacts[1].email, "acceptance")
    assert version in to_stina.subject
    # Parked once, sent once: a later update of the library asks nothing again.
    assert not await outreach_own.pool.fetchval(
        "SELECT count(*) FROM parked_requests WHERE isil = $1", early
    )
