"""A stand-in COUNTER_SUSHI server (COUNTER 5.1 JSON) for tests, benchmarks and ``konsortio
up``: a real HTTP server on 127.0.0.1 (uvicorn in a thread, or ``python -m
services.usage.sushi_standin --port N`` as its own process).

It serves ``/status``, ``/reports``, ``/reports/tr``, ``/reports/tr_b1`` and ``/reports/pr``
for any customer id, with deterministic titles (ISBN-13s under the 978-952 Finnish prefix)
and counts derived from (customer, month, title), so a harvest can be checked against a
recomputation. Faults are set per customer id: ``queued-once`` answers 1011 to the first
request for each month, ``no-usage`` answers 3030, ``fail`` answers HTTP 503, ``slow`` waits
before answering, ``bad-key`` answers 2020. ``bump`` changes a customer's figures, as a
provider's correction would.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

RELEASE = "5.1"


def isbn13(n: int) -> str:
    body = f"978952{n:06d}"
    check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
    return f"{body}{check}"


def _count(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    value = digest[0] % 24
    return 0 if value < 6 else value  # a quarter of title-months have no use


def months_between(begin: str, end: str) -> list[str]:
    y, m = int(begin[:4]), int(begin[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= end[:7]:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@dataclass
class SushiStandIn:
    titles: int = 40
    api_key: str | None = None
    faults: dict[str, str] = field(default_factory=dict)
    bumps: dict[str, int] = field(default_factory=dict)
    slow_s: float = 2.0
    requests: int = 0
    _queued: set[tuple[str, str]] = field(default_factory=set)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # --- the figures ---------------------------------------------------------------
    def title_list(self) -> list[tuple[str, str, str]]:
        """(ISBN, title, data type): two in three e-books, the rest audiobooks."""
        return [
            (isbn13(i), f"Kirja {i:04d}", "Book" if i % 3 else "Audiobook")
            for i in range(1, self.titles + 1)
        ]

    def counts(self, customer: str, month: str, isbn: str) -> tuple[int, int]:
        unique = _count(customer, month, isbn, self.bumps.get(customer, 0))
        total = unique + (_count("total", customer, month, isbn) // 4 if unique else 0)
        return total, unique

    def title_report(self, customer: str, begin: str, end: str, report_id: str) -> dict[str, Any]:
        items = []
        for isbn, title, data_type in self.title_list():
            if report_id == "TR_B1" and data_type != "Book":
                continue
            perf: dict[str, dict[str, int]] = {}
            for month in months_between(begin, end):
                total, unique = self.counts(customer, month, isbn)
                if unique:
                    perf.setdefault("Total_Item_Requests", {})[month] = total
                    perf.setdefault("Unique_Title_Requests", {})[month] = unique
            if perf:
                items.append(
                    {
                        "Title": title,
                        "Item_ID": {"ISBN": isbn, "Proprietary": f"standin:{isbn}"},
                        "Platform": "StandIn",
                        "Publisher": "Kustannus Oy",
                        "Attribute_Performance": [
                            {
                                "Data_Type": data_type,
                                "Access_Type": "Controlled",
                                "Access_Method": "Regular",
                                "Performance": perf,
                            }
                        ],
                    }
                )
        return {
            "Report_Header": self.header(customer, report_id, begin, end),
            "Report_Items": items,
        }

    def header(self, customer: str, report_id: str, begin: str, end: str) -> dict[str, Any]:
        return {
            "Release": RELEASE,
            "Report_ID": report_id,
            "Report_Name": {
                "TR": "Title Report",
                "TR_B1": "Book Requests (Controlled)",
                "PR": "Platform Report",
            }[report_id],
            "Institution_Name": customer,
            "Institution_ID": {"Proprietary": [f"StandIn:{customer}"]},
            "Report_Filters": {"Begin_Date": begin, "End_Date": end},
            "Created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "Created_By": "Konsortio SUSHI stand-in",
        }

    # --- the HTTP app --------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI(title="COUNTER_SUSHI stand-in")

        def exception(code: int, message: str, status: int = 200) -> JSONResponse:
            return JSONResponse(
                {"Code": code, "Severity": "Warning", "Message": message}, status_code=status
            )

        @app.get("/status")
        async def status() -> list[dict[str, Any]]:
            return [{"Description": "COUNTER_SUSHI stand-in", "Service_Active": True}]

        @app.get("/reports")
        async def reports() -> list[dict[str, Any]]:
            return [
                {
                    "Report_ID": r,
                    "Release": RELEASE,
                    "Report_Name": r,
                    "Path": f"/reports/{r.lower()}",
                }
                for r in ("TR", "TR_B1", "PR")
            ]

        async def serve(
            report_id: str, customer_id: str, begin_date: str, end_date: str, api_key: str | None
        ) -> Any:
            self.requests += 1
            fault = self.faults.get(customer_id, "")
            if fault == "slow":
                await asyncio.sleep(self.slow_s)
            if fault == "fail":
                return JSONResponse({"detail": "upstream down"}, status_code=503)
            if fault == "bad-key" or (self.api_key and api_key != self.api_key):
                return exception(2020, "API Key Invalid", 401)
            if fault == "queued-once" and (customer_id, begin_date) not in self._queued:
                self._queued.add((customer_id, begin_date))
                return exception(1011, "Report Queued for Processing", 202)
            if fault == "no-usage":
                body = {"Report_Header": self.header(customer_id, report_id, begin_date, end_date)}
                body["Report_Header"]["Exceptions"] = [
                    {
                        "Code": 3030,
                        "Severity": "Error",
                        "Message": "No Usage Available for Requested Dates",
                    }
                ]
                return body
            if report_id == "PR":
                tr = self.title_report(customer_id, begin_date, end_date, "TR")
                perf: dict[str, dict[str, int]] = {}
                for item in tr["Report_Items"]:
                    for metric, by_month in item["Attribute_Performance"][0]["Performance"].items():
                        for month, n in by_month.items():
                            perf.setdefault(metric, {}).setdefault(month, 0)
                            perf[metric][month] += n
                return {
                    "Report_Header": self.header(customer_id, "PR", begin_date, end_date),
                    "Report_Items": [
                        {
                            "Platform": "StandIn",
                            "Attribute_Performance": [
                                {
                                    "Data_Type": "Book",
                                    "Access_Method": "Regular",
                                    "Performance": perf,
                                }
                            ],
                        }
                    ],
                }
            return self.title_report(customer_id, begin_date, end_date, report_id)

        for report_id in ("TR", "TR_B1", "PR"):

            def route(report_id: str = report_id) -> None:
                @app.get(f"/reports/{report_id.lower()}", name=f"report_{report_id}")
                async def report(
                    customer_id: str,
                    begin_date: str = Query(pattern=r"^\d{4}-\d{2}"),
                    end_date: str = Query(pattern=r"^\d{4}-\d{2}"),
                    requestor_id: str | None = None,
                    api_key: str | None = None,
                    platform: str | None = None,
                ) -> Any:
                    return await serve(report_id, customer_id, begin_date, end_date, api_key)

            route()
        return app

    # --- running -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("SUSHI stand-in did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--titles", type=int, default=40)
    args = parser.parse_args()
    standin = SushiStandIn(titles=args.titles, port=args.port)
    uvicorn.run(standin.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
