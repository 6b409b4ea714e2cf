"""Holdings in Melinda follow the record sets, through the Melinda adapter against the local
stand-in (real HTTP), which refuses a LOW field with a holding code it does not know and keeps
what it received.

A kimppa's records carry its Melinda holding code as LOW while any of its libraries holds
them; a library outside a kimppa holds under its ISIL; a holding goes when the last holder
loses the record."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contracts.membership import KimppaUpdated
from services.catalogue.melinda import holdings
from services.catalogue.melinda.adapter import holding_codes
from tests.conftest import Infra, wait_for
from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    join,
    leave,
    marc_file,
    marc_records,
    publish,
    sign,
    unique_isil,
    upload,
)
from tests.integration.catalogue.melinda_standin import RunningStandIn
from tests.integration.catalogue.test_catalogue_melinda import finished, submit
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


async def melinda_ids(catalogue: Service, batch_id: str) -> list[str]:
    rows = await catalogue.pool.fetch(
        """
        SELECT ml.melinda_id FROM batch_records br JOIN melinda_links ml USING (record_id)
        WHERE br.batch_id = $1 ORDER BY br.record_id
        """,
        batch_id,
    )
    return [row["melinda_id"] for row in rows]


async def settled(catalogue: Service, batch_id: str) -> bool:
    """Run the holdings job (as the scheduler does) until this batch's holdings are all sent
    or refused."""
    deps = catalogue.app.state.runtime.deps.melinda
    await holdings.sync(catalogue.pool, deps)
    return not await catalogue.pool.fetchval(
        """
        SELECT count(*) FROM melinda_holdings h JOIN batch_records br USING (record_id)
        WHERE br.batch_id = $1 AND NOT h.sent AND h.last_error IS NULL
        """,
        batch_id,
    )


async def test_low_fields_follow_kimppa_and_library_holdings(
    catalogue: Service, actors: Actors, infra: Infra, melinda: RunningStandIn
) -> None:
    standin = melinda.standin
    kimppa_id = f"kimppa-{uuid.uuid4().hex[:8]}"
    code = f"K{uuid.uuid4().hex[:6].upper()}"
    first, second, outside = unique_isil("FI-K"), unique_isil("FI-K"), unique_isil("FI-L")
    standin.holding_codes |= {code, outside}
    await publish(
        infra,
        KimppaUpdated(
            kimppa_id=kimppa_id,
            kimppa_name="Melinda-kimppa",
            library_system="Koha",
            melinda_code=code,
            libraries=[first, second],
        ),
    )
    await wait_for(
        lambda: catalogue.pool.fetchval(
            "SELECT count(*) = 2 FROM libraries WHERE kimppa_id = $1", kimppa_id
        )
    )
    collection = await sign(catalogue, title="Melindaan")
    for isil in (first, second, outside):
        await join(catalogue, collection, isil)
    start = base_number()
    batch = await upload(
        catalogue, actors, collection, marc_file(marc_records(range(start, start + 2)))
    )
    [job] = await submit(catalogue, actors, batch["id"], "single")
    assert (await finished(catalogue, actors, job["id"]))["status"] == "done"
    ids = await melinda_ids(catalogue, batch["id"])
    assert len(ids) == 2

    def lows() -> list[list[str]]:
        return [sorted(holding_codes(standin.records[m])) for m in ids]

    await wait_for(lambda: settled(catalogue, batch["id"]))
    assert lows() == [sorted([code, outside])] * 2  # the kimppa once, however many hold it
    assert all(standin.holdings_received[m] for m in ids)

    await leave(catalogue, collection, outside)
    await wait_for(lambda: settled(catalogue, batch["id"]))
    assert lows() == [[code]] * 2

    await leave(catalogue, collection, first)  # the second library still holds them
    await wait_for(lambda: settled(catalogue, batch["id"]))
    assert lows() == [[code]] * 2

    await leave(catalogue, collection, second)  # the last holder: the holding goes
    await wait_for(lambda: settled(catalogue, batch["id"]))
    assert lows() == [[], []]
    assert standin.holdings_received[ids[0]][-1] == []


async def test_a_holding_code_melinda_refuses_is_recorded_not_lost(
    catalogue: Service, actors: Actors, melinda: RunningStandIn
) -> None:
    outsider = unique_isil("FI-U")  # its ISIL is no holding code the stand-in knows
    collection = await sign(catalogue, title="Tuntematon koodi")
    await join(catalogue, collection, outsider)
    start = base_number()
    batch = await upload(catalogue, actors, collection, marc_file(marc_records([start])))
    [job] = await submit(catalogue, actors, batch["id"], "single")
    assert (await finished(catalogue, actors, job["id"]))["status"] == "done"
    await wait_for(lambda: settled(catalogue, batch["id"]))
    row: Any = await catalogue.pool.fetchrow(
        """
        SELECT h.sent, h.last_error FROM melinda_holdings h JOIN batch_records br USING (record_id)
        WHERE br.batch_id = $1 AND h.code = $2
        """,
        batch["id"],
        outsider,
    )
    assert row is not None and not row["sent"]
    assert "unknown holding code" in row["last_error"]
    [melinda_id] = await melinda_ids(catalogue, batch["id"])
    assert holding_codes(melinda.standin.records[melinda_id]) == []
