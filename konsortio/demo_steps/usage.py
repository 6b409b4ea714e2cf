"""Demo steps of the usage service: the demo agreement's supplier gets a SUSHI provider (the
stand-in server ``konsortio up`` runs, or one started here), this year's title reports are
harvested for every participant, and cost per use is read back."""

from __future__ import annotations

import os
from typing import Any

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario


def _sushi_url(ctx: DemoContext) -> str:
    url = os.environ.get("KONSORTIO_SUSHI_URL") or ctx.urls.get("sushi")
    if url:
        return url
    from services.usage.sushi_standin import SushiStandIn

    standin = SushiStandIn(titles=25)
    standin.start()  # a daemon thread: it ends with the demo
    ctx.facts["sushi_standin"] = standin
    return standin.url


async def harvest_usage(s: Scenario, ctx: DemoContext) -> None:
    agreement = ctx.facts.get("agreement_id")
    isils = ctx.facts.get("participants") or []
    if not agreement or not isils or "usage" not in ctx.urls:
        return
    base = f"{ctx.urls['usage']}/agreements/{agreement}"
    coordinator = ctx.token()
    await s.call(
        "PUT",
        f"{base}/provider",
        coordinator,
        json={
            "platform": "StandIn",
            "release": "5.1",
            "base_url": _sushi_url(ctx),
            "requestor_id": "konsortio-demo",
            "customers": {isil: f"demo-{isil}" for isil in isils},
            "price_per_loan_cents": 150,
        },
    )
    first, last = f"{ctx.today.year}-01", f"{ctx.today.year}-{ctx.today.month:02d}"
    await s.call(
        "POST", f"{base}/harvests", coordinator, json={"report": "TR", "begin": first, "end": last}
    )
    jobs = len(isils) * ctx.today.month

    async def harvested() -> Any:
        counts = (await s.call("GET", f"{base}/harvests", coordinator)).json()["counts"]
        return counts.get("done") == jobs and counts

    await s.expect(f"{jobs} monthly title reports harvested over SUSHI (usage-reported)", harvested)

    async def cost_per_use() -> Any:
        response = await s.call(
            "GET",
            f"{base}/cost-per-use",
            coordinator,
            params={"year": ctx.today.year, "on": ctx.today.isoformat()},
        )
        if response.status_code != 200:
            return None
        items = response.json()["items"]
        # Participants on today: one may have left the agreement in an earlier check.
        return bool(items) and all(i["uses"] > 0 for i in items) and items

    if await s.expect("cost per use per participant from the cost shares", cost_per_use):
        items = await cost_per_use()
        lines = [f"  {'ISIL':<12} {'share €':>12} {'uses':>8} {'€ per use':>10}"]
        for i in items or []:
            cpu = i["cost_per_use_cents"]
            lines.append(
                f"  {i['isil']:<12} {i['share_cents'] / 100:>12.2f} {i['uses']:>8} "
                f"{(cpu or 0) / 100:>10.2f}"
            )
        s.say("\n".join(lines))

    if len(isils) > 1:

        async def refused() -> Any:
            response = await s.client.get(
                f"{ctx.urls['usage']}/libraries/{isils[-1]}/usage",
                params={"from": first, "to": last},
                headers={"Authorization": f"Bearer {ctx.token(Role.LIBRARY, isil=isils[0])}"},
            )
            return response.status_code == 403

        await s.expect("a library cannot read another library's usage", refused)


STEPS = [("checks", harvest_usage)]
