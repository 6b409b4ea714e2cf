"""The kit's HTTP vocabulary: domain refusals answered once by the app's error handlers, and
the paging parameters and page model every listing shares."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kit.errors import install_error_handlers
from kit.http import Limit, Offset, Page, Paged
from kit.rules import Conflict, NotFound, RuleViolated


class ThingConflict(Conflict):
    pass


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("no library FI-X", field="isil")

    @app.get("/bad")
    async def bad() -> None:
        raise RuleViolated("'x' is not a month written YYYY-MM", field="period")

    @app.get("/conflict")
    async def conflict() -> None:
        raise ThingConflict("already a member", field="isil")

    @app.get("/overridden")
    async def overridden() -> None:
        raise ThingConflict("a bad value after all", status=422)

    @app.get("/things")
    async def things(limit: Limit = 50, offset: Offset = 0) -> Page[int]:
        items = list(range(1000))
        return Page[int](
            items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
        )

    @app.get("/paged")
    async def paged(paging: Paged) -> Page[int]:
        items = list(range(10))
        return Page[int](
            items=paging.window(items), total=10, limit=paging.limit, offset=paging.offset
        )

    return app


def test_each_domain_error_is_a_problem_naming_its_field() -> None:
    client = TestClient(_app())
    for path, status, field in (
        ("/missing", 404, "isil"),
        ("/bad", 422, "period"),
        ("/conflict", 409, "isil"),
    ):
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == status
        assert body["errors"] == [{"field": field, "message": body["detail"]}]


def test_a_refusal_may_carry_its_own_status() -> None:
    response = TestClient(_app()).get("/overridden")
    assert response.status_code == 422
    assert "errors" not in response.json()


def test_paging_is_bounded_and_the_page_says_its_window() -> None:
    client = TestClient(_app())
    assert client.get("/things", params={"limit": 501}).status_code == 422
    assert client.get("/things", params={"offset": -1}).status_code == 422
    body = client.get("/things", params={"limit": 2, "offset": 3}).json()
    assert body == {"items": [3, 4], "total": 1000, "limit": 2, "offset": 3}
    body = client.get("/paged", params={"limit": 3, "offset": 8}).json()
    assert body == {"items": [8, 9], "total": 10, "limit": 3, "offset": 8}
