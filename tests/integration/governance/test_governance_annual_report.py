"""The annual report on real PostgreSQL and the real broker: a library's report holds exactly
its own figures (checked against procurement's cost-share API and the events fed to it), the
PDF parses back with pypdf, and its first page is rendered to a PNG under test-artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from aiokafka import AIOKafkaProducer
from lxml import html as lxml_html

from contracts.catalogue import RecordsAvailable
from contracts.outreach import MessageDelivered
from kit.envelope import encode
from services.procurement.governance.cli import fetch_reports
from tests.conftest import Infra, wait_for
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    add_member,
    opt_in,
    signed_agreement,
)

pytestmark = pytest.mark.integration

YEAR = TODAY.year
ARTIFACTS = Path(__file__).parents[3] / "test-artifacts"


async def publish(infra: Infra, *events: tuple[object, str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        for event, event_id in events:
            message = encode(event, source="/tests", event_id=event_id)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time
            await producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key.encode(),
                headers=[(k, v.encode()) for k, v in message.headers.items()],
            )
    finally:
        await producer.stop()


async def test_a_librarys_annual_report_holds_exactly_its_own_figures(
    live_procurement: Service, actors: Actors, infra: Infra
) -> None:
    service = live_procurement
    own = await add_member(service, population=30_000)
    other = await add_member(service, population=10_000)
    agreement = await signed_agreement(service, actors, title="E-kirjat ja äänikirjat")
    for isil in (own, other):
        await opt_in(service, actors, agreement["id"], isil)
    await publish(
        infra,
        *[
            (
                RecordsAvailable(
                    isil=own,
                    collection_id="c1",
                    agreement_id=agreement["id"],
                    title="Ellibs",
                    count=120,
                    reason="agreement-joined",
                ),
                f"{own}-records",
            )
        ]
        * 2,  # delivered twice: counted once
        (
            RecordsAvailable(
                isil=other, collection_id="c1", agreement_id=None, title="Ellibs", count=50
            ),
            f"{other}-records",
        ),
        (
            MessageDelivered(
                delivery_id=1, kind="kit", isil=own, cause_id="x", status="sent", attempts=1
            ),
            f"{own}-kit",
        ),
        (
            MessageDelivered(
                delivery_id=2, kind="kit", isil=own, cause_id="y", status="failed", attempts=5
            ),
            f"{own}-failed",
        ),
    )

    # Wait for exactly the events published here: the session's real catalogue and outreach
    # may add facts of their own for these libraries first.
    published = [f"{own}-records", f"{other}-records", f"{own}-kit", f"{own}-failed"]

    async def facts_arrived() -> bool:
        n = await service.pool.fetchval(
            "SELECT count(*) FROM report_facts WHERE event_id = ANY($1::text[])", published
        )
        return n == len(published)

    await wait_for(facts_arrived, 30)

    page = await service.client.get(
        f"/reports/annual/{YEAR}", params={"isil": own}, headers=actors.library(own)
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    document = lxml_html.document_fromstring(page.text)
    [row] = document.xpath("//table[@class='agreements']//tr[@data-agreement]")
    assert row.get("data-agreement") == agreement["id"]
    shares = (
        await service.client.get(
            f"/agreements/{agreement['id']}/cost-shares",
            params={"on": f"{YEAR}-12-31"},
            headers=actors.coordinator,
        )
    ).json()
    expected = {s["isil"]: s["share_cents"] for s in shares["items"]}
    assert int(row.get("data-annual-share-cents")) == expected[own]
    days = (dt.date(YEAR, 12, 31) - TODAY).days + 1
    year_days = (dt.date(YEAR, 12, 31) - dt.date(YEAR, 1, 1)).days + 1
    assert int(row.get("data-cost-cents")) == round(expected[own] * days / year_days)
    records = [td.text_content() for td in document.xpath("//table[@class='records']//td")]
    rows = [records[i : i + 3] for i in range(0, len(records), 3)]
    assert ["Ellibs", "120", "0"] in rows
    # Where the session's real catalogue runs beside the test, it also reports the library's
    # own agreement collection; never the other library's 50.
    assert all(row[0] == "E-kirjat ja äänikirjat" for row in rows if row[0] != "Ellibs")
    assert not any("50" in row[1:] for row in rows)
    messages = [td.text_content() for td in document.xpath("//table[@class='messages']//td")]
    assert messages == ["kit", "1"]
    assert other not in page.text

    # A library sees only its own report; the summary is the coordinator's.
    refused = await service.client.get(
        f"/reports/annual/{YEAR}", params={"isil": other}, headers=actors.library(own)
    )
    assert refused.status_code == 403
    refused = await service.client.get(f"/reports/annual/{YEAR}", headers=actors.library(own))
    assert refused.status_code == 403

    ARTIFACTS.mkdir(exist_ok=True)
    for lang, heading in (("fi", "Vuosiraportti"), ("sv", "Årsrapport")):
        pdf = await service.client.get(
            f"/reports/annual/{YEAR}",
            params={"isil": own, "format": "pdf", "lang": lang},
            headers=actors.library(own),
        )
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        path = ARTIFACTS / f"annual-report-{lang}.pdf"
        path.write_bytes(pdf.content)
        # Parsing and rendering run in a thread: on this event loop the session's services
        # consume the broker, and a loop blocked past the consumer session timeout would
        # cost them their group membership.
        pages, text = await asyncio.to_thread(_pages_and_text, path.read_bytes())
        assert pages >= 1
        assert f"{heading} {YEAR}" in text and own in text and other not in text
        assert "E-kirjat ja äänikirjat" in text
        assert f"{'Kirjasto' if lang == 'fi' else 'Bibliotek'} {own}" in text  # name in lang
        width = await asyncio.to_thread(
            _render_first_page, path, ARTIFACTS / f"annual-report-{lang}.png"
        )
        assert width > 800

    summary = await service.client.get(
        f"/reports/annual/{YEAR}", params={"format": "pdf"}, headers=actors.coordinator
    )
    _, text = await asyncio.to_thread(_pages_and_text, summary.content)
    assert own in text and other in text and "ohjausryhmälle" in text


def _pages_and_text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def _render_first_page(path: Path, png: Path) -> int:
    rendered = pypdfium2.PdfDocument(str(path))[0].render(scale=1.5).to_pil()
    rendered.save(png)
    return int(rendered.size[0])


async def test_the_cli_writes_the_reports_in_both_languages(
    live_procurement: Service, actors: Actors
) -> None:
    isil = await add_member(live_procurement)
    client = live_procurement.client
    client.headers.update(actors.library(isil))
    try:
        reports = await fetch_reports(client, YEAR, isil)
    finally:
        del client.headers["Authorization"]
    assert sorted(reports) == [
        f"annual-report-{YEAR}-{isil}-{lang}.{fmt}"
        for lang in ("fi", "sv")
        for fmt in ("html", "pdf")
    ]
    assert reports[f"annual-report-{YEAR}-{isil}-sv.pdf"].startswith(b"%PDF")
