"""Procurement: its copy of the members (built from membership events) as a read model to
reconcile, and who may call each endpoint.

The spec follows DESIGN.md's "who uses it": members propose needs and register interest for
themselves; the procurement officer records tenders, bids, tests, evaluations and awards; the
coordinator records signed agreements and their renewals and terminations; a library opts in
to and out of agreements for itself (or the coordinator for it); bids, tests and scores are
for the evaluators (procurement officer and coordinator); everything else is readable by any
valid token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from kit.auth import Role
from reliability.probes.base import (
    ANY_VALID,
    COORDINATOR_ONLY,
    LIBRARY_ITSELF_OR_COORDINATOR,
    NO_SUCH_ID,
    OPERATIONS,
    PUBLIC,
    AuthzContext,
    EffectContext,
    EffectReport,
    Endpoint,
    Probe,
    RequestSpec,
    Subject,
)

PROCUREMENT_ONLY = frozenset({Subject.PROCUREMENT})
EVALUATORS = frozenset({Subject.PROCUREMENT, Subject.COORDINATOR})
HOLDINGS_READERS = frozenset(Subject.VALID) - {Subject.LIBRARY_OTHER}
PAGE = 500


def _need(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(
        "/needs",
        json={
            "proposed_by": ctx.own_isil,
            "material_type": "e-book",
            "description": "Kotimaisia e-kirjoja nuorille",
            "accepted_licence_models": ["per-loan"],
            "required_devices": ["ios", "android"],
        },
    )


def _interest(ctx: AuthzContext) -> RequestSpec:
    need = ctx.facts.get("procurement_need_id", NO_SUCH_ID)
    return RequestSpec(f"/needs/{need}/interest", json={"isil": ctx.own_isil})


def _opt_in(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(f"/agreements/{NO_SUCH_ID}/participants", json={"isil": ctx.own_isil})


def _opt_out(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(
        f"/agreements/{NO_SUCH_ID}/participants/{ctx.own_isil}/opt-out",
        json={"effective_on": ctx.today.isoformat()},
    )


async def prepare_authz(ctx: AuthzContext) -> None:
    """A need proposed by ``own`` (once procurement's member copy knows ``own``), so the
    interest row acts on a real need. Without it the row still runs, against an unknown id:
    the role and ISIL checks come before the lookup."""
    headers = {"Authorization": f"Bearer {ctx.stack.token(Role.COORDINATOR)}"}
    url = ctx.stack.url("procurement")
    for _ in range(60):
        response = await ctx.client.post(f"{url}/needs", json=_need(ctx).json, headers=headers)
        if response.status_code == 201:
            ctx.facts["procurement_need_id"] = response.json()["id"]
            return
        await asyncio.sleep(0.5)  # procurement learns of the member from its event


async def effects(ctx: EffectContext) -> EffectReport:
    """Procurement's member list agrees with membership for every library the load touched:
    active exactly when membership says member (or leaving), with the latest population."""
    report = EffectReport()
    token = ctx.stack.token(Role.COORDINATOR)
    headers = {"Authorization": f"Bearer {token}"}
    touched = {c.key for c in ctx.ledger.commands if c.service == "membership"}
    libraries = await _all(ctx.client, f"{ctx.stack.url('membership')}/libraries", headers)
    copy = await _all(ctx.client, f"{ctx.stack.url('procurement')}/members", headers)
    for isil in sorted(touched):
        library = libraries.get(isil)
        if library is None or library["status"] == "registered":
            continue
        report.expected += 1
        member = copy.get(isil)
        active = library["status"] in ("member", "leaving")
        if member is None:
            report.mismatched.append(f"members: {isil} missing ({library['status']})")
        elif member["active"] != active or member["population"] != library["population"]:
            report.mismatched.append(
                f"members: {isil} active={member['active']} population={member['population']}, "
                f"membership says {library['status']} with {library['population']}"
            )
        else:
            report.observed += 1
    report.figures = {"member_copies_checked": report.expected}
    return report


async def _all(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in range(400):
        response = await client.get(
            url, params={"limit": PAGE, "offset": page * PAGE}, headers=headers
        )
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        if len(items) >= body["total"] or not body["items"]:
            break
    return {item["isil"]: item for item in items}


ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    Endpoint("GET", "/members", ANY_VALID),
    Endpoint("GET", "/licence-terms", ANY_VALID),
    # Needs and interest: a member for itself, or the coordinator running a needs round.
    Endpoint("POST", "/needs", LIBRARY_ITSELF_OR_COORDINATOR, _need),
    Endpoint("GET", "/needs", ANY_VALID),
    Endpoint("GET", "/needs/{need_id}", ANY_VALID),
    Endpoint("POST", "/needs/{need_id}/interest", LIBRARY_ITSELF_OR_COORDINATOR, _interest),
    Endpoint("GET", "/needs/{need_id}/interest", ANY_VALID),
    # Tenders: the procurement officer records them; anyone with a token may follow them.
    Endpoint("POST", "/tenders", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders", ANY_VALID),
    Endpoint("GET", "/tenders/{tender_id}", ANY_VALID),
    Endpoint("PATCH", "/tenders/{tender_id}", PROCUREMENT_ONLY),
    Endpoint("POST", "/tenders/{tender_id}/open", PROCUREMENT_ONLY),
    Endpoint("POST", "/tenders/{tender_id}/evaluation", PROCUREMENT_ONLY),
    Endpoint("POST", "/tenders/{tender_id}/cancel", PROCUREMENT_ONLY),
    # Bids carry prices: recorded by the officer, read by the evaluators only.
    Endpoint("POST", "/tenders/{tender_id}/bids", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/bids", EVALUATORS),
    Endpoint("GET", "/tenders/{tender_id}/bids/{bid_id}", EVALUATORS),
    Endpoint("POST", "/tenders/{tender_id}/bids/{bid_id}/tests", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/tests", EVALUATORS),
    Endpoint("PUT", "/tenders/{tender_id}/bids/{bid_id}/quality", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/scores", EVALUATORS),
    Endpoint("POST", "/tenders/{tender_id}/award", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/award", ANY_VALID),
    # The decision lot by lot is as public as the award.
    Endpoint("GET", "/tenders/{tender_id}/awards", ANY_VALID),
    Endpoint("GET", "/tenders/{tender_id}/lots/{lot_id}/award", ANY_VALID),
    # A correction of the decision, and the replaced decisions it keeps (scores among them).
    Endpoint("POST", "/tenders/{tender_id}/decision-corrections", EVALUATORS),
    Endpoint("GET", "/tenders/{tender_id}/decision-corrections", EVALUATORS),
    # Agreements: the coordinator records them; a library opts in and out for itself.
    Endpoint("POST", "/agreements", COORDINATOR_ONLY),
    Endpoint("GET", "/agreements", ANY_VALID),
    Endpoint("GET", "/agreements/compare", ANY_VALID),
    Endpoint("GET", "/agreements/{agreement_id}", ANY_VALID),
    Endpoint("POST", "/agreements/{agreement_id}/renewals", COORDINATOR_ONLY),
    Endpoint("POST", "/agreements/{agreement_id}/termination", COORDINATOR_ONLY),
    Endpoint(
        "POST", "/agreements/{agreement_id}/participants", LIBRARY_ITSELF_OR_COORDINATOR, _opt_in
    ),
    Endpoint(
        "POST",
        "/agreements/{agreement_id}/participants/{isil}/opt-out",
        LIBRARY_ITSELF_OR_COORDINATOR,
        _opt_out,
    ),
    Endpoint("GET", "/agreements/{agreement_id}/participants", ANY_VALID),
    Endpoint("GET", "/agreements/{agreement_id}/cost-shares", ANY_VALID),
    Endpoint("GET", "/agreements/{agreement_id}/cost-shares.csv", ANY_VALID),
    # Tender documents, bidders' questions and rejections are procurement's own work (the
    # coordinator included: it is refused); anyone with a valid token reads them.
    Endpoint("PUT", "/tenders/{tender_id}/documents/{kind}", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/documents", ANY_VALID),
    Endpoint("GET", "/tenders/{tender_id}/documents/{kind}/{version}", ANY_VALID),
    Endpoint("POST", "/tenders/{tender_id}/questions", PROCUREMENT_ONLY),
    Endpoint("PUT", "/tenders/{tender_id}/questions/{question_id}/answer", PROCUREMENT_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/questions", ANY_VALID),
    Endpoint("POST", "/tenders/{tender_id}/rejections", PROCUREMENT_ONLY),
    # Appeals are lodged and resolved by the coordinator.
    Endpoint("POST", "/tenders/{tender_id}/appeals", COORDINATOR_ONLY),
    Endpoint("POST", "/tenders/{tender_id}/appeals/resolutions", COORDINATOR_ONLY),
    Endpoint("GET", "/tenders/{tender_id}/appeals", ANY_VALID),
    # Billing is the coordinator's alone; entitlements are loaded by the coordinator; staff
    # read every holder's (and the holdings as KBART), a library its own only.
    Endpoint("POST", "/agreements/{agreement_id}/billing-periods", COORDINATOR_ONLY),
    Endpoint("GET", "/agreements/{agreement_id}/billing-periods", COORDINATOR_ONLY),
    Endpoint(
        "GET",
        "/agreements/{agreement_id}/billing-periods/{start}/invoice-lines.csv",
        COORDINATOR_ONLY,
    ),
    Endpoint("POST", "/agreements/{agreement_id}/entitlements", COORDINATOR_ONLY),
    Endpoint(
        "GET",
        "/agreements/{agreement_id}/entitlements",
        HOLDINGS_READERS,
        lambda ctx: RequestSpec(
            "/agreements/" + NO_SUCH_ID + "/entitlements", params={"holder": ctx.own_isil}
        ),
    ),
    Endpoint(
        "GET",
        "/holdings.kbart",
        HOLDINGS_READERS,
        lambda ctx: RequestSpec("/holdings.kbart", params={"holder": ctx.own_isil}),
    ),
    # Governance: the decisions register and surveys are read with any valid token and kept
    # by the coordinator; a library answers a survey for itself only (not the coordinator
    # for it), and reads its answer (so may the coordinator); results are the coordinator's.
    Endpoint("POST", "/decisions", COORDINATOR_ONLY),
    Endpoint("GET", "/decisions", ANY_VALID),
    Endpoint("GET", "/decisions/{decision_id}", ANY_VALID),
    Endpoint("GET", "/decisions/{decision_id}/attachments/{sha256}", ANY_VALID),
    Endpoint("POST", "/surveys", COORDINATOR_ONLY),
    Endpoint("GET", "/surveys", ANY_VALID),
    Endpoint("GET", "/surveys/{survey_id}", ANY_VALID),
    Endpoint(
        "PUT",
        "/surveys/{survey_id}/answers/{isil}",
        frozenset({Subject.LIBRARY_OWN}),
        lambda ctx: RequestSpec(
            f"/surveys/{NO_SUCH_ID}/answers/{ctx.own_isil}", json={"answers": {}}
        ),
    ),
    Endpoint("GET", "/surveys/{survey_id}/answers/{isil}", LIBRARY_ITSELF_OR_COORDINATOR),
    Endpoint("GET", "/surveys/{survey_id}/results", COORDINATOR_ONLY),
    # A library's annual report: the library itself or the coordinator (the consortium
    # summary, without an isil, is the coordinator's alone).
    Endpoint(
        "GET",
        "/reports/annual/{year}",
        LIBRARY_ITSELF_OR_COORDINATOR,
        lambda ctx: RequestSpec(f"/reports/annual/{ctx.today.year}", params={"isil": ctx.own_isil}),
    ),
    Endpoint("POST", "/reports/annual/{year}/publish", COORDINATOR_ONLY),
)

PROBE = Probe(
    name="procurement",
    endpoints=ENDPOINTS,
    prepare_authz=prepare_authz,
    effects=effects,
    path_samples={
        "isil": lambda ctx: ctx.own_isil,
        "need_id": lambda ctx: ctx.facts.get("procurement_need_id", NO_SUCH_ID),
        "sha256": lambda ctx: "0" * 64,
        "start": lambda ctx: "2025-01-01",
        "version": lambda ctx: "1",
        "kind": lambda ctx: "invitation-to-tender",
        "lot_id": lambda ctx: "1",
    },
)
