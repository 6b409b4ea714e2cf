"""The Melinda adapter: an HTTP client shaped like Melinda's REST API for library systems
(NatLibFi/melinda-rest-api-http, as its own JavaScript client calls it). Melinda cannot be
reached from here, so this is what a deployment configures (KONSORTIO_MELINDA_URL and
credentials) and what the tests run against a local stand-in server.

Paths, relative to the configured base URL (".../bib/"):

- ``GET  {id}``                              read one record (MARCXML)
- ``POST ?noop=0&unique=1``                  create one record; 201 with ``Record-ID``;
                                             409 when Melinda finds a duplicate
- ``POST {id}?noop=0``                       update one record; JSON ``recordStatus``
                                             (UPDATED, or SKIPPED when nothing changed)
- ``POST bulk/?pOldNew=NEW|OLD&pActiveLibrary=LOW&noStream=1``
                                             open a bulk job; JSON ``correlationId``
- ``POST bulk/{correlationId}``              add one record to the open bulk job
- ``PUT  bulk/state/{correlationId}?status=PENDING_VALIDATION``
                                             close it: Melinda starts working
- ``GET  bulk/state/{correlationId}``        ``queueItemState`` (DONE, ERROR, ABORT are final)
- ``GET  bulk/?id={correlationId}``          the job's metadata, with one entry per record:
                                             ``recordStatus`` (CREATED, UPDATED, SKIPPED,
                                             DUPLICATE, ERROR, INVALID), ``databaseId``,
                                             ``recordMetadata.sourceIds``, ``message``

Records travel as MARCXML (``application/xml``). Authentication is HTTP Basic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from lxml import etree
from pymarc import Record
from pymarc.marcxml import record_to_xml

from services.catalogue.formats.readers import marcxml_element_to_record

RecordStatus = Literal["created", "updated", "skipped", "duplicate", "error", "invalid"]
RECORD_STATUSES: dict[str, RecordStatus] = {
    "CREATED": "created",
    "UPDATED": "updated",
    "SKIPPED": "skipped",
    "DUPLICATE": "duplicate",
    "ERROR": "error",
    "INVALID": "invalid",
}
FINAL_BULK_STATES = frozenset({"DONE", "ERROR", "ABORT"})
XML = "application/xml"


class MelindaUnavailable(Exception):
    """Melinda could not be reached or failed on its side (5xx): try again later."""


class MelindaRefused(Exception):
    """Melinda answered the request with an error of the request's own (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What Melinda said about one record."""

    status: RecordStatus
    melinda_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class BulkRecordResult:
    source_ids: tuple[str, ...]
    outcome: Outcome


def _xml(record: Record) -> bytes:
    return record_to_xml(record, namespace=True)


class MelindaClient:
    def __init__(
        self,
        base_url: str,
        *,
        username: str = "",
        password: str = "",
        library: str = "KONS",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.library = library
        auth = httpx.BasicAuth(username, password) if username else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout_s,
            transport=transport,
            headers={"User-Agent": "Konsortio catalogue / Melinda adapter"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise MelindaUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500:
            raise MelindaUnavailable(f"Melinda answered {response.status_code}")
        return response

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:500]
        if isinstance(body, dict):
            return str(body.get("message") or body)[:500]
        return str(body)[:500]

    # --- single records ---------------------------------------------------------------------

    async def read(self, melinda_id: str) -> Record | None:
        response = await self._request("GET", melinda_id, headers={"Accept": XML})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise MelindaRefused(response.status_code, self._message(response))
        root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False))
        element = root if etree.QName(root).localname == "record" else root[0]
        return marcxml_element_to_record(element)

    async def create(self, record: Record) -> Outcome:
        response = await self._request(
            "POST",
            "",
            params={"noop": "0", "unique": "1", "pActiveLibrary": self.library},
            content=_xml(record),
            headers={"Content-Type": XML, "Accept": "application/json"},
        )
        if response.status_code in (200, 201):
            return Outcome("created", response.headers.get("Record-ID"))
        return self._refusal(response)

    async def update(self, melinda_id: str, record: Record) -> Outcome:
        response = await self._request(
            "POST",
            melinda_id,
            params={"noop": "0", "pActiveLibrary": self.library},
            content=_xml(record),
            headers={"Content-Type": XML, "Accept": "application/json"},
        )
        if response.status_code == 200:
            status = "UPDATED"
            try:
                status = str(response.json().get("recordStatus", status))
            except (ValueError, AttributeError):
                pass
            return Outcome(RECORD_STATUSES.get(status, "updated"), melinda_id)
        return self._refusal(response)

    def _refusal(self, response: httpx.Response) -> Outcome:
        message = self._message(response)
        if response.status_code == 409:
            return Outcome("duplicate", None, message)
        if response.status_code in (400, 422):
            return Outcome("invalid", None, message)
        return Outcome("error", None, f"{response.status_code}: {message}")

    # --- bulk jobs ----------------------------------------------------------------------------

    async def open_bulk(self, operation: Literal["create", "update"]) -> str:
        response = await self._request(
            "POST",
            "bulk/",
            params={
                "pOldNew": "NEW" if operation == "create" else "OLD",
                "pActiveLibrary": self.library,
                "noStream": "1",
            },
            headers={"Accept": "application/json", "Content-Type": XML},
        )
        if response.status_code not in (200, 201):
            raise MelindaRefused(response.status_code, self._message(response))
        body = response.json()
        value = body.get("value", body) if isinstance(body, dict) else {}
        return str(value["correlationId"])

    async def add_to_bulk(self, correlation_id: str, record: Record) -> None:
        response = await self._request(
            "POST",
            f"bulk/{correlation_id}",
            content=_xml(record),
            headers={"Content-Type": XML, "Accept": "application/json"},
        )
        if response.status_code not in (200, 201):
            raise MelindaRefused(response.status_code, self._message(response))

    async def close_bulk(self, correlation_id: str) -> None:
        response = await self._request(
            "PUT", f"bulk/state/{correlation_id}", params={"status": "PENDING_VALIDATION"}
        )
        if response.status_code not in (200, 201):
            raise MelindaRefused(response.status_code, self._message(response))

    async def bulk_state(self, correlation_id: str) -> str:
        response = await self._request("GET", f"bulk/state/{correlation_id}")
        if response.status_code != 200:
            raise MelindaRefused(response.status_code, self._message(response))
        return str(response.json().get("queueItemState", ""))

    async def bulk_results(self, correlation_id: str) -> list[BulkRecordResult]:
        response = await self._request("GET", "bulk/", params={"id": correlation_id})
        if response.status_code != 200:
            raise MelindaRefused(response.status_code, self._message(response))
        body = response.json()
        metadata = body[0] if isinstance(body, list) and body else body
        results = []
        for entry in (metadata or {}).get("records", []):
            status = RECORD_STATUSES.get(str(entry.get("recordStatus", "")).upper(), "error")
            source_ids = tuple(entry.get("recordMetadata", {}).get("sourceIds", []) or ())
            results.append(
                BulkRecordResult(
                    source_ids,
                    Outcome(status, entry.get("databaseId"), entry.get("message")),
                )
            )
        return results
