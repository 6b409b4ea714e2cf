"""Demo steps for membership (and the outreach reactions to it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario

# The organisations that run the demo's libraries. The four Helmet cities' business IDs are
# given from memory (their check digits are valid; confirm them in the YTJ register before
# relying on them); Parainen's is a clearly made-up EXAMPLE that passes the check digit.
DEMO_ORGANISATIONS: list[dict[str, Any]] = [
    {
        "business_id": "0201256-6",
        "names": {"fi": "Helsingin kaupunki", "sv": "Helsingfors stad"},
        "kind": "municipality",
        "municipalities": ["091"],
        "einvoice": {"ovt": "003702012566", "operator": "003723327487"},
    },
    {
        "business_id": "0101263-6",
        "names": {"fi": "Espoon kaupunki", "sv": "Esbo stad"},
        "kind": "municipality",
        "municipalities": ["049"],
    },
    {
        "business_id": "0124610-9",
        "names": {"fi": "Vantaan kaupunki", "sv": "Vanda stad"},
        "kind": "municipality",
        "municipalities": ["092"],
    },
    {
        "business_id": "0204819-8",
        "names": {"fi": "Kauniaisten kaupunki", "sv": "Grankulla stad"},
        "kind": "municipality",
        "municipalities": ["235"],
    },
    {
        "business_id": "9876543-0",  # EXAMPLE, not Parainen's real business ID
        "names": {"fi": "Paraisten kaupunki", "sv": "Pargas stad"},
        "kind": "municipality",
        "municipalities": ["445"],
    },
]


def _library(
    isil: str,
    fi: str,
    sv: str | None,
    code: str,
    system: str,
    organisation: str,
    contacts: list[dict[str, str]],
    kimppa: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "isil": isil,
        "names": {"fi": fi, "sv": sv},
        "municipalities": [code],
        "library_system": system,
        "library_type": "municipal",
        "organisation": organisation,
        "contacts": contacts,
    }
    if kimppa:
        body["kimppa"] = kimppa
    return body


def _contact(name: str, email: str, role: str, language: str) -> dict[str, str]:
    return {"name": name, "email": email, "role": role, "language": language}


def demo_libraries(suffix: str, helmet: str) -> list[dict[str, Any]]:
    """Five libraries modelled on real Finnish ones: the Helmet kimppa's four city libraries
    and Pargas outside any kimppa. ISILs get a per-run suffix; population is never given: it
    is derived from the municipalities' official figures. The second one (Pargas) gives notice
    in the last phase."""
    return [
        _library(
            f"FI-Hk{suffix}",
            "Helsingin kaupunginkirjasto",
            "Helsingfors stadsbibliotek",
            "091",
            "Sierra",
            "0201256-6",
            [_contact("Aino Virtanen", f"aino.{suffix}@helsinki.example", "director", "fi")],
            helmet,
        ),
        _library(
            f"FI-Pa{suffix}",
            "Paraisten kaupunginkirjasto",
            "Pargas stadsbibliotek",
            "445",
            "Quria",
            "9876543-0",
            [_contact("Sara Lindholm", f"sara.{suffix}@pargas.example", "e-resources", "sv")],
        ),
        _library(
            f"FI-Es{suffix}",
            "Espoon kaupunginkirjasto",
            "Esbo stadsbibliotek",
            "049",
            "Sierra",
            "0101263-6",
            [
                _contact("Mikko Järvinen", f"mikko.{suffix}@espoo.example", "director", "fi"),
                _contact("Elina Koski", f"elina.{suffix}@espoo.example", "marketing", "fi"),
            ],
            helmet,
        ),
        _library(
            f"FI-Va{suffix}",
            "Vantaan kaupunginkirjasto",
            "Vanda stadsbibliotek",
            "092",
            "Sierra",
            "0124610-9",
            [_contact("Laura Nieminen", f"laura.{suffix}@vantaa.example", "e-resources", "fi")],
            helmet,
        ),
        _library(
            f"FI-Ka{suffix}",
            "Kauniaisten kaupunginkirjasto",
            "Grankulla stadsbibliotek",
            "235",
            "Sierra",
            "0204819-8",
            [_contact("Johan Berg", f"johan.{suffix}@grankulla.example", "director", "sv")],
            helmet,
        ),
    ]


async def register_parties(s: Scenario, ctx: DemoContext) -> None:
    """The organisations (the legal members) and the Helmet kimppa come first."""
    membership = ctx.urls["membership"]
    coordinator = ctx.token()
    for organisation in DEMO_ORGANISATIONS:
        await s.call(
            "PUT",
            f"{membership}/organisations/{organisation['business_id']}",
            coordinator,
            json=organisation,
        )
    helmet = f"helmet-{ctx.suffix}"
    await s.call(
        "PUT",
        f"{membership}/kimppas/{helmet}",
        coordinator,
        json={
            "name": "Helmet",
            "library_system": "Sierra",
            "harvest_contact_email": "helmet-harvest@helsinki.example",
            "melinda_code": "HELMET",
        },
    )
    ctx.facts["helmet"] = helmet
    s.say(f"registered {len(DEMO_ORGANISATIONS)} organisations and the Helmet kimppa")


async def admit_libraries(s: Scenario, ctx: DemoContext) -> None:
    membership = ctx.urls["membership"]
    coordinator = ctx.token()
    every = demo_libraries(ctx.suffix, ctx.facts["helmet"])
    # The later phases follow the first three (Helsinki, Pargas, Espoo); Vantaa and
    # Kauniainen complete the Helmet kimppa.
    ctx.libraries, ctx.facts["more_libraries"] = every[:3], every[3:]
    for library in every:
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
    s.say(f"registered and admitted {len(every)} libraries")

    async def derived() -> Any:
        helsinki = (
            await s.call("GET", f"{membership}/libraries/{ctx.libraries[0]['isil']}", coordinator)
        ).json()
        figures = (
            await s.call("GET", f"{membership}/municipalities", coordinator, params={"year": 2024})
        ).json()
        official = next(m for m in figures["municipalities"] if m["code"] == "091")
        return helsinki["population"] == official["population"] and {
            "population": helsinki["population"],
            "year": helsinki["population_year"],
            "organisation": helsinki["organisation"]["business_id"],
            "kimppa": helsinki["kimppa"]["name"],
        }

    await s.expect("Helsinki's population is derived from the official 091 figure", derived)

    async def kimppa() -> Any:
        body = (
            await s.call("GET", f"{membership}/kimppas/{ctx.facts['helmet']}", coordinator)
        ).json()
        return len(body["libraries"]) == 4 and {"Helmet": body["libraries"]}

    await s.expect("the Helmet kimppa has its four city libraries", kimppa)


async def update_and_leave(s: Scenario, ctx: DemoContext) -> None:
    membership = ctx.urls["membership"]
    helsinki = ctx.libraries[0]["isil"]
    library_token = ctx.token(Role.LIBRARY, isil=helsinki)
    await s.call(
        "PATCH",
        f"{membership}/libraries/{helsinki}",
        library_token,
        json={"library_type": "municipal main library"},
    )
    refused = await s.client.patch(
        f"{membership}/libraries/{helsinki}",
        json={"population": 1},
        headers={"Authorization": f"Bearer {library_token}"},
    )

    async def updated() -> Any:
        body = (await s.call("GET", f"{membership}/libraries/{helsinki}", ctx.token())).json()
        return (
            body["library_type"] == "municipal main library"
            and refused.status_code == 403
            and {"isil": helsinki, "population_edit": refused.status_code}
        )

    await s.expect(
        "a library updated its own details (member-updated); its population edit was refused",
        updated,
    )

    async def hidden() -> Any:
        other = ctx.token(Role.LIBRARY, isil=ctx.libraries[2]["isil"])
        body = (await s.call("GET", f"{membership}/libraries/{helsinki}", other)).json()
        return body["contacts"] is None and {"contacts_seen_by_another_library": None}

    await s.expect("another library sees Helsinki without its contacts", hidden)


async def agreement_version(s: Scenario, ctx: DemoContext) -> None:
    """A new version of the consortium agreement: every member is asked to accept it;
    Helsinki's city board accepts it and the API lists who has not."""
    membership = ctx.urls["membership"]
    coordinator = ctx.token()
    version = f"2027-{ctx.suffix}"
    document = (
        "Yleisten kirjastojen konsortion konsortiosopimus, versio "
        f"{version}. Irtisanomisaika kuusi (6) kuukautta, kalenterivuoden loppuun.\n"
    ).encode()
    # Each run publishes its own version, valid from a distinct day, so that runs against
    # one database do not collide.
    valid_from = dt.date(2027, 1, 1) + dt.timedelta(days=int(ctx.suffix, 16) % 3650)
    await s.call(
        "POST",
        f"{membership}/agreement-versions",
        coordinator,
        files={"file": (f"konsortiosopimus-{version}.txt", document, "text/plain")},
        data={
            "version": version,
            "valid_from": valid_from.isoformat(),
            "notice_months": "6",
            "notice_takes_effect": "end-of-year",
        },
    )
    await s.call(
        "POST",
        f"{membership}/libraries/{ctx.libraries[0]['isil']}/acceptances",
        coordinator,
        json={
            "version": version,
            "decision_organ": "Helsingin kaupunginhallitus",
            "decision_date": ctx.today.isoformat(),
            "decision_section": "§ 812",
            "signatory_name": "Katri Kirjastonjohtaja",
            "signatory_title": "kirjastopalvelujen johtaja",
        },
    )
    every = ctx.libraries + ctx.facts["more_libraries"]
    ours = {library["isil"] for library in every[1:]}

    async def waiting() -> Any:
        body = (
            await s.call(
                "GET", f"{membership}/agreement-versions/{version}/not-accepted", coordinator
            )
        ).json()
        missing = {i["isil"] for i in body["items"]} & {lib["isil"] for lib in every}
        return missing == ours and {"not_accepted": sorted(missing)}

    await s.expect(f"version {version}: four members have not accepted it yet", waiting)

    contacts = {c["email"] for library in every for c in library["contacts"]}

    async def asked() -> Any:
        mails = (await s.call("GET", f"{ctx.urls['outreach']}/dev/mailbox", coordinator)).json()
        ours = [
            m
            for m in mails
            if m["headers"].get("X-Konsortio-Kind") == "acceptance"
            and version in m["subject"]
            and set(m["rcpt_to"]) & contacts
        ]
        languages = sorted({m["headers"].get("Content-Language", "") for m in ours})
        return (
            len(ours) >= len(contacts)
            and languages == ["fi", "sv"]
            and {"requests": len(ours), "languages": languages}
        )

    await s.expect(
        "every member's contacts were asked to accept it, in fi and sv "
        "(agreement-version-published → outreach)",
        asked,
    )


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
    ("membership", register_parties),
    ("membership", admit_libraries),
    ("membership", update_and_leave),
    ("membership", agreement_version),
    ("outreach", welcomes),
    ("checks", give_notice),
]
