"""Demo steps for membership (and the outreach reactions to it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario


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


async def admit_libraries(s: Scenario, ctx: DemoContext) -> None:
    membership = ctx.urls["membership"]
    coordinator = ctx.token()
    ctx.libraries = demo_libraries(ctx.suffix)
    for library in ctx.libraries:
        await s.call("POST", f"{membership}/libraries", coordinator, json=library)
        await s.call(
            "POST",
            f"{membership}/libraries/{library['isil']}/membership",
            coordinator,
            # Signed some weeks ago, so that a notice can take effect today.
            json={
                "signed_on": (ctx.today - dt.timedelta(days=60)).isoformat(),
                "signatory": "Kirjastotoimenjohtaja",
            },
        )
    s.say(f"registered and admitted {len(ctx.libraries)} libraries")


async def update_and_leave(s: Scenario, ctx: DemoContext) -> None:
    membership = ctx.urls["membership"]
    tornio = ctx.libraries[0]["isil"]
    library_token = ctx.token(Role.LIBRARY, isil=tornio)
    await s.call(
        "PATCH",
        f"{membership}/libraries/{tornio}",
        library_token,
        json={"population": 21_600},
    )

    async def updated() -> Any:
        body = (await s.call("GET", f"{membership}/libraries/{tornio}", ctx.token())).json()
        return body["population"] == 21_600 and {"isil": tornio, "population": 21_600}

    await s.expect("a library updated its own details (member-updated)", updated)


async def give_notice(s: Scenario, ctx: DemoContext) -> None:
    """The last phase: Pargas gives notice effective today (member-left)."""
    membership, outreach = ctx.urls["membership"], ctx.urls["outreach"]
    leaving = ctx.libraries[1]["isil"]
    await s.call(
        "POST",
        f"{membership}/libraries/{leaving}/notice",
        ctx.token(),
        json={"effective_date": ctx.today.isoformat(), "given_on": ctx.today.isoformat()},
    )

    async def left_audience() -> Any:
        body = (
            await s.call(
                "GET",
                f"{outreach}/audience",
                ctx.token(),
                params={"members_only": "false", "limit": 500},
            )
        ).json()
        entry = next((i for i in body["items"] if i["isil"] == leaving), None)
        return entry is not None and not entry["is_member"] and entry

    await s.expect("the library that gave notice left the audience (member-left)", left_audience)


async def welcomes(s: Scenario, ctx: DemoContext) -> None:
    outreach = ctx.urls["outreach"]
    contacts = [c["email"] for lib in ctx.libraries for c in lib["contacts"]]

    async def welcomes_sent() -> Any:
        body = (
            await s.call(
                "GET",
                f"{outreach}/deliveries",
                ctx.token(),
                params={"kind": "welcome", "status": "sent", "limit": 500},
            )
        ).json()
        sent = {d["recipient"] for d in body["items"]}
        return set(contacts) <= sent and {"recipients": len(contacts)}

    await s.expect(
        f"welcome messages sent to all {len(contacts)} contacts (member-joined → outreach)",
        welcomes_sent,
    )

    async def in_mailbox() -> Any:
        mails = (await s.call("GET", f"{outreach}/dev/mailbox", ctx.token())).json()
        got = [m for m in mails if set(m["rcpt_to"]) & set(contacts)]
        languages = sorted({m["headers"].get("Content-Language", "") for m in got} - {""})
        return (
            len(got) >= len(contacts)
            and languages == ["fi", "sv"]
            and {
                "messages": len(got),
                "languages": languages,
            }
        )

    await s.expect("welcome emails arrived in the SMTP sink, in fi and sv", in_mailbox)


STEPS = [
    ("membership", admit_libraries),
    ("membership", update_and_leave),
    ("outreach", welcomes),
    ("checks", give_notice),
]
