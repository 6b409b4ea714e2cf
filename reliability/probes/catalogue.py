"""Catalogue: who may call each endpoint, and a collection for the upload probes.

The spec follows DESIGN.md: the cataloguer loads title lists, sees quality reports and sends
records to Melinda; the coordinator may look at all of it too; a library reads its own record
set and exports it (library systems harvest through OAI-PMH, which is public); collections and
single records are readable with any valid token (a record a library does not hold is hidden
as a 404, which the matrix does not see as a decision).
"""

from __future__ import annotations

from kit.auth import Role
from reliability.probes.base import (
    ANY_VALID,
    LIBRARY_ITSELF_OR_COORDINATOR,
    OPERATIONS,
    PUBLIC,
    AuthzContext,
    Endpoint,
    Probe,
    RequestSpec,
    Subject,
)

CATALOGUER_ONLY = frozenset({Subject.CATALOGUER})
CATALOGUE_STAFF = frozenset({Subject.COORDINATOR, Subject.CATALOGUER})
OWN_RECORDS = LIBRARY_ITSELF_OR_COORDINATOR | {Subject.CATALOGUER}
HARVESTERS = CATALOGUE_STAFF | {Subject.LIBRARY_OWN, Subject.LIBRARY_OTHER}


async def prepare_authz(ctx: AuthzContext) -> None:
    """An empty collection, so an upload reaches the file-name checks (the collection is
    looked up before the body is read)."""
    collection = f"reliability-{ctx.run_tag}"
    response = await ctx.client.post(
        f"{ctx.stack.url('catalogue')}/collections",
        json={"id": collection, "title": "Luotettavuus"},
        headers={"Authorization": f"Bearer {ctx.stack.token(Role.CATALOGUER)}"},
    )
    if response.status_code in (200, 201):
        ctx.facts["catalogue_collection_id"] = collection


def _collection(ctx: AuthzContext) -> str:
    return ctx.facts.get("catalogue_collection_id", "no-such-collection")


ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    Endpoint("GET", "/collections", ANY_VALID),
    Endpoint("POST", "/collections", CATALOGUER_ONLY),
    Endpoint("GET", "/collections/{collection_id}", ANY_VALID),
    Endpoint("GET", "/collections/{collection_id}/libraries", CATALOGUE_STAFF),
    Endpoint("GET", "/collections/{collection_id}/export", CATALOGUE_STAFF),
    # Staff pass the role check; a coordinator is then refused unless it forces a full load
    # (a 403 before the body is read, so no file is needed to see the decision).
    Endpoint(
        "POST",
        "/batches",
        CATALOGUER_ONLY,
        lambda ctx: RequestSpec("/batches", params={"collection": _collection(ctx)}),
    ),
    Endpoint("GET", "/batches", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}/report", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}/report.csv", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}/findings.csv", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}/melinda.xml", CATALOGUE_STAFF),
    Endpoint("GET", "/batches/{batch_id}/conversion-report", CATALOGUE_STAFF),
    Endpoint("GET", "/records", CATALOGUE_STAFF),
    Endpoint("GET", "/records/{record_id}", ANY_VALID),
    Endpoint("GET", "/works/{match_key}", CATALOGUE_STAFF),
    Endpoint("GET", "/libraries/{isil}/collections", OWN_RECORDS),
    Endpoint("GET", "/libraries/{isil}/export", OWN_RECORDS),
    Endpoint("GET", "/libraries/{isil}/oai-set", OWN_RECORDS),
    # OAI-PMH is how library systems harvest: with a library's token (or staff's), as the
    # service guide's "reads need a valid token unless public" has it.
    Endpoint("GET", "/oai", HARVESTERS),
    Endpoint("POST", "/oai", HARVESTERS),
    Endpoint("POST", "/melinda/jobs", CATALOGUER_ONLY),
    Endpoint("GET", "/melinda/jobs", CATALOGUE_STAFF),
    Endpoint("GET", "/melinda/jobs/{job_id}", CATALOGUE_STAFF),
    Endpoint("GET", "/melinda/jobs/{job_id}/records", CATALOGUE_STAFF),
    Endpoint("POST", "/melinda/jobs/{job_id}/resume", CATALOGUER_ONLY),
    Endpoint("POST", "/records/{record_id}/melinda", CATALOGUER_ONLY),
    Endpoint("GET", "/melinda/records/{melinda_id}", CATALOGUE_STAFF),
)

PROBE = Probe(
    name="catalogue",
    endpoints=ENDPOINTS,
    prepare_authz=prepare_authz,
    path_samples={
        "collection_id": _collection,
        "record_id": lambda ctx: "1",
        "melinda_id": lambda ctx: "1",
        "batch_id": lambda ctx: "batch-none",
        "job_id": lambda ctx: "job-none",
        "match_key": lambda ctx: "none",
    },
    upload_query={"/batches": lambda ctx: {"collection": _collection(ctx)}},
)
