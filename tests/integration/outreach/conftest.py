"""Outreach under test: its own app instance for the session, with its own consumer group, its
own database, its own kit storage and its own real SMTP server (aiosmtpd), which a test can
stop and start again. Events from other services are published raw to the shared broker,
as procurement and catalogue would publish them.

The instance reads every topic from the beginning, so before the first test it catches up
with what earlier tests published; the fixture waits for that, so that "all active members"
is the same set when an event is handled and when a test checks its recipients.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import Event
from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from contracts.procurement import AgreementJoined, AgreementPeriod, AgreementSigned, Supplier
from kit.auth import Role
from kit.envelope import OutgoingMessage, encode
from konsortio.consumers import lag
from konsortio.stack import free_port
from services.outreach.app import build
from services.outreach.settings import OutreachSettings
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service, auth

pytestmark = pytest.mark.integration

TODAY = dt.date.today()
KIT_MAX_BYTES = 256 * 1024
COORDINATOR = "koordinaattori@konsortio.test"
BOUNCING = "bounce."  # the test SMTP server refuses addresses starting with this for good
SUBSCRIBED = [
    "konsortio.membership",
    "konsortio.procurement",
    "konsortio.catalogue",
    "konsortio.usage",
]


@dataclass(frozen=True)
class Received:
    rcpt_to: tuple[str, ...]
    subject: str
    kind: str
    message_id: str
    language: str
    text: str
    html: str
    attachments: tuple[tuple[str, str, str], ...]  # (filename, content type, sha256)


class _Collector:
    """aiosmtpd handler: parse and keep every message in memory (it runs on the server's
    own thread, hence the lock)."""

    def __init__(self, store: list[Received], lock: threading.Lock) -> None:
        self.store = store
        self.lock = lock

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        # A mailbox that does not exist: a permanent failure, as a real server reports it.
        if address.startswith(BOUNCING):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        attachments = tuple(
            (
                part.get_filename() or "",
                part.get_content_type(),
                hashlib.sha256(part.get_payload(decode=True) or b"").hexdigest(),
            )
            for part in message.iter_attachments()
        )
        received = Received(
            rcpt_to=tuple(envelope.rcpt_tos),
            subject=str(message["subject"]),
            kind=str(message["x-konsortio-kind"]),
            message_id=str(message["message-id"]),
            language=str(message["content-language"]),
            text=text.get_content() if text else "",
            html=html.get_content() if html else "",
            attachments=attachments,
        )
        with self.lock:
            self.store.append(received)
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    """A real SMTP server on a fixed port that a test can stop (an outage) and start again."""

    port: int
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(
            _Collector(self.received, self._lock), hostname="127.0.0.1", port=self.port
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str, kind: str | None = None) -> list[Received]:
        with self._lock:
            return [
                m
                for m in self.received
                if address in m.rcpt_to and (kind is None or m.kind == kind)
            ]


@pytest.fixture(scope="session")
def mail_server() -> Any:
    server = MailServer(free_port())
    server.start()
    yield server
    server.stop()


def outreach_settings(infra: Infra, mail_server: MailServer, **overrides: Any) -> OutreachSettings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": mail_server.port,
        "mail_interval_s": 0.1,
        "mail_retry_base_s": 0.2,
        "mail_retry_max_s": 1.0,
        "kit_storage_dir": str(infra.tmp / f"kits-{uuid.uuid4().hex[:8]}"),
        "kit_max_file_bytes": KIT_MAX_BYTES,
        "mail_attachment_max_bytes": 64 * 1024,
        "campaign_batch_size": 50,
        "coordinator_email": COORDINATOR,
        # A digest waits for its figures to be quiet this long (an hour by default).
        "usage_digest_quiet_s": 3.0,
    }
    values.update(overrides)
    return OutreachSettings(**values)


@dataclass
class Outreach(Service):
    settings: OutreachSettings | None = None
    group: str = ""

    @property
    def storage_dir(self) -> Path:
        assert self.settings is not None
        return Path(self.settings.kit_storage_dir)


@pytest.fixture(scope="session")
async def outreach_own(infra: Infra, mail_server: MailServer) -> AsyncIterator[Outreach]:
    dsn = await infra.new_database("outreach_own")
    group = f"outreach-tests-{uuid.uuid4().hex[:8]}"
    mail = outreach_settings(infra, mail_server)
    settings = infra.settings(
        "outreach", dsn, consumer_group=group, public_url="https://outreach.test"
    )
    app = build(settings, mail)
    async with running(app) as client:
        await consumer_ready(app)

        async def caught_up() -> bool:
            return all(p.lag == 0 for p in await lag(infra.kafka(), group, SUBSCRIBED))

        await wait_for(caught_up, timeout_s=60, interval_s=0.3)
        yield Outreach(app, client, dsn, settings=mail, group=group)


# --- building and publishing events ------------------------------------------------------------


def unique_isil(prefix: str = "FI-O") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def contact(isil: str, name: str, language: str = "fi") -> Contact:
    return Contact(
        name=name,
        email=f"{name.lower()}.{isil.lower()}@example.org",
        role="director",
        language=language,
    )


def library(
    isil: str,
    contacts: Sequence[Contact] | None = None,
    *,
    system: str = "Koha",
    municipalities: Sequence[str] = ("091",),
) -> Library:
    return Library(
        isil=isil,
        names=LibraryNames(fi=f"Kirjasto {isil}", sv=f"Bibliotek {isil}"),
        municipalities=list(municipalities),
        population=10_000,
        library_system=system,
        contacts=list(contacts) if contacts is not None else [contact(isil, "Aino")],
    )


def joined(lib: Library) -> MemberJoined:
    return MemberJoined(library=lib, joined_on=TODAY - dt.timedelta(days=10), period=1)


async def publish(infra: Infra, *events: Event | OutgoingMessage, times: int = 1) -> list[str]:
    """Publish events raw, as their producers would; ``times`` > 1 delivers each one again
    (the same CloudEvent id). Returns the event ids."""
    messages = [e if isinstance(e, OutgoingMessage) else encode(e, source="/tests") for e in events]
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for message in messages:
            for _ in range(times):
                await producer.send_and_wait(
                    message.topic,
                    message.value,
                    key=message.key.encode(),
                    headers=[(k, v.encode()) for k, v in message.headers.items()],
                )
    finally:
        await producer.stop()
    return [m.headers["ce_id"] for m in messages]


async def members_known(outreach: Outreach, *isils: str) -> None:
    """Wait until outreach has the libraries in its audience (events on different topics are
    not ordered with each other, so a test waits before publishing what depends on them)."""

    async def known() -> bool:
        rows = await outreach.pool.fetch(
            "SELECT isil FROM audience_libraries WHERE isil = ANY($1::text[]) AND is_member",
            list(isils),
        )
        return len(rows) == len(set(isils))

    await wait_for(known)


async def handled(outreach: Outreach, event_id: str) -> None:
    """Wait until outreach's inbox holds the event: its handler has committed."""

    async def done() -> bool:
        return bool(
            await outreach.pool.fetchval("SELECT true FROM inbox WHERE event_id = $1", event_id)
        )

    await wait_for(done)


async def deliveries_of(infra: Infra, outreach: Outreach, cause_id: str) -> list[dict[str, Any]]:
    response = await outreach.client.get(
        "/deliveries",
        params={"cause_id": cause_id, "limit": 500},  # see all_sent: never more here
        headers=auth(infra.token(Role.OPERATOR)),
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def all_sent(
    infra: Infra, outreach: Outreach, cause_id: str, expected: int, timeout_s: float = 20
) -> list[dict[str, Any]]:
    """Wait until the cause has exactly ``expected`` deliveries, each with its outcome: sent,
    or failed for good for the addresses the test SMTP server refuses (``BOUNCING``)."""
    seen: list[dict[str, Any]] = []

    def outcome(row: dict[str, Any]) -> str:
        return "failed" if row["recipient"].startswith(BOUNCING) else "sent"

    async def settled() -> list[dict[str, Any]] | None:
        rows = await deliveries_of(infra, outreach, cause_id)
        seen[:] = rows
        ok = len(rows) == expected and all(r["status"] == outcome(r) for r in rows)
        return rows if ok else None

    try:
        return await wait_for(settled, timeout_s)
    except AssertionError as error:
        statuses = collections.Counter(r["status"] for r in seen)
        message = f"{error}: {len(seen)} of {expected} queued, {dict(statuses)}"
        raise AssertionError(message) from None


async def create_kit(infra: Infra, outreach: Outreach, **body: Any) -> dict[str, Any]:
    response = await outreach.client.post(
        "/kits", json=body, headers=auth(infra.token(Role.COORDINATOR))
    )
    assert response.status_code == 201, response.text
    return response.json()


async def upload(
    infra: Infra,
    outreach: Outreach,
    kit_id: str,
    name: str,
    content: bytes,
    language: str,
    category: str = "poster",
) -> dict[str, Any]:
    response = await outreach.client.post(
        f"/kits/{kit_id}/files",
        files={"file": (name, content, "application/octet-stream")},
        data={"language": language, "category": category},
        headers=auth(infra.token(Role.COORDINATOR)),
    )
    assert response.status_code == 201, response.text
    return response.json()


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def signed(agreement_id: str, product: str) -> AgreementSigned:
    return AgreementSigned(
        agreement_id=agreement_id,
        tender_id=f"T-{agreement_id}",
        title=f"E-kirjat {agreement_id}",
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product=product,
        material_types=["e-book"],
        licence_terms={},
        periods=[AgreementPeriod(start=TODAY, end=TODAY + dt.timedelta(days=364))],
        extension_options=1,
        annual_cost_cents=1_000_000,
        cost_share_model="per-capita",
        signed_on=TODAY,
    )


def opted_in(agreement_id: str, isil: str, product: str) -> AgreementJoined:
    return AgreementJoined(
        agreement_id=agreement_id,
        isil=isil,
        joined_on=TODAY,
        title=f"E-kirjat {agreement_id}",
        supplier=Supplier(name="Ellibs Oy", country="FI"),
        product=product,
        participants=1,
    )
