"""Demo checks for the dashboard: its figures, built only from the event stream, agree with what
the demo did and with membership's own totals."""

from __future__ import annotations

from typing import Any

from konsortio.demo import DemoContext, Scenario


def _agreement_ids(facts: dict[str, Any]) -> list[str]:
    """Agreement ids other services' demo steps shared (``agreement_id``, ``*_agreement_ids``)."""
    found: list[str] = []
    for name, value in facts.items():
        if not name.endswith(("agreement_id", "agreement_ids")):
            continue
        values = value if isinstance(value, list) else [value]
        found += [v for v in values if isinstance(v, str)]
        found += [v["agreement_id"] for v in values if isinstance(v, dict) and "agreement_id" in v]
    return sorted(set(found))


async def figures_reflect_the_demo(s: Scenario, ctx: DemoContext) -> None:
    dashboard, membership = ctx.urls.get("dashboard"), ctx.urls["membership"]
    if not dashboard:
        return
    isils = [library["isil"] for library in ctx.libraries]

    async def every_library_in_the_feed() -> Any:
        seen = []
        for isil in isils:
            page = (
                await s.call(
                    "GET",
                    f"{dashboard}/api/events",
                    ctx.token(),
                    params={"key": isil, "type": "member-joined", "limit": 1},
                )
            ).json()
            if page["total"]:
                seen.append(isil)
        return len(seen) == len(isils) and {"libraries": seen}

    await s.expect(
        f"the dashboard's live feed shows all {len(isils)} libraries joining",
        every_library_in_the_feed,
    )

    async def members_match_membership() -> Any:
        totals = (await s.call("GET", f"{membership}/members/totals", ctx.token())).json()
        figures = (await s.call("GET", f"{dashboard}/api/figures", ctx.token())).json()
        members = figures["members"]
        same = (
            members["active"] == totals["active_members"]
            and members["population"] == totals["population"]
        )
        return same and {
            "active_members": members["active"],
            "population": members["population"],
            "share_of_finland": members["population_share"],
        }

    await s.expect(
        "the dashboard counts the same members and population as membership",
        members_match_membership,
    )

    agreements = _agreement_ids(ctx.facts)
    if not agreements:
        return

    procurement = ctx.urls.get("procurement")

    async def expected_participants(agreement: str) -> int | None:
        """Procurement's own count when it can be asked; otherwise any participant will do."""
        if not procurement:
            return None
        body = (await s.call("GET", f"{procurement}/agreements/{agreement}", ctx.token())).json()
        count = body.get("participants")
        return count if isinstance(count, int) else None

    async def agreements_have_participants() -> Any:
        figures = (await s.call("GET", f"{dashboard}/api/figures", ctx.token())).json()
        rows = {a["agreement_id"]: a for a in figures["agreements"]["items"]}
        shown: dict[str, Any] = {}
        for agreement in agreements:
            row = rows.get(agreement)
            expected = await expected_participants(agreement)
            if row is None or not row["participants"]:
                return None
            if expected is not None and row["participants"] != expected:
                return None
            shown[agreement] = {
                "participants": row["participants"],
                "coverage": row["population_share"],
                "annual_cost_cents": row["annual_cost_cents"],
            }
        return shown

    await s.expect(
        "the dashboard shows the demo's agreements with procurement's participants and coverage",
        agreements_have_participants,
    )


STEPS = [("checks", figures_reflect_the_demo)]
