"""The event documentation page in a real browser with the network cut off: every request
that does not go to the dashboard on loopback is aborted, and the page must still render
whole, styled, in both languages."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from contracts import ALL_EVENTS
from tests.browser.pages import close_context, close_page, new_page
from tests.integration.dashboard.support import DashboardUnderTest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium, installed on first use (the suite runs as root in CI and here)."""
    if not CHROMIUM.exists():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
                subprocess.run(command, check=True, capture_output=True, timeout=900, env=env)
        except (OSError, subprocess.SubprocessError) as error:
            pytest.skip(f"{CHROMIUM} is missing and could not be installed: {error}")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
async def offline_context(chromium_path: str) -> AsyncIterator[tuple[Any, list[str]]]:
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="konsortio-chromium-docs-")
    blocked: list[str] = []
    try:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path,
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update"],
                viewport={"width": 1280, "height": 900},
            )  # fmt: skip

            async def only_loopback(route: Any) -> None:
                if urlsplit(route.request.url).hostname in LOOPBACK:
                    await route.continue_()
                else:
                    blocked.append(route.request.url)
                    await route.abort("internetdisconnected")

            await context.route("**/*", only_loopback)
            try:
                yield context, blocked
            finally:
                await close_context(context)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.timeout(1200)  # the first run may install Chromium
async def test_the_event_documentation_renders_offline(
    dashboard: DashboardUnderTest, offline_context: tuple[Any, list[str]]
) -> None:
    from playwright.async_api import expect

    context, blocked = offline_context
    failed: list[str] = []
    page = await new_page(context)
    page.on("requestfailed", lambda request: failed.append(request.url))
    response = await page.goto(f"{dashboard.url}/events?lang=en")
    assert response is not None and response.ok
    await expect(page.get_by_role("heading", level=1)).to_have_text("Konsortio events")
    assert await page.locator("article.docs-event").count() == len(ALL_EVENTS)

    # Styled by the dashboard's own stylesheet (not the browser's defaults).
    event = page.locator("#fi-konsortio-membership-member-joined-v1")
    assert await event.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "6px"
    await expect(event.get_by_role("row", name="library.isil")).to_be_visible()

    # The example opens from the keyboard and shows the record's headers and value.
    summary = event.locator("summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(event.locator("pre").first).to_contain_text(
        '"ce_type": "fi.konsortio.membership.member-joined.v1"'
    )
    await expect(event.locator("pre").nth(1)).to_contain_text('"isil": "FI-Tro"')

    await page.get_by_role("link", name="Suomeksi").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Konsortion tapahtumat")
    await expect(page.locator("html")).to_have_attribute("lang", "fi")

    assert not blocked, f"the page tried to reach the network: {blocked}"
    assert not failed, f"requests that failed: {failed}"
    await close_page(page)
