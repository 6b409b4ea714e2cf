"""STARTTLS and authentication, against an aiosmtpd server that requires both (with a
certificate from a CA made for the test): the right settings deliver; a wrong password or an
untrusted certificate keeps the message queued with the reason, and never loses it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from kit.db import apply_migrations, create_pool
from konsortio.stack import free_port
from services.outreach import mailer, store
from services.outreach.domain import Mail, Recipient
from services.outreach.settings import OutreachSettings
from services.outreach.storage import KitStorage
from tests.conftest import Infra

pytestmark = pytest.mark.integration

MIGRATIONS = Path(mailer.__file__).parent / "migrations"
USER, PASSWORD = "konsortio", "s3cret-for-tests"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Konsortio test CA"))
        .issuer_name(_name("Konsortio test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class _Sink:
    def __init__(self) -> None:
        self.received: list[tuple[str, ...]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(tuple(envelope.rcpt_tos))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # let the server answer 235 or 535


async def test_starttls_and_authentication(infra: Infra) -> None:
    from aiosmtpd.controller import Controller

    directory = infra.tmp / f"smtp-tls-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    ca, certificate, key = make_certificates(directory)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certificate, key)
    sink = _Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticate,
    )
    controller.start()
    pool = await create_pool(await infra.new_database("outreach_tls"))
    try:
        await apply_migrations(pool, MIGRATIONS)
        recipient = Recipient("FI-Tls", "tls@example.org", "Aino", "fi")
        async with pool.acquire() as conn, conn.transaction():
            await store.deliveries.queue(
                conn, "tls-cause", [Mail("welcome", recipient, "Hei", "teksti", "<p>x</p>")], "k"
            )
        storage = KitStorage(directory / "kits")
        base = {
            "smtp_host": "127.0.0.1",
            "smtp_port": controller.port,
            "smtp_starttls": True,
            "smtp_ca_file": str(ca),
            "smtp_username": USER,
            "mail_retry_base_s": 0.01,
            "mail_retry_max_s": 0.01,
            "kit_storage_dir": str(directory / "kits"),
        }

        async def attempt(**overrides: Any) -> dict[str, Any]:
            await pool.execute("UPDATE deliveries SET next_attempt_at = now()")
            settings = OutreachSettings(**{**base, **overrides})
            await mailer.send_due(pool, settings, storage)
            return dict(await pool.fetchrow("SELECT status, attempts, last_error FROM deliveries"))

        wrong = await attempt(smtp_password=SecretStr("wrong"))
        assert wrong["status"] == "queued" and "535" in wrong["last_error"]
        untrusted = await attempt(smtp_password=SecretStr(PASSWORD), smtp_ca_file="")
        assert untrusted["status"] == "queued" and "certificate" in untrusted["last_error"].lower()
        plain = await attempt(smtp_password=SecretStr(PASSWORD), smtp_starttls=False)
        assert plain["status"] == "queued"  # the server insists on STARTTLS first
        assert sink.received == []
        sent = await attempt(smtp_password=SecretStr(PASSWORD))
        assert sent["status"] == "sent" and sent["attempts"] == 4
        assert sink.received == [("tls@example.org",)]
    finally:
        await pool.close()
        controller.stop()
