"""A kimppa made at the real membership service reaches procurement and the catalogue through
membership's events alone: three libraries joined to one kimppa are known to both as that
kimppa's libraries, with its name and Melinda holding code, and no service calls another."""

from __future__ import annotations

import uuid

import pytest

from kit.auth import Role
from tests.conftest import Infra, wait_for
from tests.integration.conftest import (
    Service,
    auth,
    library_body,
    register_and_join,
    unique_isil,
)
from tests.integration.procurement.conftest import live_procurement  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


async def test_a_kimppa_of_three_libraries_reaches_procurement_and_the_catalogue(
    infra: Infra,
    membership: Service,
    catalogue: Service,
    live_procurement: Service,  # noqa: F811 - the fixture imported above
) -> None:
    coordinator = auth(infra.token(Role.COORDINATOR))
    kimppa = f"vaski-{uuid.uuid4().hex[:6]}"
    response = await membership.client.put(
        f"/kimppas/{kimppa}",
        json={"name": "Vaski", "library_system": "Koha", "melinda_code": "VASKI"},
        headers=coordinator,
    )
    assert response.status_code == 200, response.text
    isils = [unique_isil("FI-V") for _ in range(3)]
    for isil in isils:
        await register_and_join(membership, infra, library_body(isil, kimppa=kimppa))

    async def catalogue_knows() -> bool:
        rows = await catalogue.pool.fetch(
            "SELECT l.isil, k.name, k.melinda_code FROM libraries l "
            "JOIN kimppas k ON k.id = l.kimppa_id WHERE l.kimppa_id = $1",
            kimppa,
        )
        return sorted(r["isil"] for r in rows) == sorted(isils) and all(
            (r["name"], r["melinda_code"]) == ("Vaski", "VASKI") for r in rows
        )

    async def procurement_knows() -> bool:
        rows = await live_procurement.pool.fetch(
            "SELECT isil FROM members WHERE kimppa_id = $1", kimppa
        )
        return sorted(r["isil"] for r in rows) == sorted(isils)

    await wait_for(catalogue_knows, timeout_s=60)
    await wait_for(procurement_knows, timeout_s=60)
    # The catalogue names the kimppa's set to each of its libraries.
    for isil in isils:
        answer = await catalogue.client.get(f"/libraries/{isil}/oai-set", headers=coordinator)
        assert answer.status_code == 200, answer.text
        assert answer.json()["oai_set"] == f"kimppa:{kimppa}"
