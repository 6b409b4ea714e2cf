"""The dashboard in a real browser: headless Debian Chromium driven by Playwright.

An event published during the test must appear on the open page within 2 s (the issue's one
explicit timing), the key figures on the page must match the scenario, and the page must work
from the keyboard. Screenshots go to test-artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from contracts.catalogue import IngestCounts, TitlesIngested
from contracts.outreach import MessageDelivered
from kit.auth import Role
from kit.envelope import encode
from services.dashboard import domain, i18n
from tests.conftest import Infra, wait_for
from tests.integration.dashboard.support import (
    DashboardUnderTest,
    agreement_in,
    joined,
    opted_in,
    publish,
    signed,
    unique,
)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed on first use (the suite runs as root in CI and here)."""
    if not CHROMIUM.exists():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
                subprocess.run(command, check=True, capture_output=True, timeout=900, env=env)
        except (OSError, subprocess.SubprocessError) as error:
            output = getattr(error, "stderr", b"") or b""
            pytest.skip(
                f"{CHROMIUM} is missing and `apt-get install -y chromium` failed: {error} "
                f"{output.decode(errors='replace')[-500:]}"
            )
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is still missing after installing the chromium package")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="konsortio-chromium-")  # a fresh --user-data-dir
    try:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1366, "height": 1000},
                timezone_id="Europe/Helsinki",
            )
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.timeout(1200)  # the first run may install Chromium
async def test_live_feed_and_key_figures_in_a_real_browser(
    infra: Infra, dashboard: DashboardUnderTest, browser: Any
) -> None:
    from playwright.async_api import expect

    # The scenario: two libraries join and opt in to a new agreement; a supplier list is
    # loaded into a collection; outreach sends three messages and one fails.
    agreement, collection, kind = unique("AG-B"), unique("COL-B"), unique("kit-b")
    first, second = unique("FI-Ba"), unique("FI-Bb")
    title = f"E-äänikirjat {agreement}"
    counts = dict(updated=0, unchanged=0, duplicate=0, withdrawn=0, warnings=2)
    await publish(
        infra,
        [
            joined(first, 40_000),
            joined(second, 60_000),
            signed(agreement, title, 1_234_500),
            opted_in(agreement, first, title, 1),
            opted_in(agreement, second, title, 2),
            TitlesIngested(
                batch_id=unique("B-"),
                collection_id=collection,
                agreement_id=agreement,
                format="onix",
                mode="full",
                counts=IngestCounts(received=40, accepted=30, rejected=10, **counts),
                records_in_collection=30,
            ),
            *[
                MessageDelivered(
                    delivery_id=800_000_000 + n,
                    kind=kind,
                    isil=first,
                    cause_id=unique("c-"),
                    status="failed" if n == 3 else "sent",
                    attempts=1,
                )
                for n in range(4)
            ],
        ],
    )

    async def settled() -> dict[str, Any] | None:
        figures = await dashboard.figures()
        row = agreement_in(figures, agreement)
        kinds = {k["kind"] for k in figures["outreach"]["by_kind"]}
        collections = {c["collection_id"] for c in figures["catalogue"]["items"]}
        ready = row and row["population"] == 100_000 and kind in kinds and collection in collections
        return figures if ready else None

    figures = await wait_for(settled)

    page = await browser.new_page()
    await page.goto(f"{dashboard.url}/?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")

    # The key figures on the page are the scenario's, and the API's.
    def en(value: int) -> str:
        return i18n.number(value, "en")

    row = page.locator(f'tr[data-agreement="{agreement}"]')
    await expect(row.locator("th")).to_have_text(title)
    await expect(row.locator('[data-col="participants"]')).to_have_text("2")
    await expect(row.locator('[data-col="coverage"]')).to_have_text(
        i18n.percent(domain.share(100_000), "en", 2)
    )
    await expect(row.locator('[data-col="cost"]')).to_have_text("€12,345")
    collection_row = page.locator(f'tr[data-collection="{collection}"]')
    await expect(collection_row.locator("td").nth(0)).to_have_text("30")
    await expect(collection_row.locator("td").nth(2)).to_have_text("75.0%")
    kind_row = page.locator("#deliveries-table tr", has_text=kind)
    await expect(kind_row.locator("td")).to_have_text(["3", "1"])
    members = page.locator('[data-figure="members-active"]')
    await expect(members).to_have_text(en(figures["members"]["active"]))
    await expect(page.locator('[data-figure="members-population"]')).to_have_text(
        en(figures["members"]["population"])
    )

    # An event published now is on the page within 2 s, and the figures follow it.
    newcomer = unique("FI-Bn")
    message = encode(joined(newcomer, 5_000), source="/tests")
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        published_at = time.monotonic()
        await producer.send_and_wait(
            message.topic,
            message.value,
            key=message.key.encode(),
            headers=[(k, v.encode()) for k, v in message.headers.items()],
        )
    finally:
        await producer.stop()
    item = page.locator("#feed li.event", has_text=newcomer)
    remaining_ms = max(2000 - (time.monotonic() - published_at) * 1000, 0)
    await expect(item).to_be_visible(timeout=remaining_ms)
    await expect(item.locator(".event-type")).to_have_text("member-joined")
    await expect(item.locator(".event-summary")).to_have_text(
        f"Test Library {newcomer} joined (5,000 residents)"
    )
    await expect(members).to_have_text(en(figures["members"]["active"] + 1))

    # Keyboard: the first Tab reaches the skip link, which moves focus to the main content;
    # the filters are labelled controls that work without a mouse.
    await page.keyboard.press("Tab")
    await expect(page.locator(".skip-link")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    await page.get_by_label("Event type", exact=True).focus()
    await page.keyboard.press("Tab")
    service = page.get_by_label("Service", exact=True)
    await expect(service).to_be_focused()
    await service.select_option("membership")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Filter")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**service=membership**")
    services = await page.locator("#feed li.event").evaluate_all(
        "items => [...new Set(items.map(item => item.dataset.service))]"
    )
    assert services == ["membership"]

    ARTIFACTS.mkdir(exist_ok=True)
    await page.goto(f"{dashboard.url}/?lang=en")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connected")
    await page.screenshot(path=ARTIFACTS / "dashboard-en.png", full_page=True)
    await page.goto(f"{dashboard.url}/")
    await expect(page.locator("html")).to_have_attribute("lang", "fi")
    await expect(page.get_by_role("heading", name="Tunnusluvut")).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "dashboard-fi.png", full_page=True)

    # The operator view: sign in with a token in the form, then see the report.
    await page.goto(f"{dashboard.url}/operator?lang=en")
    await page.get_by_label("Token", exact=True).fill(infra.token(Role.OPERATOR))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Consumer lag")).to_be_visible()
    await expect(page.locator('#health-table tr[data-service="dashboard"] td').first).to_have_text(
        "ready"
    )
    await page.screenshot(path=ARTIFACTS / "operator-en.png", full_page=True)
    await page.close()
