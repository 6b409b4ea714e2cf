"""Replaying a consumer group from the earliest offset repeats no effect."""

from __future__ import annotations

import pytest

from kit.auth import Role
from konsortio.consumers import lag, reset_to_earliest
from konsortio.stack import SmtpSink, free_port, read_sink
from services.outreach.app import build as build_outreach
from services.outreach.settings import OutreachSettings
from tests.conftest import Infra, consumer_ready, running, wait_for
from tests.integration.conftest import Service, library_body, register_and_join, unique_isil

pytestmark = pytest.mark.integration


def welcomes(sink: SmtpSink) -> list[dict]:
    return [
        m for m in read_sink(sink.directory) if m["headers"].get("X-Konsortio-Kind") == "welcome"
    ]


async def test_reset_to_earliest_and_restart_sends_nothing_twice(
    infra: Infra, membership: Service
) -> None:
    group = f"outreach-replay-{unique_isil('x')[1:]}"
    sink = SmtpSink(free_port(), infra.tmp / f"{group}-mailbox")
    sink.start()
    dsn = await infra.new_database("replay")
    mail = OutreachSettings(smtp_port=sink.port, mail_interval_s=0.2)
    settings = infra.settings("outreach", dsn, consumer_group=group)
    first, second = unique_isil("FI-A"), unique_isil("FI-B")
    try:
        await register_and_join(membership, infra, library_body(first))
        operator = {"Authorization": f"Bearer {infra.token(Role.OPERATOR)}"}
        app = build_outreach(settings, mail)
        async with running(app) as client:
            await consumer_ready(app)
            # It reads every earlier test's events too, so give it time.
            await wait_for(
                lambda: any(
                    f"{first.lower()}@" in m["rcpt_to"][0] for m in read_sink(sink.directory)
                ),
                timeout_s=120,
            )

            async def caught_up() -> bool:
                return all(
                    p.lag == 0 for p in await lag(infra.kafka(), group, ["konsortio.membership"])
                )

            await wait_for(caught_up, timeout_s=120)

            async def all_sent() -> bool:
                counts = (await client.get("/deliveries", headers=operator)).json()["counts"]
                return not counts.get("queued") and not counts.get("sending")

            await wait_for(all_sent, timeout_s=120)
            deliveries_before = (
                await client.get("/deliveries", params={"kind": "welcome"}, headers=operator)
            ).json()["total"]
        before = len(welcomes(sink))

        assert await reset_to_earliest(infra.kafka(), group, ["konsortio.membership"]) >= 1
        assert not await caught_up()
        await register_and_join(membership, infra, library_body(second))
        app = build_outreach(settings, mail)
        async with running(app) as client:
            await consumer_ready(app)
            await wait_for(
                lambda: any(
                    f"{second.lower()}@" in m["rcpt_to"][0] for m in read_sink(sink.directory)
                ),
                timeout_s=120,
            )
            await wait_for(caught_up, timeout_s=120)
            await wait_for(all_sent, timeout_s=120)
            deliveries_after = (
                await client.get("/deliveries", params={"kind": "welcome"}, headers=operator)
            ).json()["total"]
        # The membership topic was read again from the start, and only the new library's
        # welcome was queued and sent. (Other topics' reactions are not this test's business:
        # other tests keep publishing on them meanwhile.)
        assert deliveries_after == deliveries_before + 1
        assert len(welcomes(sink)) == before + 1
    finally:
        sink.stop()
