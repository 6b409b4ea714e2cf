"""Demo steps for procurement: two needs with interest, a tender in two lots (e-audiobooks
and e-magazines) with bids per lot and their compatibility tests, quality scores, one
procurement decision naming a winner per lot (one e-audiobook bid rejected for a missing
minimum requirement), a framework agreement per lot at its awarded bid's price, three
libraries opting in to the e-audiobooks and their cost shares; and, once a library has left
the consortium, its leaving the agreement too.

The tender is a one-year pilot with one extension option. The lots' values are added up for
the threshold (Act 1397/2016 section 31): about 53 000 € and 6 000 €, below the national
threshold for services (60 000 €, section 25), so no standstill applies and the agreements
can be signed right after the decision. At or above the threshold they would wait 14 days
after the decision is served.

Facts for the catalogue and outreach steps: ``need_id``, ``tender_id``, ``agreement_id``,
``agreement_title``, ``supplier``, ``product``, ``participants`` (ISILs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario

#: Bids are accepted strictly before the deadline and evaluated only after it, so the demo
#: sets one a few seconds ahead and waits it out.
DEADLINE_AHEAD = dt.timedelta(seconds=3)
#: Both lots, one year plus one one-year extension, VAT excluded: below the national threshold.
ESTIMATED_VALUE_CENTS = 5_900_000  # 59 000 €
AUDIOBOOKS, MAGAZINES = "1", "2"
LOTS = (
    {
        "id": AUDIOBOOKS,
        "title": "Lot 1: e-audiobooks in Finnish and Swedish",
        "criteria": {"price": 50, "quality": 30, "compatibility": 20},
    },
    {
        "id": MAGAZINES,
        "title": "Lot 2: e-magazines",
        "criteria": {"price": 40, "quality": 40, "compatibility": 20},
    },
)

BIDS = (
    {
        "lot_id": AUDIOBOOKS,
        "supplier": {"name": "Storytel AB", "country": "SE"},
        "product": "Storytel Library",
        "price_model": "annual-fee",
        "price_cents": 2_650_000,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": ["koha", "quria", "aurora"],
        "terms": {
            "concurrent_users": {"value": 1, "note": "one user per licence"},
            "loan_period_days": 21,
            "drm": "proprietary",
            "remote_access": "permitted",
            "annual_opt_out": "permitted",
            "post_cancellation_access": "prohibited",
        },
    },
    {
        "lot_id": AUDIOBOOKS,
        "supplier": {"name": "BookBeat AB", "country": "SE"},
        "product": "BookBeat for Libraries",
        "price_model": "annual-fee",
        "price_cents": 2_490_000,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": ["koha", "quria"],
        "terms": {
            "concurrent_users": 1,
            "loan_period_days": 14,
            "drm": "proprietary",
            "remote_access": "permitted",
            "annual_opt_out": "permitted",
        },
    },
    {
        # The cheapest, but without the Quria integration the need requires: rejected on
        # the minimum requirements and never scored.
        "lot_id": AUDIOBOOKS,
        "supplier": {"name": "Ellibs Oy", "country": "FI"},
        "product": "Ellibs E-audiobooks",
        "price_model": "annual-fee",
        "price_cents": 2_300_000,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": ["koha", "aurora"],
        "terms": {
            "concurrent_users": 1,
            "loan_period_days": 14,
            "drm": "readium-lcp",
            "remote_access": "permitted",
            "annual_opt_out": "permitted_under_conditions",
        },
    },
    {
        "lot_id": MAGAZINES,
        "supplier": {"name": "PressReader Inc.", "country": "CA"},
        "product": "PressReader",
        "price_model": "annual-fee",
        "price_cents": 290_000,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": [],
        "terms": {
            "concurrent_users": "unlimited",
            "remote_access": "permitted",
            "annual_opt_out": "permitted",
            "post_cancellation_access": "prohibited",
        },
    },
    {
        "lot_id": MAGAZINES,
        "supplier": {"name": "Zinio LLC", "country": "US"},
        "product": "Zinio for Libraries",
        "price_model": "annual-fee",
        "price_cents": 240_000,
        "supported_devices": ["ios", "android", "web"],
        "supported_library_systems": [],
        "terms": {
            "concurrent_users": "unlimited",
            "remote_access": "permitted",
            "annual_opt_out": "permitted",
        },
    },
)
# (target, passed, notes) per bid, in the order of BIDS.
TESTS = (
    (
        ("ios", True, ""),
        ("android", True, ""),
        ("web", True, ""),
        ("koha", True, "SIP2 patron login"),
        ("quria", True, "single sign-on from the library web site"),
    ),
    (
        ("ios", True, ""),
        ("android", True, ""),
        ("web", False, "player stalls in Safari"),
        ("koha", True, "SIP2 patron login"),
        ("quria", True, "single sign-on from the library web site"),
    ),
    (
        ("ios", True, ""),
        ("android", True, ""),
        ("web", True, ""),
        ("koha", True, "SIP2 patron login"),
    ),
    (("ios", True, ""), ("android", True, ""), ("web", True, "")),
    (("ios", True, ""), ("android", True, ""), ("web", False, "reader does not load in Firefox")),
)
QUALITY = (
    (85, "wide Finnish and Swedish catalogue"),
    (60, "smaller Finnish catalogue"),
    (70, "Finnish catalogue, no Swedish titles"),
    (80, "Finnish dailies and regional papers as well as magazines"),
    (55, "few Finnish titles"),
)
MAGAZINE_NEED = {
    "material_type": "e-magazine",
    "description": "Finnish and Swedish e-magazines, read in a browser or an app",
    "accepted_licence_models": ["annual-fee"],
    "required_devices": ["ios", "android", "web"],
    "required_library_systems": [],
}


async def propose_need_and_register_interest(s: Scenario, ctx: DemoContext) -> None:
    procurement = ctx.urls["procurement"]
    isils = [lib["isil"] for lib in ctx.libraries]

    async def members_known() -> Any:
        body = (
            await s.call(
                "GET",
                f"{procurement}/members",
                ctx.token(),
                params={"active_on": ctx.today.isoformat(), "limit": 500},
            )
        ).json()
        known = {m["isil"] for m in body["items"]} & set(isils)
        return known == set(isils) and {"members": len(known)}

    await s.expect(
        "procurement knows the demo libraries (member-joined → procurement)", members_known
    )

    proposer = isils[0]
    need = (
        await s.call(
            "POST",
            f"{procurement}/needs",
            ctx.token(Role.LIBRARY, isil=proposer),
            json={
                "material_type": "e-audiobook",
                "description": "E-audiobooks in Finnish and Swedish for adults and children",
                "accepted_licence_models": ["annual-fee"],
                "required_devices": ["ios", "android", "web"],
                "required_library_systems": ["koha", "quria"],
            },
        )
    ).json()
    magazines = (
        await s.call(
            "POST",
            f"{procurement}/needs",
            ctx.token(Role.LIBRARY, isil=isils[-1]),
            json=MAGAZINE_NEED,
        )
    ).json()
    ctx.facts.update(need_id=need["id"], magazine_need_id=magazines["id"])
    for isil, budget in zip(isils, (1_500_000, 1_000_000, 6_000_000), strict=False):
        for need_id, share in ((need["id"], 1), (magazines["id"], 10)):
            await s.call(
                "POST",
                f"{procurement}/needs/{need_id}/interest",
                ctx.token(Role.LIBRARY, isil=isil),
                json={"indicative_budget_cents": budget // share},
            )

    async def interest_recorded() -> Any:
        counts = [
            (await s.call("GET", f"{procurement}/needs/{need_id}", ctx.token())).json()[
                "interested"
            ]
            for need_id in (need["id"], magazines["id"])
        ]
        return counts == [len(isils)] * 2 and {"interested": counts}

    await s.expect(
        f"two needs (e-audiobooks, e-magazines) with interest from {len(isils)} libraries",
        interest_recorded,
    )


async def run_tender(s: Scenario, ctx: DemoContext) -> None:
    procurement = ctx.urls["procurement"]
    officer = ctx.token(Role.PROCUREMENT)
    deadline = dt.datetime.now(dt.UTC) + DEADLINE_AHEAD
    tender = (
        await s.call(
            "POST",
            f"{procurement}/tenders",
            officer,
            json={
                "title": f"E-audiobooks for public libraries ({ctx.suffix})",
                "kl_reference": f"KL-{ctx.today.year}-{ctx.suffix}",
                "need_ids": [ctx.facts["need_id"], ctx.facts["magazine_need_id"]],
                "lots": [
                    {**lot, "need_ids": [ctx.facts[need]]}
                    for lot, need in zip(LOTS, ("need_id", "magazine_need_id"), strict=True)
                ],
                "deadline": deadline.isoformat(),
                "criteria": {"price": 50, "quality": 30, "compatibility": 20},
                "price_model": "annual-fee",
                "procedure": "open",
                "estimated_value_cents": ESTIMATED_VALUE_CENTS,
                "purchasing_body": {"name": "Helsingin kaupunki", "business_id": "0201256-6"},
            },
        )
    ).json()
    t = f"{procurement}/tenders/{tender['id']}"
    s.say(f"threshold class: {tender['threshold_class']} (two lots, 59 000 €, VAT excluded)")
    ctx.facts["tender_id"] = tender["id"]
    await s.call("POST", f"{t}/open", officer)

    async def opened() -> Any:
        body = (await s.call("GET", t, ctx.token())).json()
        return body["state"] == "open" and {"tender": body["id"], "deadline": body["deadline"]}

    await s.expect("the tender is open for bids (tender-opened)", opened)

    bids = [(await s.call("POST", f"{t}/bids", officer, json=bid)).json() for bid in BIDS]
    for lot in LOTS:
        names = ", ".join(b["supplier"]["name"] for b in bids if b["lot_id"] == lot["id"])
        s.say(f"{lot['title']}: bids from {names}")

    # Evaluation opens the bids, which is allowed only once the deadline has passed.
    await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    await s.call("POST", f"{t}/evaluation", officer)
    for bid, tests, (score, rationale) in zip(bids, TESTS, QUALITY, strict=True):
        for target, passed, notes in tests:
            await s.call(
                "POST",
                f"{t}/bids/{bid['id']}/tests",
                officer,
                json={"target": target, "passed": passed, "notes": notes},
            )
        await s.call(
            "PUT",
            f"{t}/bids/{bid['id']}/quality",
            officer,
            json={"score": score, "rationale": rationale},
        )

    async def scored() -> Any:
        body = (await s.call("GET", f"{t}/scores", officer)).json()
        ranking = {
            lot["lot_id"]: [(i["supplier"], i["total"]) for i in lot["items"]]
            for lot in body["lots"]
        }
        return [len(ranking.get(lot["id"], [])) for lot in LOTS] == [2, 2] and ranking

    await s.expect(
        "conforming bids scored per lot on price, quality and the lot's test matrix", scored
    )
    award = (await s.call("POST", f"{t}/award", officer, json={})).json()
    winners = {
        lot["lot_id"]: next(b for b in bids if b["id"] == lot["bid_id"]) for lot in award["lots"]
    }
    winner, magazines = winners[AUDIOBOOKS], winners[MAGAZINES]
    ctx.facts.update(
        supplier=winner["supplier"]["name"],
        product=winner["product"],
        annual_cost_cents=winner["price_cents"],
        magazine_supplier=magazines["supplier"]["name"],
        magazine_cost_cents=magazines["price_cents"],
    )
    for rejection in award["rejections"]:
        rejected = next(b for b in bids if b["id"] == rejection["bid_id"])
        s.say(f"rejected: {rejected['supplier']['name']}: {rejection['ground']}")

    async def awarded() -> Any:
        body = (await s.call("GET", t, ctx.token())).json()
        return body["state"] == "awarded" and {
            "lot 1": winner["supplier"]["name"],
            "lot 2": magazines["supplier"]["name"],
            "standstill_ends_on": award["standstill_ends_on"],
        }

    await s.expect(
        "one decision, a winner per lot by the published criteria, served (tender-awarded v2)",
        awarded,
    )


async def sign_and_opt_in(s: Scenario, ctx: DemoContext) -> None:
    procurement = ctx.urls["procurement"]
    coordinator = ctx.token()
    title = f"E-audiobooks {ctx.today.year}–{ctx.today.year + 1} ({ctx.suffix})"
    end = ctx.today.replace(year=ctx.today.year + 1) - dt.timedelta(days=1)
    agreement = (
        await s.call(
            "POST",
            f"{procurement}/agreements",
            coordinator,
            json={
                "tender_id": ctx.facts["tender_id"],
                "lot_id": AUDIOBOOKS,
                "title": title,
                "first_period": {"start": ctx.today.isoformat(), "end": end.isoformat()},
                "extension_options": {"count": 1, "months": 12},
                "cost_share": {"model": "per-capita"},
            },
        )
    ).json()
    a = f"{procurement}/agreements/{agreement['id']}"
    ctx.facts.update(agreement_id=agreement["id"], agreement_title=title)

    async def signed() -> Any:
        body = (await s.call("GET", a, ctx.token())).json()
        return (
            body["in_force"]
            and body["annual_cost_cents"] == ctx.facts["annual_cost_cents"]
            and {
                "agreement": body["id"],
                "supplier": body["supplier"]["name"],
                "annual_cost_cents": body["annual_cost_cents"],
                "terms": sorted(body["licence_terms"]),
            }
        )

    await s.expect(
        "the e-audiobook agreement is signed at the awarded bid's price (agreement-signed)",
        signed,
    )
    await _sign_magazines(s, ctx, end)

    isils = [lib["isil"] for lib in ctx.libraries]
    for isil in isils:
        await s.call("POST", f"{a}/participants", ctx.token(Role.LIBRARY, isil=isil), json={})
    ctx.facts["participants"] = isils

    async def three_participate() -> Any:
        body = (await s.call("GET", a, ctx.token())).json()
        return body["participants"] == len(isils) and {"participants": body["participants"]}

    await s.expect(f"{len(isils)} libraries opted in (agreement-joined)", three_participate)

    async def shares_add_up() -> Any:
        table = (await s.call("GET", f"{a}/cost-shares", ctx.token())).json()
        ok = (
            table["participants"] == len(isils)
            and table["total_cents"] == ctx.facts["annual_cost_cents"]
        )
        return ok and table

    table = await _expect_shares(
        s, "cost shares per capita add up to the annual cost", shares_add_up
    )
    if table:
        s.say(_table(table))


async def _sign_magazines(s: Scenario, ctx: DemoContext, end: dt.date) -> None:
    """The second lot's agreement, at its own awarded bid's price."""
    procurement = ctx.urls["procurement"]
    title = f"E-magazines {ctx.today.year}–{ctx.today.year + 1} ({ctx.suffix})"
    agreement = (
        await s.call(
            "POST",
            f"{procurement}/agreements",
            ctx.token(),
            json={
                "tender_id": ctx.facts["tender_id"],
                "lot_id": MAGAZINES,
                "title": title,
                "first_period": {"start": ctx.today.isoformat(), "end": end.isoformat()},
                "extension_options": {"count": 1, "months": 12},
                "cost_share": {"model": "per-capita"},
            },
        )
    ).json()
    ctx.facts["magazine_agreement_id"] = agreement["id"]

    async def signed() -> Any:
        body = (
            await s.call("GET", f"{procurement}/agreements/{agreement['id']}", ctx.token())
        ).json()
        return (
            body["in_force"]
            and body["annual_cost_cents"] == ctx.facts["magazine_cost_cents"]
            and {
                "agreement": body["id"],
                "supplier": body["supplier"]["name"],
                "annual_cost_cents": body["annual_cost_cents"],
            }
        )

    await s.expect("the e-magazine agreement is signed at its lot's awarded price", signed)
    # Two of the libraries take the magazines too (not the one that leaves later).
    readers = [ctx.libraries[0]["isil"], ctx.libraries[-1]["isil"]]
    for isil in readers:
        await s.call(
            "POST",
            f"{procurement}/agreements/{agreement['id']}/participants",
            ctx.token(Role.LIBRARY, isil=isil),
            json={},
        )

    async def readers_in() -> Any:
        body = (
            await s.call("GET", f"{procurement}/agreements/{agreement['id']}", ctx.token())
        ).json()
        return body["participants"] == len(readers) and {"participants": readers}

    await s.expect("two libraries opted in to the e-magazines (agreement-joined)", readers_in)


async def leave_with_the_consortium(s: Scenario, ctx: DemoContext) -> None:
    """After membership's step gives notice for the second library, it leaves the agreement
    on the same day, and the others' shares grow to cover the whole cost."""
    if "agreement_id" not in ctx.facts:
        return
    procurement = ctx.urls["procurement"]
    a = f"{procurement}/agreements/{ctx.facts['agreement_id']}"
    leaving = ctx.libraries[1]["isil"]
    staying = {lib["isil"] for lib in ctx.libraries} - {leaving}

    async def left() -> Any:
        table = (await s.call("GET", f"{a}/cost-shares", ctx.token())).json()
        isils = {row["isil"] for row in table["items"]}
        ok = isils == staying and table["total_cents"] == ctx.facts["annual_cost_cents"]
        return ok and table

    table = await _expect_shares(
        s,
        f"{leaving} left the agreement with the consortium; shares recomputed (agreement-left)",
        left,
    )
    if table:
        s.say(_table(table))


async def _expect_shares(s: Scenario, name: str, check: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = {}

    async def keep() -> Any:
        table = await check()
        if table:
            found.update(table)
            return {"participants": table["participants"], "total_cents": table["total_cents"]}
        return None

    return found if await s.expect(name, keep) else None


def _table(table: dict[str, Any]) -> str:
    lines = [f"  {'ISIL':<12} {'population':>10} {'share €':>12}"]
    for row in table["items"]:
        lines.append(f"  {row['isil']:<12} {row['population']:>10} {row['share_eur']:>12}")
    total = table["total_cents"]
    lines.append(f"  {'total':<12} {'':>10} {f'{total // 100}.{total % 100:02d}':>12}")
    return "\n".join(lines)


STEPS = [
    ("procurement", propose_need_and_register_interest),
    ("procurement", run_tender),
    ("procurement", sign_and_opt_in),
    ("checks", leave_with_the_consortium),
]
