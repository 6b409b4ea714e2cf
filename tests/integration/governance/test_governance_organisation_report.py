"""An organisation's annual report: the coordinator gets the figures of every library the
organisation runs (membership's ``library.organisation``) summed, then each library's own
report; another organisation's library is not in it."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from lxml import html as lxml_html

from contracts.membership import Organisation, OrganisationNames
from services.procurement import commands
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import (
    TODAY,
    Actors,
    library,
    opt_in,
    signed_agreement,
    unique_isil,
)

pytestmark = pytest.mark.integration

YEAR = TODAY.year


def business_id() -> str:
    return f"{random.randrange(10**6, 10**7)}-{random.randrange(10)}"  # noqa: S311 - test data


async def member_of(service: Service, organisation: Organisation, population: int) -> str:
    isil = unique_isil("FI-O")
    lib = library(isil, population).model_copy(update={"organisation": organisation})
    async with service.pool.acquire() as conn, conn.transaction():
        await commands.member_joined(conn, lib, TODAY - dt.timedelta(days=30))
    return isil


def organisation(bid: str, name: str) -> Organisation:
    return Organisation(
        business_id=bid,
        names=OrganisationNames(fi=name),
        kind="municipality",
        municipalities=["091"],
    )


def agreement_rows(page: str, section: str) -> dict[str, tuple[int, int]]:
    document = lxml_html.document_fromstring(page)
    rows = document.xpath(f"//section[@id='{section}']//tr[@data-agreement]")
    return {
        r.get("data-agreement"): (
            int(r.get("data-annual-share-cents")),
            int(r.get("data-cost-cents")),
        )
        for r in rows
    }


async def test_an_organisations_report_sums_its_libraries(
    procurement: Service, actors: Actors
) -> None:
    ours = organisation(business_id(), "Esimerkkilän kaupunki")
    theirs = organisation(business_id(), "Toinen kunta")
    main = await member_of(procurement, ours, 30_000)
    branch = await member_of(procurement, ours, 10_000)
    other = await member_of(procurement, theirs, 20_000)
    first = await signed_agreement(procurement, actors, title="E-kirjat")
    second = await signed_agreement(procurement, actors, title="Tietokannat")
    for isil in (main, branch, other):
        await opt_in(procurement, actors, first["id"], isil)
    await opt_in(procurement, actors, second["id"], main)

    own: dict[str, dict[str, tuple[int, int]]] = {}
    for isil in (main, branch):
        page = await procurement.client.get(
            f"/reports/annual/{YEAR}", params={"isil": isil}, headers=actors.coordinator
        )
        assert page.status_code == 200, page.text
        own[isil] = agreement_rows(page.text, isil)
    assert set(own[main]) == {first["id"], second["id"]} and set(own[branch]) == {first["id"]}

    response = await procurement.client.get(
        f"/reports/annual/{YEAR}",
        params={"organisation": ours.business_id},
        headers=actors.coordinator,
    )
    assert response.status_code == 200, response.text
    summed = agreement_rows(response.text, ours.business_id)
    assert summed == {
        first["id"]: (
            own[main][first["id"]][0] + own[branch][first["id"]][0],
            own[main][first["id"]][1] + own[branch][first["id"]][1],
        ),
        second["id"]: own[main][second["id"]],
    }
    document = lxml_html.document_fromstring(response.text)
    listed = document.xpath("//p[@class='organisation-libraries']/span/@data-isil")
    assert listed == sorted([main, branch])
    # Each library's own report follows, and the other organisation's library is not there.
    assert agreement_rows(response.text, main) == own[main]
    assert other not in response.text
    assert "Esimerkkilän kaupunki" in response.text

    pdf = await procurement.client.get(
        f"/reports/annual/{YEAR}",
        params={"organisation": ours.business_id, "format": "pdf", "lang": "sv"},
        headers=actors.coordinator,
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Only the coordinator; a well-formed but unknown organisation is 404; bad input 422.
    refused = await procurement.client.get(
        f"/reports/annual/{YEAR}",
        params={"organisation": ours.business_id},
        headers=actors.library(main),
    )
    assert refused.status_code == 403
    unknown = await procurement.client.get(
        f"/reports/annual/{YEAR}",
        params={"organisation": "0000000-0"},
        headers=actors.coordinator,
    )
    assert unknown.status_code == 404
    for params in ({"organisation": "not-an-id"}, {"organisation": ours.business_id, "isil": main}):
        bad = await procurement.client.get(
            f"/reports/annual/{YEAR}", params=params, headers=actors.coordinator
        )
        assert bad.status_code == 422, params
        fields = [e.get("field") or "" for e in bad.json().get("errors", [])]
        assert any(f.endswith("organisation") for f in fields), bad.json()
