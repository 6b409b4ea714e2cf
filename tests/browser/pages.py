"""Opening and closing a page in the session's Chromium, each with a bound.

Playwright puts no timeout on `new_page()`, `page.close()` or `context.close()`, and headless
Chromium is now and then unable to close a page (microsoft/playwright#18485). One CI run of
the whole suite hung for ten minutes there, after every check of its test had passed. Opening
a page that does not open within the bound is a failure; a close that does not finish is left
to the session's end, which stops the browser process with the Playwright driver.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

OPEN_WITHIN_S = 60.0
CLOSE_WITHIN_S = 15.0
STEP_TIMEOUT_MS = 30_000  # any one action or navigation on the page

log = logging.getLogger(__name__)


async def new_page(context: Any) -> Any:
    async with asyncio.timeout(OPEN_WITHIN_S):
        page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    return page


async def close_page(page: Any) -> None:
    await _close_within(page, "a page")


async def close_context(context: Any) -> None:
    await _close_within(context, "the browser context")


async def _close_within(closable: Any, what: str) -> None:
    try:
        async with asyncio.timeout(CLOSE_WITHIN_S):
            await closable.close()
    except TimeoutError:
        log.warning(
            "%s did not close within %ss; the session's end stops the browser", what, CLOSE_WITHIN_S
        )
