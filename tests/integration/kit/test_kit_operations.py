"""Operations endpoints every service has: liveness, readiness, metrics and OpenAPI."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Service

pytestmark = pytest.mark.integration


async def test_health_metrics_and_openapi(membership: Service, outreach: Service) -> None:
    for service in (membership, outreach):
        live = await service.client.get("/health/live")
        assert live.status_code == 200 and live.json()["status"] == "alive"
        ready = await service.client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": True, "migrations": True, "broker": True}
        metrics = await service.client.get("/metrics")
        assert metrics.status_code == 200
        assert "konsortio_outbox_backlog" in metrics.text
        spec = (await service.client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert "/health/ready" in spec["paths"]
    outreach_metrics = (await outreach.client.get("/metrics")).text
    assert "faststream_" in outreach_metrics  # FastStream's consumer middleware
    assert "konsortio_consumer_messages_total" in outreach_metrics


async def test_responses_carry_the_correlation_id(membership: Service) -> None:
    response = await membership.client.get(
        "/health/live", headers={"X-Correlation-ID": "trace-123"}
    )
    assert response.headers["X-Correlation-ID"] == "trace-123"


async def test_an_oversized_body_is_refused_before_it_is_read(membership: Service) -> None:
    response = await membership.client.post(
        "/libraries",
        content=b"x" * (1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_chunked_body_is_cut_off_at_the_limit(membership: Service) -> None:
    async def chunks():  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
        for _ in range(40):
            yield b"x" * 32 * 1024  # 1.25 MiB in all, with no Content-Length

    response = await membership.client.post(
        "/libraries", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
