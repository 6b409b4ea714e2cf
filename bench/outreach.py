"""Benchmark 5, outreach fan-out: a campaign to N recipients through the outreach service, against
a local aiosmtpd server.

Measured path: ``bench.outreach_campaign.run`` (the outreach engineer's harness on this run's
PostgreSQL and broker): the real app, a campaign created and sent through its HTTP API, the
audience materialised batch by batch into queued deliveries, and the mailer (``send_due`` on
``mail_connections`` SMTP connections at once) sending them, each delivery's bookkeeping and
``message-delivered`` event committed together. Messages/s from "send" to the campaign being
closed; the SMTP server counts every recipient, so lost and duplicated messages are counted.

Reference, same run, same kind of server (an in-process aiosmtpd ``Controller`` whose handler
only counts recipients, as the harness's does), same message content (a delivery the campaign
rendered, read back from the database): aiosmtplib's bare send loop, one connection,
``send_message`` N times.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg

from bench import outreach_campaign as outreach_bench
from bench.infra import BenchInfra, create_topic, start_group_at_end
from bench.procs import Child, children, emit
from bench.report import Row
from konsortio.stack import free_port
from services.outreach.handlers import reactions as outreach_reactions
from services.outreach.mailer import build_message

SENDER = "Konsortio <noreply@konsortio.localhost>"


@dataclass
class _Counting:
    """Counts recipients, like the harness's handler (writing a file per message would
    measure the disk, not the sender)."""

    received: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.received.update(envelope.rcpt_tos)
        return "250 OK"


async def _sample_delivery(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT * FROM deliveries WHERE kind = 'campaign' ORDER BY id LIMIT 1"
        )
    finally:
        await conn.close()
    assert row is not None, "the campaign queued no delivery"
    return dict(row)


def _messages(sample: dict[str, Any], count: int) -> list[EmailMessage]:
    return [
        build_message(
            {
                **sample,
                "recipient": f"reader.{n}@reference.bench.example",
                "message_id": f"<reference-{n}@konsortio.localhost>",
            },
            SENDER,
        )
        for n in range(count)
    ]


async def _bare_send_loop(messages: list[EmailMessage]) -> tuple[float, Counter[str]]:
    from aiosmtpd.controller import Controller

    handler = _Counting()
    server = Controller(handler, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port)
        await client.connect()
        started = time.perf_counter()
        for message in messages:
            await client.send_message(message)
        seconds = time.perf_counter() - started
        await client.quit()
    finally:
        server.stop()
    return seconds, handler.received


async def outreach_fanout(args: dict[str, Any]) -> None:
    count = args["recipients"]
    emit("ready")

    def progress(_key: str, done: float, _total: float) -> None:
        emit("progress", n=done)

    campaign = await outreach_bench.run(
        dsn=args["dsn"],
        bootstrap=args["bootstrap"],
        work_dir=Path(args["work_dir"]),
        recipients=count,
        progress=progress,
        timeout_s=args["timeout_s"],
    )
    messages = _messages(await _sample_delivery(args["dsn"]), count)
    seconds, received = await _bare_send_loop(messages)
    emit(
        "done",
        campaign=campaign,
        reference={
            "messages": count,
            "seconds": round(seconds, 2),
            "per_s": round(count / seconds, 1),
            "received": sum(received.values()),
            "message_bytes": len(bytes(messages[0])),
        },
    )


async def run(infra: BenchInfra, recipients: int, progress: Any) -> dict[str, Any]:
    # The outreach service reacts to membership events with welcome mail: without this, the
    # campaign would share the SMTP server and the sender with welcomes to the 100,000
    # libraries the pipeline benchmark joined on this broker.
    for topic in outreach_reactions.topics():
        await create_topic(infra.bootstrap, topic, 3)
        await start_group_at_end(infra.bootstrap, "outreach", topic)
    dsn = await infra.new_database("bench_outreach")
    work_dir = infra.path("outreach")
    child = await Child.start(
        "outreach-fanout",
        {
            "dsn": dsn,
            "bootstrap": infra.bootstrap,
            "work_dir": str(work_dir),
            "recipients": recipients,
            "timeout_s": 600,
        },
        infra.path("logs"),
    )
    async with children(child):
        await child.expect("ready", 60)
        done = asyncio.create_task(child.expect("done", 900))
        while not done.done():
            progress("outreach campaign", child.progress.get("n", 0), recipients)
            await asyncio.wait({done}, timeout=0.2)
        result = done.result()
    progress("outreach campaign", recipients, recipients)
    campaign, reference = result["campaign"], result["reference"]
    return {
        "recipients": recipients,
        "campaign": campaign,
        "reference": reference,
        # Every recipient is distinct, so anything but exactly one message each is a fault.
        "lost": recipients - campaign["sent"],
        "unexpected": campaign["received_by_smtp"] - recipients,
        "ratio": round(campaign["per_s"] / reference["per_s"], 3),
    }


# Campaign messages/s against a bare aiosmtplib loop sending ready-made messages.
GOAL_RATIO = 0.6


def rows(result: dict[str, Any]) -> list[Row]:
    campaign = result["campaign"]
    return [
        Row(
            benchmark="5 outreach",
            figure=f"campaign messages/s ({result['recipients']:,} recipients)",
            value=campaign["per_s"],
            unit="/s",
            reference="aiosmtplib bare send loop",
            reference_value=result["reference"]["per_s"],
            ratio=result["ratio"],
            goal=f"≥ {GOAL_RATIO} of aiosmtplib",
            met=result["ratio"] >= GOAL_RATIO,
            note=(
                f"sent {campaign['sent']:,} · failed {campaign['failed']:,} · received by SMTP "
                f"{campaign['received_by_smtp']:,} · duplicated {campaign['duplicated']:,} · "
                f"queued in {campaign['materialised_seconds']} s"
            ),
        ),
        Row(
            benchmark="5 outreach",
            figure="lost / duplicated messages",
            value=result["lost"] + campaign["duplicated"],
            unit="",
            goal="0 and 0",
            met=result["lost"] == 0 and campaign["duplicated"] == 0 and result["unexpected"] == 0,
        ),
    ]


CHILDREN = {"outreach-fanout": outreach_fanout}
