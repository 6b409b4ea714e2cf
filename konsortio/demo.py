"""``konsortio demo``: a realistic scenario through the HTTP APIs of a running stack.

It only uses what any client has: the services' HTTP APIs and tokens signed with the stack's
key. Each step waits for the reactions it should cause and records whether they happened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from kit.auth import Role, issue_token
from konsortio.stack import SERVICE_PORTS

console = Console(stderr=True)


def service_urls() -> dict[str, str]:
    urls = {name: f"http://127.0.0.1:{port}" for name, port in SERVICE_PORTS.items()}
    for item in os.environ.get("KONSORTIO_SERVICE_URLS", "").split(","):
        if "=" in item:
            name, url = item.split("=", 1)
            urls[name.strip()] = url.strip()
    return urls


def demo_libraries(suffix: str) -> list[dict[str, Any]]:
    """Three libraries modelled on real Finnish ones; ISILs get a per-run suffix."""
    return [
        {
            "isil": f"FI-Tr{suffix}",
            "names": {
                "fi": "Tornion kaupunginkirjasto",
                "sv": "Torneå stadsbibliotek",
                "en": "Tornio City Library",
            },
            "municipalities": ["851"],
            "population": 21_500,
            "library_system": "Koha",
            "library_type": "municipal",
            "contacts": [
                {
                    "name": "Aino Virtanen",
                    "email": f"aino.{suffix}@tornio.example",
                    "role": "director",
                    "language": "fi",
                },
            ],
        },
        {
            "isil": f"FI-Pa{suffix}",
            "names": {"fi": "Paraisten kaupunginkirjasto", "sv": "Pargas stadsbibliotek"},
            "municipalities": ["445"],
            "population": 15_200,
            "library_system": "Quria",
            "library_type": "municipal",
            "contacts": [
                {
                    "name": "Sara Lindholm",
                    "email": f"sara.{suffix}@pargas.example",
                    "role": "e-resources",
                    "language": "sv",
                },
            ],
        },
        {
            "isil": f"FI-Ke{suffix}",
            "names": {"fi": "Keski-kirjastot", "en": "Keski Libraries"},
            "municipalities": ["179", "182", "216"],
            "population": 280_000,
            "library_system": "Koha",
            "library_type": "joint",
            "contacts": [
                {
                    "name": "Mikko Järvinen",
                    "email": f"mikko.{suffix}@keski.example",
                    "role": "director",
                    "language": "fi",
                },
                {
                    "name": "Elina Koski",
                    "email": f"elina.{suffix}@keski.example",
                    "role": "marketing",
                    "language": "fi",
                },
            ],
        },
    ]


class Scenario:
    def __init__(self, client: httpx.AsyncClient, timeout_s: float, quiet: bool) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.quiet = quiet
        self.steps: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            console.print(text)

    async def call(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")
        return response

    async def expect(self, name: str, check: Callable[[], Awaitable[Any]]) -> bool:
        """Wait until ``check`` returns something truthy, and record the outcome."""
        began = time.monotonic()
        deadline = began + self.timeout_s
        detail: Any = None
        while True:
            try:
                detail = await check()
            except (httpx.HTTPError, RuntimeError, KeyError) as error:
                detail = None
                last_error = str(error)
            else:
                last_error = ""
            if detail:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        ok = bool(detail)
        self.steps.append(
            {
                "step": name,
                "ok": ok,
                "seconds": round(time.monotonic() - began, 2),
                "detail": detail if ok else last_error or "not observed in time",
            }
        )
        self.say(f"{'[green]✓' if ok else '[red]✗'}[/] {name} ({self.steps[-1]['seconds']} s)")
        return ok


async def run_demo(data_dir: Path, *, timeout_s: float = 20, quiet: bool = False) -> dict[str, Any]:
    key_file = data_dir / "keys" / "jwt_private.pem"
    if not key_file.exists():
        return {"ok": False, "error": f"no stack key at {key_file}: is `make up` running?"}
    started = time.monotonic()
    try:
        return await _scenario(key_file.read_text(), timeout_s=timeout_s, quiet=quiet)
    except (httpx.HTTPError, RuntimeError) as error:
        console.print(f"[red]demo stopped: {error}[/red]")
        return {"ok": False, "error": str(error), "seconds": round(time.monotonic() - started, 2)}


async def _scenario(private_key: str, *, timeout_s: float, quiet: bool) -> dict[str, Any]:
    coordinator = issue_token(private_key, role=Role.COORDINATOR, subject="coordinator:demo")
    urls = service_urls()
    membership, outreach = urls["membership"], urls["outreach"]
    suffix = secrets.token_hex(2)
    libraries = demo_libraries(suffix)
    today = dt.date.today()

    async with httpx.AsyncClient(timeout=10) as client:
        s = Scenario(client, timeout_s, quiet)
        s.say(f"[bold]Konsortio demo[/bold] (run {suffix})")

        # Membership: register, sign the consortium agreement, update, give notice.
        for library in libraries:
            await s.call("POST", f"{membership}/libraries", coordinator, json=library)
            await s.call(
                "POST",
                f"{membership}/libraries/{library['isil']}/membership",
                coordinator,
                # Signed some weeks ago, so that a notice can take effect today.
                json={
                    "signed_on": (today - dt.timedelta(days=60)).isoformat(),
                    "signatory": "Kirjastotoimenjohtaja",
                },
            )
        s.say(f"registered and admitted {len(libraries)} libraries")
        tornio = libraries[0]["isil"]
        library_token = issue_token(private_key, role=Role.LIBRARY, isil=tornio)
        await s.call(
            "PATCH",
            f"{membership}/libraries/{tornio}",
            library_token,
            json={"population": 21_600, "library_system": "Koha"},
        )
        leaving = libraries[1]["isil"]
        await s.call(
            "POST",
            f"{membership}/libraries/{leaving}/notice",
            coordinator,
            json={"effective_date": today.isoformat(), "given_on": today.isoformat()},
        )

        async def members_counted() -> Any:
            body = (await s.call("GET", f"{membership}/libraries/{tornio}", coordinator)).json()
            return body["population"] == 21_600 and body

        await s.expect("a library updated its own details (member-updated)", members_counted)

        contacts = [c["email"] for lib in libraries for c in lib["contacts"]]

        async def welcomes_sent() -> Any:
            body = (
                await s.call(
                    "GET",
                    f"{outreach}/deliveries",
                    coordinator,
                    params={"kind": "welcome", "status": "sent", "limit": 500},
                )
            ).json()
            sent = {d["recipient"] for d in body["items"]}
            return set(contacts) <= sent and sorted(set(contacts))

        await s.expect(
            f"welcome messages sent to all {len(contacts)} contacts (member-joined → outreach)",
            welcomes_sent,
        )

        async def in_mailbox() -> Any:
            mails = (await s.call("GET", f"{outreach}/dev/mailbox", coordinator)).json()
            got = [m for m in mails if set(m["rcpt_to"]) & set(contacts)]
            languages = {m["headers"].get("Content-Language") for m in got}
            return len(got) >= len(contacts) and {
                "messages": len(got),
                "languages": sorted(filter(None, languages)),
            }

        await s.expect("welcome emails arrived in the SMTP sink, in fi and sv", in_mailbox)

        async def left_audience() -> Any:
            body = (
                await s.call(
                    "GET",
                    f"{outreach}/audience",
                    coordinator,
                    params={"members_only": "false", "limit": 500},
                )
            ).json()
            entry = next((i for i in body["items"] if i["isil"] == leaving), None)
            return entry is not None and not entry["is_member"] and entry

        await s.expect(
            "the library that gave notice left the audience (member-left)", left_audience
        )

    ok = all(step["ok"] for step in s.steps)
    summary = {
        "ok": ok,
        "run": suffix,
        "seconds": round(time.monotonic() - s.started, 2),
        "libraries": [lib["isil"] for lib in libraries],
        "steps": s.steps,
    }
    s.say(
        f"[bold]{'all reactions observed' if ok else 'some reactions missing'}[/bold] "
        f"in {summary['seconds']} s"
    )
    return summary
