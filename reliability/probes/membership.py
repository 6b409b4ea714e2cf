"""Membership: the library lifecycle as load, how to tell whether a command of unknown
outcome happened, and who may call each endpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx

from kit.auth import Role
from reliability.ledger import Command
from reliability.load import Driver
from reliability.probes.base import (
    ANY_VALID,
    COORDINATOR_ONLY,
    LIBRARY_ITSELF_OR_COORDINATOR,
    OPERATIONS,
    PUBLIC,
    AuthzContext,
    Endpoint,
    Probe,
    RequestSpec,
)
from reliability.stack import Stack

FIRST_NAMES = ("Aino", "Eero", "Sara", "Mikko", "Elina", "Johan", "Linnea", "Veikko")
LAST_NAMES = ("Virtanen", "Lindholm", "Järvinen", "Koski", "Nieminen", "Sundqvist")
SYSTEMS = ("Koha", "Aurora", "Sierra", "Quria")
MUNICIPALITIES = ("091", "049", "179", "445", "564", "837", "851", "853")
RESOLVE_TIMEOUT_S = 90.0


def library_body(isil: str, contacts: list[dict[str, str]], rng: Any) -> dict[str, Any]:
    return {
        "isil": isil,
        "names": {"fi": f"Kirjasto {isil}", "sv": f"Bibliotek {isil}"},
        "municipalities": sorted(rng.sample(MUNICIPALITIES, rng.randint(1, 3))),
        "population": rng.randint(1_000, 650_000),
        "library_system": rng.choice(SYSTEMS),
        "library_type": "municipal",
        "contacts": contacts,
    }


def contact(isil: str, number: int, language: str, rng: Any) -> dict[str, str]:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return {
        "name": name,
        "email": f"c{number}.{isil.lower()}@library.example",
        "role": rng.choice(("director", "e-resources", "marketing")),
        "language": language,
    }


def emails(contacts: list[dict[str, str]]) -> list[str]:
    return sorted({c["email"].strip().lower() for c in contacts})


class LibraryLifecycle:
    """Register, join, update details, replace contacts, give notice effective today (the
    library leaves at once), and re-join: six commands, five events, two rounds of welcome
    mail. Every command is one a coordinator or the library itself really makes."""

    service = "membership"

    async def run(self, d: Driver) -> None:
        rng = d.rng
        isil = f"FI-R{d.run_tag}{d.next_number():05d}"
        coordinator = d.stack.token(Role.COORDINATOR)
        itself = d.stack.token(Role.LIBRARY, isil=isil)
        first = [contact(isil, 1, "fi", rng)]
        if rng.random() < 0.5:
            first.append(contact(isil, 2, "sv", rng))
        today = dt.date.today()

        async def step(method: str, path: str, token: str, **kwargs: Any) -> bool:
            command = await d.command("membership", method, path, token=token, key=isil, **kwargs)
            return command.outcome.value == "ok" and not d.stopping.is_set()

        body = library_body(isil, first, rng)
        if not await step(
            "POST", "/libraries", coordinator, action="register", expects=None, json=body
        ):
            return
        joined = (today - dt.timedelta(days=60)).isoformat()
        if not await step(
            "POST",
            f"/libraries/{isil}/membership",
            coordinator,
            action="join",
            expects="member-joined",
            json={"signed_on": joined, "signatory": "Johtaja"},
            detail={"period": 1, "emails": emails(first)},
        ):
            return
        # A library edits its own library system; its population is derived from official
        # figures and only the coordinator records an exception to it.
        # Another system than the one it registered with: a lost answer is resolved by
        # reading the library back, and an unchanged value would look like the update's.
        system = rng.choice([s for s in SYSTEMS if s != body["library_system"]])
        if not await step(
            "PATCH",
            f"/libraries/{isil}",
            itself,
            action="update",
            expects="member-updated",
            json={"library_system": system},
            detail={"library_system": system},
        ):
            return
        second = [contact(isil, 3, rng.choice(("fi", "sv")), rng)]
        if not await step(
            "PUT",
            f"/libraries/{isil}/contacts",
            itself,
            action="contacts",
            expects="member-updated",
            json={"contacts": second},
            detail={"emails": emails(second)},
        ):
            return
        if not await step(
            "POST",
            f"/libraries/{isil}/notice",
            coordinator,
            action="notice",
            expects="member-left",
            json={"effective_date": today.isoformat(), "given_on": today.isoformat()},
            detail={"period": 1},
        ):
            return
        await step(
            "POST",
            f"/libraries/{isil}/membership",
            coordinator,
            action="rejoin",
            expects="member-joined",
            json={"signed_on": today.isoformat(), "signatory": "Johtaja"},
            detail={"period": 2, "emails": emails(second)},
        )


async def _get(client: httpx.AsyncClient, url: str, token: str) -> httpx.Response:
    """GET until the service answers (it may be restarting); bounded."""
    deadline = time.monotonic() + RESOLVE_TIMEOUT_S
    while True:
        try:
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code in (200, 404):
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url}")
        await asyncio.sleep(0.5)


async def resolve(command: Command, stack: Stack, client: httpx.AsyncClient) -> bool:
    """Whether a membership command whose answer was lost or a 5xx took effect. The story
    stops after such a command, so the library's final state shows its effect alone."""
    base = stack.url("membership")
    token = stack.token(Role.COORDINATOR)
    isil = command.key
    library = await _get(client, f"{base}/libraries/{isil}", token)
    if command.action == "register":
        return library.status_code == 200
    if library.status_code != 200:
        return False
    body = library.json()
    if command.action == "update":
        return body["library_system"] == command.detail["library_system"]
    if command.action == "contacts":
        return emails(body["contacts"]) == command.detail["emails"]
    periods = (await _get(client, f"{base}/libraries/{isil}/history", token)).json()["periods"]
    if command.action in ("join", "rejoin"):
        return len(periods) >= command.detail["period"]
    if command.action == "notice":
        number = command.detail["period"]
        return len(periods) >= number and periods[number - 1]["leaves_on"] is not None
    raise ValueError(f"cannot resolve membership action {command.action!r}")


# --- authorization spec -------------------------------------------------------------------


def _new_library(ctx: AuthzContext) -> RequestSpec:
    isil = ctx.unique("FI-Z")
    body = {
        "isil": isil,
        "names": {"fi": f"Uusi {isil}"},
        "municipalities": ["091"],
        "population": 1000,
        "library_system": "Koha",
        "contacts": [],
    }
    return RequestSpec("/libraries", json=body)


def _import_csv(ctx: AuthzContext) -> RequestSpec:
    isil = ctx.unique("FI-Y")
    csv = f"isil,name_fi,municipalities,population,library_system\n{isil},Tuonti,091,100,Koha\n"
    return RequestSpec("/libraries/import", files={"file": ("libraries.csv", csv, "text/csv")})


def _own(path: str, json: Any = None) -> Any:
    return lambda ctx: RequestSpec(path.format(isil=ctx.own_isil), json=json)


async def prepare_authz(ctx: AuthzContext) -> None:
    """``own`` is a member; ``other`` is registered. Both made through the API."""
    token = ctx.stack.token(Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    url = ctx.stack.url("membership")
    for isil in (ctx.own_isil, ctx.other_isil):
        body = {
            "isil": isil,
            "names": {"fi": f"Matriisi {isil}"},
            "municipalities": ["091"],
            "population": 5000,
            "library_system": "Koha",
            "contacts": [
                {
                    "name": "Matti",
                    "email": f"m.{isil.lower()}@authz.example",
                    "role": "director",
                    "language": "fi",
                }
            ],
        }
        response = await ctx.client.post(f"{url}/libraries", json=body, headers=headers)
        response.raise_for_status()
    joined = (ctx.today - dt.timedelta(days=30)).isoformat()
    response = await ctx.client.post(
        f"{url}/libraries/{ctx.own_isil}/membership",
        json={"signed_on": joined, "signatory": "Johtaja"},
        headers=headers,
    )
    response.raise_for_status()


ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    Endpoint("POST", "/libraries", COORDINATOR_ONLY, _new_library),
    Endpoint("GET", "/libraries", ANY_VALID),
    Endpoint("GET", "/libraries/{isil}", ANY_VALID, _own("/libraries/{isil}")),
    Endpoint(
        "PATCH",
        "/libraries/{isil}",
        LIBRARY_ITSELF_OR_COORDINATOR,
        # A field the library may change itself (population is the coordinator's alone).
        _own("/libraries/{isil}", {"library_system": "Koha"}),
    ),
    Endpoint(
        "PUT",
        "/libraries/{isil}/contacts",
        LIBRARY_ITSELF_OR_COORDINATOR,
        lambda ctx: RequestSpec(
            f"/libraries/{ctx.own_isil}/contacts",
            json={
                "contacts": [
                    {
                        "name": "Maija",
                        "email": f"maija.{ctx.own_isil.lower()}@authz.example",
                        "role": "marketing",
                        "language": "sv",
                    }
                ]
            },
        ),
    ),
    Endpoint(
        "POST",
        "/libraries/{isil}/membership",
        COORDINATOR_ONLY,
        lambda ctx: RequestSpec(
            f"/libraries/{ctx.own_isil}/membership",
            json={"signed_on": ctx.today.isoformat(), "signatory": "Johtaja"},
        ),
    ),
    Endpoint(
        "POST",
        "/libraries/{isil}/notice",
        COORDINATOR_ONLY,
        # A year ahead: the library stays a member while the matrix runs.
        lambda ctx: RequestSpec(
            f"/libraries/{ctx.own_isil}/notice",
            json={"effective_date": (ctx.today + dt.timedelta(days=365)).isoformat()},
        ),
    ),
    Endpoint("GET", "/libraries/{isil}/history", ANY_VALID, _own("/libraries/{isil}/history")),
    Endpoint("GET", "/members", ANY_VALID),
    Endpoint("GET", "/members/totals", ANY_VALID),
    Endpoint("POST", "/libraries/import", COORDINATOR_ONLY, _import_csv),
    # Erasure and acceptance are recorded by the coordinator (an empty body: refused as 422
    # after the role check, so the fixture library keeps its contacts).
    Endpoint("POST", "/libraries/{isil}/contacts/erasure", COORDINATOR_ONLY),
    Endpoint("POST", "/libraries/{isil}/acceptances", COORDINATOR_ONLY),
    # Token revocation is the coordinator's (an empty body: 422 after the role check, so the
    # matrix revokes nothing).
    Endpoint("POST", "/tokens/revoked", COORDINATOR_ONLY),
    # Organisations, kimppas, municipalities and agreement versions: the coordinator keeps
    # them, any valid token reads them.
    Endpoint("GET", "/organisations", ANY_VALID),
    Endpoint("POST", "/organisations/import", COORDINATOR_ONLY),
    Endpoint("GET", "/organisations/{business_id}", ANY_VALID),
    Endpoint("PUT", "/organisations/{business_id}", COORDINATOR_ONLY),
    Endpoint("GET", "/kimppas", ANY_VALID),
    Endpoint("GET", "/kimppas/{kimppa_id}", ANY_VALID),
    Endpoint("PUT", "/kimppas/{kimppa_id}", COORDINATOR_ONLY),
    Endpoint("GET", "/municipalities", ANY_VALID),
    Endpoint("POST", "/municipalities/population", COORDINATOR_ONLY),
    Endpoint("GET", "/agreement-versions", ANY_VALID),
    Endpoint("POST", "/agreement-versions", COORDINATOR_ONLY),
    Endpoint("GET", "/agreement-versions/{version}/document", ANY_VALID),
    Endpoint("GET", "/agreement-versions/{version}/not-accepted", ANY_VALID),
)

PROBE = Probe(
    name="membership",
    stories=(LibraryLifecycle,),
    endpoints=ENDPOINTS,
    prepare_authz=prepare_authz,
    resolve=resolve,
    # The CSV import reads the file's content only; the client's file name is never used.
    uploads_ignoring_filename=frozenset({"/libraries/import"}),
    path_samples={
        "isil": lambda ctx: ctx.own_isil,
        "business_id": lambda ctx: "0000000-0",
        "version": lambda ctx: "no-such-version",
    },
)
