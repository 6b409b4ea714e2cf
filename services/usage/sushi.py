"""A COUNTER_SUSHI API client (the COUNTER 5 / 5.1 REST protocol) on httpx.

``GET {base}/reports/{id}?customer_id&requestor_id&api_key&platform&begin_date&end_date``
answers a JSON report or an exception. The API key is passed only in the query string of the
request, as the protocol wants it, and httpx's URL is never logged here.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from services.usage.domain import month_text


class ProviderUnavailable(Exception):
    """The SUSHI server did not answer usefully (network, timeout, 5xx, not JSON)."""


@dataclass(frozen=True)
class SushiRequest:
    base_url: str
    report: str
    customer_id: str
    requestor_id: str
    api_key: str | None
    platform: str
    month: dt.date


class SushiClient:
    def __init__(self, timeout_s: float = 30.0) -> None:
        # httpx logs every request's URL at INFO, and a SUSHI URL carries the API key.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def status(self, base_url: str, customer_id: str, requestor_id: str) -> Any:
        response = await self._http.get(
            f"{base_url.rstrip('/')}/status",
            params={"customer_id": customer_id, "requestor_id": requestor_id},
        )
        return response.json()

    async def report(self, req: SushiRequest) -> Any:
        params = {
            "customer_id": req.customer_id,
            "requestor_id": req.requestor_id,
            "platform": req.platform,
            "begin_date": month_text(req.month),
            "end_date": month_text(req.month),
        }
        if req.api_key:
            params["api_key"] = req.api_key
        url = f"{req.base_url.rstrip('/')}/reports/{req.report.lower()}"
        try:
            response = await self._http.get(url, params=params)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(type(error).__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(f"HTTP {response.status_code}, not JSON") from None
