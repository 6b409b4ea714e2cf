"""A local stand-in for Melinda's REST API for library systems, served over real HTTP on
127.0.0.1 (uvicorn in a thread), for the catalogue's Melinda adapter tests.

It keeps records in memory and behaves like the parts of Melinda the adapter uses: single
create, update and read; bulk jobs (open, add records one by one, close, poll, read the
per-record report); Basic authentication; duplicate detection by ISBN; a validation rule
(an ISBN listed in ``invalid_isbns`` is INVALID). Faults can be injected: ``fail_adds_after``
makes adding to a bulk job answer 503 after that many records, as an outage would.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from lxml import etree
from pymarc import Field, Record
from pymarc.marcxml import record_to_xml

from services.catalogue.formats.readers import marcxml_element_to_record


def _record(body: bytes) -> Record:
    root = etree.fromstring(body)
    element = root if etree.QName(root).localname == "record" else root[0]
    return marcxml_element_to_record(element)


def _isbn(record: Record) -> str | None:
    values = [v for f in record.get_fields("020") for v in f.get_subfields("a")]
    return values[0] if values else None


def _source_ids(record: Record) -> list[str]:
    return [v for f in record.get_fields("035") for v in f.get_subfields("a")]


@dataclass
class Bulk:
    operation: str  # NEW or OLD
    library: str
    state: str = "WAITING_FOR_RECORDS"
    records: list[Record] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    modified: str = ""


@dataclass
class MelindaStandIn:
    username: str = "konsortio"
    password: str = "secret"
    records: dict[str, Record] = field(default_factory=dict)
    by_isbn: dict[str, str] = field(default_factory=dict)
    bulks: dict[str, Bulk] = field(default_factory=dict)
    invalid_isbns: set[str] = field(default_factory=set)
    fail_adds_after: int | None = None
    adds: int = 0
    received: collections.Counter[str] = field(default_factory=collections.Counter)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Holding codes Melinda knows (a LOW with another code is INVALID); every update's LOW
    # codes as received, per Melinda id, for tests to check.
    holding_codes: set[str] = field(default_factory=set)
    holdings_received: dict[str, list[list[str]]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )

    # --- Melinda's rules ----------------------------------------------------------------------

    def _new_id(self) -> str:
        self.next_id += 1
        return f"{self.next_id:09d}"

    def create(self, record: Record) -> dict[str, Any]:
        isbn = _isbn(record)
        if isbn in self.invalid_isbns or record.get("245") is None:
            return {"recordStatus": "INVALID", "message": "validation failed"}
        if isbn and isbn in self.by_isbn:
            return {
                "recordStatus": "DUPLICATE",
                "databaseId": self.by_isbn[isbn],
                "message": f"duplicate of {self.by_isbn[isbn]}",
            }
        melinda_id = self._new_id()
        record.remove_fields("001")
        record.add_ordered_field(Field(tag="001", data=melinda_id))
        self.records[melinda_id] = record
        if isbn:
            self.by_isbn[isbn] = melinda_id
        return {"recordStatus": "CREATED", "databaseId": melinda_id}

    def _holdings_problem(self, record: Record) -> str | None:
        for low in record.get_fields("LOW"):
            codes = low.get_subfields("a")
            if len(codes) != 1 or not codes[0]:
                return "a LOW field holds exactly one $a holding code"
            if codes[0] not in self.holding_codes:
                return f"unknown holding code {codes[0]}"
        return None

    def update(self, melinda_id: str | None, record: Record) -> dict[str, Any]:
        if melinda_id is None or melinda_id not in self.records:
            return {"recordStatus": "ERROR", "message": f"no record {melinda_id}"}
        problem = self._holdings_problem(record)
        if problem is not None:
            return {"recordStatus": "INVALID", "message": problem}
        if record.get_fields("LOW") or self.records[melinda_id].get_fields("LOW"):
            self.holdings_received[melinda_id].append(
                sorted(v for f in record.get_fields("LOW") for v in f.get_subfields("a"))
            )
        record.remove_fields("001")
        record.add_ordered_field(Field(tag="001", data=melinda_id))
        # The leader's record status (n/c) is the sender's to say; the content is what counts.
        same = [str(f) for f in record.fields] == [str(f) for f in self.records[melinda_id].fields]
        self.records[melinda_id] = record
        return {"recordStatus": "SKIPPED" if same else "UPDATED", "databaseId": melinda_id}

    # --- HTTP -----------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def basic_auth(request: Request, call_next):  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"message": "unauthorized"}, status_code=401)
            return await call_next(request)

        @app.post("/bib/bulk/")
        async def open_bulk(pOldNew: str, pActiveLibrary: str, noStream: str = "0") -> Any:  # noqa: N803
            with self.lock:
                correlation_id = f"{len(self.bulks) + 1:04d}-bulk"
                self.bulks[correlation_id] = Bulk(pOldNew, pActiveLibrary)
            return {"value": {"correlationId": correlation_id, "queueItemState": "WAITING"}}

        @app.get("/bib/bulk/")
        async def read_bulk(id: str) -> Any:  # noqa: A002
            bulk = self.bulks.get(id)
            if bulk is None:
                return JSONResponse({"message": "no such job"}, status_code=404)
            return [{"correlationId": id, "queueItemState": bulk.state, "records": bulk.results}]

        @app.put("/bib/bulk/state/{correlation_id}")
        async def close_bulk(correlation_id: str, status: str) -> Any:
            bulk = self.bulks.get(correlation_id)
            if bulk is None:
                return JSONResponse({"message": "no such job"}, status_code=404)
            bulk.state = "IN_QUEUE" if status == "PENDING_VALIDATION" else status
            return {"correlationId": correlation_id, "queueItemState": bulk.state}

        @app.get("/bib/bulk/state/{correlation_id}")
        async def bulk_state(correlation_id: str) -> Any:
            bulk = self.bulks.get(correlation_id)
            if bulk is None:
                return JSONResponse({"message": "no such job"}, status_code=404)
            if bulk.state == "IN_QUEUE":
                # Melinda works between two polls: the first poll sees it queued.
                bulk.state = "IMPORTING"
            elif bulk.state == "IMPORTING":
                with self.lock:
                    for position, record in enumerate(bulk.records, start=1):
                        if bulk.operation == "NEW":
                            result = self.create(record)
                        else:
                            control = record.get("001")
                            result = self.update(control.data if control else None, record)
                        result["recordMetadata"] = {
                            "sourceIds": _source_ids(record),
                            "blobSequence": position,
                        }
                        bulk.results.append(result)
                bulk.state = "DONE"
            return {
                "correlationId": correlation_id,
                "queueItemState": bulk.state,
                "modificationTime": dt.datetime.now(dt.UTC).isoformat(),
            }

        @app.post("/bib/bulk/{correlation_id}")
        async def add_to_bulk(correlation_id: str, request: Request) -> Any:
            bulk = self.bulks.get(correlation_id)
            if bulk is None or bulk.state != "WAITING_FOR_RECORDS":
                return JSONResponse({"message": "bulk job not open"}, status_code=409)
            with self.lock:
                if self.fail_adds_after is not None and self.adds >= self.fail_adds_after:
                    return JSONResponse({"message": "service unavailable"}, status_code=503)
                record = _record(await request.body())
                self.adds += 1
                for source_id in _source_ids(record):
                    self.received[source_id] += 1
                bulk.records.append(record)
            return {"correlationId": correlation_id, "records": len(bulk.records)}

        @app.get("/bib/{melinda_id}")
        async def read(melinda_id: str) -> Response:
            record = self.records.get(melinda_id)
            if record is None:
                return JSONResponse({"message": "not found"}, status_code=404)
            return Response(record_to_xml(record, namespace=True), media_type="application/xml")

        @app.post("/bib/")
        async def create(request: Request) -> Response:
            record = _record(await request.body())
            with self.lock:
                for source_id in _source_ids(record):
                    self.received[source_id] += 1
                result = self.create(record)
            if result["recordStatus"] == "CREATED":
                return Response(status_code=201, headers={"Record-ID": result["databaseId"]})
            status = 409 if result["recordStatus"] == "DUPLICATE" else 422
            return JSONResponse({"message": result["message"]}, status_code=status)

        @app.post("/bib/{melinda_id}")
        async def update(melinda_id: str, request: Request) -> Response:
            record = _record(await request.body())
            with self.lock:
                result = self.update(melinda_id, record)
            if result["recordStatus"] == "ERROR":
                return JSONResponse({"message": result["message"]}, status_code=404)
            if result["recordStatus"] == "INVALID":
                return JSONResponse({"message": result["message"]}, status_code=422)
            return JSONResponse(result)

        return app


class RunningStandIn:
    """The stand-in served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, standin: MelindaStandIn) -> None:
        self.standin = standin
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            standin.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="melinda-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bib/"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the Melinda stand-in did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
