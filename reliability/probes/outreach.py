"""Outreach: the effects of membership events (one welcome per (member-joined event,
contact), delivered once through SMTP), its audience read model, and who may read what."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from kit.auth import Role
from reliability.probes.base import (
    COORDINATOR_ONLY,
    LIBRARY_ITSELF_OR_COORDINATOR,
    NO_SUCH_ID,
    OPERATIONS,
    PUBLIC,
    STAFF,
    AuthzContext,
    EffectContext,
    EffectReport,
    Endpoint,
    Probe,
    RequestSpec,
    Subject,
)
from reliability.stack import Stack

PAGE = 500
MAX_PAGES = 400
MAIL_DOMAIN = "konsortio.localhost"  # the default sender's domain, which Message-IDs use


def _message_id(cause_id: str, recipient: str, kind: str) -> str:
    # The mailer's own rule for a stable Message-ID: a resend after a crash carries the same
    # id. Imported, not copied, so the check follows the service.
    from services.outreach.domain import message_id

    return message_id(cause_id, recipient, kind, MAIL_DOMAIN)


async def _pages(
    client: httpx.AsyncClient, url: str, token: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    for page in range(MAX_PAGES):
        response = await client.get(
            url, params={**params, "limit": PAGE, "offset": page * PAGE}, headers=headers
        )
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            break
    return items


def read_mailbox(directory: Path) -> list[dict[str, Any]]:
    """The SMTP sink's messages (its files are renamed into place whole)."""
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


async def effects(ctx: EffectContext) -> EffectReport:
    report = EffectReport()
    staff = ctx.stack.token(Role.COORDINATOR)
    outreach = ctx.stack.url("outreach")
    commands = {c.correlation_id: c for c in ctx.ledger.commands}

    # Expected: one welcome per distinct contact address of each member-joined event.
    expected: dict[tuple[str, str], float] = {}  # (cause, recipient) -> command's time
    for correlation_id, records in ctx.events.items():
        command = commands[correlation_id]
        for record in records:
            if record.header("ce_type") != "fi.konsortio.membership.member-joined.v1":
                continue
            payload = json.loads(record.value)
            addresses = sorted({c["email"].strip().lower() for c in payload["library"]["contacts"]})
            if addresses != command.detail.get("emails"):
                report.mismatched.append(
                    f"member-joined {record.header('ce_id')} carries contacts {addresses}, "
                    f"the command set {command.detail.get('emails')}"
                )
            for address in addresses:
                expected[(str(record.header("ce_id")), address)] = command.started
    report.expected = len(expected)

    deliveries = await _pages(ctx.client, f"{outreach}/deliveries", staff, {"kind": "welcome"})
    logged = Counter((d["cause_id"], d["recipient"]) for d in deliveries)
    status = {(d["cause_id"], d["recipient"]): d["status"] for d in deliveries}
    mailbox = read_mailbox(ctx.stack.mailbox)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for mail in mailbox:
        by_id.setdefault(mail["message_id"], []).append(mail)

    kills = ctx.stack.services["outreach"].kills
    resent: list[str] = []
    for (cause, address), started in expected.items():
        key = f"welcome {cause} -> {address}"
        mails = by_id.get(_message_id(cause, address, "welcome"), [])
        if logged[(cause, address)] > 1:
            report.duplicated.append(f"{key}: {logged[(cause, address)]} delivery-log rows")
        if len(mails) > 1:
            if killed_in_reply_window(mails, kills):
                resent.append(f"{key}: {len(mails)} copies, the sender SIGKILLed after the first")
            else:
                report.duplicated.append(f"{key}: {len(mails)} SMTP messages with one Message-ID")
        if not mails or status.get((cause, address)) != "sent":
            report.lost.append(
                f"{key}: log status {status.get((cause, address))}, {len(mails)} SMTP messages"
            )
            continue
        report.observed += 1
        report.timings.append((started, min(m["received_at"] for m in mails)))

    # The audience read model agrees with membership for every library the load touched.
    touched = sorted({c.key for c in ctx.ledger.commands if c.service == "membership"})
    audience = {
        a["isil"]: a
        for a in await _pages(ctx.client, f"{outreach}/audience", staff, {"members_only": "false"})
    }
    libraries = {
        lib["isil"]: lib
        for lib in await _pages(ctx.client, f"{ctx.stack.url('membership')}/libraries", staff, {})
    }
    checked = 0
    for isil in touched:
        library = libraries.get(isil)
        if library is None or library["status"] == "registered":
            continue  # never joined: no event, so outreach has never heard of it
        checked += 1
        entry = audience.get(isil)
        member = library["status"] in ("member", "leaving")
        if entry is None:
            report.mismatched.append(f"audience: {isil} missing ({library['status']})")
        elif entry["is_member"] != member or entry["contacts"] != len(library["contacts"]):
            report.mismatched.append(
                f"audience: {isil} is_member={entry['is_member']} contacts={entry['contacts']}, "
                f"membership says {library['status']} with {len(library['contacts'])} contacts"
            )
    report.figures = {
        "welcome_mails_expected": report.expected,
        "welcome_mails_delivered": report.observed,
        "smtp_messages_in_sink": len(mailbox),
        # SMTP is at-least-once: a sender killed between the server's 250 and recording it
        # cannot know the message arrived, so it sends it again after the claim's lease, with
        # the same Message-ID (receivers keep one). Counted here, not as duplicated effects,
        # only when a SIGKILL of outreach fell right after the first copy arrived.
        "smtp_resends_after_sigkill": len(resent),
        "smtp_resends_after_sigkill_detail": resent[:20],
        "audience_entries_checked": checked,
    }
    return report


# How soon after the server accepted a message the kill must fall for the resend to be that
# unavoidable window (reply in flight, or the bookkeeping transaction not yet committed).
REPLY_WINDOW_S = 2.0


def killed_in_reply_window(mails: list[dict[str, Any]], kills: list[float]) -> bool:
    """Whether copies of one message are a resend forced by a SIGKILL: a kill of outreach fell
    within REPLY_WINDOW_S of the first copy's arrival, either side, and every other copy came
    after that kill.

    Either side, because the sink stamps a copy when its thread has read the whole message:
    a sender killed right after writing the final "." is dead before its message is stamped
    (seen: the kill 0.1 s before the stamp, the lease's resend 60 s later). Either way the
    sender never recorded the server's reply, so its lease must send again: SMTP is
    at-least-once, and the copies share one Message-ID for the receiver to drop."""
    first, *later = sorted(m["received_at"] for m in mails)
    return any(
        abs(kill - first) <= REPLY_WINDOW_S and all(t > kill for t in later) for kill in kills
    )


async def pending_work(stack: Stack, client: httpx.AsyncClient) -> int:
    """Mail accepted but not yet sent (queued, or claimed by a sender that may have died)."""
    response = await client.get(
        f"{stack.url('outreach')}/deliveries",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {stack.token(Role.OPERATOR)}"},
    )
    response.raise_for_status()
    counts = response.json()["counts"]
    return int(counts.get("queued", 0)) + int(counts.get("sending", 0))


AUDIENCE_WAIT_S = 60.0


async def prepare_authz(ctx: AuthzContext) -> None:
    """A marketing kit with one text file, so the upload probes reach the file-name checks
    (the kit is looked up first) and the download row names a real file."""
    headers = {"Authorization": f"Bearer {ctx.stack.token(Role.COORDINATOR)}"}
    url = ctx.stack.url("outreach")
    response = await ctx.client.post(
        f"{url}/kits",
        json={"title": "Luotettavuus", "product": f"Reliability {ctx.run_tag}"},
        headers=headers,
    )
    if response.status_code != 201:
        return
    kit_id = response.json()["id"]
    ctx.facts["outreach_kit_id"] = kit_id
    upload = await ctx.client.post(
        f"{url}/kits/{kit_id}/files",
        files={"file": ("ohje.txt", b"Lue tama.\n", "text/plain")},
        data={"language": "fi", "category": "guide"},
        headers=headers,
    )
    if upload.status_code == 201:
        ctx.facts["outreach_file_id"] = upload.json()["id"]
    # The member library reads kits once outreach has its member-joined (another topic than
    # any command here answers on): wait for that, so the matrix sees the settled audience.
    member = {"Authorization": f"Bearer {ctx.stack.token(Role.LIBRARY, isil=ctx.own_isil)}"}
    deadline = asyncio.get_running_loop().time() + AUDIENCE_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        if (await ctx.client.get(f"{url}/kits", headers=member)).status_code == 200:
            break
        await asyncio.sleep(0.5)


# Staff, other roles and a member library may read kits; a library that is not a member
# (``other`` is registered but never joined) may not.
KIT_READERS = frozenset(Subject.VALID) - {Subject.LIBRARY_OTHER}

ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    # The delivery log, the audience and the dev mailbox hold contacts' addresses.
    Endpoint("GET", "/deliveries", STAFF),
    Endpoint("GET", "/audience", STAFF),
    Endpoint("GET", "/dev/mailbox", STAFF),
    # Announcements and their Atom feed are public (Kirjastot.fi and anyone else).
    Endpoint("GET", "/feed.atom", PUBLIC),
    Endpoint("GET", "/announcements", PUBLIC),
    Endpoint("POST", "/announcements", COORDINATOR_ONLY),
    # Campaigns: the coordinator makes and sends them; operators may follow them.
    Endpoint("POST", "/campaigns", COORDINATOR_ONLY),
    Endpoint("GET", "/campaigns", STAFF),
    Endpoint("GET", "/campaigns/{campaign_id}", STAFF),
    Endpoint("PATCH", "/campaigns/{campaign_id}", COORDINATOR_ONLY),
    Endpoint("POST", "/campaigns/{campaign_id}/preview", COORDINATOR_ONLY),
    Endpoint("POST", "/campaigns/{campaign_id}/schedule", COORDINATOR_ONLY),
    Endpoint("POST", "/campaigns/{campaign_id}/send", COORDINATOR_ONLY),
    Endpoint("POST", "/campaigns/{campaign_id}/cancel", COORDINATOR_ONLY),
    Endpoint("GET", "/campaigns/{campaign_id}/progress", STAFF),
    # Marketing kits: the coordinator keeps them; members (and staff) download them.
    Endpoint("POST", "/kits", COORDINATOR_ONLY),
    Endpoint("GET", "/kits", KIT_READERS),
    Endpoint("GET", "/kits/{kit_id}", KIT_READERS),
    Endpoint("POST", "/kits/{kit_id}/files", COORDINATOR_ONLY),
    Endpoint("GET", "/kits/{kit_id}/files/{file_id}", KIT_READERS),
    # A contact's monthly usage digest: the library itself or the coordinator turns it on/off.
    Endpoint(
        "PUT",
        "/libraries/{isil}/usage-digest/subscription",
        LIBRARY_ITSELF_OR_COORDINATOR,
        lambda ctx: RequestSpec(
            f"/libraries/{ctx.own_isil}/usage-digest/subscription",
            json={"email": f"digest-{ctx.run_tag}@example.org", "subscribed": True},
        ),
    ),
)

PROBE = Probe(
    name="outreach",
    endpoints=ENDPOINTS,
    prepare_authz=prepare_authz,
    effects=effects,
    pending_work=pending_work,
    path_samples={
        "kit_id": lambda ctx: ctx.facts.get("outreach_kit_id", NO_SUCH_ID),
        "file_id": lambda ctx: ctx.facts.get("outreach_file_id", NO_SUCH_ID),
    },
)
