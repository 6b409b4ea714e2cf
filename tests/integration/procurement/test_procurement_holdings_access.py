"""Who may read a holder's entitlements and its holdings as KBART: a library its own only
(its token's ISIL claim), the coordinator, procurement, cataloguers and operators every
holder's. Another library's token is refused with 403."""

from __future__ import annotations

import pytest

from kit.auth import Role
from tests.integration.conftest import Service
from tests.integration.procurement.conftest import Actors, add_member, signed_agreement

pytestmark = pytest.mark.integration

KBART = (
    "publication_title\tonline_identifier\taccess_type\tlicence_model\tcopies\t"
    "expires_on\torder_reference\n"
    "Tuntematon sotilas\t978-951-0-12345-4\tF\tone-copy-one-user\t2\t\tPO-1\n"
)


async def test_a_library_reads_its_own_holdings_only(
    live_procurement: Service, actors: Actors
) -> None:
    client = live_procurement.client
    agreement = (await signed_agreement(live_procurement, actors))["id"]
    own, other = await add_member(live_procurement), await add_member(live_procurement)
    loaded = await client.post(
        f"/agreements/{agreement}/entitlements",
        params={"holder": own},
        content=KBART,
        headers={**actors.coordinator, "content-type": "text/tab-separated-values"},
    )
    assert loaded.status_code == 201, loaded.text
    listing = f"/agreements/{agreement}/entitlements"

    # The library itself: its KBART, its entitlements (named or by default its own).
    kbart = await client.get("/holdings.kbart", params={"holder": own}, headers=actors.library(own))
    assert kbart.status_code == 200 and "9789510123454" in kbart.text
    for params in ({"holder": own}, {}):
        mine = await client.get(listing, params=params, headers=actors.library(own))
        assert mine.status_code == 200
        assert [e["holder"] for e in mine.json()] == [own]

    # Another library: refused, and it cannot list every holder's by leaving holder out.
    stranger = actors.library(other)
    refused = await client.get("/holdings.kbart", params={"holder": own}, headers=stranger)
    assert refused.status_code == 403
    assert (await client.get(listing, params={"holder": own}, headers=stranger)).status_code == 403
    assert (await client.get(listing, headers=stranger)).json() == []
    kimppa = await client.get("/holdings.kbart", params={"holder": "kimppa:x"}, headers=stranger)
    assert kimppa.status_code == 403

    # Staff read every holder's.
    for role in (Role.COORDINATOR, Role.PROCUREMENT, Role.CATALOGUER, Role.OPERATOR):
        staff = actors(role)
        export = await client.get("/holdings.kbart", params={"holder": own}, headers=staff)
        assert export.status_code == 200, role
        assert len((await client.get(listing, headers=staff)).json()) == 1, role
