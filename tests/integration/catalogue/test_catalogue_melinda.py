"""Melinda-ready export and the Melinda adapter, against a stand-in of Melinda's REST API that
runs as a real HTTP server on 127.0.0.1: bulk and single submissions with a status per record,
updates of records sent before, and a submission interrupted mid-way that resumes without
sending anything twice."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from services.catalogue.melinda import jobs as melinda_jobs
from tests.conftest import wait_for
from tests.integration.catalogue.conftest import (
    Actors,
    base_number,
    isbn,
    marc_file,
    marc_records,
    ok,
    retitled,
    sign,
    upload,
)
from tests.integration.catalogue.melinda_standin import RunningStandIn
from tests.integration.conftest import Service

pytestmark = pytest.mark.integration
MARC = "{http://www.loc.gov/MARC21/slim}"


async def job_status(catalogue: Service, actors: Actors, job_id: str) -> dict[str, Any]:
    return ok(await catalogue.client.get(f"/melinda/jobs/{job_id}", headers=actors.cataloguer))


async def finished(catalogue: Service, actors: Actors, job_id: str) -> dict[str, Any]:
    async def done() -> dict | None:
        job = await job_status(catalogue, actors, job_id)
        return job if job["status"] in ("done", "failed") else None

    return await wait_for(done)


async def submit(catalogue: Service, actors: Actors, batch_id: str, mode: str) -> list[dict]:
    return ok(
        await catalogue.client.post(
            "/melinda/jobs", json={"batch_id": batch_id, "mode": mode}, headers=actors.cataloguer
        ),
        202,
    )


async def test_the_export_follows_union_catalogue_conventions(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    start = base_number()
    records = marc_records(range(start, start + 3))
    batch = await upload(catalogue, actors, collection, marc_file(records))
    xml = etree.fromstring(
        ok(
            await catalogue.client.get(
                f"/batches/{batch['id']}/melinda.xml", headers=actors.cataloguer
            )
        )
    )
    exported = xml.findall(f"{MARC}record")
    assert len(exported) == 3
    ids = {
        r["id"]
        for r in ok(
            await catalogue.client.get(
                "/records", params={"collection": collection}, headers=actors.cataloguer
            )
        )["items"]
    }
    for record in exported:
        tags = {f.get("tag") for f in record.iter(f"{MARC}controlfield", f"{MARC}datafield")}
        assert not tags & {"001", "003", "005", "909"}
        own = [s.text for s in record.iterfind(f"{MARC}datafield[@tag='035']/{MARC}subfield")]
        assert any(v.startswith("(FI-KONS)") and int(v[9:]) in ids for v in own)
        # SID: the record's own id ($c) and the consortium's source system code ($b).
        sid = {
            s.get("code"): s.text
            for s in record.iterfind(f"{MARC}datafield[@tag='SID']/{MARC}subfield")
        }
        assert sid["b"] == "konso" and int(sid["c"]) in ids
        assert record.findtext(f"{MARC}leader")[5] == "n"

    changed = await upload(
        catalogue, actors, collection, marc_file([retitled(records[0], "Korjattu nimi")])
    )
    xml = etree.fromstring(
        ok(
            await catalogue.client.get(
                f"/batches/{changed['id']}/melinda.xml", headers=actors.coordinator
            )
        )
    )
    [corrected] = xml.findall(f"{MARC}record")
    assert corrected.findtext(f"{MARC}leader")[5] == "c"


async def test_an_interrupted_bulk_submission_resumes_without_sending_twice(
    catalogue: Service, actors: Actors, melinda: RunningStandIn
) -> None:
    standin = melinda.standin
    collection = await sign(catalogue)
    start = base_number()
    records = marc_records(range(start, start + 5))
    batch = await upload(catalogue, actors, collection, marc_file(records))

    standin.fail_adds_after = standin.adds + 2  # Melinda goes away after two records
    [job] = await submit(catalogue, actors, batch["id"], "bulk")
    assert (job["operation"], job["total"]) == ("create", 5)

    async def interrupted() -> dict | None:
        current = await job_status(catalogue, actors, job["id"])
        return current if current["last_error"] else None

    stopped = await wait_for(interrupted)
    assert stopped["status"] == "running" and stopped["stage"] == "sending"
    assert stopped["counts"] == {"sent": 2, "pending": 3}
    assert stopped["remote_id"]  # the bulk job Melinda opened is kept, not opened again
    # Postponed: the scheduler leaves it alone until its retry time.
    assert (
        await melinda_jobs.run_job(
            catalogue.pool, catalogue.app.state.runtime.deps.melinda, job["id"]
        )
        is None
    )

    standin.fail_adds_after = None  # Melinda is back
    ok(
        await catalogue.client.post(f"/melinda/jobs/{job['id']}/resume", headers=actors.cataloguer),
        202,
    )
    resumed = await finished(catalogue, actors, job["id"])
    assert resumed["status"] == "done", resumed
    assert resumed["counts"] == {"created": 5}
    assert resumed["remote_id"] == stopped["remote_id"]
    ids = [
        r["id"]
        for r in ok(
            await catalogue.client.get(
                "/records", params={"collection": collection}, headers=actors.cataloguer
            )
        )["items"]
    ]
    assert [standin.received[f"(FI-KONS){i}"] for i in ids] == [1] * 5

    per_record = ok(
        await catalogue.client.get(f"/melinda/jobs/{job['id']}/records", headers=actors.coordinator)
    )
    melinda_ids = [r["melinda_id"] for r in per_record["items"]]
    assert all(melinda_ids) and len(set(melinda_ids)) == 5
    read = ok(
        await catalogue.client.get(f"/melinda/records/{melinda_ids[0]}", headers=actors.cataloguer)
    )
    assert etree.fromstring(read).find(f"{MARC}controlfield[@tag='001']").text == melinda_ids[0]

    # The next change of these records goes to Melinda as updates of the same records.
    changed = await upload(
        catalogue,
        actors,
        collection,
        marc_file([retitled(records[0], "Uusi painos"), retitled(records[1], "Toinen")]),
    )
    [update] = await submit(catalogue, actors, changed["id"], "bulk")
    assert update["operation"] == "update"
    done = await finished(catalogue, actors, update["id"])
    assert done["counts"] == {"updated": 2}
    titles = {standin.records[m]["245"]["a"] for m in melinda_ids if standin.records[m]["245"]}
    assert {"Uusi painos", "Toinen"} <= titles


async def test_single_submissions_report_duplicates_and_invalid_records(
    catalogue: Service, actors: Actors, melinda: RunningStandIn
) -> None:
    standin = melinda.standin
    collection = await sign(catalogue)
    start = base_number()
    records = marc_records(range(start, start + 4))
    # Melinda already has the first title (another library catalogued it) and finds the
    # second invalid.
    standin.create(marc_records([start])[0])
    standin.invalid_isbns.add(isbn(start + 1))
    batch = await upload(catalogue, actors, collection, marc_file(records))
    [job] = await submit(catalogue, actors, batch["id"], "single")
    done = await finished(catalogue, actors, job["id"])
    assert done["counts"] == {"duplicate": 1, "invalid": 1, "created": 2}
    rows = ok(
        await catalogue.client.get(
            f"/melinda/jobs/{job['id']}/records",
            params={"status": "duplicate"},
            headers=actors.cataloguer,
        )
    )["items"]
    assert len(rows) == 1 and "duplicate" in rows[0]["message"]

    # One record at a time, now: the invalid one after a fix, say.
    invalid_id = ok(
        await catalogue.client.get(
            f"/melinda/jobs/{job['id']}/records",
            params={"status": "invalid"},
            headers=actors.cataloguer,
        )
    )["items"][0]["record_id"]
    standin.invalid_isbns.discard(isbn(start + 1))
    first = ok(
        await catalogue.client.post(f"/records/{invalid_id}/melinda", headers=actors.cataloguer)
    )
    assert (first["operation"], first["status"]) == ("create", "created")
    again = ok(
        await catalogue.client.post(f"/records/{invalid_id}/melinda", headers=actors.cataloguer)
    )
    assert (again["operation"], again["status"], again["melinda_id"]) == (
        "update",
        "skipped",
        first["melinda_id"],
    )


async def test_melinda_jobs_need_a_finished_batch_with_changes(
    catalogue: Service, actors: Actors
) -> None:
    collection = await sign(catalogue)
    content = marc_file(marc_records([base_number()]))
    batch = await upload(catalogue, actors, collection, content)
    unchanged = await upload(catalogue, actors, collection, content)
    response = await catalogue.client.post(
        "/melinda/jobs", json={"batch_id": unchanged["id"]}, headers=actors.cataloguer
    )
    assert response.status_code == 409
    missing = await catalogue.client.post(
        "/melinda/jobs", json={"batch_id": "nope"}, headers=actors.cataloguer
    )
    assert missing.status_code == 404
    library = await catalogue.client.post(
        "/melinda/jobs", json={"batch_id": batch["id"]}, headers=actors.coordinator
    )
    assert library.status_code == 403
