"""Demo steps for the catalogue: the supplier's ONIX title list for the agreement that the
procurement phase signed is loaded, its quality report shown, and a participating library
harvests its new records over OAI-PMH. In the checks phase, the library that left the
consortium finds the same records marked deleted.

Uses the facts ``agreement_id`` and ``participants`` from the procurement steps; shares
``catalogue_batch_id`` and ``catalogue_records``.
"""

from __future__ import annotations

import time
from importlib.resources import files
from typing import Any

from lxml import etree

from kit.auth import Role
from konsortio.demo import DemoContext, Scenario

# Shipped inside the package, so the demo finds it from any working directory.
SAMPLE = files("services.catalogue") / "samples" / "demo_onix.xml"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
MARC = "{http://www.loc.gov/MARC21/slim}"


def _failed(s: Scenario, name: str, detail: str) -> None:
    """Record an expectation that cannot even be tried, at once rather than after a timeout."""
    s.steps.append({"step": name, "ok": False, "seconds": 0.0, "detail": detail})
    s.say(f"[red]✗[/] {name} ({detail})")


def _harvested(xml: bytes) -> tuple[list[str], list[str]]:
    """(titles of live records, identifiers of deleted ones) in one ListRecords page."""
    root = etree.fromstring(xml)
    titles, deleted = [], []
    for record in root.iter(f"{OAI}record"):
        header = record.find(f"{OAI}header")
        if header is not None and header.get("status") == "deleted":
            deleted.append(header.findtext(f"{OAI}identifier") or "")
            continue
        title = record.findtext(f".//{MARC}datafield[@tag='245']/{MARC}subfield[@code='a']")
        titles.append(title or "?")
    return titles, deleted


async def load_supplier_list(s: Scenario, ctx: DemoContext) -> None:
    name = "the supplier's ONIX title list is loaded into the agreement's collection"
    agreement = ctx.facts.get("agreement_id")
    if not agreement:
        _failed(s, name, "no agreement_id from the procurement phase: nothing to load into")
        return
    catalogue = ctx.urls["catalogue"]
    cataloguer = ctx.token(Role.CATALOGUER)

    async def collection_made() -> Any:
        body = (await s.call("GET", f"{catalogue}/collections/{agreement}", cataloguer)).json()
        return body["agreement_id"] == agreement and {
            "collection": body["id"],
            "title": body["title"],
        }

    if not await s.expect(
        "catalogue made a collection for the agreement (agreement-signed)", collection_made
    ):
        return
    started = time.monotonic()
    batch = (
        await s.call(
            "POST",
            f"{catalogue}/batches",
            cataloguer,
            params={"collection": agreement, "mode": "full", "wait": "true"},
            files={"file": (SAMPLE.name, SAMPLE.read_bytes(), "application/xml")},
            timeout=120,
        )
    ).json()
    ctx.facts["catalogue_batch_id"] = batch["id"]
    counts = batch["counts"] or {}
    ctx.facts["catalogue_records"] = counts.get("accepted", 0) + counts.get("unchanged", 0)

    async def loaded() -> Any:
        return (
            batch["status"] == "done"
            and counts.get("accepted", 0) > 0
            and {
                "batch": batch["id"],
                "format": batch["format"],
                "seconds": round(time.monotonic() - started, 2),
                **{k: counts[k] for k in ("received", "accepted", "rejected")},
            }
        )

    await s.expect(name + " (titles-ingested)", loaded)

    async def report() -> Any:
        body = (await s.call("GET", f"{catalogue}/batches/{batch['id']}/report", cataloguer)).json()
        return body["counts"] == counts and body

    if await s.expect("the batch's quality report is ready", report):
        body = (await s.call("GET", f"{catalogue}/batches/{batch['id']}/report", cataloguer)).json()
        s.say(_report_table(body))


def _report_table(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [
        f"  quality report, {report['format']} ({report['mode']} load):",
        "  " + ", ".join(f"{k} {counts[k]}" for k in ("received", "accepted", "rejected")),
    ]
    for finding in report.get("top_findings", []):
        example = finding["examples"][0] if finding["examples"] else ""
        lines.append(
            f"  {finding['severity']:<8}{finding['code']:<24}{finding['count']:>3}  {example[:60]}"
        )
    return "\n".join(lines)


async def library_harvests(s: Scenario, ctx: DemoContext) -> None:
    name = "a participating library harvests its new records over OAI-PMH"
    participants = ctx.facts.get("participants") or []
    if "catalogue_batch_id" not in ctx.facts or not participants:
        _failed(s, name, "no loaded title list or no participating library to harvest")
        return
    catalogue = ctx.urls["catalogue"]
    isil = participants[0]
    token = ctx.token(Role.LIBRARY, isil=isil)
    expected = ctx.facts["catalogue_records"]

    # The set to harvest, as the catalogue names it: the kimppa's (Helmet) for a library in
    # one, the library's own outside a kimppa.
    oai_set = f"library:{isil}"

    async def available() -> Any:
        nonlocal oai_set
        sets = (await s.call("GET", f"{catalogue}/libraries/{isil}/collections", token)).json()
        mine = [x for x in sets if x["collection_id"] == ctx.facts["agreement_id"]]
        if mine:
            oai_set = mine[0].get("oai_set") or oai_set
        return mine and mine[0]["available"] and mine[0]["records"] == expected and mine[0]

    await s.expect(
        f"{isil}'s record set holds the {expected} new records (records-available)", available
    )

    async def harvested() -> Any:
        response = await s.call(
            "GET",
            f"{catalogue}/oai",
            token,
            params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": oai_set},
        )
        titles, _ = _harvested(response.content)
        return len(titles) >= expected and {
            "library": isil,
            "set": oai_set,
            "records": len(titles),
            "titles": titles,
        }

    if await s.expect(name, harvested):
        response = await s.call(
            "GET",
            f"{catalogue}/oai",
            token,
            params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": oai_set},
        )
        titles, _ = _harvested(response.content)
        s.say(f"  {isil} harvested set {oai_set}: " + "; ".join(sorted(titles)))


async def deleted_after_leaving(s: Scenario, ctx: DemoContext) -> None:
    """Membership's checks step has the second library give notice; procurement takes it out
    of the agreement, and its records stay in its OAI-PMH set, marked deleted."""
    if "catalogue_batch_id" not in ctx.facts or len(ctx.libraries) < 2:
        return
    catalogue = ctx.urls["catalogue"]
    leaving = ctx.libraries[1]["isil"]
    if leaving not in (ctx.facts.get("participants") or []):
        return
    token = ctx.token(Role.LIBRARY, isil=leaving)
    expected = ctx.facts["catalogue_records"]

    async def deleted() -> Any:
        response = await s.call(
            "GET",
            f"{catalogue}/oai",
            token,
            params={"verb": "ListIdentifiers", "metadataPrefix": "marc21"},
        )
        root = etree.fromstring(response.content)
        headers = root.findall(f"{OAI}ListIdentifiers/{OAI}header")
        gone = [h for h in headers if h.get("status") == "deleted"]
        return (
            headers
            and len(gone) == len(headers) >= expected
            and {
                "library": leaving,
                "deleted": len(gone),
            }
        )

    await s.expect(
        f"{leaving} left: its records stay in its OAI-PMH set as deleted (records-withdrawn)",
        deleted,
    )


STEPS = [
    ("catalogue", load_supplier_list),
    ("catalogue", library_harvests),
    ("checks", deleted_after_leaving),
]
