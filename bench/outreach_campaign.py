"""A campaign to many recipients against a local SMTP server, timed (10,000 recipients by
default).

``run`` takes an existing PostgreSQL DSN and broker, so the benchmark harness
(``bench/outreach.py``) calls it on its own infrastructure; ``run_embedded`` starts an
embedded PostgreSQL and broker in a temporary directory and calls it. It lives in ``bench/``
because a service never starts the development stack itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contracts.membership import Contact, Library, LibraryNames
from kit.auth import Role, generate_keypair, issue_token
from kit.settings import KafkaSettings, Settings
from services.outreach import store
from services.outreach.app import build
from services.outreach.settings import OutreachSettings

Progress = Callable[[str, float, float], None]


@dataclass
class _Counting:
    """aiosmtpd handler that only counts recipients (a file per message would measure the
    disk, not outreach)."""

    received: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.received.update(envelope.rcpt_tos)
        return "250 OK"


def _libraries(recipients: int, tag: str) -> list[Library]:
    """Libraries of two contacts each (one Finnish, one Swedish reader)."""
    libraries = []
    for n in range((recipients + 1) // 2):
        isil = f"FI-B{tag}{n:05d}"
        contacts = [
            Contact(name="Aino", email=f"aino.{n}@{tag}.bench.example", role="r", language="fi"),
            Contact(name="Sara", email=f"sara.{n}@{tag}.bench.example", role="r", language="sv"),
        ][: recipients - 2 * n]
        libraries.append(
            Library(
                isil=isil,
                names=LibraryNames(fi=f"Kirjasto {n}", sv=f"Bibliotek {n}"),
                municipalities=["091"],
                population=1000,
                library_system=f"Bench{tag}",
                contacts=contacts,
            )
        )
    return libraries


async def run(
    *,
    dsn: str,
    bootstrap: str,
    work_dir: Path,
    recipients: int = 10_000,
    progress: Progress | None = None,
    timeout_s: float = 900,
) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from konsortio.stack import free_port

    tag = str(int(time.time()))[-4:]
    handler = _Counting()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    private_key, public_key = generate_keypair()
    settings = Settings(
        service="outreach",
        database_url=dsn,
        jwt_public_key=public_key,
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        log_level="WARNING",
    )
    mail = OutreachSettings(
        smtp_port=smtp.port,
        kit_storage_dir=str(work_dir / "kits"),
        mail_interval_s=0.05,
        mail_batch_size=200,
        campaign_batch_size=500,
    )
    app = build(settings, mail)
    headers = {"Authorization": f"Bearer {issue_token(private_key, role=Role.COORDINATOR)}"}
    try:
        async with app.router.lifespan_context(app):
            pool = app.state.runtime.pool
            async with pool.acquire() as conn, conn.transaction():
                for library in _libraries(recipients, tag):
                    await store.audience.upsert_library(conn, library, is_member=True)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                created = await client.post(
                    "/campaigns",
                    headers=headers,
                    json={
                        "title": f"Bench {tag}",
                        "audience": {"kind": "library_system", "library_systems": [f"Bench{tag}"]},
                        "subject": {"fi": "Uusia e-kirjoja", "sv": "Nya e-böcker"},
                        "body": {"fi": "Tervetuloa lukemaan.", "sv": "Välkommen att läsa."},
                    },
                )
                created.raise_for_status()
                campaign_id = created.json()["id"]
                started = time.perf_counter()
                (
                    await client.post(f"/campaigns/{campaign_id}/send", headers=headers)
                ).raise_for_status()
                materialised_s: float | None = None
                while True:
                    figures = (
                        await client.get(f"/campaigns/{campaign_id}/progress", headers=headers)
                    ).json()
                    if materialised_s is None and figures["materialised"] >= recipients:
                        materialised_s = time.perf_counter() - started
                    if progress:
                        progress("campaign", figures["sent"] + figures["failed"], recipients)
                    if figures["status"] == "sent":
                        break
                    if time.perf_counter() - started > timeout_s:
                        raise TimeoutError(f"campaign not sent in {timeout_s}s: {figures}")
                    await asyncio.sleep(0.2)
                seconds = time.perf_counter() - started
    finally:
        with contextlib.suppress(Exception):
            smtp.stop()
    duplicated = sum(n - 1 for n in handler.received.values() if n > 1)
    return {
        "recipients": recipients,
        "sent": figures["sent"],
        "failed": figures["failed"],
        "received_by_smtp": sum(handler.received.values()),
        "duplicated": duplicated,
        "seconds": round(seconds, 2),
        "materialised_seconds": round(materialised_s or seconds, 2),
        "per_s": round(recipients / seconds, 1) if seconds else None,
    }


async def run_embedded(
    recipients: int, progress: Progress | None = None, keep: Path | None = None
) -> dict[str, Any]:
    """``run`` on an embedded PostgreSQL and Tansu broker in a temporary directory."""
    from konsortio.stack import EmbeddedBroker, EmbeddedPostgres, free_port

    root = keep or Path(tempfile.mkdtemp(prefix="konsortio-outreach-bench-"))
    postgres = EmbeddedPostgres(root / "pg")
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        postgres.start()
        broker.start()
        await postgres.create_databases(["outreach_bench"])
        return await run(
            dsn=postgres.dsn("outreach_bench"),
            bootstrap=broker.bootstrap,
            work_dir=root,
            recipients=recipients,
            progress=progress,
        )
    finally:
        broker.stop()
        postgres.stop()
        if keep is None:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
