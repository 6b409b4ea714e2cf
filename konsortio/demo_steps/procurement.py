"""Demo steps for procurement: a need with interest, a tender with three bids and their
compatibility tests, quality scores, the procurement decision (one bid rejected for a
missing minimum requirement), the framework agreement at the awarded price, three
libraries opting in and their cost shares; and, once a library has left the consortium,
its leaving the agreement too.

The demo's tender is a one-year pilot with one extension option, estimated below the
national threshold (60 000 €, Act 1397/2016 section 25), so no standstill applies and the
agreement can be signed right after the decision. A tender at or above the threshold would
wait 14 days after the decision is served before signing.

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
#: One year plus one one-year extension, VAT excluded: below the national threshold.
ESTIMATED_VALUE_CENTS = 5_500_000  # 55 000 €

BIDS = (
    {
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
)
QUALITY = (
    (85, "wide Finnish and Swedish catalogue"),
    (60, "smaller Finnish catalogue"),
    (70, "Finnish catalogue, no Swedish titles"),
)


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
    ctx.facts["need_id"] = need["id"]
    for isil, budget in zip(isils, (1_500_000, 1_000_000, 6_000_000), strict=False):
        await s.call(
            "POST",
            f"{procurement}/needs/{need['id']}/interest",
            ctx.token(Role.LIBRARY, isil=isil),
            json={"indicative_budget_cents": budget},
        )

    async def interest_recorded() -> Any:
        body = (await s.call("GET", f"{procurement}/needs/{need['id']}", ctx.token())).json()
        return body["interested"] == len(isils) and {"interested": body["interested"]}

    await s.expect(
        f"a need proposed by {proposer} with interest from {len(isils)} libraries",
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
                "need_ids": [ctx.facts["need_id"]],
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
    s.say(f"threshold class: {tender['threshold_class']} (estimated 55 000 €, VAT excluded)")
    ctx.facts["tender_id"] = tender["id"]
    await s.call("POST", f"{t}/open", officer)

    async def opened() -> Any:
        body = (await s.call("GET", t, ctx.token())).json()
        return body["state"] == "open" and {"tender": body["id"], "deadline": body["deadline"]}

    await s.expect("the tender is open for bids (tender-opened)", opened)

    bids = [(await s.call("POST", f"{t}/bids", officer, json=bid)).json() for bid in BIDS]
    s.say(f"three bids recorded: {', '.join(b['supplier']['name'] for b in bids)}")

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
        ranking = [(i["supplier"], i["total"]) for i in body["items"]]
        return len(ranking) == 2 and {"ranking": ranking}

    await s.expect("conforming bids scored on price, quality and the tender's test matrix", scored)
    award = (await s.call("POST", f"{t}/award", officer, json={})).json()
    winner = next(b for b in bids if b["id"] == award["bid_id"])
    ctx.facts.update(
        supplier=winner["supplier"]["name"],
        product=winner["product"],
        annual_cost_cents=winner["price_cents"],
    )
    for rejection in award["rejections"]:
        rejected = next(b for b in bids if b["id"] == rejection["bid_id"])
        s.say(f"rejected: {rejected['supplier']['name']}: {rejection['ground']}")

    async def awarded() -> Any:
        body = (await s.call("GET", t, ctx.token())).json()
        return body["state"] == "awarded" and {
            "awarded_to": winner["supplier"]["name"],
            "standstill_ends_on": award["standstill_ends_on"],
        }

    await s.expect(
        "the decision follows the published criteria and is served (tender-awarded v2)",
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
        "the agreement is signed at the awarded bid's price and in force (agreement-signed)",
        signed,
    )

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
