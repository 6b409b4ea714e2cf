"""Usage: who may call each endpoint.

The coordinator configures SUSHI providers, harvests, supplier mappings and invoice checks;
procurement reads provider settings and harvest jobs as well; usage figures are read by the
coordinator and procurement for everything, and by a library for its own rows (an
agreement's figures with a library token are scoped to that library, so any library may ask)
and its kimppa's;
uploads are made by the library itself (its own ISIL) or the coordinator.
"""

from __future__ import annotations

from reliability.probes.base import (
    COORDINATOR_ONLY,
    LIBRARY_ITSELF_OR_COORDINATOR,
    NO_SUCH_ID,
    OPERATIONS,
    PUBLIC,
    AuthzContext,
    Endpoint,
    Probe,
    RequestFactory,
    RequestSpec,
    Subject,
)

READ_ALL = frozenset({Subject.COORDINATOR, Subject.PROCUREMENT})
OWN_OR_READ_ALL = READ_ALL | {Subject.LIBRARY_OWN}
# A library token reads an agreement's figures scoped to its own rows.
SCOPED_READERS = READ_ALL | {Subject.LIBRARY_OWN, Subject.LIBRARY_OTHER}
SPAN = {"from": "2025-01", "to": "2025-03"}
AGREEMENT = f"/agreements/{NO_SUCH_ID}"


def _span(path: str) -> RequestFactory:
    return lambda ctx: RequestSpec(f"{AGREEMENT}/{path}", params=SPAN)


def _library_usage(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(f"/libraries/{ctx.own_isil}/usage", params=SPAN)


def _counter_upload(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(
        f"{AGREEMENT}/uploads/counter",
        params={"isil": ctx.own_isil},
        files={"file": ("report.tsv", b"Report_Name\tTitle Report\n", "text/tab-separated-values")},
    )


def _supplier_upload(ctx: AuthzContext) -> RequestSpec:
    return RequestSpec(
        f"{AGREEMENT}/uploads/supplier",
        params={"isil": ctx.own_isil, "supplier": f"no-such-supplier-{ctx.run_tag}"},
        files={"file": ("loans.csv", b"title,loans\n", "text/csv")},
    )


ENDPOINTS = (
    *(Endpoint(method, path, PUBLIC) for method, path in OPERATIONS),
    Endpoint("PUT", "/agreements/{agreement_id}/provider", COORDINATOR_ONLY),
    Endpoint("GET", "/agreements/{agreement_id}/provider", READ_ALL),
    Endpoint("POST", "/agreements/{agreement_id}/harvests", COORDINATOR_ONLY),
    Endpoint("GET", "/agreements/{agreement_id}/harvests", READ_ALL),
    Endpoint("POST", "/agreements/{agreement_id}/harvests/retry", COORDINATOR_ONLY),
    Endpoint(
        "POST",
        "/agreements/{agreement_id}/uploads/counter",
        LIBRARY_ITSELF_OR_COORDINATOR,
        _counter_upload,
    ),
    Endpoint(
        "POST",
        "/agreements/{agreement_id}/uploads/supplier",
        LIBRARY_ITSELF_OR_COORDINATOR,
        _supplier_upload,
    ),
    Endpoint("PUT", "/suppliers/{supplier}/mapping", COORDINATOR_ONLY),
    Endpoint("GET", "/libraries/{isil}/usage", OWN_OR_READ_ALL, _library_usage),
    Endpoint("GET", "/agreements/{agreement_id}/usage", SCOPED_READERS, _span("usage")),
    # A kimppa's usage: its own libraries read it too, and the probe's library is in none.
    Endpoint(
        "GET",
        "/kimppas/{kimppa_id}/usage",
        READ_ALL,
        lambda ctx: RequestSpec(f"/kimppas/{NO_SUCH_ID}/usage", params=SPAN),
    ),
    Endpoint("GET", "/agreements/{agreement_id}/top-titles", SCOPED_READERS, _span("top-titles")),
    Endpoint(
        "GET", "/agreements/{agreement_id}/unused-titles", SCOPED_READERS, _span("unused-titles")
    ),
    Endpoint(
        "GET",
        "/agreements/{agreement_id}/cost-per-use",
        SCOPED_READERS,
        lambda ctx: RequestSpec(f"{AGREEMENT}/cost-per-use", params={"year": 2025}),
    ),
    Endpoint("POST", "/agreements/{agreement_id}/invoice-checks", COORDINATOR_ONLY),
)

PROBE = Probe(
    name="usage",
    endpoints=ENDPOINTS,
    uploads_ignoring_filename=frozenset(
        {
            "/agreements/{agreement_id}/uploads/counter",
            "/agreements/{agreement_id}/uploads/supplier",
        }
    ),
    upload_query={
        "/agreements/{agreement_id}/uploads/counter": lambda ctx: {"isil": ctx.own_isil},
        "/agreements/{agreement_id}/uploads/supplier": lambda ctx: {
            "isil": ctx.own_isil,
            "supplier": f"no-such-supplier-{ctx.run_tag}",
        },
    },
)
